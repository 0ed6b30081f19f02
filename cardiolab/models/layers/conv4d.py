"""Layers for 4D (3D + time) tensors laid out ``(B, C, T, Z, Y, X)``.

PyTorch has convolutions, upsampling and batch norm for at most three spatial axes.
Seed 000 (4D CNN for sparsely-labelled 4D CCTA, Sec. 3.1) writes a true, non-separable
4D convolution as a sum of 3D convolutions along the fourth (time) axis and notes that
the naive double loop (over output frames, then over kernel taps) repeats work, so it
"rearranged the loop". This file does the same in PyTorch:

* `Conv4d`      a true 4D convolution, ``weight`` of shape (out, in, kt, kz, ky, kx);
* `Upsample4d`  nearest-neighbour upsampling by an integer factor per axis, time included;
* `GroupNorm6d` and `BatchNorm6d`  the two norms, checked for 6D input.

How `Conv4d` avoids the loop (the idea is im2col, applied to the time axis only)
-------------------------------------------------------------------------------
Output frame ``t`` is ``sum_k conv3d(x[:, :, t*stride + k - pad], w[:, :, k])``. Summing
3D convolutions over ``k`` is the same as one 3D convolution whose input channels are
the ``kt`` frames stacked: ``conv3d(cat_k x[:, :, t*stride + k - pad], cat_k w[:, :, k])``.
So we

1. pad the sequence in time by gathering frames with one `index_select`: a padding mode
   is just a list of frame numbers (clamped for "replicate", mirrored for "reflect",
   wrapped for "circular"; "zeros" zeroes the padding frames after the gather);
2. slide a window of ``kt`` frames along time, ``stride_t`` frames apart (`Tensor.unfold`,
   a view), and copy the windows to (B * T_out, kt * C, Z, Y, X): time folded into the
   batch, each window's frames stacked as channels (im2col on the time axis only);
3. run ONE `F.conv3d` with the weight reshaped to (out, kt * in, kz, ky, kx).

The convolution then costs exactly the FLOPs of a 3D convolution with ``kt`` times the
input channels (the unavoidable cost of a 4D kernel), in a single well-optimised call,
forward and backward; the gathers are memory copies, small beside the convolution. A
temporal stride only changes the window step. The gathered copy holds the channels last
(in memory, (B * T_out, Z, Y, X, kt * C)), the layout oneDNN (CPU) and cuDNN (tensor
cores) convolve fastest. On one core of an AVX2 CPU (benchmarks/bench_conv4d.py, forward
+ backward, 8 -> 8 channels, 8 x 16 x 32 x 32) Conv4d took 0.58x the time of a contiguous
conv3d of the same FLOPs, 1.2x that of a channels-last one (the gathers' cost), and was
6x faster than the per-frame loop. The price is memory: the gathered input, ``kt``
times the input, is kept for the backward pass.

Choices where the paper is silent: spatial padding is always zeros (seed 000 discusses
padding modes for the time axis only); the paper tried zero, mirror ("reflect") and
replicate padding in time, found no difference and used zeros; "circular" is added
because a cine sequence covering one whole cardiac cycle is periodic.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from cardiolab.models.layers.init import reset_conv_parameters

TIME_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _four_ints(value: int | Sequence[int], name: str, minimum: int) -> tuple[int, int, int, int]:
    """Expand an int to (t, z, y, x), or check a 4-sequence; every value >= minimum."""
    if isinstance(value, int) and not isinstance(value, bool):
        values = (value,) * 4
    elif isinstance(value, Sequence) and len(value) == 4 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        values = tuple(value)
    else:
        raise TypeError(f"{name} must be an int or a sequence of 4 ints (t, z, y, x), got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{name} values must be >= {minimum}, got {value!r}")
    return values  # type: ignore[return-value]


def _check_6d(x: torch.Tensor, name: str = "input") -> None:
    if x.dim() != 6:
        raise ValueError(f"{name} must be 6D (B, C, T, Z, Y, X), got shape {tuple(x.shape)}")


def padded_frame_index(n_frames: int, pad_t: int, time_padding: str) -> list[int]:
    """The input frame at each of the ``n_frames + 2 * pad_t`` positions of the time-padded
    sequence: ``pad_t`` positions before frame 0, the frames, ``pad_t`` positions after.

    With "zeros" the padding positions get frame 0 here and are zeroed after the gather.
    """
    if time_padding == "reflect" and pad_t >= n_frames:
        raise ValueError(f"time_padding='reflect' needs padding < frames, got padding {pad_t} "
                         f"and {n_frames} frames")
    index = []
    for position in range(-pad_t, n_frames + pad_t):
        if time_padding == "circular":
            frame = position % n_frames
        elif time_padding == "reflect" and not 0 <= position < n_frames:
            # mirror about the first / last frame, which is not repeated (as F.pad's "reflect")
            frame = -position if position < 0 else 2 * (n_frames - 1) - position
        else:  # inside the sequence; or "replicate" (clamp), or "zeros" (any frame, zeroed later)
            frame = min(max(position, 0), n_frames - 1)
        index.append(frame)
    return index


class Conv4d(nn.Module):
    """True (non-separable) 4D convolution on ``(B, C, T, Z, Y, X)`` tensors.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size, stride, padding: an int or a 4-tuple ``(t, z, y, x)``.
        bias: add a learnt bias per output channel.
        time_padding: how the time axis is padded: "zeros" (seed 000's choice), "reflect",
            "replicate" or "circular" (periodic cardiac cycle). Space is zero-padded.

    ``weight`` has shape (out, in, kt, kz, ky, kx) and is initialised like PyTorch's
    convolutions (Kaiming-uniform with a = sqrt(5), fan_in = in * kt * kz * ky * kx).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int] = 3,
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 1, bias: bool = True,
                 time_padding: str = "zeros"):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if time_padding not in TIME_PADDING_MODES:
            raise ValueError(f"time_padding must be one of {TIME_PADDING_MODES}, got {time_padding!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _four_ints(kernel_size, "kernel_size", 1)
        self.stride = _four_ints(stride, "stride", 1)
        self.padding = _four_ints(padding, "padding", 0)
        self.time_padding = time_padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # As nn.Conv3d: fan_in = in * kt * kz * ky * kx (computed from the 6D weight).
        reset_conv_parameters(self.weight, self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_6d(x)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"input has {x.shape[1]} channels, Conv4d expects in_channels={self.in_channels}")
        batch, channels, n_frames = x.shape[:3]
        kernel_t, stride_t, pad_t = self.kernel_size[0], self.stride[0], self.padding[0]
        if n_frames + 2 * pad_t < kernel_t:
            raise ValueError(f"input has {n_frames} frames: too few for a temporal kernel of {kernel_t} "
                             f"with padding {pad_t}")
        # 1. Pad time by gathering frames (any padding mode is a list of frame numbers). The
        #    gather also moves channels last: oneDNN / cuDNN run conv3d fastest channels-last.
        index = torch.tensor(padded_frame_index(n_frames, pad_t, self.time_padding), device=x.device)
        padded = x.permute(0, 2, 3, 4, 5, 1).index_select(1, index)  # (B, T + 2p, Z, Y, X, C)
        if self.time_padding == "zeros" and pad_t > 0:
            padded[:, :pad_t] = 0
            padded[:, n_frames + pad_t:] = 0
        # 2. Slide a window of kt frames along time, every stride_t frames, and stack each
        #    window's frames as channels: im2col on the time axis only.
        windows = padded.unfold(1, kernel_t, stride_t)                 # (B, T_out, Z, Y, X, C, kt) view
        n_out, space = windows.shape[1], windows.shape[2:5]
        columns = windows.transpose(-1, -2).reshape(batch * n_out, *space, kernel_t * channels)  # copy
        columns = columns.permute(0, 4, 1, 2, 3)                       # (B * T_out, kt * C, Z, Y, X)
        # 3. One conv3d. Weight (out, in, kt, kz, ky, kx) -> (out, kt * in, kz, ky, kx), tap-major
        #    as the columns; the sum over taps happens in the conv's sum over input channels.
        weight_3d = self.weight.transpose(1, 2).reshape(self.out_channels, kernel_t * channels,
                                                        *self.kernel_size[1:])
        y = F.conv3d(columns, weight_3d, self.bias, stride=self.stride[1:], padding=self.padding[1:])
        # (B * T_out, out, Z', Y', X') -> (B, out, T_out, Z', Y', X'), contiguous like any layer's output
        y = y.permute(0, 2, 3, 4, 1).reshape(batch, n_out, *y.shape[2:], self.out_channels)
        return y.permute(0, 5, 1, 2, 3, 4).contiguous()

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, time_padding={self.time_padding!r}")
        return text + (", bias=False" if self.bias is None else "")


class Upsample4d(nn.Module):
    """Nearest-neighbour upsampling of ``(B, C, T, Z, Y, X)`` by integer factors (t, z, y, x).

    ``F.interpolate`` stops at three spatial axes, so each voxel is repeated by a
    broadcast: one copy, and a backward that sums each block of copies.
    """

    def __init__(self, scale_factor: int | Sequence[int] = 2):
        super().__init__()
        self.scale_factor = _four_ints(scale_factor, "scale_factor", 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_6d(x)
        batch, channels, *sizes = x.shape
        st, sz, sy, sx = self.scale_factor
        # (B, C, T, 1, Z, 1, Y, 1, X, 1) -> broadcast each axis's copies -> merge the pairs
        spread = x.reshape(batch, channels, sizes[0], 1, sizes[1], 1, sizes[2], 1, sizes[3], 1)
        spread = spread.expand(-1, -1, -1, st, -1, sz, -1, sy, -1, sx)
        return spread.reshape(batch, channels, *(n * s for n, s in zip(sizes, self.scale_factor)))

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}, mode='nearest'"


class GroupNorm6d(nn.GroupNorm):
    """GroupNorm on ``(B, C, T, Z, Y, X)``: statistics per sample and channel group, over
    the group's channels and all of T, Z, Y, X (time counts as one more axis).

    ``F.group_norm`` accepts any ``(N, C, *)`` tensor, so no folding is needed; this class
    adds the 6D shape check. Same arguments as `nn.GroupNorm`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_6d(x)
        return super().forward(x)


class BatchNorm6d(nn.modules.batchnorm._BatchNorm):
    """BatchNorm on ``(B, C, T, Z, Y, X)``: per-channel statistics over B, T, Z, Y, X.

    Same arguments as `nn.BatchNorm3d`; ``F.batch_norm`` accepts any ``(N, C, *)`` tensor,
    which equals BatchNorm3d on the tensor with T and Z merged.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        _check_6d(x)
