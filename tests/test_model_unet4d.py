"""Seed 000's 4D network (`unet4d`) and its 3D baseline (`unet3d_ccta`)."""
import pytest
import torch
import torch.nn.functional as F

from cardiolab import models
from model_helpers import assert_loss_halves, heart_labels, train_steps


def conv_params(kernel_voxels, cin, cout):
    return kernel_voxels * cin * cout + cout


def table1_parameter_count(kernel_voxels, widths, encoder_blocks, in_channels, n_classes):
    """Parameters of seed 000's Table 1 structure, counted from the table, not the code."""
    def res_block(c):  # GN, ReLU, Conv, GN, ReLU, Conv, AddId: 2 GN (scale, shift) + 2 convs
        return 2 * 2 * c + 2 * conv_params(kernel_voxels, c, c)
    total = conv_params(kernel_voxels, in_channels, widths[0])                      # InitConv
    for level, (width, n_blocks) in enumerate(zip(widths, encoder_blocks)):
        if level > 0:
            total += conv_params(kernel_voxels, widths[level - 1], width)          # EncoderDown
        total += n_blocks * res_block(width)                                       # EncoderBlock
    for level in range(len(widths) - 1):
        total += conv_params(1, widths[level + 1], widths[level])                  # DecoderUp (1x1 conv)
        total += res_block(widths[level])                                          # DecoderBlock
    return total + conv_params(1, widths[0], n_classes)                            # DecoderEnd


def test_registry_entries():
    assert {"unet4d", "unet3d_ccta"} <= set(models.available())
    for name in ("unet4d", "unet3d_ccta"):
        spec = models.spec(name)
        assert spec.task == "segmentation" and "seed 000" in spec.paper
        assert spec.config("paper").n_classes == 3      # background, LV, myocardium (CCTA)
        assert spec.config("small").n_classes == 4      # cardiolab's canonical labels
    assert models.spec("unet4d").config("paper").encoder_blocks == (1, 2, 4)
    assert models.spec("unet4d").config("paper").base_filters == 8


def test_paper_parameter_counts_follow_table1():
    net4d = models.create("unet4d", size="paper")
    expected_4d = table1_parameter_count(3 ** 4, [8, 16, 32], [1, 2, 4], 1, 3)
    assert sum(p.numel() for p in net4d.parameters()) == expected_4d
    net3d = models.create("unet3d_ccta", size="paper")
    expected_3d = table1_parameter_count(3 ** 3, [8, 16, 32, 64], [1, 2, 2, 4], 1, 3)
    assert sum(p.numel() for p in net3d.parameters()) == expected_3d


def test_paper_shapes_on_meta_device():
    with torch.device("meta"):
        net4d = models.create("unet4d", size="paper")
        # paper input 1x96x96x64x16 (time last) is (1, 1, 16, 64, 96, 96) here
        assert net4d(torch.empty(1, 1, 16, 64, 96, 96)).shape == (1, 3, 16, 64, 96, 96)
        net3d = models.create("unet3d_ccta", size="paper")
        assert net3d(torch.empty(1, 1, 64, 96, 96)).shape == (1, 3, 64, 96, 96)


def test_level_shapes_match_table1():
    """Table 1: 8 x 96x96x64x16 -> 16 x 48x48x32x8 -> 32 x 24x24x16x4 (time halves too)."""
    with torch.device("meta"):
        net = models.create("unet4d", size="paper")
        shapes = []
        for block in net.net.encoder:
            block.register_forward_hook(lambda module, args, out: shapes.append(tuple(out.shape)))
        net(torch.empty(1, 1, 16, 64, 96, 96))
    assert shapes == [(1, 8, 16, 64, 96, 96), (1, 16, 8, 32, 48, 48), (1, 32, 4, 16, 24, 24)]
    with torch.device("meta"):
        net3d = models.create("unet3d_ccta", size="paper")
        bottom = []
        net3d.net.encoder[-1].register_forward_hook(lambda module, args, out: bottom.append(tuple(out.shape)))
        net3d(torch.empty(1, 1, 64, 96, 96))
    assert bottom == [(1, 64, 8, 12, 12)]  # "the end of the encoder being of size 12x12x8"


def test_small_shapes_and_options_on_cpu():
    torch.manual_seed(0)
    net = models.create("unet4d", size="small")
    assert net(torch.randn(2, 1, 4, 4, 8, 8)).shape == (2, 4, 4, 4, 8, 8)
    keep_time = models.create("unet4d", size="small", downsample_time=False, time_padding="circular")
    assert keep_time(torch.randn(1, 1, 3, 4, 8, 8)).shape == (1, 4, 3, 4, 8, 8)  # 3 frames: not halved
    net3d = models.create("unet3d_ccta", size="small")
    assert net3d(torch.randn(2, 1, 8, 16, 16)).shape == (2, 4, 8, 16, 16)


def test_input_and_config_errors_name_the_problem():
    net = models.create("unet4d", size="small")
    with pytest.raises(ValueError, match="divisible"):
        net(torch.randn(1, 1, 3, 4, 8, 8))  # 3 frames cannot be halved twice
    with pytest.raises(ValueError, match="in_channels"):
        net(torch.randn(1, 2, 4, 4, 8, 8))
    with pytest.raises(ValueError, match="6D"):
        net(torch.randn(1, 1, 4, 8, 8))
    with pytest.raises(ValueError, match="norm_groups"):
        models.create("unet4d", size="small", norm_groups=3)
    with pytest.raises(ValueError, match="time_padding"):
        models.create("unet4d", size="small", time_padding="mirror")


def moving_disks(n_frames=4, n_slices=4, size=16):
    """A toy cine: an LV disk ringed by myocardium and an RV disk, drifting with time."""
    t, z, y, x = torch.meshgrid(torch.arange(n_frames), torch.arange(n_slices), torch.arange(size),
                                torch.arange(size), indexing="ij")
    lv_radius = torch.hypot(y - 7.0, x - (5.0 + t))
    rv_radius = torch.hypot(y - 7.0, x - (12.0 + 0.5 * t))
    labels = heart_labels(lv_radius, cavity_radius=2.5, myocardium_width=2.0, rv_mask=rv_radius < 2.5)
    brightness = torch.tensor([0.0, 1.0, 0.4, 0.7])
    image = brightness[labels] + 0.05 * torch.randn(labels.shape, generator=torch.Generator().manual_seed(0))
    return image[None, None], labels[None]  # (1, 1, T, Z, Y, X), (1, T, Z, Y, X)


def test_small_unet4d_learns_a_moving_disk_sequence():
    torch.manual_seed(0)
    image, labels = moving_disks()
    net = models.create("unet4d", size="small")
    losses = train_steps(net, lambda: F.cross_entropy(net(image), labels), steps=60, lr=1e-2, stop_once_halved=True)
    assert_loss_halves(losses)


def test_small_unet3d_ccta_learns_single_frames():
    torch.manual_seed(0)
    image, labels = moving_disks()
    frames, frame_labels = image[0].transpose(0, 1), labels[0]  # 4 frames as a batch: (T, 1, Z, Y, X)
    net = models.create("unet3d_ccta", size="small", encoder_blocks=(1, 1, 1), n_classes=4)
    losses = train_steps(net, lambda: F.cross_entropy(net(frames), frame_labels), steps=60, lr=1e-2,
                         stop_once_halved=True)
    assert_loss_halves(losses)
