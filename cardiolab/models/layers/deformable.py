"""Deformable 2D convolution (Dai et al. 2017; modulated variant: Zhu et al. 2019), in pure torch.

A regular 3x3 convolution reads its nine inputs from a fixed grid around each output
pixel. A deformable convolution adds a learned displacement ``(dy, dx)`` to every one
of those nine sampling points, separately for every output pixel, and reads the input
there by bilinear interpolation. DeU-Net [seed 002] uses it twice: to fuse neighbouring
frames into the target frame (TDAM, Eq. 2: ``k_s <- k_s + delta_(t,k),s``) and in its
encoder (DGPA, Eq. 3).

How it is computed here (the "im2col" view of a convolution):

1. For every output pixel and every kernel tap, compute where to sample:
   ``regular grid position + offset``, in pixels.
2. Gather all those samples at once with ``F.grid_sample`` (bilinear, zero outside the
   image). This gives a column tensor ``(B, C * kh * kw, H_out * W_out)``.
3. Optionally multiply each sample by its modulation mask (DCNv2).
4. Apply the kernel as a single matrix product ``weight (O, C*kh*kw) @ columns``.

Semantics follow ``torchvision.ops.deform_conv2d`` exactly, so weights and offset
predictors can be moved between the two:

* ``offset`` is ``(B, 2 * offset_groups * kh * kw, H_out, W_out)``; for offset group
  ``g`` and kernel tap ``k`` (row-major over ``kh, kw``) channel ``2 * (g * kh * kw + k)``
  holds ``dy`` and the next channel ``dx``, both in pixels.
* ``mask`` is ``(B, offset_groups * kh * kw, H_out, W_out)``, multiplied into the samples.
* Input channels are split into ``offset_groups`` contiguous groups; group ``g`` is
  sampled with the offsets of group ``g``.
* A sample at a non-integer position mixes its four neighbours; neighbours outside the
  image count as zero (torchvision's ``bilinear_interpolate``). This is exactly
  ``grid_sample(padding_mode="zeros")``; we use ``align_corners=False`` with the matching
  normalisation ``(2 * x + 1) / W - 1`` so pixel ``x`` lands on its centre (and images one
  pixel wide need no special case).

With zero offsets (and no mask) the layer is a plain ``nn.Conv2d`` with the same weights.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cardiolab.models.layers.init import reset_conv_parameters


def _pair(value, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


class DeformConv2d(nn.Module):
    """2D convolution whose sampling grid is displaced by per-pixel offsets.

    ``forward(x, offset, mask=None)``: ``x (B, C, H, W)``, ``offset (B, 2*G*kh*kw, H_out, W_out)``,
    ``mask (B, G*kh*kw, H_out, W_out)`` or None, with ``G = offset_groups``. Returns
    ``(B, out_channels, H_out, W_out)`` where ``H_out`` is the size ``nn.Conv2d`` would give.
    The weight has nn.Conv2d's shape and initialisation.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1, padding=1,
                 dilation=1, bias: bool = True, offset_groups: int = 1):
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"in_channels and out_channels must be >= 1, got {in_channels}, {out_channels}")
        if offset_groups < 1 or in_channels % offset_groups:
            raise ValueError(f"offset_groups ({offset_groups}) must divide in_channels ({in_channels})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        self.dilation = _pair(dilation, "dilation")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1 or min(self.padding) < 0:
            raise ValueError("kernel_size, stride, dilation must be >= 1 and padding >= 0")
        self.offset_groups = offset_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same initialisation as nn.Conv2d, so a DeformConv2d starts as a conv would.
        reset_conv_parameters(self.weight, self.bias)

    @property
    def taps(self) -> int:
        """Number of kernel taps kh * kw."""
        return self.kernel_size[0] * self.kernel_size[1]

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(H_out, W_out) of the convolution, as nn.Conv2d computes it."""
        sizes = []
        for size, k, s, p, d in zip((height, width), self.kernel_size, self.stride, self.padding, self.dilation):
            sizes.append((size + 2 * p - d * (k - 1) - 1) // s + 1)
        return sizes[0], sizes[1]

    def _regular_grid(self, out_h: int, out_w: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampling positions of the plain convolution, each (taps, H_out, W_out), in pixels."""
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        tap_y = torch.arange(kh, device=device, dtype=dtype) * dh  # (kh,)
        tap_x = torch.arange(kw, device=device, dtype=dtype) * dw  # (kw,)
        out_y = torch.arange(out_h, device=device, dtype=dtype) * sh - ph  # (H_out,)
        out_x = torch.arange(out_w, device=device, dtype=dtype) * sw - pw  # (W_out,)
        # tap k = i * kw + j (row-major), as torchvision orders the offset channels
        grid_y = tap_y.view(kh, 1, 1, 1) + out_y.view(1, 1, out_h, 1)  # (kh, 1, H_out, 1)
        grid_x = tap_x.view(1, kw, 1, 1) + out_x.view(1, 1, 1, out_w)  # (1, kw, 1, W_out)
        grid_y = grid_y.expand(kh, kw, out_h, out_w).reshape(kh * kw, out_h, out_w)
        grid_x = grid_x.expand(kh, kw, out_h, out_w).reshape(kh * kw, out_h, out_w)
        return grid_y, grid_x

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        batch, channels, height, width = x.shape
        out_h, out_w = self.output_size(height, width)
        groups, taps = self.offset_groups, self.taps
        if offset.shape != (batch, 2 * groups * taps, out_h, out_w):
            raise ValueError(f"offset must be {(batch, 2 * groups * taps, out_h, out_w)}, got {tuple(offset.shape)}")
        if mask is not None and mask.shape != (batch, groups * taps, out_h, out_w):
            raise ValueError(f"mask must be {(batch, groups * taps, out_h, out_w)}, got {tuple(mask.shape)}")

        # 1. where to sample: regular grid + learned displacement, in pixels
        offset = offset.reshape(batch, groups, taps, 2, out_h, out_w)
        grid_y, grid_x = self._regular_grid(out_h, out_w, x.device, x.dtype)
        sample_y = grid_y + offset[:, :, :, 0]  # (B, G, taps, H_out, W_out)
        sample_x = grid_x + offset[:, :, :, 1]
        # pixel index -> grid_sample's [-1, 1] coordinates (align_corners=False: centres)
        norm_y = (2 * sample_y + 1) / height - 1
        norm_x = (2 * sample_x + 1) / width - 1
        grid = torch.stack((norm_x, norm_y), dim=-1)  # grid_sample wants (x, y) order
        grid = grid.view(batch * groups, taps * out_h, out_w, 2)

        # 2. gather every sample of every tap with one bilinear lookup per group
        x_groups = x.reshape(batch * groups, channels // groups, height, width)
        samples = F.grid_sample(x_groups, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        samples = samples.view(batch, groups, channels // groups, taps, out_h * out_w)

        # 3. DCNv2 modulation: one scalar per group, tap and output pixel
        if mask is not None:
            samples = samples * mask.reshape(batch, groups, 1, taps, out_h * out_w)

        # 4. the kernel as one matmul over the columns (c-major, tap-minor, as weight.view)
        columns = samples.reshape(batch, channels * taps, out_h * out_w)  # (B, C*taps, L)
        out = torch.matmul(self.weight.view(self.out_channels, channels * taps), columns)  # (B, O, L)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1)
        return out.view(batch, self.out_channels, out_h, out_w)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, offset_groups={self.offset_groups}, "
                f"bias={self.bias is not None}")


class DeformableConvBlock(nn.Module):
    """A deformable convolution that predicts its own offsets (and optional mask) from its input.

    The offsets come from a plain convolution with the same kernel, stride, padding and
    dilation as the deformable one, initialised to zero: at initialisation the block is
    exactly a regular convolution and learns to deform only where that helps (the
    "DCN pack" of mmcv/MMDetection that DeU-Net [seed 002] builds on). With
    ``modulated=True`` a second zero-initialised conv predicts the DCNv2 mask, passed
    through a sigmoid (so it starts at 0.5 everywhere, as in DCNv2).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1, padding=1, dilation=1,
                 bias: bool = True, offset_groups: int = 1, modulated: bool = False):
        super().__init__()
        self.conv = DeformConv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias,
                                 offset_groups)
        taps = self.conv.taps
        self.offset_conv = nn.Conv2d(in_channels, 2 * offset_groups * taps, kernel_size, stride, padding, dilation)
        nn.init.zeros_(self.offset_conv.weight)
        nn.init.zeros_(self.offset_conv.bias)
        self.mask_conv = None
        if modulated:
            self.mask_conv = nn.Conv2d(in_channels, offset_groups * taps, kernel_size, stride, padding, dilation)
            nn.init.zeros_(self.mask_conv.weight)
            nn.init.zeros_(self.mask_conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset = self.offset_conv(x)
        mask = torch.sigmoid(self.mask_conv(x)) if self.mask_conv is not None else None
        return self.conv(x, offset, mask)
