"""The bundled model zoo: trained checkpoints that ship with cardiolab, with model cards.

Each entry is two files in this folder:

* ``NAME.pt``: a checkpoint holding only tensors and plain values, loaded with
  ``torch.load(weights_only=True)``. It carries everything needed to use the model:
  the registry name and config, the preprocessing (spacing, crop, normalisation), the
  slice context, the label map, and the held-out metrics.
* ``NAME.md``: the model card (architecture, training data and its licence, the
  command that reproduces it, the measured accuracy).

    from cardiolab import zoo
    zoo.available()                 # ['default', ...]
    bundle = zoo.load("default")    # a SliceModelBundle ready for cardiolab.inference
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from cardiolab import models
from cardiolab.data.preprocess import Preprocessor
from cardiolab.inference import SliceModelBundle

ZOO_DIR = Path(__file__).resolve().parent
DEFAULT = "default"


def available() -> list[str]:
    return sorted(path.stem for path in ZOO_DIR.glob("*.pt"))


def checkpoint_path(name: str) -> Path:
    path = ZOO_DIR / f"{name}.pt"
    if not path.is_file():
        raise KeyError(f"no bundled model {name!r}; available: {', '.join(available()) or 'none'}")
    return path


def model_card(name: str) -> str:
    card = ZOO_DIR / f"{name}.md"
    return card.read_text() if card.is_file() else ""


def export_bundle(path, model: torch.nn.Module, preprocessor: Preprocessor, context: int, metrics: dict,
                  training: dict, half_precision: bool = True) -> Path:
    """Write a zoo checkpoint (weights in float16 by default: half the size, same accuracy)."""
    state = {key: (value.half() if half_precision and value.is_floating_point() else value)
             for key, value in model.state_dict().items()}
    bundle = {
        "format": "cardiolab-zoo-1",
        "model_name": model.model_name,
        "model_config": asdict(model.config),
        "state_dict": state,
        "preprocessing": asdict(preprocessor),
        "context": context,
        "label_map": {0: "background", 1: "LV cavity", 2: "LV myocardium", 3: "RV cavity"},
        "metrics": metrics,
        "training": training,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(bundle, path)
    return path


def load_bundle_file(path, test_time_flips: bool = False) -> SliceModelBundle:
    """Load a zoo checkpoint from any path, safely (no pickled code is executed)."""
    bundle = torch.load(path, map_location="cpu", weights_only=True)
    if bundle.get("format") != "cardiolab-zoo-1":
        raise ValueError(f"{path}: not a cardiolab zoo checkpoint")
    model = models.create(bundle["model_name"], size="small", **bundle["model_config"])
    model.load_state_dict({key: value.float() if value.is_floating_point() else value
                           for key, value in bundle["state_dict"].items()})
    model.eval()
    preprocessing = {key: tuple(value) if isinstance(value, list) else value for key, value in bundle["preprocessing"].items()}
    return SliceModelBundle(model=model, preprocessor=Preprocessor(**preprocessing), context=bundle["context"],
                            test_time_flips=test_time_flips, name=Path(path).stem)


def load(name: str = DEFAULT, test_time_flips: bool = False) -> SliceModelBundle:
    return load_bundle_file(checkpoint_path(name), test_time_flips=test_time_flips)


def metadata(name: str) -> dict:
    """The checkpoint's metrics and training facts, without building the model."""
    bundle = torch.load(checkpoint_path(name), map_location="cpu", weights_only=True)
    return {key: bundle[key] for key in ("model_name", "model_config", "preprocessing", "context", "metrics", "training")}
