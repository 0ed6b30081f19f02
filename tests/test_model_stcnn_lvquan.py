"""stcnn_lvquan [seed 001]: shapes, the paper's layer sizes, circular windows, learning on a pulsing ring."""
import math

import pytest
import torch
import torch.nn.functional as F

from cardiolab import models
from cardiolab.models.stcnn_lvquan import AREAS, DIMENSIONS, WALL_THICKNESSES, circular_windows
from model_helpers import assert_loss_halves, pixel_grid, train_steps


def _count(net):
    return sum(p.numel() for p in net.parameters())


def test_small_shapes_window_and_sequence():
    net = models.create("stcnn_lvquan", size="small").eval()
    out = net(torch.randn(3, 1, 5, 80, 80))
    assert out["indices"].shape == (3, 11) and out["phase_logits"].shape == (3, 2)
    seq = net.forward_sequence(torch.randn(2, 1, 7, 80, 80))
    assert seq["indices"].shape == (2, 7, 11) and seq["phase_logits"].shape == (2, 7, 2)
    with pytest.raises(ValueError, match="kappa"):
        net(torch.randn(1, 1, 3, 80, 80))


@pytest.mark.parametrize("kappa", [1, 3, 5, 7])
def test_every_kappa_reaches_the_1x6x6_map(kappa):
    """Sec. 2.1: temporal padding (kappa 1, 3) or an extra conv (kappa 7) gives a 1 x 6 x 6 output."""
    net = models.create("stcnn_lvquan", size="paper", kappa=kappa).eval()
    seen = {}
    net.st_conv2.register_forward_hook(lambda module, inputs, output: seen.update(shape=tuple(output.shape)))
    encoder_shape = tuple(net.encoders[0](torch.zeros(1, 1, 80, 80)).shape)
    with torch.no_grad():
        out = net(torch.randn(1, 1, kappa, 80, 80))
    assert encoder_shape == (1, 40, 16, 16)  # Fig. 3(b): 40 maps of 16 x 16
    assert seen["shape"] == (1, 200, 1, 6, 6)
    assert out["indices"].shape == (1, 11)


def test_paper_parameter_count_from_the_layer_table():
    """Count written out layer by layer from the docstring's table (the paper states no total)."""
    conv = lambda cin, cout, k: cin * cout * k + cout  # noqa: E731
    encoder = conv(1, 20, 25) + 2 * 20 + conv(20, 40, 25) + 2 * 40
    spatiotemporal = conv(40, 200, 75) + 400 + conv(200, 200, 50) + 400
    regression = conv(200, 200, 27) + conv(200, 11, 36)
    phase = conv(200, 40, 25) + 80 + (640 * 640 + 640) + (640 * 2 + 2)
    expected = 5 * encoder + spatiotemporal + regression + phase
    assert expected == 4_475_653  # the number quoted in the module docstring
    assert _count(models.create("stcnn_lvquan", size="paper")) == expected
    # one shared encoder instead of five: four encoders fewer
    assert _count(models.create("stcnn_lvquan", size="paper", share_encoder=True)) == expected - 4 * encoder
    # the paper's MLP input: 40 maps x 4 x 4 = 640
    assert models.create("stcnn_lvquan", size="paper").phase_mlp[0].in_features == 640


def test_circular_windows_wrap_around():
    sequence = torch.arange(5.0).view(1, 1, 5, 1, 1).expand(2, 1, 5, 2, 3)
    sequence = sequence + torch.tensor([0.0, 10.0]).view(2, 1, 1, 1, 1)  # second sequence: frames 10..14
    windows = circular_windows(sequence, 3)
    assert windows.shape == (10, 1, 3, 2, 3)
    assert windows[0, 0, :, 0, 0].tolist() == [4, 0, 1]      # frame N-1 precedes frame 0
    assert windows[4, 0, :, 0, 0].tolist() == [3, 4, 0]      # frame 0 follows frame N-1
    assert windows[7, 0, :, 0, 0].tolist() == [11, 12, 13]   # second sequence, centre frame 2
    with pytest.raises(ValueError, match="kappa"):
        circular_windows(sequence, 4)


def test_invalid_config_is_rejected():
    with pytest.raises(ValueError, match="kappa"):
        models.create("stcnn_lvquan", kappa=4)
    with pytest.raises(ValueError, match="image_size"):
        models.create("stcnn_lvquan", image_size=40)


def _pulsing_ring_batch(n_sequences=4, frames=8, size=80, seed=0):
    """Cine-like cycles: a bright cavity disk inside a grey myocardial ring, both pulsing.

    Targets follow the paper's normalisation: areas / size**2, lengths / size. The cavity
    diameter stands for the 3 dimensions, the ring width for the 6 wall thicknesses. Phase:
    0 (diastole) while the cavity grows, 1 (systole) while it shrinks.
    """
    generator = torch.Generator().manual_seed(seed)
    yy, xx = pixel_grid(size, at_centres=True)
    images, targets, phases = [], [], []
    for _ in range(n_sequences):
        base = 12 + 8 * torch.rand(1, generator=generator).item()
        wall = 4 + 4 * torch.rand(1, generator=generator).item()
        shift = 2 * math.pi * torch.rand(1, generator=generator).item()
        for t in range(frames):
            angle = 2 * math.pi * t / frames + shift
            r_cavity = base + 5 * math.sin(angle)
            r_epi = r_cavity + wall * (1.3 - 0.3 * math.sin(angle))  # wall thickens as the cavity shrinks
            radius = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2).sqrt()
            images.append((radius < r_cavity).float() + 0.5 * ((radius >= r_cavity) & (radius < r_epi)).float())
            cavity_area = math.pi * r_cavity ** 2 / size ** 2
            myo_area = math.pi * (r_epi ** 2 - r_cavity ** 2) / size ** 2
            targets.append([cavity_area, myo_area] + [2 * r_cavity / size] * 3 + [(r_epi - r_cavity) / size] * 6)
            phases.append(0 if math.cos(angle) > 0 else 1)  # d r_cavity / dt > 0: diastole
    sequence = torch.stack(images).view(n_sequences, frames, 1, size, size).transpose(1, 2)
    sequence = sequence + 0.05 * torch.randn(sequence.shape, generator=generator)
    return sequence, torch.tensor(targets).view(n_sequences, frames, 11), torch.tensor(phases).view(n_sequences, frames)


def _paper_loss(outputs, targets, phases):
    """Eq. (1) without the L2 term: MSE per index group + cross-entropy on the phase."""
    predicted = outputs["indices"]
    return (F.mse_loss(predicted[..., AREAS], targets[..., AREAS])
            + F.mse_loss(predicted[..., DIMENSIONS], targets[..., DIMENSIONS])
            + F.mse_loss(predicted[..., WALL_THICKNESSES], targets[..., WALL_THICKNESSES])
            + F.cross_entropy(outputs["phase_logits"].reshape(-1, 2), phases.reshape(-1)))


def test_learns_indices_and_phase_of_a_pulsing_ring():
    torch.manual_seed(0)
    sequence, targets, phases = _pulsing_ring_batch(n_sequences=2, frames=6, size=64)
    net = models.create("stcnn_lvquan", size="small", kappa=3, image_size=64)
    losses = train_steps(net, lambda: _paper_loss(net.forward_sequence(sequence), targets, phases), steps=20, lr=3e-3)
    assert_loss_halves(losses)
