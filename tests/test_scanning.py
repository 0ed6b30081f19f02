"""ScanningModule ([thesis] Ch. 6) on shapes whose area, diameter and volume are known."""
import math

import pytest
import torch

from cardiolab.models.layers import ScanningModule
from cardiolab.models.layers.scanning import ScanningConfig


def disk(size: int, radius: float) -> torch.Tensor:
    """A binary disk centred on the corner between the 4 central pixels: its central
    row and column hold exactly 2 r pixels."""
    centre = size / 2
    y, x = torch.meshgrid(torch.arange(size) + 0.5 - centre, torch.arange(size) + 0.5 - centre, indexing="ij")
    return (y**2 + x**2 <= radius**2).float()


@pytest.mark.parametrize("radius", [8, 10, 12])
def test_disk_area_diameter_and_pi(radius):
    prob_map = disk(48, radius)[None, None, None]  # (B=1, 1, Z=1, Y, X)
    out = ScanningModule()(prob_map, (10.0, 2.0, 2.0))
    # the 25 x 25 window holds the whole disk: the area is its pixel count, close to pi r^2
    assert out["slice_area_px"].item() == prob_map.sum().item()
    assert out["slice_area_px"].item() == pytest.approx(math.pi * radius**2, rel=0.04)
    assert out["slice_diameter_px"].item() == 2 * radius
    assert out["pi_hat"].item() == pytest.approx(math.pi, rel=0.04)
    assert out["slice_pi_hat"].item() == pytest.approx(out["pi_hat"].item())


def test_cylinder_volume_in_ml():
    n_slices, radius, spacing = 6, 10, (8.0, 1.5, 1.5)
    prob_map = disk(40, radius).expand(1, 1, n_slices, 40, 40)
    out = ScanningModule()(prob_map, spacing)
    expected_ml = n_slices * math.pi * radius**2 * 8.0 * 1.5 * 1.5 / 1000
    assert out["volume_ml"].item() == pytest.approx(expected_ml, rel=0.04)


def test_stack_of_different_disks_still_estimates_pi_and_ignores_empty_slices():
    slices = [torch.zeros(48, 48), disk(48, 6), disk(48, 10), disk(48, 12), torch.zeros(48, 48)]
    out = ScanningModule()(torch.stack(slices)[None, None], (10.0, 2.0, 2.0))
    assert out["pi_hat"].item() == pytest.approx(math.pi, rel=0.04)
    assert out["slice_area_px"][0, 0].item() == 0.0


def test_window_bounds_the_area_and_stray_activity_outside_it_is_ignored():
    image = disk(64, 8)
    assert ScanningModule(area_window=5)(image[None, None, None], (1.0, 1.0, 1.0))["slice_area_px"].item() == 25.0
    with_stray = image.clone()
    with_stray[2:6, 2:6] = 1.0  # a small residual blob far from the disk
    areas = [ScanningModule()(m[None, None, None], (1.0, 1.0, 1.0))["slice_area_px"].item() for m in (image, with_stray)]
    assert areas[0] == areas[1]


def test_thesis_kernel_length_equals_full_plane_on_88_pixels():
    prob_map = torch.rand(2, 1, 3, 88, 88)
    full_plane = ScanningModule()(prob_map, (10.0, 2.0, 2.0))
    thesis = ScanningModule(ScanningConfig(area_window=25, diameter_length=88))(prob_map, (10.0, 2.0, 2.0))
    torch.testing.assert_close(full_plane["slice_diameter_px"], thesis["slice_diameter_px"])


def test_per_sample_spacing_no_parameters_and_gradients():
    module = ScanningModule()
    assert len(list(module.parameters())) == 0
    prob_map = torch.rand(2, 1, 3, 20, 20, requires_grad=True)
    out = module(prob_map, torch.tensor([[10.0, 1.0, 1.0], [5.0, 1.0, 1.0]]))
    areas = out["slice_area_px"].sum(dim=1)
    torch.testing.assert_close(out["volume_ml"], areas * torch.tensor([0.01, 0.005]))
    (out["volume_ml"].sum() + out["pi_hat"].sum()).backward()
    assert torch.isfinite(prob_map.grad).all() and prob_map.grad.abs().sum() > 0


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="prob_map"):
        ScanningModule()(torch.rand(1, 2, 3, 8, 8), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="spacing_zyx"):
        ScanningModule()(torch.rand(1, 1, 3, 8, 8), (1.0, 1.0))
    with pytest.raises(ValueError, match="area_window"):
        ScanningModule(area_window=0)
