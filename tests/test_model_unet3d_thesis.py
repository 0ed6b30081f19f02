"""unet3d_thesis (thesis Ch. 5): shapes, paper parameter count, slice mixing, learning."""
import pytest
import torch
import torch.nn.functional as F

from cardiolab import models
from model_helpers import DEVICE, assert_loss_halves, assert_paper_parameter_count, heart_phantom, train_steps

PAPER_PARAMETERS = 87.51e6  # thesis Sec. 5.3.2


def test_small_model_shapes_and_registry():
    net = models.create("unet3d_thesis", size="small").to(DEVICE)
    images, _ = heart_phantom(batch=2)
    logits = net(images.to(DEVICE))
    assert logits.shape == (2, 4, 3, 32, 32)
    assert logits.device.type == DEVICE.type
    assert net.model_name == "unet3d_thesis"
    assert models.spec("unet3d_thesis").task == "segmentation"


def test_paper_parameter_count_matches_thesis_within_1_percent():
    assert_paper_parameter_count("unet3d_thesis", PAPER_PARAMETERS, rel_tolerance=0.01)


def test_three_by_three_by_three_kernels_mix_neighbouring_slices():
    net = models.create("unet3d_thesis", size="small").to(DEVICE).eval()
    images, _ = heart_phantom(batch=1)
    changed = images.clone()
    changed[:, :, 0] += 1.0  # perturb the first slice only
    with torch.no_grad():
        difference = (net(changed.to(DEVICE)) - net(images.to(DEVICE))).abs()
    assert difference[:, :, 1].max() > 1e-4  # a 3x3x3 network sees the neighbouring slice


def test_rejects_plane_not_divisible_by_16():
    net = models.create("unet3d_thesis", size="small")
    with pytest.raises(ValueError, match="image"):
        net(torch.zeros(1, 1, 3, 40, 40))


def test_learns_to_segment_phantom():
    torch.manual_seed(0)
    net = models.create("unet3d_thesis", size="small").to(DEVICE)
    images, labels = heart_phantom(batch=2, seed=1)
    images, labels = images.to(DEVICE), labels.to(DEVICE)
    losses = train_steps(net, lambda: F.cross_entropy(net(images), labels), steps=30, lr=1e-2)
    assert_loss_halves(losses)
