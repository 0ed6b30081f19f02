"""Training: one engine for every model (`engine.fit`), configs and paper presets."""
from cardiolab.train.config import PRESETS, TrainConfig, preset
from cardiolab.train.engine import fit, load_checkpoint, resolve_device

__all__ = ["PRESETS", "TrainConfig", "preset", "fit", "load_checkpoint", "resolve_device"]
