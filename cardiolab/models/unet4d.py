"""Seed 000: a 4D (3D + time) encoder-decoder CNN for sparsely-labelled 4D cardiac CT,
and the paper's 3D comparison network.

What the paper does (seed 000, Sec. 3, Fig. 1, Table 1)
-------------------------------------------------------
The network segments a whole 4D crop (96 x 96 x 64 voxels x 16 frames) at once with true
3x3x3x3 convolutions. It follows the encoder-decoder of the paper's ref. [7] (Myronenko,
3D MRI brain tumour segmentation using autoencoder regularisation), keeping only the
main decoder branch:

    InitConv        Conv 3x3x3x3, 8 filters                          8 x 96x96x64x16
    EncoderBlock0   ResBlock x1                                      8 x 96x96x64x16
    EncoderDown1    Conv 3x3x3x3 stride 2                           16 x 48x48x32x8
    EncoderBlock1   ResBlock x2                                     16 x 48x48x32x8
    EncoderDown2    Conv 3x3x3x3 stride 2                           32 x 24x24x16x4
    EncoderBlock2   ResBlock x4                                     32 x 24x24x16x4
    DecoderUp1      Conv 1x1x1x1, UpNearest, + EncoderBlock1        16 x 48x48x32x8
    DecoderBlock1   ResBlock x1                                     16 x 48x48x32x8
    DecoderUp0      Conv 1x1x1x1, UpNearest, + EncoderBlock0         8 x 96x96x64x16
    DecoderBlock0   ResBlock x1                                      8 x 96x96x64x16
    DecoderEnd      Conv 1x1x1x1, softmax                            3 x 96x96x64x16

with ResBlock = GN, ReLU, Conv, GN, ReLU, Conv, + identity. The paper writes time last
(96x96x64x16); cardiolab's layout is (B, C, T, Z, Y, X), so the paper input is
(1, 1, 16, 64, 96, 96). Table 1 halves the frames with the space (16 -> 8 -> 4), so the
strided convolutions and the upsampling act on time too (``downsample_time=True``).

The 3D comparison network (Sec. 4) "largely follows the same architecture ... except
that all convolutions are 3D and include a greater number of layers with one additional
down-sampling level (the end of the encoder being of size 12x12x8)"; it sees one
96 x 96 x 64 frame, (B, 1, 64, 96, 96) here.

What this file implements
-------------------------
`UNet4d` (registered as ``unet4d``) and `UNet3dCCTA` (``unet3d_ccta``): one
encoder-decoder class, `ResidualEncoderDecoder`, built with 4D layers (`Conv4d`,
`GroupNorm6d`, `Upsample4d`) or PyTorch's 3D ones. Both return LOGITS: the softmax of
Fig. 1 belongs to the loss (seed 000's sparse Dice loss applies it) or to inference
(``logits.softmax(dim=1)``), which keeps training numerically stable.

Choices where the paper is silent (each is a config option)
-----------------------------------------------------------
* "GN (with group size of 8)": read as 8 GROUPS, as in ref. [7] and its public
  descendant (MONAI's SegResNet, ``num_groups=8``); ``norm_groups`` is the number of groups.
* Dropout: seed 000 mentions none; ref. [7] applies spatial dropout 0.2 after the initial
  convolution. ``dropout`` (default 0) is element-wise dropout at that place.
* The 3D network's depth: the paper gives one more level and "a greater number of
  layers"; we use ref. [7]'s encoder (1, 2, 2, 4 blocks) with the 4D network's 8 initial
  filters (8, 16, 32, 64 per level).
* Input sizes must be divisible by 2 per downsampling along each downsampled axis, so
  that the upsampled maps meet their skips exactly (the paper's crops are).

Parameter counts (paper configs; the paper states none): ``unet4d`` 863,091;
``unet3d_ccta`` 1,177,187 (tests/test_model_unet4d.py derives both from the table).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from cardiolab.models.layers import Conv4d, GroupNorm6d, Upsample4d
from cardiolab.models.layers.conv4d import TIME_PADDING_MODES
from cardiolab.models.registry import register_model


# ----------------------------------------------------------------------------- configs

@dataclass
class UNet4dConfig:
    in_channels: int = 1                      # [seed 000] single-channel CT
    n_classes: int = 3                        # [seed 000] background, LV, myocardium (4 with RV)
    base_filters: int = 8                     # [seed 000] Table 1: InitConv 8 filters, doubled per level
    encoder_blocks: tuple[int, ...] = (1, 2, 4)  # [seed 000] ResBlocks at levels 0, 1, 2
    decoder_blocks: int = 1                   # [seed 000] "a single block per each spatial level"
    norm_groups: int = 8                      # GroupNorm groups ("group size of 8", read as [7])
    time_padding: str = "zeros"               # [seed 000] Sec. 3.1 chose zeros; or reflect/replicate/circular
    downsample_time: bool = True              # [seed 000] Table 1: 16 -> 8 -> 4 frames
    dropout: float = 0.0                      # not in seed 000; [7] used 0.2 after InitConv


@dataclass
class UNet3dCCTAConfig:
    in_channels: int = 1                      # [seed 000] single-channel CT frame
    n_classes: int = 3                        # [seed 000] background, LV, myocardium
    base_filters: int = 8                     # as the 4D network (Fig. 1); paper silent
    encoder_blocks: tuple[int, ...] = (1, 2, 2, 4)  # one more level (Sec. 4); counts from [7]
    decoder_blocks: int = 1                   # as the 4D network
    norm_groups: int = 8                      # as the 4D network
    dropout: float = 0.0                      # as the 4D network


def _check_config(config) -> None:
    for name in ("in_channels", "n_classes", "base_filters", "decoder_blocks", "norm_groups"):
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    blocks = tuple(config.encoder_blocks)
    if len(blocks) < 1 or any(not isinstance(n, int) or n < 1 for n in blocks):
        raise ValueError(f"encoder_blocks must be one positive int per level, got {config.encoder_blocks!r}")
    if config.base_filters % config.norm_groups:
        raise ValueError(f"norm_groups={config.norm_groups} must divide base_filters={config.base_filters}")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {config.dropout!r}")


# ----------------------------------------------------------------------------- building blocks

@dataclass(frozen=True)
class LayerKit:
    """The layers of one dimensionality: 4D (Conv4d, GroupNorm6d, Upsample4d) or 3D."""
    conv: Callable[..., nn.Module]      # conv(in, out, kernel, stride) with "same" padding
    norm: Callable[[int, int], nn.Module]  # norm(groups, channels)
    upsample: Callable[[], nn.Module]   # nearest upsampling by the downsampling factors
    down_stride: int | tuple[int, ...]  # stride of the downsampling convolutions


def layer_kit_4d(time_padding: str, downsample_time: bool) -> LayerKit:
    factors = (2 if downsample_time else 1, 2, 2, 2)  # (t, z, y, x)
    return LayerKit(
        conv=lambda cin, cout, kernel, stride=1: Conv4d(cin, cout, kernel, stride, padding=kernel // 2,
                                                        time_padding=time_padding),
        norm=GroupNorm6d,
        upsample=lambda: Upsample4d(factors),
        down_stride=factors,
    )


def layer_kit_3d() -> LayerKit:
    return LayerKit(
        conv=lambda cin, cout, kernel, stride=1: nn.Conv3d(cin, cout, kernel, stride, padding=kernel // 2),
        norm=nn.GroupNorm,
        upsample=lambda: nn.Upsample(scale_factor=2, mode="nearest"),
        down_stride=2,
    )


class ResBlock(nn.Module):
    """[seed 000] Table 1: GN, ReLU, Conv, GN, ReLU, Conv, AddId (pre-activation ResNet)."""

    def __init__(self, channels: int, groups: int, kit: LayerKit):
        super().__init__()
        self.norm1, self.conv1 = kit.norm(groups, channels), kit.conv(channels, channels, 3)
        self.norm2, self.conv2 = kit.norm(groups, channels), kit.conv(channels, channels, 3)
        self.act = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        h = self.conv2(self.act(self.norm2(h)))
        return x + h  # AddId


class UpAdd(nn.Module):
    """[seed 000] DecoderUp: 1x1(x1) conv halving the channels, nearest upsampling, + skip."""

    def __init__(self, in_channels: int, out_channels: int, kit: LayerKit):
        super().__init__()
        self.reduce = kit.conv(in_channels, out_channels, 1)
        self.upsample = kit.upsample()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.reduce(x)) + skip  # additive skip, not concatenation


class ResidualEncoderDecoder(nn.Module):
    """The encoder-decoder of seed 000's Table 1 for any number of levels and any `LayerKit`."""

    def __init__(self, in_channels: int, n_classes: int, base_filters: int, encoder_blocks: tuple[int, ...],
                 decoder_blocks: int, norm_groups: int, dropout: float, kit: LayerKit):
        super().__init__()
        widths = [base_filters * 2 ** level for level in range(len(encoder_blocks))]  # 8, 16, 32
        self.init_conv = kit.conv(in_channels, widths[0], 3)                        # InitConv
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.down = nn.ModuleList([nn.Identity()] + [                              # EncoderDown1, 2, ...
            kit.conv(widths[level - 1], widths[level], 3, kit.down_stride) for level in range(1, len(widths))])
        self.encoder = nn.ModuleList([                                             # EncoderBlock0, 1, 2
            nn.Sequential(*[ResBlock(width, norm_groups, kit) for _ in range(n)])
            for width, n in zip(widths, encoder_blocks)])
        self.up = nn.ModuleList([UpAdd(widths[level + 1], widths[level], kit)      # DecoderUp1, 0
                                 for level in reversed(range(len(widths) - 1))])
        self.decoder = nn.ModuleList([                                             # DecoderBlock1, 0
            nn.Sequential(*[ResBlock(widths[level], norm_groups, kit) for _ in range(decoder_blocks)])
            for level in reversed(range(len(widths) - 1))])
        self.head = kit.conv(widths[0], n_classes, 1)                               # DecoderEnd (logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.init_conv(x))
        skips = []
        for down, blocks in zip(self.down, self.encoder):
            h = blocks(down(h))
            skips.append(h)
        for up, blocks, skip in zip(self.up, self.decoder, reversed(skips[:-1])):
            h = blocks(up(h, skip))
        return self.head(h)


