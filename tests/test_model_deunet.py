"""deunet [seed 002]: shapes, ablations, TDAM wiring, position attention (Eq. 4-5), learning."""
import pytest
import torch
import torch.nn.functional as F

from cardiolab import models
from cardiolab.models.deunet import PAPER_PARAMETER_COUNT, PositionAttention
from model_helpers import assert_loss_halves, heart_labels, pixel_grid, train_steps


def _count(net):
    return sum(p.numel() for p in net.parameters())


def test_small_shapes_and_ablations_change_the_architecture():
    x = torch.randn(2, 1, 3, 32, 32)
    counts = {}
    for name, options in {"DeU-Net": {}, "DeU-Net(t)": {"tdam": False}, "DeU-Net(d)": {"dgpa": False},
                          "centre only": {"tdam": False, "fusion_without_tdam": "centre"}}.items():
        net = models.create("deunet", size="small", **options)
        assert net(x).shape == (2, 4, 32, 32), name
        counts[name] = _count(net)
    assert len(set(counts.values())) == 4, counts
    assert counts["DeU-Net"] > counts["DeU-Net(t)"] > counts["centre only"]
    assert not any(isinstance(m, PositionAttention) for m in models.create("deunet", dgpa=False).modules())
    assert not hasattr(models.create("deunet", tdam=False).fusion, "offset_net")


def test_input_is_validated():
    net = models.create("deunet", size="small")
    with pytest.raises(ValueError, match="2r\\+1"):
        net(torch.randn(1, 1, 5, 32, 32))
    with pytest.raises(ValueError, match="divisible"):
        net(torch.randn(1, 1, 3, 30, 32))
    with pytest.raises(ValueError, match="fusion_without_tdam"):
        models.create("deunet", fusion_without_tdam="late")


def _plain_unet_count(in_channels, widths, n_classes):
    """U-Net with bias-free 3x3 convs + BatchNorm, 2x2 deconvs and a 1x1 head, counted by hand."""
    count = 0
    for level, width in enumerate(widths):
        previous = in_channels if level == 0 else widths[level - 1]
        count += 9 * previous * width + 2 * width + 9 * width * width + 2 * width
    for level in range(len(widths) - 1):
        width = widths[level]
        count += 4 * widths[level + 1] * width + width                          # deconv
        count += 9 * 2 * width * width + 2 * width + 9 * width * width + 2 * width  # decoder block
    return count + widths[0] * n_classes + n_classes


def test_paper_parameter_count_layer_by_layer():
    widths = (64, 128, 256, 512, 1024)
    frames, taps = 3, 9
    offset_conv = lambda cin: 9 * cin * 2 * taps + 2 * taps + 9 * cin * taps + taps  # noqa: E731  offsets + mask
    width = 32  # TDAM offset U-Net, 3 levels
    offset_unet = (9 * frames * width + width + 9 * width * width + width + 2 * 2 * (9 * width * width + width)
                   + 2 * (4 * width * width + width) + 2 * (9 * 2 * width * width + width)
                   + 9 * width * (3 * frames * taps) + 3 * frames * taps)
    tdam = offset_unet + 9 * frames * 64 + 64
    deformable_encoders = sum(offset_conv(64 if level == 0 else widths[level - 1]) for level in range(5))
    dgpa_block = 9 * 1024 * 1024 + 2 * 1024 + offset_conv(1024) + 3 * (1024 * 1024 + 1024) + 1
    plain = _plain_unet_count(64, widths, 4)
    assert plain == pytest.approx(31.0e6, rel=0.01)  # the U-Net of [8] has about 31 M parameters
    assert _count(models.create("deunet", size="paper", tdam=False, dgpa=False)) == plain + 9 * frames * 64 + 64
    assert _count(models.create("deunet", size="paper", dgpa=False)) == plain + tdam
    expected = plain + tdam + deformable_encoders + dgpa_block
    assert expected == PAPER_PARAMETER_COUNT
    assert _count(models.create("deunet", size="paper")) == expected


