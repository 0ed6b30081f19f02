"""lv_volume_weak (thesis Ch. 6): outputs, paper parameter count, spacing, learning a volume."""
import math

import pytest
import torch

from cardiolab import models
from model_helpers import DEVICE, assert_loss_halves, assert_paper_parameter_count, pixel_grid, train_steps

PAPER_PARAMETERS = 21.87e6  # thesis Sec. 6.3.2
SPACING_ZYX = (10.0, 2.0, 2.0)  # mm: 7 mm slices + 3 mm gap, 2 x 2 mm pixels as in the thesis


def disk_stacks(batch: int, slices: int = 4, size: int = 32, seed: int = 0):
    """Bright disks (one per slice, shared centre, random radii) and their true volume in ml."""
    generator = torch.Generator().manual_seed(seed)
    yy, xx = pixel_grid(size)
    masks = torch.zeros(batch, 1, slices, size, size)
    for b in range(batch):
        cy, cx = (size * (0.35 + 0.3 * torch.rand(2, generator=generator))).tolist()
        for z in range(slices):
            radius_px = 3 + 3 * torch.rand(1, generator=generator).item()
            masks[b, 0, z] = ((yy - cy) ** 2 + (xx - cx) ** 2 < radius_px ** 2).float()
    images = 0.1 + 0.8 * masks + 0.05 * torch.randn(masks.shape, generator=generator)
    voxel_ml = math.prod(SPACING_ZYX) / 1000.0
    return images, masks.sum(dim=(1, 2, 3, 4)) * voxel_ml  # (B, 1, Z, Y, X), (B,) ml


def test_outputs_and_shapes():
    net = models.create("lv_volume_weak", size="small").to(DEVICE)
    images, _ = disk_stacks(batch=2, slices=5)
    out = net(images.to(DEVICE), SPACING_ZYX)
    assert out["map"].shape == (2, 1, 5, 32, 32)
    lv_map = out["map"].detach()
    assert float(lv_map.min()) >= 0.0 and float(lv_map.max()) <= 1.0  # sigmoid probabilities
    assert out["volume_ml"].shape == (2,)
    assert out["bottleneck"].shape == (2, 64, 5, 4, 4)  # 8 x 2**3 filters, 32 / 2**3 px, slices kept
    assert out["slice_area_px"].shape == (2, 5) and out["pi_hat"].shape == (2,)
    assert out["volume_ml"].device.type == DEVICE.type


def test_paper_parameter_count_within_5_percent():
    assert_paper_parameter_count("lv_volume_weak", PAPER_PARAMETERS, rel_tolerance=0.05)


def test_volume_scales_with_voxel_size_and_any_slice_count_works():
    net = models.create("lv_volume_weak", size="small").to(DEVICE).eval()
    images, _ = disk_stacks(batch=1, slices=7)
    with torch.no_grad():
        volume = net(images.to(DEVICE), SPACING_ZYX)["volume_ml"]
        volume_thick = net(images.to(DEVICE), (20.0, 2.0, 2.0))["volume_ml"]  # same map, slices twice as thick
    torch.testing.assert_close(volume_thick, 2 * volume)


def test_rejects_plane_not_divisible_by_8():
    net = models.create("lv_volume_weak", size="small")
    with pytest.raises(ValueError, match="image"):
        net(torch.zeros(1, 1, 4, 30, 30), SPACING_ZYX)


def test_learns_volume_from_volume_targets_only():
    torch.manual_seed(0)
    net = models.create("lv_volume_weak", size="small", scan_window=15).to(DEVICE)
    images, volume_ml = disk_stacks(batch=4, seed=1)
    images, volume_ml = images.to(DEVICE), volume_ml.to(DEVICE)

    def volume_mae():  # MAE(volume), the main term of thesis Eq. 6.1
        return (net(images, SPACING_ZYX)["volume_ml"] - volume_ml).abs().mean()

    assert_loss_halves(train_steps(net, volume_mae, steps=30, lr=1e-2))
