"""Weakly supervised LV volume regression whose own map explains it (thesis Ch. 6.3.2).

What the thesis does
--------------------
Learns the end-diastolic LV volume (ml) from the image stack alone: the only training
target is one number per patient, yet the network ends in a voxel-wise LV probability
map (the thesis calls it the "CAM"; it is the model's own sigmoid output, not the
Grad-CAM technique), and the volume is *measured* on that map by a fixed scanning
module. So the map must become an LV segmentation for the volume to be right.

* Input: 88 x 88 x n stacks (2 x 2 mm in-plane, n = 8-14 slices, min-max 0-1).
* A 3D U-net: every level two 3x3x3 convolutions with BN and ReLU, 2x2x1 max pooling
  (the slice count n is kept), 2x2x1 up-convolutions, concatenating skips. L1 activity
  regularisation on the bottleneck output, to keep only a few abstract features.
* Head: 1x1x1 convolution to 1 channel + sigmoid = the LV probability map, also
  L1-regularised (pushes the background to 0).
* Scanning module (non-trainable, `cardiolab.models.layers.ScanningModule`): per slice,
  the largest 25x25 window sum of the map (the LV area, px), summed over slices and
  multiplied by the voxel volume -> volume (ml); 88x1 and 1x88 line sums -> diameter;
  pi_hat = 4 area / diameter**2, compared with pi in the loss.
* Loss (Eq. 6.1): MAE(volume) + 100 MAE(pi_hat) + 1e-3 [L1(bottleneck) + L1(map)].
  The whole model has 21.87 M parameters.

What this file implements
-------------------------
`LVVolumeWeak`, registered as ``lv_volume_weak``:
``forward(image (B, 1, Z, Y, X), spacing_zyx) -> dict`` with
``map`` (B, 1, Z, Y, X) in [0, 1], ``volume_ml`` (B,), ``bottleneck`` (the tensor for the
L1 activity term) and every output of the scanning module (``slice_area_px``,
``slice_diameter_px``, ``pi_hat``, ...). ``spacing_zyx`` (mm: a (z, y, x) triple or a
(B, 3) tensor) goes to the scanning module, which turns pixels into ml. The loss itself is not in the model.

Choices where the thesis is silent
----------------------------------
* Widths and depth: 3 poolings with 64-128-256-512 filters give 21.71 M parameters
  (-0.7 % of 21.87 M). 4 poolings with 32..512 would give 21.88 M, but 88 px cannot be
  halved 4 times (88 -> 44 -> 22 -> 11), and the thesis avoids padding inside its
  networks (Ch. 7.3.2), so 3 poolings it is; both are configurable.
* Conv -> BN -> ReLU order, convolution bias kept, plain 2x2x1 transposed convolutions
  (as `unet3d_thesis`, whose U-net body this model reuses).
* Y and X need only be multiples of ``2**depth``: the scanning module's diameter lines
  span the whole plane, which is the thesis' 88 on its 88 x 88 crops.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cardiolab.models.blocks import check_input
from cardiolab.models.layers.scanning import ScanningModule
from cardiolab.models.registry import register_model
from cardiolab.models.unet3d_thesis import InPlaneUNet3d, level_widths


@dataclass
class LVVolumeWeakConfig:
    in_channels: int = 1      # one MRI channel
    base_filters: int = 64    # [AMB] 64-128-256-512 -> 21.71 M parameters (thesis: 21.87 M)
    depth: int = 3            # [AMB] in-plane poolings: 88 -> 44 -> 22 -> 11
    scan_window: int = 25     # px, side of the scanning module's area window; paper: 25 (50 mm at 2 mm/px)

    def __post_init__(self):
        for name in ("in_channels", "base_filters", "depth", "scan_window"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int; got {getattr(self, name)!r}")


@register_model(
    "lv_volume_weak", config_class=LVVolumeWeakConfig,
    paper="thesis (seed 003), Ch. 6.3.2, Fig. 6.4-6.5, Eq. 6.1: weakly supervised LV volume, 21.87 M parameters",
    task="volume", input_layout="(B, 1, Z, Y, X)", output_layout="dict: map (B, 1, Z, Y, X), volume_ml (B,)",
    small={"base_filters": 8}, paper_size={"base_filters": 64},
)
class LVVolumeWeak(nn.Module):
    """3D U-net -> sigmoid LV map -> fixed scanning module -> LV volume (ml)."""

    def __init__(self, config: LVVolumeWeakConfig):
        super().__init__()
        self.unet = InPlaneUNet3d(config.in_channels, 1, level_widths(config.base_filters, config.depth),
                                  kernel_size=(3, 3, 3))  # [thesis Ch. 6.3.2] 3x3x3 convs, 2x2x1 pools
        self.scanner = ScanningModule(area_window=config.scan_window)  # no parameters: fixed kernels of ones
        self.in_channels = config.in_channels

    def forward(self, image: torch.Tensor, spacing_zyx) -> dict:
        check_input(image, name="image", channels=self.in_channels, plane_multiple=self.unet.plane_multiple)
        logits, bottleneck = self.unet(image, return_bottleneck=True)  # bottleneck: L1 activity term
        lv_map = torch.sigmoid(logits)  # (B, 1, Z, Y, X): the thesis' "CAM", P(voxel is LV)
        scan = self.scanner(lv_map, spacing_zyx)  # slice areas, diameters, volume_ml, pi_hat
        return {**scan, "map": lv_map, "bottleneck": bottleneck}
