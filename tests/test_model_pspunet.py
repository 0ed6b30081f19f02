"""pspunet (thesis Ch. 5 PSPU-net): shapes, PSP pyramid, 2D-per-slice behaviour, count, learning."""
import math

import pytest
import torch
import torch.nn.functional as F

from cardiolab import models
from cardiolab.models.blocks import parameter_count
from test_model_unet3d_thesis import heart_phantom

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
PAPER_PARAMETERS = 30.83e6  # thesis Sec. 5.3.2


def test_small_model_shapes():
    net = models.create("pspunet", size="small").to(DEVICE)
    images, _ = heart_phantom(batch=2, size=32)
    logits = net(images.to(DEVICE))
    assert logits.shape == (2, 4, 3, 32, 32)
    assert logits.device.type == DEVICE.type


def test_paper_parameter_count_within_10_percent():
    with torch.device("meta"):
        net = models.create("pspunet", size="paper")
    count = parameter_count(net)
    assert abs(count - PAPER_PARAMETERS) / PAPER_PARAMETERS < 0.10, count


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
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = F.cross_entropy(net(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert math.isfinite(losses[-1])
    assert losses[-1] < 0.5 * losses[0], losses
