"""Training configuration, and every paper's settings as a named preset.

A `TrainConfig` is a plain dataclass: it can be built in Python, read from YAML
(`TrainConfig.from_yaml`) and stored inside a checkpoint (`to_dict`), so a run can
always say exactly how it was made.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

import yaml


@dataclass
class TrainConfig:
    model: str = "unet4d"                 # a name from cardiolab.models.available()
    size: str = "small"                   # "small" (CPU) or "paper"
    model_options: dict = field(default_factory=dict)  # overrides of the model's config
    optimizer: str = "adam"               # adam | adamw | sgd | rmsprop
    lr: float = 1e-3                      # initial learning rate alpha0
    momentum: float = 0.9                 # sgd momentum; rmsprop smoothing constant alpha
    weight_decay: float = 0.0
    schedule: str = "constant"            # constant | poly | step
    poly_power: float = 0.9               # seed 000: alpha = alpha0 (1 - epoch / N)^0.9
    step_after_epochs: int = 20           # seed 004: decay starts after 20 epochs ...
    step_gamma: float = 0.97              # ... by a factor 0.97 per epoch
    epochs: int = 10
    batch_size: int = 2
    seed: int = 0                         # makes a CPU run repeatable (and resumable exactly)
    amp: bool = False                     # mixed precision (bfloat16 on CPU, float16 on CUDA)
    channels_last: bool = False           # channels-last memory for 5D tensors: ~1.6x faster conv3d on CPUs
    grad_clip_norm: float | None = None   # clip the global gradient norm; None = off
    early_stopping_patience: int | None = None  # seed 002: stop when the val score stalls 20 epochs
    monitor: str = "val_loss"             # metric for early stopping / best checkpoint
    monitor_mode: str = "min"             # "min" for losses, "max" for Dice
    out_dir: str = "runs/default"
    device: str = "auto"                  # auto | cpu | cuda | cuda:N
    progress: bool = True                 # tqdm bars

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"unknown training option(s) {unknown}; options: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_yaml(cls, path) -> "TrainConfig":
        with open(path) as handle:
            values = yaml.safe_load(handle) or {}
        if "preset" in values:
            base = preset(values.pop("preset"))
            return replace(base, **values)
        return cls.from_dict(values)


# Each paper's optimisation settings, cited where they come from.
PRESETS: dict[str, dict] = {
    # seed 000, Sec. 3.3: Adam, alpha0 = 1e-3, poly decay (1 - epoch/N)^0.9, batch 1, 500 epochs.
    "seed000_unet4d": dict(model="unet4d", optimizer="adam", lr=1e-3, schedule="poly", poly_power=0.9, batch_size=1, epochs=500),
    "seed000_unet3d_ccta": dict(model="unet3d_ccta", optimizer="adam", lr=1e-3, schedule="poly", poly_power=0.9, batch_size=1, epochs=500),
    # seed 001, Sec. 3: SGD with momentum 0.5, lr 1e-4, mini-batches of 20, lambda 0.005 (in the loss).
    "seed001_stcnn_lvquan": dict(model="stcnn_lvquan", optimizer="sgd", lr=1e-4, momentum=0.5, batch_size=20, epochs=100),
    # seed 002, Sec. 4: Adam lr 2e-4, weight decay 1e-4, batch >= 12, stop when Dice stalls 20 epochs.
    "seed002_deunet": dict(model="deunet", optimizer="adam", lr=2e-4, weight_decay=1e-4, batch_size=12, epochs=200,
                           early_stopping_patience=20, monitor="val_dice", monitor_mode="max"),
    # thesis Ch. 5: Adam lr 1e-3, batch 3, 50 epochs (generalised Dice loss).
    "thesis_unet3d": dict(model="unet3d_thesis", optimizer="adam", lr=1e-3, batch_size=3, epochs=50),
    "thesis_pspunet": dict(model="pspunet", optimizer="adam", lr=1e-3, batch_size=3, epochs=50),
    # thesis Ch. 6: Adam lr 1e-3, batch 5, 50 epochs.
    "thesis_lv_volume_weak": dict(model="lv_volume_weak", optimizer="adam", lr=1e-3, batch_size=5, epochs=50),
    # thesis Ch. 7: Adam lr 1e-5, batch 2, 100 epochs.
    "thesis_esed_detector": dict(model="esed_detector", optimizer="adam", lr=1e-5, batch_size=2, epochs=100),
    # seed 004, Sec. 4: RMSprop (alpha 0.95), lr 1e-3, decay x0.97 per epoch after 20 epochs.
    "seed004_fcslstm": dict(model="fcslstm", optimizer="rmsprop", lr=1e-3, momentum=0.95, schedule="step",
                            step_after_epochs=20, step_gamma=0.97, epochs=100),
}


def preset(name: str, **overrides) -> TrainConfig:
    """The named paper preset, with optional overrides (e.g. ``epochs=3`` for a smoke run)."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; presets: {', '.join(sorted(PRESETS))}")
    return TrainConfig.from_dict({**PRESETS[name], **overrides})
