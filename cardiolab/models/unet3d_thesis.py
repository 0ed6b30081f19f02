"""3D U-net for short-axis cine MRI segmentation (thesis, Ch. 5.3.2, Fig. 5.3).

What the thesis does
--------------------
Segments the LV cavity, LV myocardium and RV cavity of one cardiac phase from stacks
of 3 consecutive short-axis slices (176 x 176 x 3 after resampling to 1 x 1 mm). The
network is a vanilla U-net made 3D: every level applies two 3x3x3 convolutions, each
followed by batch normalisation and ReLU; 4 max-poolings and 4 transposed convolutions
act only in the image plane (2x2x1), because the slice axis is coarse (7 mm + 3 mm gap)
and only 3 slices deep; skips are concatenated; a softmax gives 4 classes. With
64-128-256-512-1024 filters it has 87.51 M parameters (Sec. 5.3.2).

What this file implements
-------------------------
* `InPlaneUNet3d`: the U-net body, written once and reused by `pspunet` (Ch. 5, with a
  pyramid-pooling module on each skip) and `lv_volume_weak` (Ch. 6, which also needs the
  bottleneck). Each skip connection can carry a module (identity by default).
* `UNet3dThesis`, registered as ``unet3d_thesis``: input ``(B, 1, Z, Y, X)`` (Z = 3 slices
  in the thesis; our layout puts Z before Y, X, so the thesis' 2x2x1 is ``(1, 2, 2)``
  here), output ``(B, 4, Z, Y, X)`` logits in the label order of `cardiolab`
  (background, LV cavity, LV myocardium, RV cavity). Y and X must be multiples of
  ``2 ** depth`` (16 for the paper's 4 poolings).

Choices where the thesis is silent
----------------------------------
* Order inside a layer: conv -> BN -> ReLU (the text lists "ReLU ... and batch
  normalization" without an order).
* Convolutions keep their bias (Keras default); the transposed convolutions have a
  2x2x1 kernel, no BN. With both, the paper configuration counts 87.52 M parameters,
  the thesis' 87.51 M (a 3x3x1 transposed kernel would give 90.3 M).
* The softmax is left to the loss (the model returns logits).
* The z axis is zero-padded ('same'), so any number of slices goes through.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cardiolab.models.blocks import DoubleConv3d, check_input, in_plane_max_pool, in_plane_up_conv
from cardiolab.models.registry import register_model


class InPlaneUNet3d(nn.Module):
    """U-net over (B, C, D, Y, X) that pools and upsamples Y, X only (D = Z or T is kept).

    widths: filters per level, top to bottom; ``len(widths) - 1`` poolings.
    kernel_size: of every convolution, in (D, Y, X) order: (3, 3, 3) for the 3D U-net,
        (1, 3, 3) for the thesis' "3x3x1" 2D-in-3D convolutions.
    skip_blocks: one module per skip connection (top level first), applied to the encoder
        features before the decoder concatenates them; each must expose ``out_channels``.
        None means plain skips.
    """

    def __init__(self, in_channels: int, out_channels: int, widths: tuple[int, ...],
                 kernel_size: tuple[int, int, int], skip_blocks: list[nn.Module] | None = None):
        super().__init__()
        depth = len(widths) - 1
        if skip_blocks is None:
            skip_blocks = [nn.Identity() for _ in range(depth)]
            skip_channels = list(widths[:depth])
        else:
            skip_channels = [block.out_channels for block in skip_blocks]
        if len(skip_blocks) != depth:
            raise ValueError(f"skip_blocks must hold {depth} modules (one per skip); got {len(skip_blocks)}")

        level_inputs = (in_channels,) + tuple(widths[:-1])
        self.encoder = nn.ModuleList(DoubleConv3d(c_in, c_out, kernel_size)
                                     for c_in, c_out in zip(level_inputs, widths))
        self.pool = in_plane_max_pool()
        self.skips = nn.ModuleList(skip_blocks)
        self.up = nn.ModuleList(in_plane_up_conv(widths[level + 1], widths[level]) for level in range(depth))
        self.decoder = nn.ModuleList(DoubleConv3d(widths[level] + skip_channels[level], widths[level], kernel_size)
                                     for level in range(depth))
        self.head = nn.Conv3d(widths[0], out_channels, kernel_size=1)
        self.plane_multiple = 2 ** depth  # Y and X must survive `depth` halvings

    def forward(self, x: torch.Tensor, return_bottleneck: bool = False):
        skips = []
        for level, block in enumerate(self.encoder):
            x = block(x)
            if level < len(self.skips):
                skips.append(self.skips[level](x))  # (B, skip_channels[level], D, Y / 2**level, X / 2**level)
                x = self.pool(x)
        bottleneck = x  # (B, widths[-1], D, Y / 2**depth, X / 2**depth)
        for level in reversed(range(len(self.skips))):
            x = self.up[level](x)
            x = self.decoder[level](torch.cat([x, skips[level]], dim=1))  # concatenating skip
        out = self.head(x)  # (B, out_channels, D, Y, X)
        return (out, bottleneck) if return_bottleneck else out


def level_widths(base_filters: int, depth: int) -> tuple[int, ...]:
    """Filters doubling at every level: base, 2 base, ..., 2**depth base."""
    return tuple(base_filters * 2 ** level for level in range(depth + 1))


@dataclass
class UNet3dThesisConfig:
    in_channels: int = 1      # one MRI channel
    num_classes: int = 4      # background, LV cavity, LV myocardium, RV cavity
    base_filters: int = 64    # paper: 64 (64-128-256-512-1024 -> 87.51 M parameters)
    depth: int = 4            # in-plane poolings; paper: 4 (176 -> 11)

    def __post_init__(self):
        for name in ("in_channels", "num_classes", "base_filters", "depth"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int; got {getattr(self, name)!r}")


@register_model(
    "unet3d_thesis", config_class=UNet3dThesisConfig,
    paper="thesis (seed 003), Ch. 5.3.2, Fig. 5.3: 3D U-net, 87.51 M parameters",
    task="segmentation", input_layout="(B, 1, Z, Y, X)", output_layout="(B, 4, Z, Y, X)",
    small={"base_filters": 8}, paper_size={"base_filters": 64},
)
class UNet3dThesis(nn.Module):
    """3D U-net of thesis Ch. 5: (B, 1, Z, Y, X) slice stacks -> (B, 4, Z, Y, X) logits."""

    def __init__(self, config: UNet3dThesisConfig):
        super().__init__()
        self.unet = InPlaneUNet3d(config.in_channels, config.num_classes,
                                  level_widths(config.base_filters, config.depth),
                                  kernel_size=(3, 3, 3))  # [thesis Ch. 5.3.2] 3x3x3 convolutions
        self.in_channels = config.in_channels

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        check_input(image, name="image", channels=self.in_channels, plane_multiple=self.unet.plane_multiple)
        return self.unet(image)
