"""Small building blocks shared by several paper models.

Append new blocks at the end; each block says which models use it.
"""
from __future__ import annotations

import torch
import torch.nn as nn


# --- Conv3d + BN + ReLU blocks (thesis Ch. 5-7: unet3d_thesis, pspunet, lv_volume_weak, esed_detector)

def same_padding(kernel_size: tuple[int, int, int]) -> tuple[int, int, int]:
    """Zero padding that keeps the size of an odd kernel's output equal to its input ('same')."""
    return tuple(k // 2 for k in kernel_size)


class ConvBNReLU3d(nn.Sequential):
    """Conv3d ('same' padding, with bias) -> BatchNorm3d -> ReLU.

    The thesis (Keras) keeps the convolution bias in front of batch norm; it is redundant
    but it is part of the parameter counts the thesis reports, so it is kept here.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int, int] = (3, 3, 3)):
        super().__init__(
            nn.Conv3d(in_channels, out_channels, kernel_size, padding=same_padding(kernel_size)),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        )


class DoubleConv3d(nn.Sequential):
    """Two ConvBNReLU3d: the unit of one U-net level."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int, int] = (3, 3, 3)):
        super().__init__(
            ConvBNReLU3d(in_channels, out_channels, kernel_size),
            ConvBNReLU3d(out_channels, out_channels, kernel_size),
        )


def in_plane_max_pool() -> nn.MaxPool3d:
    """Halve Y and X, keep the first spatial axis (Z or T): the thesis' 2x2x1 max pooling."""
    return nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))


def in_plane_up_conv(in_channels: int, out_channels: int) -> nn.ConvTranspose3d:
    """Double Y and X, keep the first spatial axis: the thesis' 2x2x1 transposed convolution."""
    return nn.ConvTranspose3d(in_channels, out_channels, kernel_size=(1, 2, 2), stride=(1, 2, 2))


def parameter_count(module: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def check_input(x: torch.Tensor, *, name: str, channels: int, plane_multiple: int) -> None:
    """Raise a ValueError naming `name` unless x is (B, channels, D, Y, X) with Y, X multiples."""
    if not isinstance(x, torch.Tensor) or x.dim() != 5:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a 5D tensor (B, C, D, Y, X); got {got}")
    if x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s); got shape {tuple(x.shape)}")
    if x.shape[-1] % plane_multiple or x.shape[-2] % plane_multiple:
        raise ValueError(f"{name}: Y and X must be multiples of {plane_multiple}; got shape {tuple(x.shape)}")
