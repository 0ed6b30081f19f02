"""Scanning module: area, diameter, volume and a pi estimate from a probability map.

[thesis] Ch. 6, Sec. 6.3.2 and Fig. 6.5 (weakly supervised LV volume regression). A 3D
U-net turns a short-axis volume into a sigmoid map of "LV-ness" per voxel. A fixed,
non-trainable module then measures that map slice by slice, so the only way for the
network to predict the right volume is to paint the LV into its map:

1. Area. "a non-trainable convolution with a single kernel filled with ones of size
   25x25x1" ('same' padding), then "an 88x88x1 maxpooling": the largest mass of the map
   inside any 25 x 25 window of the slice, A_s in pixels. A window that holds the whole
   LV but little else ignores stray activity elsewhere in the slice.
2. Volume. "These areas are then summed together and the result is multiplied by the
   image resolution per voxel converted to ml": V = sum_s A_s x dz dy dx / 1000.
3. Diameter. Two paths with kernels of ones "88x1x1" and "1x88x1" (the whole 88-pixel
   plane) sum the map along columns and along rows, i.e. chord lengths; "the results of
   both paths are then averaged at the slice level" and the module is "forced to compute
   the largest diameter": D_s = (max column chord + max row chord) / 2.
4. pi. "The estimated diameters are then used along the estimated areas to get a ratio
   that is used as an additional estimator of the pi value": a disk has A = pi D^2 / 4,
   so pi_hat_s = 4 A_s / D_s^2.

Choices where the thesis is silent (each a field of `ScanningConfig`):

* The diameter takes the max over the plane of each path, then averages the two paths
  (our reading of "averaged at the slice level"). Averaging the two chord maps first and
  then taking the max gives the same value for a disk.
* ``diameter_length=None`` (default) uses the full plane length in each direction, which
  is the 88 of the thesis on its 88 x 88 crops and keeps the module valid on any size.
* One pi estimate per volume for the loss: pi_hat = 4 sum_s A_s / sum_s D_s^2. For a stack
  of disks it is exactly pi, whatever their radii, and empty slices (A = D = 0 above the
  base and below the apex) drop out instead of giving 0 / 0. Per-slice values are returned
  too.
* Pixels are taken as square (the thesis resamples in-plane to 2 x 2 mm), so areas and
  diameters are in pixels and pi_hat is unit-free.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ScanningConfig:
    area_window: int = 25  # px; [thesis] Sec. 6.3.2: 25x25x1 kernel of ones ("big enough to ensure the LV is always captured")
    diameter_length: int | None = None  # px; [thesis] 88 = the whole 88-px plane; None = the plane length of the input
    eps: float = 1e-6  # keeps 4 A / D^2 finite on an empty map


def _max_box_sum(slices: torch.Tensor, box_height: int, box_width: int) -> torch.Tensor:
    """Max over the plane of a 'same' convolution with a box_height x box_width kernel of ones.

    ``slices`` is (N, 1, Y, X); returns (N,). The padding is Keras' 'same' (the extra pixel
    of an even kernel goes after), written out because the thesis model was Keras.
    """
    kernel = torch.ones(1, 1, box_height, box_width, dtype=slices.dtype, device=slices.device)
    padding = ((box_width - 1) // 2, box_width // 2, (box_height - 1) // 2, box_height // 2)  # left, right, top, bottom
    box_sums = F.conv2d(F.pad(slices, padding), kernel)  # (N, 1, Y, X)
    return box_sums.amax(dim=(1, 2, 3))


class ScanningModule(nn.Module):
    """Fixed (parameter-free) measurements of a sigmoid map, [thesis] Ch. 6, Fig. 6.5.

    Args:
        config: `ScanningConfig` (area window 25 px as in the thesis; diameter kernel
            length defaults to the plane size). Keyword overrides are accepted too.

    Input: ``prob_map`` (B, 1, Z, Y, X) in [0, 1], ``spacing_zyx`` a ``(z, y, x)`` mm
    triple shared by the batch or a (B, 3) tensor. Output dict:

    * ``slice_area_px`` (B, Z), ``slice_diameter_px`` (B, Z), ``slice_pi_hat`` (B, Z)
    * ``volume_ml`` (B,), ``pi_hat`` (B,)

    Example::

        >>> scan = ScanningModule(area_window=25)
        >>> out = scan(torch.rand(2, 1, 10, 88, 88), (10.0, 2.0, 2.0))
        >>> out["volume_ml"].shape
        torch.Size([2])
    """

    def __init__(self, config: ScanningConfig | None = None, **overrides):
        super().__init__()
        config = config or ScanningConfig(**overrides)
        if config.area_window < 1:
            raise ValueError(f"area_window must be >= 1 px, got {config.area_window}")
        if config.diameter_length is not None and config.diameter_length < 1:
            raise ValueError(f"diameter_length must be >= 1 px or None, got {config.diameter_length}")
        self.config = config

    def forward(self, prob_map: torch.Tensor, spacing_zyx) -> dict[str, torch.Tensor]:
        if prob_map.ndim != 5 or prob_map.shape[1] != 1:
            raise ValueError(f"prob_map must be (B, 1, Z, Y, X), got shape {tuple(prob_map.shape)}")
        batch, _, n_slices, height, width = prob_map.shape
        spacing = torch.as_tensor(spacing_zyx, dtype=prob_map.dtype, device=prob_map.device)
        if spacing.shape not in ((3,), (batch, 3)) or not bool(torch.all(spacing > 0)):
            raise ValueError(f"spacing_zyx must be 3 positive mm values or a (B, 3) tensor, got {tuple(spacing.shape)}")

        slices = prob_map.reshape(batch * n_slices, 1, height, width)  # every slice is one 2D image

        # 1. area: largest window sum of the map, [thesis] 25x25x1 conv of ones + 88x88 max pool
        window = self.config.area_window
        slice_area_px = _max_box_sum(slices, window, window).reshape(batch, n_slices)  # (B, Z)

        # 3. diameter: chord lengths along columns and rows, [thesis] 88x1x1 and 1x88x1 kernels of ones
        column_chords = _max_box_sum(slices, self.config.diameter_length or height, 1)  # (B*Z,)
        row_chords = _max_box_sum(slices, 1, self.config.diameter_length or width)  # (B*Z,)
        slice_diameter_px = (0.5 * (column_chords + row_chords)).reshape(batch, n_slices)  # (B, Z)

        # 2. volume: sum of slice areas times the voxel volume, mm^3 -> ml
        voxel_ml = spacing.reshape(-1, 3).prod(dim=1) / 1000.0  # (B,) or (1,)
        volume_ml = slice_area_px.sum(dim=1) * voxel_ml  # (B,)

        # 4. pi: a disk has A = pi D^2 / 4, [thesis] Sec. 6.3.2 "an additional estimator of the pi value"
        eps = self.config.eps
        slice_pi_hat = 4.0 * slice_area_px / (slice_diameter_px**2 + eps)  # (B, Z)
        pi_hat = 4.0 * slice_area_px.sum(dim=1) / (slice_diameter_px.pow(2).sum(dim=1) + eps)  # (B,)
        return {"slice_area_px": slice_area_px, "slice_diameter_px": slice_diameter_px,
                "slice_pi_hat": slice_pi_hat, "volume_ml": volume_ml, "pi_hat": pi_hat}

