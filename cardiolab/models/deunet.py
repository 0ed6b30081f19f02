"""DeU-Net: a deformable U-Net for cardiac MRI video segmentation [seed 002] (ACDC).

What the paper does
-------------------
DeU-Net segments one short-axis frame (the target, time ``t0``) using its ``r``
neighbours in time on each side, ``2r + 1`` frames of the same slice (r = 1). Two parts
(Sec. 2, Fig. 1):

* TDAM, the Temporal Deformable Aggregation Module (Sec. 2.1). A small U-Net (max-pool
  down, deconvolution up, stride-1 zero-padded convs) looks at the whole clip and predicts,
  for every pixel and every frame, where each tap of a 3x3 kernel should sample (Eq. 2:
  ``k_s <- k_s + delta_(t,k),s``). A deformable convolution over the 2r + 1 frames then
  fuses them into one feature map for the target frame. Without offsets this would be the
  "Early Fusion" of Eq. (1), a plain multi-channel conv over the stacked frames; the offsets
  let each frame be read where the moving heart actually is.
* DGPA, the Deformable Global Position Attention network (Sec. 2.2): a U-Net on the
  fused features whose encoder uses deformable convolutions, with an attention block: a
  3x3 deformable conv gives ``O`` (Eq. 3); every pixel ``j`` then adds a softmax-weighted
  sum over all pixels ``i`` (Eq. 4-5, the position attention of DANet):
  ``Z_j = alpha * sum_i p_ji D_i + O_j`` with ``p_ji = softmax_i(B_i . C_j)``.

Ablations (Sec. 3.2, Table 1): DeU-Net(t) is "the variant without TDAM", DeU-Net(d)
"the variant without DGPA". Here ``tdam=False`` gives DeU-Net(t), ``dgpa=False`` gives
DeU-Net(d). Training (Sec. 3.1): Adam, lr 2e-4, weight decay 1e-4, batch >= 12, frames
resized to 256 x 256, r = 1.

What this file implements
-------------------------
``DeUNet``: ``(B, C, 2r+1, Y, X)`` clip (the middle frame is the target) ->
``(B, n_classes, Y, X)`` logits for the target frame. Y and X must be divisible by
``2 ** (len(widths) - 1)`` and by ``2 ** (offset_net_levels - 1)``.

Choices where the paper is silent (each one a config field):

* Widths. The DGPA U-Net uses the widths of the U-Net it builds on [8] (Ronneberger et al.):
  64, 128, 256, 512, 1024 with 4 poolings (``widths``). The TDAM follows STDF (Deng et
  al. 2020), the MFQE-style design the paper cites as inspiration: an offset U-Net with
  32 channels and 3 levels (``offset_net_channels``, ``offset_net_levels``) and 64 fused
  channels (``fused_channels``). Convs are followed by BatchNorm + ReLU in the DGPA U-Net
  (batch >= 12 in the paper), by ReLU only in the offset U-Net (as STDF).
* The offsets have one group per frame (each frame gets its own 2 x 3 x 3 offsets per pixel,
  as Eq. 2's ``delta_(t,k)``), and the deformable convs are modulated (DCNv2, the
  MMDetection op the paper used; ``modulated``). The offset predictors end in a
  zero-initialised conv, so at initialisation TDAM equals Early Fusion (Eq. 1) with a
  constant mask of 0.5 and every deformable conv equals a plain conv.
* "Deformable convolution for encoders": the first conv of each encoder block is
  deformable, the second is plain; the decoder is a plain U-Net decoder.
* Where DGPA sits: the attention map is (H W) x (H W), so it is applied at the bottleneck
  (16 x 16 for 256 x 256 frames), after the deepest encoder block, as DANet applies it
  on its coarsest features. ``alpha`` starts at 0 (DANet).
* Eq. (4) writes B, C, D with the N input channels; DANet reduces B and C to N/8. We
  follow the paper: ``attention_reduction=1`` (set 8 for DANet's choice).
* Without TDAM (DeU-Net(t)), ``fusion_without_tdam="early"`` fuses the clip by the plain conv
  of Eq. (1) (same shape as the TDAM conv, no offsets), so the ablation isolates the learned
  offsets; ``"centre"`` feeds the target frame alone to the U-Net.

Parameter count of the paper configuration (widths 64..1024, in_channels 1, 4 classes):
44,276,344; DeU-Net(t) 44,160,615; DeU-Net(d) 31,190,485, of which the plain U-Net is
about 31 M, as in [8] (``PAPER_PARAMETER_COUNT``, checked layer by layer in the tests;
the paper states none).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cardiolab.models.layers.deformable import DeformableConvBlock, DeformConv2d
from cardiolab.models.registry import register_model

PAPER_PARAMETER_COUNT = 44_276_344  # DeU-Net at paper size; DeU-Net(t): 44_160_615, DeU-Net(d): 31_190_485


@dataclass
class DeUNetConfig:
    in_channels: int = 1                    # channels per frame (grey-level cine MRI)
    n_classes: int = 4                      # background, LV cavity, LV myocardium, RV cavity
    temporal_radius: int = 1                # r: the clip holds 2r + 1 frames (paper: r = 1)
    tdam: bool = True                       # False gives DeU-Net(t), "the variant without TDAM"
    dgpa: bool = True                       # False gives DeU-Net(d), "the variant without DGPA"
    fusion_without_tdam: str = "early"      # tdam=False: "early" (Eq. 1 plain conv) or "centre" (target frame only)
    deformable_kernel: int = 3              # S, kernel of the aggregation conv (paper: 3)
    modulated: bool = True                  # DCNv2 masks in the deformable convs (MMDetection op)
    offset_net_channels: int = 32           # width of the TDAM offset U-Net (STDF: 32)
    offset_net_levels: int = 3              # resolution levels of the offset U-Net (STDF: 3)
    fused_channels: int = 64                # channels of the fused target-frame features (STDF: 64)
    widths: tuple[int, ...] = (64, 128, 256, 512, 1024)  # DGPA U-Net widths per level (U-Net [8])
    attention_reduction: int = 1            # channels of B, C in Eq. (4) = N / reduction (DANet: 8)

    def __post_init__(self):
        if self.temporal_radius < 0:
            raise ValueError(f"temporal_radius must be >= 0, got {self.temporal_radius}")
        if self.fusion_without_tdam not in ("early", "centre"):
            raise ValueError(f"fusion_without_tdam must be 'early' or 'centre', got {self.fusion_without_tdam!r}")
        if self.deformable_kernel < 1 or self.deformable_kernel % 2 == 0:
            raise ValueError(f"deformable_kernel must be odd, got {self.deformable_kernel}")
        if len(self.widths) < 2 or self.offset_net_levels < 1:
            raise ValueError("widths needs >= 2 levels and offset_net_levels >= 1")
        if self.attention_reduction < 1 or self.widths[-1] % self.attention_reduction:
            raise ValueError(f"attention_reduction ({self.attention_reduction}) must divide "
                             f"widths[-1] ({self.widths[-1]})")

    @property
    def n_frames(self) -> int:
        return 2 * self.temporal_radius + 1


def conv_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True))


def conv_bn_relu(in_channels: int, out_channels: int, deformable: bool = False, modulated: bool = False):
    conv = (DeformableConvBlock(in_channels, out_channels, 3, padding=1, bias=False, modulated=modulated)
            if deformable else nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False))
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class OffsetUNet(nn.Module):
    """TDAM's offset predictor (Sec. 2.1): a small U-Net over the whole clip, same-size output.

    Max-pool down, deconvolution up, 3x3 stride-1 zero-padded convs; the last conv is
    zero-initialised so that all offsets (and mask logits) start at 0.
    """

    def __init__(self, in_channels: int, out_channels: int, width: int, levels: int):
        super().__init__()
        self.down = nn.ModuleList([nn.Sequential(conv_relu(in_channels, width), conv_relu(width, width))])
        self.down.extend(nn.Sequential(nn.MaxPool2d(2), conv_relu(width, width), conv_relu(width, width))
                         for _ in range(levels - 1))
        self.up = nn.ModuleList(nn.ConvTranspose2d(width, width, 2, stride=2) for _ in range(levels - 1))
        self.merge = nn.ModuleList(conv_relu(2 * width, width) for _ in range(levels - 1))
        self.out = nn.Conv2d(width, out_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1])):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.out(x)


class TDAM(nn.Module):
    """Temporal Deformable Aggregation Module (Sec. 2.1): (B, C*(2r+1), H, W) frames -> (B, fused, H, W)."""

    def __init__(self, config: DeUNetConfig):
        super().__init__()
        frames, kernel = config.n_frames, config.deformable_kernel
        in_channels = config.in_channels * frames
        self.taps = kernel * kernel
        self.groups = frames  # one offset group per frame: delta_(t, k) of Eq. (2)
        mask_channels = frames * self.taps if config.modulated else 0
        self.offset_net = OffsetUNet(in_channels, 2 * frames * self.taps + mask_channels,
                                     config.offset_net_channels, config.offset_net_levels)
        self.aggregate = DeformConv2d(in_channels, config.fused_channels, kernel, padding=kernel // 2,
                                      offset_groups=frames)
        self.modulated = config.modulated

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        prediction = self.offset_net(clip)  # the whole clip predicts all offsets jointly
        offset = prediction[:, :2 * self.groups * self.taps]                  # (B, 2*(2r+1)*S^2, H, W)
        mask = prediction[:, 2 * self.groups * self.taps:].sigmoid() if self.modulated else None
        return torch.relu(self.aggregate(clip, offset, mask))               # [seed 002] Eq. (1) with Eq. (2)


class PositionAttention(nn.Module):
    """Global position attention, [seed 002] Eq. (4)-(5) (DANet's PAM): Z = alpha * D P^T + O."""

    def __init__(self, channels: int, reduction: int = 1):
        super().__init__()
        self.query = nn.Conv2d(channels, channels // reduction, 1)  # C in Eq. (4)
        self.key = nn.Conv2d(channels, channels // reduction, 1)    # B in Eq. (4)
        self.value = nn.Conv2d(channels, channels, 1)               # D in Eq. (5)
        self.alpha = nn.Parameter(torch.zeros(1))                   # starts as the identity (DANet)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = features.shape
        query = self.query(features).flatten(2).transpose(1, 2)  # (B, M, N'): C_j
        key = self.key(features).flatten(2)                       # (B, N', M): B_i
        value = self.value(features).flatten(2)                   # (B, N, M):  D_i
        attention = torch.softmax(torch.bmm(query, key), dim=-1)  # (B, M_j, M_i): p_ji, Eq. (4)
        attended = torch.bmm(value, attention.transpose(1, 2))    # (B, N, M_j): sum_i p_ji D_i
        return self.alpha * attended.view(batch, channels, height, width) + features  # Eq. (5)


class DGPABlock(nn.Sequential):
    """3x3 deformable conv (Eq. 3) followed by position attention (Eq. 4-5)."""

    def __init__(self, channels: int, reduction: int, modulated: bool):
        super().__init__(conv_bn_relu(channels, channels, deformable=True, modulated=modulated),
                         PositionAttention(channels, reduction))


def encoder_block(in_channels: int, out_channels: int, deformable: bool, modulated: bool) -> nn.Sequential:
    return nn.Sequential(conv_bn_relu(in_channels, out_channels, deformable, modulated),
                         conv_bn_relu(out_channels, out_channels))


@register_model(
    "deunet",
    config_class=DeUNetConfig,
    paper="seed 002, Sec. 2, Fig. 1, Eq. 1-5 (DeU-Net: TDAM + DGPA)",
    task="segmentation",
    input_layout="(B, 1, 2r+1, Y, X): frames t0-r..t0+r of one slice, target frame in the middle",
    output_layout="(B, 4, Y, X): logits of the target frame",
    small=dict(widths=(8, 16, 32), offset_net_channels=8, offset_net_levels=2, fused_channels=8),
    paper_size=dict(),
)
class DeUNet(nn.Module):
    def __init__(self, config: DeUNetConfig):
        super().__init__()
        self.config = config
        frames_channels = config.in_channels * config.n_frames
        kernel = config.deformable_kernel

        # temporal fusion into the target frame: TDAM, or what the ablation DeU-Net(t) keeps
        if config.tdam:
            self.fusion = TDAM(config)
            fused = config.fused_channels
        elif config.fusion_without_tdam == "early":  # Eq. (1): plain conv over the stacked frames
            self.fusion = nn.Sequential(nn.Conv2d(frames_channels, config.fused_channels, kernel, padding=kernel // 2),
                                        nn.ReLU(inplace=True))
            fused = config.fused_channels
        else:  # "centre": the target frame only
            self.fusion = None
            fused = config.in_channels

        # DGPA U-Net (Sec. 2.2); with dgpa=False a plain U-Net (DeU-Net(d))
        widths = config.widths
        self.encoders = nn.ModuleList()
        for level, width in enumerate(widths):
            in_width = fused if level == 0 else widths[level - 1]
            self.encoders.append(encoder_block(in_width, width, config.dgpa, config.modulated))
        self.pool = nn.MaxPool2d(2)
        self.attention = (DGPABlock(widths[-1], config.attention_reduction, config.modulated)
                          if config.dgpa else nn.Identity())
        self.upsamplers = nn.ModuleList(nn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2)
                                        for level in reversed(range(len(widths) - 1)))
        self.decoders = nn.ModuleList(nn.Sequential(conv_bn_relu(2 * widths[level], widths[level]),
                                                    conv_bn_relu(widths[level], widths[level]))
                                      for level in reversed(range(len(widths) - 1)))
        self.head = nn.Conv2d(widths[0], config.n_classes, 1)

    def _check_input(self, x: torch.Tensor) -> None:
        config = self.config
        if x.dim() != 5 or x.shape[1] != config.in_channels or x.shape[2] != config.n_frames:
            raise ValueError(f"x must be (B, {config.in_channels}, {config.n_frames}, Y, X) "
                             f"(2r+1 = {config.n_frames} frames), got {tuple(x.shape)}")
        levels = max(len(config.widths), config.offset_net_levels if config.tdam else 1)
        multiple = 2 ** (levels - 1)
        if x.shape[3] % multiple or x.shape[4] % multiple:
            raise ValueError(f"x spatial size {tuple(x.shape[3:])} must be divisible by {multiple}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        batch, channels, frames, height, width = x.shape
        if self.fusion is None:
            features = x[:, :, frames // 2]  # (B, C, Y, X): the target frame
        else:
            # frames stacked as channels, frame-major: channel t*C + c; one offset group per frame
            clip = x.transpose(1, 2).reshape(batch, frames * channels, height, width)
            features = self.fusion(clip)  # (B, fused, Y, X)

        skips = []
        for level, encoder in enumerate(self.encoders):
            features = encoder(features if level == 0 else self.pool(features))
            skips.append(features)
        features = self.attention(features)  # DGPA at the bottleneck, (B, widths[-1], Y/16, X/16)
        for upsample, decoder, skip in zip(self.upsamplers, self.decoders, reversed(skips[:-1])):
            features = decoder(torch.cat([upsample(features), skip], dim=1))
        return self.head(features)  # (B, n_classes, Y, X)
