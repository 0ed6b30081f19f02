"""The model zoo as the app sees it: list the models, show their cards, run, measure, explain.

A model in the zoo (`cardiolab.zoo`) is a checkpoint loaded with ``weights_only=True``
(tensors and plain values, never pickled code) plus a model card. The app never loads a
checkpoint from a user: only what the zoo ships.

Running a model goes through `cardiolab.predict` (one entry point for every task:
segmentation, events, LV indices, weak volume) and explaining one through
`cardiolab.explain` (Grad-CAM, or the model's own map); where `cardiolab.explain` is
not installed the app says that explanations are unavailable.

What a run gives the app is a `ModelRun`: the segmentation ``(T, Z, Y, X)`` uint8 in
the study's grid (or None for models that do not segment), the ED/ES events and
indices the model predicts, and the clinical measures (`CardiacFunction`) of the
segmentation, measured by `cardiolab.analyze.measure_segmentation`, the function
``cardiolab analyze`` measures with.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from cardiolab import predict as predict_module
from cardiolab.analyze import measure_segmentation
from cardiolab.clinical import CardiacFunction, cardiac_function
from cardiolab.data import CineStudy

try:  # explanations are optional: the app runs and measures without them
    from cardiolab import explain as explain_module
    EXPLAIN_MISSING = None
except Exception as error:
    explain_module, EXPLAIN_MISSING = None, f"{type(error).__name__}: {error}"

REFERENCE = "reference labels"  # pseudo-model: the labels the study came with (phantom truth, ACDC ED/ES)
SEGMENTATION_STRUCTURES = {"lv": "LV cavity", "myo": "LV myocardium", "rv": "RV cavity"}
EVENT_STRUCTURES = {"ed": "end-diastole", "es": "end-systole"}
METHOD_NAMES = {"grad-cam": "Grad-CAM", "model map": "the model's own map"}  # cardiolab.explain's methods


@dataclass
class ModelInfo:
    """What the app shows about a zoo model before running it."""

    name: str  # zoo name, e.g. "default"
    model_name: str  # registry architecture, e.g. "pspunet"
    task: str  # what a prediction holds: "segmentation", "events", "regression" (LV indices), "volume"
    metrics: dict = field(default_factory=dict)  # scores from the checkpoint (zoo.metrics_kind says of which data)
    card: str = ""  # the model card (markdown)
    training: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @property
    def segments(self) -> bool:
        return self.task == "segmentation"


@dataclass
class ModelRun:
    """One model run on one study."""

    model: str
    task: str
    segmentation: np.ndarray | None  # (T, Z, Y, X) uint8 in the study grid, or None
    function: CardiacFunction | None  # measures from the segmentation, or None
    events: dict | None = None  # {ed_frame, es_frame, frame_scores, classes}
    indices: dict | None = None  # per-frame values named with their unit (LV indices, lv_volume_ml)
    runtime_s: float = 0.0
    labelled_frames: list = field(default_factory=list)  # frames the segmentation covers
    notes: list = field(default_factory=list)  # why a measure is missing


# --- the zoo ------------------------------------------------------------------------------------
def available_models() -> list[ModelInfo]:
    """Every bundled model with its card and metrics (empty list if the zoo is empty)."""
    return [ModelInfo(name=entry["name"], model_name=entry.get("model_name", ""), task=entry.get("task", ""),
                      metrics=entry.get("metrics") or {}, card=entry.get("card") or "",
                      training=entry.get("training") or {}, extra=entry.get("extra") or {})
            for entry in predict_module.available_models()]


def metric_rows(metrics: dict) -> list[dict]:
    """The checkpoint's metrics as table rows ``{metric, value}`` (mean +- sd, MAE, ...)."""
    rows = []
    for name, value in sorted(metrics.items()):
        if isinstance(value, dict) and "mean" in value:
            text = f"{value['mean']:.3f} +- {value.get('sd', float('nan')):.3f} (n={value.get('n', '?')})"
        elif isinstance(value, dict) and "mae" in value:
            text = f"MAE {value['mae']:.2f}, r {value.get('pearson_r', float('nan')):.3f} (n={value.get('n', '?')})"
        elif isinstance(value, dict):
            text = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
        elif isinstance(value, float):
            text = f"{value:.4g}"
        else:
            text = str(value)
        rows.append({"metric": name, "value": text})
    return rows


