"""End-systole / end-diastole frame detector with dilated temporal convolutions (thesis Ch. 7.3.2).

What the thesis does
--------------------
Each cine frame is reduced to one 176 x 176 image, the median projection over the
slices 2..n-1 (Ch. 7.3.1), giving a sequence of T images. The network (Fig. 7.3,
4.7 M parameters) has two blocks:

1. Spatial block, frame by frame (2D convolutions written as 3x3x1 3D convolutions):
   4 x {[Conv 3x3 + BN + ReLU] x 2, MaxPool 2x2}, channels 64, 128, 256, 512, then a
   1x1 convolution to a single channel: one 11 x 11 feature map per frame.
2. Spatio-temporal block on that (11 x 11 x T) map: 9 parallel convolutions with a 3x3
   in-plane kernel and k in {3, 5, 7} frames at temporal dilation d in {1, 2, 4}
   (temporal receptive fields 3 to 25 frames), one channel each + BN + ReLU; their 9
   outputs are concatenated with the block's input (a skip: 10 channels), then an
   11 x 11 x 1 convolution without padding collapses the plane to 3 values per frame, and
   a softmax gives P(ES), P(ED), P(other) for every frame.

What this file implements
-------------------------
`ESEDDetector`, registered as ``esed_detector``: input ``(B, 1, T, Y, X)`` (our layout:
time where a 3D model has Z; the thesis' 3x3x1 is ``(1, 3, 3)`` here), Y = X =
``image_size`` (176 in the paper), output ``(B, 3, T)`` logits. Class order, as the
thesis lists it: index 0 = ES, 1 = ED, 2 = other frame (`CLASS_NAMES`). Apply the
softmax over dim 1 (the loss does it for training).

Choices where the thesis is silent
----------------------------------
* Temporal padding: 'same' with zeros (``temporal_padding="zeros"``, what Keras does);
  the cardiac cycle is periodic, so ``"circular"`` wraps the sequence instead (then a
  circular shift of the input frames shifts the output the same way).
* Conv -> BN -> ReLU order; convolutions keep their bias (Keras default); the final
  11x11x1 convolution has neither BN nor ReLU (it feeds the softmax).
* The last convolution's in-plane kernel equals the feature map left after the poolings
  (``image_size / 2**depth``): 11 for 176 px, so smaller configurations stay valid.
With these choices the paper configuration has 4.69 M parameters (thesis: 4.7 M).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cardiolab.models.blocks import DoubleConv3d, check_input, in_plane_max_pool
from cardiolab.models.registry import register_model

CLASS_NAMES = ("ES", "ED", "other")  # output channel order
ES_CLASS, ED_CLASS, OTHER_CLASS = 0, 1, 2
IN_PLANE_3X3 = (1, 3, 3)  # the thesis' 3x3x1 kernel in our (T, Y, X) layout


class TemporalPath(nn.Module):
    """One dilated temporal path: Conv (k frames x 3 x 3, dilation d in time), 1 -> 1 channel, BN, ReLU."""

    def __init__(self, frames: int, dilation: int, padding: str):
        super().__init__()
        self.time_pad = dilation * (frames - 1) // 2  # 'same' in time
        self.circular = padding == "circular"
        self.conv = nn.Conv3d(1, 1, kernel_size=(frames, 3, 3), dilation=(dilation, 1, 1),
                              padding=(0 if self.circular else self.time_pad, 1, 1))  # zeros in-plane
        self.norm = nn.BatchNorm3d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 1, T, y, x)
        if self.circular:
            n_frames = x.shape[2]
            # frame indices -pad .. T-1+pad taken modulo T: valid for any T, even T < pad
            wrapped = torch.arange(-self.time_pad, n_frames + self.time_pad, device=x.device) % n_frames
            x = x.index_select(2, wrapped)  # (B, 1, T + 2 pad, y, x)
        return torch.relu(self.norm(self.conv(x)))


@dataclass
class ESEDDetectorConfig:
    in_channels: int = 1                       # one median-projection image per frame
    base_filters: int = 64                     # paper: 64-128-256-512
    depth: int = 4                             # in-plane poolings; paper: 4 (176 -> 11)
    image_size: int = 176                      # px, Y = X; paper: 176 (1 x 1 mm)
    temporal_kernels: tuple = (3, 5, 7)        # frames; paper: 3, 5, 7
    temporal_dilations: tuple = (1, 2, 4)      # frames; paper: 1, 2, 4
    temporal_padding: str = "zeros"            # [AMB] "zeros" (Keras 'same') or "circular"

    def __post_init__(self):
        for name in ("in_channels", "base_filters", "depth", "image_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int; got {getattr(self, name)!r}")
        if self.image_size % 2 ** self.depth:
            raise ValueError(f"image_size must be a multiple of 2**depth = {2 ** self.depth}; got {self.image_size}")
        if not self.temporal_kernels or any(k < 1 or k % 2 == 0 for k in self.temporal_kernels):
            raise ValueError(f"temporal_kernels must be odd positive ints; got {self.temporal_kernels!r}")
        if not self.temporal_dilations or any(d < 1 for d in self.temporal_dilations):
            raise ValueError(f"temporal_dilations must be positive ints; got {self.temporal_dilations!r}")
        if self.temporal_padding not in ("zeros", "circular"):
            raise ValueError(f"temporal_padding must be 'zeros' or 'circular'; got {self.temporal_padding!r}")


@register_model(
    "esed_detector", config_class=ESEDDetectorConfig,
    paper="thesis (seed 003), Ch. 7.3.2, Fig. 7.3: ES/ED detector, 4.7 M parameters",
    task="events", input_layout="(B, 1, T, Y, X)", output_layout="(B, 3, T)",
    small={"base_filters": 8, "image_size": 64}, paper_size={"base_filters": 64, "image_size": 176},
)
class ESEDDetector(nn.Module):
    """(B, 1, T, Y, X) median projections -> (B, 3, T) per-frame logits for (ES, ED, other)."""

    def __init__(self, config: ESEDDetectorConfig):
        super().__init__()
        # [thesis Ch. 7.3.2] spatial block: 4 x {2 x (3x3x1 conv + BN + ReLU), 2x2x1 max pool}
        widths = [config.base_filters * 2 ** level for level in range(config.depth)]
        level_inputs = [config.in_channels] + widths[:-1]
        self.spatial = nn.Sequential(*[nn.Sequential(DoubleConv3d(c_in, c_out, IN_PLANE_3X3), in_plane_max_pool())
                                       for c_in, c_out in zip(level_inputs, widths)])
        self.to_one_channel = nn.Conv3d(widths[-1], 1, kernel_size=1)  # one 11x11 map per frame
        # [thesis Ch. 7.3.2] 9 temporal paths: k in {3,5,7} x dilation in {1,2,4}, 1 channel each
        self.temporal_paths = nn.ModuleList(TemporalPath(k, d, config.temporal_padding)
                                            for k in config.temporal_kernels for d in config.temporal_dilations)
        self.map_size = config.image_size // 2 ** config.depth  # 11 for 176 px
        skip_and_paths = 1 + len(self.temporal_paths)           # 10 channels in the paper
        self.classify = nn.Conv3d(skip_and_paths, len(CLASS_NAMES),
                                  kernel_size=(1, self.map_size, self.map_size))  # 11x11x1, valid
        self.in_channels, self.image_size = config.in_channels, config.image_size

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        check_input(frames, name="frames", channels=self.in_channels, plane_multiple=1)
        if frames.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"frames must be {self.image_size} x {self.image_size} in-plane "
                             f"(config image_size); got shape {tuple(frames.shape)}")
        features = self.to_one_channel(self.spatial(frames))  # (B, 1, T, 11, 11)
        paths = [path(features) for path in self.temporal_paths]  # 9 x (B, 1, T, 11, 11)
        stacked = torch.cat([features] + paths, dim=1)  # (B, 10, T, 11, 11): skip + paths
        return self.classify(stacked).flatten(start_dim=2)  # (B, 3, T, 1, 1) -> (B, 3, T)
