"""PSPU-net: a 2D U-net with pyramid-pooling skips, run over slice stacks (thesis Ch. 5.3.2).

What the thesis does
--------------------
The thesis' better segmenter (Ch. 5: ES Dice LV 0.896 / RV 0.798 vs 0.881 / 0.781 for
the 3D U-net, with a third of the parameters). It has the topology of the 3D U-net
(`unet3d_thesis`: 4 in-plane poolings, transposed convolutions, concatenating skips,
4-class softmax) but:

* every convolution is 3x3x1, i.e. 2D: each of the 3 input slices is segmented from its
  own pixels only (our layout (Z, Y, X) makes the kernel ``(1, 3, 3)``);
* half the filters: 32-64-128-256-512;
* a pyramid scene parsing (PSP) module [PSPNet] on each of the 4 skip connections
  (Fig. 5.4): the skip features are processed in parallel at several downsampling
  factors, brought back to the skip's size, concatenated and convolved, and the result
  is what the decoder concatenates. The top module has 4 paths (down to x16); each lower
  level drops the coarsest path (4, 3, 2, 1 paths) and doubles the kept paths' channels.
  So the coarsest path of every level works on a (Y/16, X/16) map: 11 x 11 for 176 px.

The thesis reports 30.83 M parameters; the PSP module's layer widths are only in a
figure that did not survive, so they are reconstructed below.

Choices where the thesis is silent (all configurable)
-----------------------------------------------------
One PSP path with factor f on a skip of C channels (level l, top l = 0):
    AvgPool (1, f, f)  ->  [Conv (1,3,3) + BN + ReLU] x 2 to W_l channels
    ->  bilinear upsampling by f (in-plane only)
with W_l = ``psp_branch_filters`` x 2**l. The module then concatenates the skip itself
and all paths, and fuses them with [Conv (1,1,1) + BN + ReLU] x 2 to
``psp_output_factor`` x C channels, which the decoder concatenates.
* Average pooling and bilinear upsampling follow PSPNet; the path's two 3x3x1
  convolutions follow the thesis ("all convolution layers were of size 3x3x1").
* Widths: ``psp_branch_filters = 128`` (4x the top level's 32 channels) and
  ``psp_output_factor = 2`` give 30.66 M parameters (-0.6 % of 30.83 M); with
  ``psp_output_factor = 1`` 29.07 M, with 64-channel paths 15.7 M. Other readings
  counted: 1x1 path convs with f x f transposed-conv upsampling, 29.4-31.0 M; 3x3x1
  fusion convs, 33.3-34.1 M (+8 to +11 %). No reading whose path widths equal the
  level's channels comes near 30.83 M (at most 15 M).
* The 1x1x1 fusion convolutions are the one departure from "all 3x3x1": they are the
  reading that reproduces the count.

Input ``(B, 1, Z, Y, X)`` with Y, X multiples of 16; output ``(B, 4, Z, Y, X)`` logits
(background, LV cavity, LV myocardium, RV cavity). Z can be any size (3 in the thesis):
slices never mix, so a stack of 3 and three single slices give the same result.

The ``small`` size (base 16 filters, 32-channel top paths, 3.9 M parameters) is meant as a
real, CPU-fast segmenter for the app, not only a toy.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from cardiolab.models.blocks import ConvBNReLU3d, DoubleConv3d, check_input
from cardiolab.models.registry import register_model
from cardiolab.models.unet3d_thesis import InPlaneUNet3d, level_widths

IN_PLANE_3X3 = (1, 3, 3)  # the thesis' 3x3x1 kernel in our (Z, Y, X) layout
POINTWISE = (1, 1, 1)


class PyramidPoolingSkip(nn.Module):
    """PSP module on one skip connection (thesis Fig. 5.4): paths at x2, x4, ..., x2**n_paths."""

    def __init__(self, channels: int, n_paths: int, path_filters: int, out_channels: int, pool: str):
        super().__init__()
        pool_class = {"avg": nn.AvgPool3d, "max": nn.MaxPool3d}[pool]
        self.factors = [2 ** (i + 1) for i in range(n_paths)]  # x2 ... x16 at the top level
        self.paths = nn.ModuleList(
            nn.Sequential(pool_class(kernel_size=(1, f, f), stride=(1, f, f)),
                          DoubleConv3d(channels, path_filters, IN_PLANE_3X3))
            for f in self.factors)
        fused_in = channels + n_paths * path_filters  # the skip itself + every path
        self.fuse = nn.Sequential(ConvBNReLU3d(fused_in, out_channels, POINTWISE),
                                  ConvBNReLU3d(out_channels, out_channels, POINTWISE))
        self.out_channels = out_channels

    def forward(self, skip: torch.Tensor) -> torch.Tensor:
        size = skip.shape[2:]  # (Z, Y, X): Z is unchanged, so trilinear is bilinear per slice
        pyramid = [skip] + [F.interpolate(path(skip), size=size, mode="trilinear", align_corners=False)
                            for path in self.paths]
        return self.fuse(torch.cat(pyramid, dim=1))  # (B, out_channels, Z, Y, X)


@dataclass
class PSPUNetConfig:
    in_channels: int = 1            # one MRI channel
    num_classes: int = 4            # background, LV cavity, LV myocardium, RV cavity
    base_filters: int = 32          # paper: 32 (half of the 3D U-net): 32-64-128-256-512
    depth: int = 4                  # in-plane poolings; paper: 4 (176 -> 11)
    psp_branch_filters: int = 128   # [AMB] channels of each top-level PSP path, x2 per level down
    psp_output_factor: int = 2      # [AMB] PSP output channels = factor x the skip's channels
    psp_pool: str = "avg"           # [AMB] "avg" (PSPNet) or "max" (the U-net's own pooling)

    def __post_init__(self):
        for name in ("in_channels", "num_classes", "base_filters", "depth", "psp_branch_filters",
                     "psp_output_factor"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int; got {getattr(self, name)!r}")
        if self.psp_pool not in ("avg", "max"):
            raise ValueError(f"psp_pool must be 'avg' or 'max'; got {self.psp_pool!r}")


@register_model(
    "pspunet", config_class=PSPUNetConfig,
    paper="thesis (seed 003), Ch. 5.3.2, Fig. 5.4-5.5: PSPU-net, 30.83 M parameters",
    task="segmentation", input_layout="(B, 1, Z, Y, X)", output_layout="(B, 4, Z, Y, X)",
    small={"base_filters": 16, "psp_branch_filters": 32},
    paper_size={"base_filters": 32, "psp_branch_filters": 128},
)
class PSPUNet(nn.Module):
    """PSPU-net of thesis Ch. 5: (B, 1, Z, Y, X) -> (B, 4, Z, Y, X) logits, slice by slice."""

    def __init__(self, config: PSPUNetConfig):
        super().__init__()
        widths = level_widths(config.base_filters, config.depth)
        skip_blocks = [
            PyramidPoolingSkip(channels=widths[level],
                               n_paths=config.depth - level,  # 4, 3, 2, 1: drop the coarsest path
                               path_filters=config.psp_branch_filters * 2 ** level,  # doubled per level
                               out_channels=config.psp_output_factor * widths[level],
                               pool=config.psp_pool)
            for level in range(config.depth)]
        self.unet = InPlaneUNet3d(config.in_channels, config.num_classes, widths,
                                  kernel_size=IN_PLANE_3X3, skip_blocks=skip_blocks)
        self.in_channels = config.in_channels

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        check_input(image, name="image", channels=self.in_channels, plane_multiple=self.unet.plane_multiple)
        return self.unet(image)