def load_predictor(name: str):
    """A ready-to-run model from the zoo (the app caches it with ``st.cache_resource``)."""
    return predict_module.load_predictor(name)


def available_devices() -> list[str]:
    """``cpu``, plus ``cuda`` where a GPU is present (first = the default)."""
    import torch

    return ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]


# --- running --------------------------------------------------------------------------------------
def run_model(predictor, name: str, study: CineStudy, device: str = "cpu", progress=None) -> ModelRun:
    """Run a zoo model on a study and measure its segmentation.

    ``progress``: None or a callable ``(done, total)`` (the app passes one that moves
    ``st.progress``).
    """
    started = time.perf_counter()
    prediction = predict_module.predict(predictor, study, device=device, progress=progress)
    run = ModelRun(model=name, task=prediction.task, segmentation=prediction.segmentation, function=None,
                   events=prediction.events, indices=prediction.indices)
    if run.segmentation is not None:
        run.labelled_frames = list(range(study.n_frames))
        run.function = measure(study, run.segmentation, run.events, run.notes)
    run.runtime_s = time.perf_counter() - started
    return run


def measure(study: CineStudy, segmentation: np.ndarray, events: dict | None = None, notes: list | None = None):
    """`cardiolab.analyze.measure_segmentation`, or None with a note where a study has one
    frame only (a 3D upload): the app shows its segmentation, without a function."""
    if segmentation.shape[0] < 2:
        if notes is not None:
            notes.append("one frame only: volumes need at least ED and ES, so no ejection fraction")
        return None
    return measure_segmentation(study, segmentation, events)


def reference_run(study: CineStudy) -> ModelRun | None:
    """The study's own labels as a run (phantom truth, ACDC's ED/ES), or None if it has none."""
    if len(study.labels) == 0:
        return None
    frames = sorted(study.labels)
    segmentation = np.zeros(study.shape, np.uint8)
    for t in frames:
        segmentation[t] = study.labels[t]
    run = ModelRun(model=REFERENCE, task="segmentation", segmentation=segmentation, function=None, labelled_frames=frames)
    if len(frames) >= 2:
        run.function = cardiac_function(study)
    else:
        run.notes.append("the study labels one frame only: no function from its labels")
    return run


# --- explaining -----------------------------------------------------------------------------------
def explanation_targets(info: ModelInfo) -> dict:
    """What can be explained for a model: ``{target passed to explain: label shown}``."""
    if info.task == "segmentation":
        return dict(SEGMENTATION_STRUCTURES)
    if info.task == "events":
        return dict(EVENT_STRUCTURES)
    if info.task in ("regression", "lv_quantification"):  # stcnn_lvquan: its indices, named with units
        names = list(predict_module.LVQUAN_INDEX_UNITS.values()) or info.extra.get("index_names", [])
        return {name: name for name in names} | {"systole": "systole (phase logit)"}
    return {"lv": "LV volume (the model's own map)"}  # "volume": lv_volume_weak


def own_map_trust(info: ModelInfo):
    """`cardiolab.explain.model_map_trust` of a model that explains itself with its own map, else None.

    Decided from the checkpoint's measured map Dice (``info.metrics``), so a retrained
    checkpoint whose map reaches the mark is no longer flagged.
    """
    rule = getattr(explain_module, "model_map_trust", None)
    if rule is None or info.model_name != "lv_volume_weak":
        return None
    return rule({"model_name": info.model_name, "metrics": info.metrics, "training": info.training,
                 "extra": info.extra})


def explain(predictor, study: CineStudy, frame: int, target, device: str = "cpu"):
    """`cardiolab.explain.explain`: a CAM ``(Z, Y, X)`` in [0, 1] on the study grid."""
    if explain_module is None:
        raise RuntimeError(f"explanations need cardiolab.explain, which is not available ({EXPLAIN_MISSING})")
    if not 0 <= frame < study.n_frames:
        raise ValueError(f"frame must be in 0..{study.n_frames - 1}, got {frame}")
    return explain_module.explain(predictor, study, frame, structure=target, device=device)
