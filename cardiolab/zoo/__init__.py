"""The bundled model zoo: trained checkpoints that ship with cardiolab, with model cards.

Each entry is two files in this folder:

* ``NAME.pt``: a checkpoint holding only tensors and plain values, loaded with
  ``torch.load(weights_only=True)``. It carries everything needed to use the model:
  the registry name and config, the preprocessing (spacing, crop, normalisation), the
  slice context, the label map, and the measured metrics (`metrics_kind` says whether
  validation or held-out).
* ``NAME.md``: the model card (architecture, training data and its licence, the
  command that reproduces it, the measured accuracy).

    from cardiolab import zoo
    zoo.available()                 # ['default', ...]
    bundle = zoo.load("default")    # a SliceModelBundle ready for cardiolab.inference

Any registered model (not only the 2.5D slice segmenter) can be stored the same way
with `export_model` and read back with `load_model`: the checkpoint then also names
its ``task`` (the registry's task, e.g. "events") and carries an ``extra`` dict of plain
values (class names, sampling settings) that an app needs to show the model's output.

    model, meta = zoo.load_model("runs/esed_phantom/esed_phantom.pt")
    meta["task"], meta["preprocessing"], meta["metrics"]
"""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
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


ZOO_FORMAT = "cardiolab-zoo-1"


def _plain(value):
    """Tuples, lists and dicts of plain values stay; dataclasses become dicts (weights_only-safe)."""
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    return value


def _checkpoint_dict(model: torch.nn.Module, task: str, preprocessing: dict, metrics: dict, training: dict,
                     extra: dict | None, half_precision: bool) -> dict:
    if not hasattr(model, "model_name") or not is_dataclass(getattr(model, "config", None)):
        raise TypeError("model must come from cardiolab.models.create (it needs .model_name and a dataclass .config)")
    if not isinstance(task, str) or not task:
        raise ValueError(f"task must be a non-empty string, got {task!r}")
    for name, value in (("preprocessing", preprocessing), ("metrics", metrics), ("training", training)):
        if not isinstance(value, dict):
            raise TypeError(f"{name} must be a dict of plain values, got {type(value).__name__}")
    # float16 weights: half the size on disk, the same accuracy once cast back to float32
    state = {key: (value.half() if half_precision and value.is_floating_point() else value)
             for key, value in model.state_dict().items()}
    return {
        "format": ZOO_FORMAT,
        "model_name": model.model_name,
        "model_config": asdict(model.config),
        "state_dict": state,
        "preprocessing": _plain(preprocessing),
        "task": task,
        "metrics": _plain(metrics),
        "training": _plain(training),
        "extra": _plain(extra or {}),
    }