def test_tdam_starts_as_early_fusion_and_uses_one_offset_group_per_frame():
    torch.manual_seed(0)
    net = models.create("deunet", size="small")
    tdam = net.fusion
    clip = torch.randn(2, 3, 16, 16)  # three frames stacked as channels
    weight, bias = tdam.aggregate.weight, tdam.aggregate.bias
    # zero-initialised offsets and a 0.5 mask: Eq. (1) at half strength
    expected = torch.relu(0.5 * F.conv2d(clip, weight, None, padding=1) + bias.view(1, -1, 1, 1))
    assert torch.allclose(tdam(clip), expected, atol=1e-5)

    # offsets (dy, dx) = (0, 1) for the first frame only, mask ~ 1: only that frame is read shifted
    with torch.no_grad():
        out_bias = tdam.offset_net.out.bias
        out_bias.zero_()
        out_bias[1:2 * 9:2] = 1.0      # group 0 (frame t0 - 1): every tap's dx
        out_bias[2 * 3 * 9:] = 40.0    # mask logits: sigmoid(40) = 1
    padded = F.pad(clip, (1, 1, 1, 1))
    shifted = padded.clone()
    shifted[:, 0, :, :-1] = padded[:, 0, :, 1:]
    shifted[:, 0, :, -1] = 0
    expected = torch.relu(F.conv2d(shifted, weight, bias))
    assert torch.allclose(tdam(clip), expected, atol=1e-5)


def test_position_attention_matches_equations_4_and_5():
    torch.manual_seed(1)
    attention = PositionAttention(4, reduction=2)
    with torch.no_grad():
        attention.alpha.fill_(0.7)
    features = torch.randn(1, 4, 3, 2)
    out = attention(features)
    b_maps = attention.key(features).flatten(2)[0]    # (N', M)
    c_maps = attention.query(features).flatten(2)[0]  # (N', M)
    d_maps = attention.value(features).flatten(2)[0]  # (N, M)
    pixels = 6
    for j in range(pixels):
        energies = torch.stack([b_maps[:, i] @ c_maps[:, j] for i in range(pixels)])
        p_j = torch.exp(energies) / torch.exp(energies).sum()  # Eq. (4), normalised over i
        z_j = 0.7 * sum(p_j[i] * d_maps[:, i] for i in range(pixels)) + features.flatten(2)[0, :, j]  # Eq. (5)
        assert torch.allclose(out.flatten(2)[0, :, j], z_j, atol=1e-5)
    fresh = PositionAttention(4)
    assert torch.equal(fresh(features), features)  # alpha = 0 at initialisation


def _moving_disk_clips(n_clips=4, size=32, seed=0):
    """Three frames of a disk (LV cavity, class 1) in a ring (myocardium, 2) beside a blob (RV, 3), moving."""
    generator = torch.Generator().manual_seed(seed)
    yy, xx = pixel_grid(size, at_centres=True)
    clips, labels = [], []
    for _ in range(n_clips):
        centre_y, centre_x = (12 + 8 * torch.rand(2, generator=generator)).tolist()
        step_y, step_x = (2 * torch.rand(2, generator=generator) - 1).tolist()
        frames = []
        for t in (-1, 0, 1):
            cy, cx = centre_y + t * step_y, centre_x + t * step_x
            radius = ((yy - cy) ** 2 + (xx - cx) ** 2).sqrt()
            rv = ((yy - cy) ** 2 + (xx - cx + 10) ** 2).sqrt() < 4
            label = heart_labels(radius, cavity_radius=4, myocardium_width=3, rv_mask=rv)
            frames.append(torch.tensor([0.0, 1.0, 0.4, 0.8])[label])
            if t == 0:
                labels.append(label)
        clips.append(torch.stack(frames))
    clips = torch.stack(clips).unsqueeze(1)  # (B, 1, 3, Y, X)
    return clips + 0.05 * torch.randn(clips.shape, generator=generator), torch.stack(labels)


@pytest.mark.parametrize("options", [{}, {"tdam": False, "dgpa": False}])
def test_learns_to_segment_the_target_frame(options):
    torch.manual_seed(0)
    clips, labels = _moving_disk_clips()
    net = models.create("deunet", size="small", **options)
    losses = train_steps(net, lambda: F.cross_entropy(net(clips), labels), steps=30, lr=1e-2)
    assert_loss_halves(losses)
