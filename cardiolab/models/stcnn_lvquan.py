"""Spatio-temporal CNN for direct left-ventricle quantification [seed 001] (LVQuan 2018).

What the paper does
-------------------
Instead of segmenting and then measuring, the network regresses the LV indices straight
from the images of one short-axis slice: 2 areas (cavity, myocardium), 3 cavity
dimensions (diameters at 0, 60 and 120 degrees) and 6 regional wall thicknesses (IS, I,
IL, AL, A, AS), plus the cardiac phase (systole or diastole) as a 2-class output. To use
the heart's motion it looks at a window of ``kappa`` temporally adjacent frames and
predicts the indices of the centre frame only (Sec. 2.1, Fig. 2-3):

1. Encoder-CNN, one per frame: two layers of 5x5 conv + BN + ReLU + 5x5 max-pool,
   turning an 80x80 frame into 40 maps of 16x16 (Fig. 3b).
2. Spatio-temporal CNN: the kappa encodings are stacked into a ``(40, kappa, 16, 16)``
   volume and fused by two 3D convolutions, 3x5x5 and 2x5x5 for kappa = 5, down to a
   ``1 x 6 x 6`` map. For kappa = 1, 3 the first 3D conv is padded in time; for kappa = 7
   an extra 3D conv is added first, so the output is always 1x6x6.
3. Two parallel heads: a shallow CNN regressing the 11 indices, and a third conv
   followed by an MLP with 640 hidden neurons and 2 outputs (phase).

The training loss (Eq. 1) is MSE on areas, dimensions and wall thicknesses, plus
cross-entropy on the phase, plus an L2 weight penalty (lambda = 0.005, SGD lr 1e-4,
momentum 0.5, batches of 20). Training windows wrap around the cycle ("circular
hypothesis", Sec. 2.1): frame N-1 is followed by frame 0.

What this file implements
-------------------------
``STCNNLVQuan``: ``forward(x)`` takes one window ``(B, 1, kappa, Y=80, X=80)`` and returns
``{"indices": (B, 11), "phase_logits": (B, 2)}`` for the centre frame, as the paper's network.
``forward_sequence(x)`` takes whole cycles ``(B, 1, T, Y, X)``, builds the T circular
windows (`circular_windows`) and returns ``(B, T, 11)`` and ``(B, T, 2)``. The index order
is `INDEX_NAMES`: the paper reports indices normalised by the image size (lengths / 80
pixels, areas / 6400 pixels).

Layer sizes. The text gives the kernel sizes, 40 maps and the 16x16 and 1x6x6 shapes; the
figure (garbled in our copy) and the authors' public code give the rest, which is the only
reading we found that produces exactly those shapes:

====================  ==============================================  ===================
layer                 operation                                       output (kappa = 5)
====================  ==============================================  ===================
encoder conv1         conv 5x5, pad 1, 1->20 + BN + ReLU              20 x 78 x 78
encoder pool1         max-pool 5x5, stride 2                          20 x 37 x 37
encoder conv2         conv 5x5, pad 1, 20->40 + BN + ReLU             40 x 35 x 35
encoder pool2         max-pool 5x5, stride 2                          40 x 16 x 16
stack                 the kappa encodings along time                  40 x 5 x 16 x 16
(kappa = 7 only)      conv 3x3x3, pad (0,1,1), 40->40 + BN + ReLU     (7 -> 5 frames)
st conv1              conv 3x5x5, pad (p_t,1,1), 40->200 + BN + ReLU  200 x 3 x 14 x 14
st pool               max-pool 1x2x2, stride 2, pad (0,1,1)           200 x 2 x 8 x 8
st conv2              conv 2x5x5, pad (0,1,1), 200->200 + BN + ReLU   200 x 1 x 6 x 6
regression            conv 3x3x3 pad 1, then conv 1x6x6 -> 11         11
phase                 conv 1x5x5 pad (0,1,1) 200->40 + BN + ReLU      40 x 1 x 4 x 4 = 640
phase MLP             linear 640->640 + ReLU, linear 640->2           2
====================  ==============================================  ===================

with temporal padding ``p_t = (5 - kappa) / 2`` (2 for kappa = 1, 1 for kappa = 3, 0 for
kappa = 5). Choices where the paper is silent (all configurable):

* 200 channels in the 3D convs (``spatiotemporal_channels``) and 20 in the first encoder
  conv (``encoder_channels``): the authors' code; the text only fixes the 40 encoder maps.
* The phase conv gives 40 maps of 4x4, i.e. the 640 features that feed the 640-neuron MLP.
* Each frame position has its own encoder ("individual encoder-CNNs", Fig. 3b, and the
  authors' code); ``share_encoder=True`` uses one encoder for all frames.
* kappa = 7: the extra conv is placed before the first 3D conv and removes 2 frames
  (``kappa`` > 7 adds one such conv per 2 extra frames). kappa must be odd.
* The two regression convs have no non-linearity between them (authors' code);
  ``regression_activation=True`` adds a ReLU there.
* ``image_size`` other than 80 is allowed as long as the fused map is at least 3x3; the
  last regression conv then spans the whole map.

Parameter count of the paper configuration (kappa = 5, 5 separate encoders):
4,475,653 (checked in tests/test_model_stcnn_lvquan.py; the paper states none).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from cardiolab.models.registry import register_model

# Order of the 11 regressed indices; lengths are normalised by the image size, areas by its pixel count.
INDEX_NAMES = (
    "area_cavity", "area_myocardium",                        # A1, A2
    "dim_1", "dim_2", "dim_3",                               # D1..D3 cavity dimensions
    "rwt_IS", "rwt_I", "rwt_IL", "rwt_AL", "rwt_A", "rwt_AS",  # RWT1..RWT6 wall thicknesses
)
AREAS, DIMENSIONS, WALL_THICKNESSES = slice(0, 2), slice(2, 5), slice(5, 11)
PHASE_NAMES = ("diastole", "systole")  # index of each class in phase_logits


@dataclass
class STCNNLVQuanConfig:
    kappa: int = 5                              # frames per window (paper: 1, 3, 5, 7; best 5)
    in_channels: int = 1                        # grey-level cine MRI
    image_size: int = 80                        # pixels per side; paper: 80 x 80 ROI
    encoder_channels: tuple[int, int] = (20, 40)  # per-frame encoder widths; paper: 40 maps (Fig. 3b)
    share_encoder: bool = False                 # paper: an individual encoder per frame position
    spatiotemporal_channels: int = 200          # width of the 3D convs (authors' code)
    phase_conv_channels: int = 40               # 40 x 4 x 4 = 640 features into the phase MLP
    phase_hidden: int = 640                     # paper: MLP with 640 hidden neurons
    n_indices: int = 11                         # 2 areas + 3 dimensions + 6 wall thicknesses
    n_phases: int = 2                           # systole / diastole
    regression_activation: bool = False         # ReLU between the two regression convs (code: none)

    def __post_init__(self):
        if self.kappa < 1 or self.kappa % 2 == 0:
            raise ValueError(f"kappa must be a positive odd number of frames, got {self.kappa}")
        if self.fused_size() < 3:
            raise ValueError(f"image_size {self.image_size} is too small: the fused map would be "
                             f"{self.fused_size()} pixels wide, the heads need at least 3")
        if len(self.encoder_channels) != 2:
            raise ValueError(f"encoder_channels must hold 2 widths, got {self.encoder_channels}")

    def encoded_size(self) -> int:
        """Side of the per-frame encoding: conv 5 pad 1 (-2), pool 5 stride 2, twice (80 -> 16)."""
        size = self.image_size
        for _ in range(2):
            size = ((size - 2) - 5) // 2 + 1
        return size

    def fused_size(self) -> int:
        """Side of the spatio-temporal output: conv (-2), pool 2 stride 2 pad 1, conv (-2) (16 -> 6)."""
        size = self.encoded_size() - 2
        size = (size + 2 - 2) // 2 + 1
        return size - 2


def conv_bn_relu_2d(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 5, padding=1), nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True))


def conv_bn_relu_3d(in_channels: int, out_channels: int, kernel, padding) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(in_channels, out_channels, kernel, padding=padding),
                         nn.BatchNorm3d(out_channels), nn.ReLU(inplace=True))


class EncoderCNN(nn.Sequential):
    """Per-frame encoder, Fig. 3(b): (B, 1, 80, 80) -> (B, 40, 16, 16)."""

    def __init__(self, in_channels: int, widths: tuple[int, int]):
        super().__init__(
            conv_bn_relu_2d(in_channels, widths[0]), nn.MaxPool2d(5, stride=2),  # 80 -> 78 -> 37
            conv_bn_relu_2d(widths[0], widths[1]), nn.MaxPool2d(5, stride=2),    # 37 -> 35 -> 16
        )


def circular_windows(sequence: torch.Tensor, kappa: int) -> torch.Tensor:
    """All kappa-frame windows of a cardiac cycle, wrapping around (the circular hypothesis, Sec. 2.1).

    ``sequence (B, C, T, Y, X)`` -> ``(B * T, C, kappa, Y, X)``; window ``b * T + t`` is centred on
    frame t of sequence b and holds frames ``t - kappa//2 .. t + kappa//2`` modulo T.
    """
    if sequence.dim() != 5:
        raise ValueError(f"sequence must be (B, C, T, Y, X), got shape {tuple(sequence.shape)}")
    if kappa < 1 or kappa % 2 == 0:
        raise ValueError(f"kappa must be a positive odd number, got {kappa}")
    batch, channels, frames, height, width = sequence.shape
    centres = torch.arange(frames, device=sequence.device).view(frames, 1)
    steps = torch.arange(-(kappa // 2), kappa // 2 + 1, device=sequence.device).view(1, kappa)
    frame_index = (centres + steps) % frames                     # (T, kappa): frame N-1 is followed by 0
    windows = sequence[:, :, frame_index]                        # (B, C, T, kappa, Y, X)
    windows = windows.permute(0, 2, 1, 3, 4, 5)                  # (B, T, C, kappa, Y, X)
    return windows.reshape(batch * frames, channels, kappa, height, width)


@register_model(
    "stcnn_lvquan",
    config_class=STCNNLVQuanConfig,
    paper="seed 001, Sec. 2.1, Fig. 2-3 (spatio-temporal 3D-conv CNN, LVQuan18)",
    task="lv_quantification",
    input_layout="(B, 1, kappa, Y=80, X=80): kappa frames centred on the target frame",
    output_layout="{'indices': (B, 11), 'phase_logits': (B, 2)}; forward_sequence: (B, T, 11), (B, T, 2)",
    small=dict(encoder_channels=(4, 8), spatiotemporal_channels=16, phase_conv_channels=8, phase_hidden=32),
    paper_size=dict(),
)
class STCNNLVQuan(nn.Module):
    def __init__(self, config: STCNNLVQuanConfig):
        super().__init__()
        self.config = config
        kappa, width_3d = config.kappa, config.spatiotemporal_channels
        encoded = config.encoder_channels[1]

        # 1. encoder-CNN per frame (Fig. 3b); one shared, or one per window position
        n_encoders = 1 if config.share_encoder else kappa
        self.encoders = nn.ModuleList(EncoderCNN(config.in_channels, config.encoder_channels)
                                      for _ in range(n_encoders))

        # 2. spatio-temporal CNN (Sec. 2.1): the time axis of the stack is brought to 1
        extra = [conv_bn_relu_3d(encoded, encoded, (3, 3, 3), (0, 1, 1)) for _ in range(max(0, (kappa - 5) // 2))]
        self.extra_temporal_convs = nn.Sequential(*extra)           # kappa = 7: 7 -> 5 frames
        temporal_padding = max(0, (5 - kappa) // 2)                  # kappa = 1: 2, kappa = 3: 1
        self.st_conv1 = conv_bn_relu_3d(encoded, width_3d, (3, 5, 5), (temporal_padding, 1, 1))  # 5 -> 3 frames
        self.st_pool = nn.MaxPool3d((1, 2, 2), stride=2, padding=(0, 1, 1))                      # 3 -> 2 frames
        self.st_conv2 = conv_bn_relu_3d(width_3d, width_3d, (2, 5, 5), (0, 1, 1))                # 2 -> 1 frame

        # 3a. shallow regression CNN for the 11 indices
        fused = config.fused_size()  # 6 for 80 x 80 frames
        self.regressor = nn.Sequential(
            nn.Conv3d(width_3d, width_3d, 3, padding=1),
            nn.ReLU(inplace=True) if config.regression_activation else nn.Identity(),
            nn.Conv3d(width_3d, config.n_indices, (1, fused, fused)),  # spans the whole 1 x 6 x 6 map
        )
        # 3b. phase branch: a third conv, then the MLP with 640 hidden neurons
        self.phase_conv = conv_bn_relu_3d(width_3d, config.phase_conv_channels, (1, 5, 5), (0, 1, 1))
        phase_features = config.phase_conv_channels * (fused - 2) ** 2  # 40 * 4 * 4 = 640
        self.phase_mlp = nn.Sequential(nn.Linear(phase_features, config.phase_hidden), nn.ReLU(inplace=True),
                                       nn.Linear(config.phase_hidden, config.n_phases))

    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, kappa, Y, X) -> (B, 40, kappa, 16, 16)."""
        frames = x.unbind(dim=2)
        if len(self.encoders) == 1:  # shared weights: all frames in one batched call
            batch = x.shape[0]
            codes = self.encoders[0](torch.cat(frames, dim=0))  # (kappa * B, 40, 16, 16)
            return torch.stack(codes.split(batch, dim=0), dim=2)
        return torch.stack([encoder(frame) for encoder, frame in zip(self.encoders, frames)], dim=2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        config = self.config
        expected = (config.in_channels, config.kappa, config.image_size, config.image_size)
        if x.dim() != 5 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"x must be (B, {', '.join(map(str, expected))}) = (B, C, kappa, Y, X), "
                             f"got {tuple(x.shape)}; use forward_sequence for whole cycles")
        volume = self.encode_frames(x)               # (B, 40, kappa, 16, 16)  [seed 001] Fig. 3(b)
        volume = self.extra_temporal_convs(volume)   # (B, 40, min(kappa, 5), 16, 16)  kappa = 7 only
        volume = self.st_conv1(volume)               # (B, 200, 3, 14, 14)  spatio-temporal CNN, Sec. 2.1
        volume = self.st_pool(volume)                # (B, 200, 2, 8, 8)
        volume = self.st_conv2(volume)               # (B, 200, 1, 6, 6)
        indices = self.regressor(volume).flatten(1)  # (B, 11)  branch (i): areas, dimensions, RWT
        phase_features = self.phase_conv(volume).flatten(1)  # (B, 640)  branch (ii): third conv, then MLP
        return {"indices": indices, "phase_logits": self.phase_mlp(phase_features)}

    def forward_sequence(self, sequence: torch.Tensor) -> dict[str, torch.Tensor]:
        """Indices and phase of every frame of whole cycles ``(B, C, T, Y, X)`` -> (B, T, 11), (B, T, 2)."""
        batch, frames = sequence.shape[0], sequence.shape[2]
        outputs = self(circular_windows(sequence, self.config.kappa))  # on (B * T) windows
        return {name: value.view(batch, frames, -1) for name, value in outputs.items()}