def _save(bundle: dict, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(bundle, path)
    return path


def export_model(path, model: torch.nn.Module, *, task: str, preprocessing: dict, metrics: dict, training: dict,
                 extra: dict | None = None, half_precision: bool = True) -> Path:
    """Write a zoo checkpoint of any registered model (weights in float16 by default).

    ``task``: what the output means (the registry's task, e.g. "events", "segmentation");
    ``preprocessing``: how inputs were prepared (plain values, e.g. ``asdict(preprocessor)``);
    ``metrics``: the measured scores (on the test split where ``training`` names it in
    ``evaluated_on``, apart from ``selected_on``); ``training``: data, epochs, seed, the reproducing
    command; ``extra``: anything else an app needs (class names, window lengths).
    """
    return _save(_checkpoint_dict(model, task, preprocessing, metrics, training, extra, half_precision), path)


def export_bundle(path, model: torch.nn.Module, preprocessor: Preprocessor, context: int, metrics: dict,
                  training: dict, half_precision: bool = True) -> Path:
    """Write a zoo checkpoint of a 2.5D slice segmenter (weights in float16 by default)."""
    label_map = {0: "background", 1: "LV cavity", 2: "LV myocardium", 3: "RV cavity"}
    bundle = _checkpoint_dict(model, "segmentation", asdict(preprocessor), metrics, training,
                              {"context": context, "label_map": label_map}, half_precision)
    bundle.update(context=context, label_map=label_map)  # top-level keys, as the slice inference reads them
    return _save(bundle, path)


def _read_checkpoint(path) -> dict:
    """The checkpoint dict, loaded safely; ValueError for anything that is not a zoo checkpoint."""
    try:
        bundle = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # not a torch file, or one holding pickled code
        raise ValueError(f"{path}: not a cardiolab zoo checkpoint ({type(error).__name__})") from None
    if not isinstance(bundle, dict) or bundle.get("format") != ZOO_FORMAT:
        raise ValueError(f"{path}: not a cardiolab zoo checkpoint")
    return bundle


def _build_model(bundle: dict) -> torch.nn.Module:
    """Rebuild the model from the registry and load the (float16) weights as float32, in eval mode."""
    # Config fields that are tuples may come back as lists from other writers: make them tuples again.
    config = {key: tuple(value) if isinstance(value, list) else value for key, value in bundle["model_config"].items()}
    model = models.create(bundle["model_name"], size="small", **config)
    model.load_state_dict({key: value.float() if value.is_floating_point() else value
                           for key, value in bundle["state_dict"].items()})
    return model.eval()


def load_model(path_or_name) -> tuple[torch.nn.Module, dict]:
    """``(model in eval mode, metadata)`` from a zoo checkpoint path or a bundled model's name.

    The metadata holds everything of the checkpoint but the weights: model_name,
    model_config, preprocessing, task, metrics, training, extra (and, for slice
    segmenters, context and label_map).
    """
    path = Path(path_or_name)
    if not path.is_file():
        path = checkpoint_path(str(path_or_name))  # KeyError naming the bundled models
    bundle = _read_checkpoint(path)
    metadata = {key: value for key, value in bundle.items() if key not in ("state_dict", "format")}
    metadata.setdefault("task", "segmentation")
    metadata.setdefault("extra", {})
    return _build_model(bundle), metadata


def load_bundle_file(path, test_time_flips: bool = False) -> SliceModelBundle:
    """Load a zoo checkpoint of a slice segmenter from any path, safely (no pickled code is executed)."""
    bundle = _read_checkpoint(path)
    if "context" not in bundle:
        raise ValueError(f"{path}: a {bundle['model_name']} checkpoint, not a slice segmenter: use load_model")
    model = _build_model(bundle)
    preprocessing = {key: tuple(value) if isinstance(value, list) else value for key, value in bundle["preprocessing"].items()}
    return SliceModelBundle(model=model, preprocessor=Preprocessor(**preprocessing), context=bundle["context"],
                            test_time_flips=test_time_flips, name=Path(path).stem)


def load(name: str = DEFAULT, test_time_flips: bool = False) -> SliceModelBundle:
    return load_bundle_file(checkpoint_path(name), test_time_flips=test_time_flips)


def metadata(name: str) -> dict:
    """The checkpoint's metrics and training facts, without building the model."""
    bundle = torch.load(checkpoint_path(name), map_location="cpu", weights_only=True)
    keys = ("model_name", "model_config", "preprocessing", "context", "task", "metrics", "training", "extra")
    return {key: bundle[key] for key in keys if key in bundle}


def metrics_kind(training: dict) -> str:
    """What a checkpoint's metrics are, in words: held-out test figures, or validation figures.

    They are held-out only where the recipe recorded a test split (``evaluated_on``) apart
    from the split that picked its best epoch (``selected_on``). Checkpoints from before
    that rule were scored on the very data that picked their epoch: validation figures.
    """
    test_split, selection_split = training.get("evaluated_on"), training.get("selected_on")
    if test_split and selection_split and test_split != selection_split:
        return f"held-out test ({test_split}: never trained on, never used to pick the epoch)"
    return "validation (the data that also picked the best epoch: not held-out)"
