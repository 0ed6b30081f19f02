"""pspunet (thesis Ch. 5 PSPU-net): shapes, PSP pyramid, 2D-per-slice behaviour, count, learning."""
import pytest
import torch
import torch.nn.functional as F

from cardiolab import models
from model_helpers import DEVICE, assert_loss_halves, assert_paper_parameter_count, heart_phantom, train_steps

PAPER_PARAMETERS = 30.83e6  # thesis Sec. 5.3.2


def test_small_model_shapes():
    net = models.create("pspunet", size="small").to(DEVICE)
    images, _ = heart_phantom(batch=2, size=32)
    logits = net(images.to(DEVICE))
    assert logits.shape == (2, 4, 3, 32, 32)
    assert logits.device.type == DEVICE.type


def test_paper_parameter_count_within_10_percent():
    assert_paper_parameter_count("pspunet", PAPER_PARAMETERS, rel_tolerance=0.10)


def test_pyramid_drops_coarsest_path_and_doubles_widths_per_level():
    with torch.device("meta"):
        net = models.create("pspunet", size="paper")
    skips = net.unet.skips
    assert [block.factors for block in skips] == [[2, 4, 8, 16], [2, 4, 8], [2, 4], [2]]
    path_widths = [block.paths[0][1][0][0].out_channels for block in skips]  # pool, DoubleConv[0].conv
    assert path_widths == [128, 256, 512, 1024]


def test_slices_are_segmented_independently():
    """3x3x1 kernels: a 3-slice stack gives the same result as each slice alone."""
    net = models.create("pspunet", size="small").to(DEVICE).eval()
    images, _ = heart_phantom(batch=1, size=32)
    images = images.to(DEVICE)
    with torch.no_grad():
        stacked = net(images)
        one_by_one = torch.cat([net(images[:, :, z:z + 1]) for z in range(3)], dim=2)
    torch.testing.assert_close(stacked, one_by_one, rtol=1e-4, atol=1e-4)


def test_rejects_wrong_channel_count():
    net = models.create("pspunet", size="small")
    with pytest.raises(ValueError, match="image"):
        net(torch.zeros(1, 2, 3, 32, 32))


def test_learns_to_segment_phantom():
    torch.manual_seed(0)
    net = models.create("pspunet", size="small").to(DEVICE)
    images, labels = heart_phantom(batch=2, size=32, seed=1)
    images, labels = images.to(DEVICE), labels.to(DEVICE)
    losses = train_steps(net, lambda: F.cross_entropy(net(images), labels), steps=25, lr=1e-2)
    assert_loss_halves(losses)
