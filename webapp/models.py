"""The model zoo as the app sees it: list the models, show their cards, run, measure, explain.

A model in the zoo (`cardiolab.zoo`) is a checkpoint loaded with ``weights_only=True``
(tensors and plain values, never pickled code) plus a model card. The app never loads a
checkpoint from a user: only what the zoo ships.

Running a model goes through `cardiolab.predict` (one entry point for every task:
segmentation, events, LV indices, weak volume) and explaining one through
`cardiolab.explain` (Grad-CAM, or the model's own map). Where those modules are not
installed, the app still works with the zoo's 2.5D slice segmenters, through
`cardiolab.inference.segment_study` (and says that explanations are unavailable).

What a run gives the app is a `ModelRun`: the segmentation ``(T, Z, Y, X)`` uint8 in
the study's grid (or None for models that do not segment), the ED/ES events and
indices the model predicts, and the clinical measures (`CardiacFunction`) computed from
the segmentation the same way ``cardiolab analyze`` does.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from cardiolab.clinical import CardiacFunction, cardiac_function
from cardiolab.data import CineStudy

try:  # the task-agnostic inference entry point (guarded: the app starts without it)
    from cardiolab import predict as predict_module
    PREDICT_MISSING = None
except Exception as error:  # ImportError, or a half-written module: keep the app alive, say why
    predict_module, PREDICT_MISSING = None, f"{type(error).__name__}: {error}"

try:
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
    if predict_module is not None:
        return [ModelInfo(name=entry["name"], model_name=entry.get("model_name", ""), task=entry.get("task", ""),
                          metrics=entry.get("metrics") or {}, card=entry.get("card") or "",
                          training=entry.get("training") or {}, extra=entry.get("extra") or {})
                for entry in predict_module.available_models()]
    from cardiolab import zoo

    infos = []
    for name in zoo.available():
        meta = zoo.metadata(name)
        infos.append(ModelInfo(name=name, model_name=meta.get("model_name", ""), task=meta.get("task", "segmentation"),
                               metrics=meta.get("metrics") or {}, card=zoo.model_card(name),
                               training=meta.get("training") or {}, extra=meta.get("extra") or {}))
    return infos


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
    if predict_module is not None:
        return predict_module.load_predictor(name)
    from cardiolab import zoo

    return zoo.load(name)


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
    if predict_module is not None:
        prediction = predict_module.predict(predictor, study, device=device, progress=progress)
        segmentation, task = prediction.segmentation, prediction.task
        events, indices = prediction.events, prediction.indices
    else:
        segmentation, task, events, indices = segment_with_progress(predictor, study, device, progress), "segmentation", None, None
    run = ModelRun(model=name, task=task, segmentation=segmentation, function=None, events=events, indices=indices)
    if segmentation is not None:
        run.labelled_frames = list(range(study.n_frames))
        run.function = measure(study, segmentation, events, run.notes)
    run.runtime_s = time.perf_counter() - started
    return run


def segment_with_progress(bundle, study: CineStudy, device: str, progress) -> np.ndarray:
    """`segment_study` with a progress callback: count the slices the network has seen.

    Used only where `cardiolab.predict` is missing. The total is every slice of every
    frame plus one frame's slices for locating the heart (`inference.locate_heart`).
    """
    from cardiolab.inference import segment_study

    total = study.n_frames * study.n_slices + study.n_slices
    done = 0

    def count_slices(module, inputs, output):
        nonlocal done
        done = min(done + int(inputs[0].shape[0]), total)
        progress(done, total)

    handle = bundle.model.register_forward_hook(count_slices) if progress else None
    try:
        return segment_study(bundle, study, device=device)
    finally:
        if handle is not None:
            handle.remove()


def measure(study: CineStudy, segmentation: np.ndarray, events: dict | None = None, notes: list | None = None):
    """Clinical function of ``study`` as segmented (the path of ``cardiolab analyze``).

    ED/ES: the model's events where it predicts them, else those the study carries, else
    the LV volume curve. Returns None (with a note) where no function can be measured,
    e.g. a single 3D frame.
    """
    notes = notes if notes is not None else []
    if segmentation.shape[0] < 2:
        notes.append("one frame only: volumes need at least ED and ES, so no ejection fraction")
        return None
    segmented = dataclasses.replace(study, labels={t: segmentation[t] for t in range(segmentation.shape[0])})
    frames = {key: (events or {}).get(key) for key in ("ed_frame", "es_frame")}
    return cardiac_function(segmented, **{key: value for key, value in frames.items() if value is not None})


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
        names = list(getattr(predict_module, "LVQUAN_INDEX_UNITS", {}).values()) or info.extra.get("index_names", [])
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