def _check_input(x: torch.Tensor, dims: int, in_channels: int, divisors: tuple[int, ...], layout: str) -> None:
    if x.dim() != dims + 2:
        raise ValueError(f"input must be {dims + 2}D {layout}, got shape {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"input has {x.shape[1]} channels, the model expects in_channels={in_channels}")
    sizes = tuple(x.shape[2:])
    if any(size % divisor for size, divisor in zip(sizes, divisors)):
        raise ValueError(f"input sizes {sizes} must be divisible by {divisors} (one halving per level), "
                         f"so that upsampled maps meet their skips")


# ----------------------------------------------------------------------------- the two models

@register_model(
    "unet4d", config_class=UNet4dConfig,
    paper="seed 000 (4D CNN for sparsely-labelled 4D CCTA), Sec. 3 and 3.1, Fig. 1, Table 1",
    task="segmentation", input_layout="(B, 1, T, Z, Y, X)", output_layout="(B, n_classes, T, Z, Y, X) logits",
    small=dict(base_filters=4, encoder_blocks=(1, 1, 2), norm_groups=4, n_classes=4),
    paper_size=dict(),
)
class UNet4d(nn.Module):
    """Seed 000's 4D network: (B, C, T, Z, Y, X) -> logits (B, n_classes, T, Z, Y, X).

    Apply ``softmax(dim=1)`` to the output for the class probabilities of Fig. 1.
    """

    def __init__(self, config: UNet4dConfig | None = None):
        super().__init__()
        config = config or UNet4dConfig()
        _check_config(config)
        if config.time_padding not in TIME_PADDING_MODES:
            raise ValueError(f"time_padding must be one of {TIME_PADDING_MODES}, got {config.time_padding!r}")
        self.config = config
        n_halvings = len(config.encoder_blocks) - 1
        self.size_divisors = ((2 ** n_halvings if config.downsample_time else 1),) + (2 ** n_halvings,) * 3
        kit = layer_kit_4d(config.time_padding, config.downsample_time)
        self.net = ResidualEncoderDecoder(config.in_channels, config.n_classes, config.base_filters,
                                          tuple(config.encoder_blocks), config.decoder_blocks,
                                          config.norm_groups, config.dropout, kit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, 4, self.config.in_channels, self.size_divisors, "(B, C, T, Z, Y, X)")
        return self.net(x)


@register_model(
    "unet3d_ccta", config_class=UNet3dCCTAConfig,
    paper="seed 000 (4D CNN for sparsely-labelled 4D CCTA), Sec. 4: the 3D comparison network",
    task="segmentation", input_layout="(B, 1, Z, Y, X)", output_layout="(B, n_classes, Z, Y, X) logits",
    small=dict(base_filters=4, encoder_blocks=(1, 1, 1, 2), norm_groups=4, n_classes=4),
    paper_size=dict(),
)
class UNet3dCCTA(nn.Module):
    """Seed 000's 3D baseline, frame by frame: (B, C, Z, Y, X) -> logits (B, n_classes, Z, Y, X).

    To segment a sequence, fold time into the batch: (B, C, T, Z, Y, X) ->
    ``x.transpose(1, 2).flatten(0, 1)`` -> (B * T, C, Z, Y, X).
    """

    def __init__(self, config: UNet3dCCTAConfig | None = None):
        super().__init__()
        config = config or UNet3dCCTAConfig()
        _check_config(config)
        self.config = config
        self.size_divisors = (2 ** (len(config.encoder_blocks) - 1),) * 3
        self.net = ResidualEncoderDecoder(config.in_channels, config.n_classes, config.base_filters,
                                          tuple(config.encoder_blocks), config.decoder_blocks,
                                          config.norm_groups, config.dropout, layer_kit_3d())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, 3, self.config.in_channels, self.size_divisors, "(B, C, Z, Y, X)")
        return self.net(x)
