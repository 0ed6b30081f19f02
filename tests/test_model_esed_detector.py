"""esed_detector (thesis Ch. 7): shapes, paper parameter count, temporal padding, learning."""
import math

import pytest
import torch
import torch.nn.functional as F

from cardiolab import models
from cardiolab.models.esed_detector import CLASS_NAMES, ED_CLASS, ES_CLASS, OTHER_CLASS
from model_helpers import DEVICE, assert_loss_halves, assert_paper_parameter_count, pixel_grid, train_steps

PAPER_PARAMETERS = 4.7e6  # thesis Sec. 7.3.2


def pulsing_disk(batch: int, frames: int = 12, size: int = 64, seed: int = 0):
    """A disk whose radius follows one cosine beat: ED at the largest, ES at the smallest frame.

    Returns frames (B, 1, T, size, size) and per-frame targets (B, T) in (ES, ED, other) order.
    """
    generator = torch.Generator().manual_seed(seed)
    yy, xx = pixel_grid(size)
    radius_px = torch.sqrt((yy - size / 2) ** 2 + (xx - size / 2) ** 2)
    images = torch.empty(batch, 1, frames, size, size)
    targets = torch.full((batch, frames), OTHER_CLASS, dtype=torch.long)
    for b in range(batch):
        ed_frame = int(torch.randint(frames, (1,), generator=generator))
        phase = 2 * math.pi * (torch.arange(frames) - ed_frame) / frames
        disk_radius = size * (0.2 + 0.1 * torch.cos(phase))  # largest at ED, smallest half a beat later
        for t in range(frames):
            images[b, 0, t] = (radius_px < disk_radius[t]).float()
        targets[b, ed_frame] = ED_CLASS
        targets[b, int(disk_radius.argmin())] = ES_CLASS
    images += 0.05 * torch.randn(images.shape, generator=generator)
    return images, targets


def test_class_order_is_es_ed_other():
    assert CLASS_NAMES == ("ES", "ED", "other") and (ES_CLASS, ED_CLASS, OTHER_CLASS) == (0, 1, 2)


@pytest.mark.parametrize("padding", ["zeros", "circular"])
def test_small_model_shapes(padding):
    net = models.create("esed_detector", size="small", temporal_padding=padding).to(DEVICE)
    frames, _ = pulsing_disk(batch=2, frames=5)  # T = 5 is shorter than the 25-frame receptive field
    logits = net(frames.to(DEVICE))
    assert logits.shape == (2, 3, 5)
    assert logits.device.type == DEVICE.type


def test_paper_parameter_count_within_5_percent():
    assert_paper_parameter_count("esed_detector", PAPER_PARAMETERS, rel_tolerance=0.05)


def test_largest_temporal_receptive_field_is_25_frames():
    net = models.create("esed_detector", size="paper", image_size=16, base_filters=1)
    spans = [path.conv.dilation[0] * (path.conv.kernel_size[0] - 1) + 1 for path in net.temporal_paths]
    assert len(spans) == 9 and min(spans) == 3 and max(spans) == 25


def test_circular_padding_makes_the_detector_shift_equivariant():
    net = models.create("esed_detector", size="small", temporal_padding="circular").to(DEVICE).eval()
    frames, _ = pulsing_disk(batch=1, frames=10)
    frames = frames.to(DEVICE)
    with torch.no_grad():
        shifted_then_detected = net(torch.roll(frames, shifts=3, dims=2))
        detected_then_shifted = torch.roll(net(frames), shifts=3, dims=2)
    torch.testing.assert_close(shifted_then_detected, detected_then_shifted, rtol=1e-4, atol=1e-4)


def test_rejects_wrong_image_size():
    net = models.create("esed_detector", size="small")
    with pytest.raises(ValueError, match="frames"):
        net(torch.zeros(1, 1, 6, 48, 48))


def test_learns_es_and_ed_frames_with_weighted_cross_entropy():
    torch.manual_seed(0)
    net = models.create("esed_detector", size="small", image_size=32).to(DEVICE)
    frames, targets = pulsing_disk(batch=4, size=32, seed=1)
    frames, targets = frames.to(DEVICE), targets.to(DEVICE)
    frame_weights = torch.tensor([100.0, 100.0, 1.0], device=DEVICE)  # thesis Ch. 7: 100 on ES/ED frames
    losses = train_steps(net, lambda: F.cross_entropy(net(frames), targets, weight=frame_weights), steps=30, lr=1e-2)
    assert_loss_halves(losses)
    # naive post-processing (thesis Ch. 7): the frame of highest P(ES), of highest P(ED)
    with torch.no_grad():
        probabilities = net(frames).softmax(dim=1)  # (B, 3, T)
    assert torch.equal(probabilities[:, ES_CLASS].argmax(dim=1), (targets == ES_CLASS).int().argmax(dim=1))
    assert torch.equal(probabilities[:, ED_CLASS].argmax(dim=1), (targets == ED_CLASS).int().argmax(dim=1))
