"""Analyse one cine study: segment every frame, measure, report.

    from cardiolab.analyze import analyze_study
    result = analyze_study(study, model="default", device="cpu")
    result.segmentation        # (T, Z, Y, X) uint8, in the study's own grid
    result.function            # cardiolab.clinical.CardiacFunction
    result.write("out/")       # report.json, segmentation.nii.gz, volumes.csv, volume_curve.html

``cardiolab analyze STUDY --out DIR`` does the same from the command line, and the web
app (``webapp/``) measures, reports, plots and exports through the same functions below
(`measure_segmentation`, `report_dict`, `report_json`, `save_segmentation`,
`volume_curves_figure`, `format_value`), so the CLI and the app cannot drift apart.

``model`` is any segmentation model of the zoo (the 2.5D ``default``, or a temporal
segmenter such as ``unet4d``), a zoo checkpoint path, or a loaded bundle/predictor.
ED and ES come from the data where it says them, else from the LV volume curve, or,
with ``events_model="esed_detector"`` (any events model of the zoo), from that
network's ES/ED detection (thesis Ch. 7).
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cardiolab.clinical import CardiacFunction, cardiac_function, volumes_csv
from cardiolab.data import CineStudy, load_cine, save_nifti
from cardiolab.inference import SliceModelBundle, segment_study


@dataclass
class AnalysisResult:
    study: CineStudy
    segmentation: np.ndarray              # (T, Z, Y, X) uint8, canonical labels
    function: CardiacFunction
    model: str
    runtime_s: float
    timings_s: dict = field(default_factory=dict)

    def report(self) -> dict:
        return report_dict(self.study, self.function, self.model, self.runtime_s, timings_s=self.timings_s)

    def write(self, out_dir) -> dict[str, Path]:
        """Write the report, the segmentation (in the input's space), the volumes and a plot."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "report": out / "report.json",
            "segmentation": save_segmentation(out / "segmentation.nii.gz", self.study, self.segmentation),
            "volumes": out / "volumes.csv",
            "plot": out / "volume_curve.html",
        }
        paths["report"].write_text(report_json(self.report()))
        volumes_csv(self.function, paths["volumes"])
        volume_curve_figure(self.function).write_html(paths["plot"], include_plotlyjs="cdn")
        return paths


# --- measuring ------------------------------------------------------------------------------------
def measure_segmentation(study: CineStudy, segmentation: np.ndarray, events: dict | None = None,
                         **function_options) -> CardiacFunction:
    """Clinical function of ``study`` as ``segmentation`` (``(T, Z, Y, X)``) labels it.

    The study is measured as if the model had labelled it, so its timing, ED/ES and
    patient facts (height, weight, heart rate) all come along. ED and ES: those of
    ``events`` (a `Prediction`'s ``{ed_frame, es_frame}``) where given, else those the
    study carries, else the LV volume curve; ``function_options`` (`cardiac_function`'s
    keywords) win over both. Raises ValueError for fewer than two frames.
    """
    segmented = dataclasses.replace(study, labels={t: segmentation[t] for t in range(segmentation.shape[0])})
    frames = {key: (events or {}).get(key) for key in ("ed_frame", "es_frame")}
    options = {key: value for key, value in frames.items() if value is not None} | function_options
    return cardiac_function(segmented, **options)


# --- reporting ------------------------------------------------------------------------------------
def format_value(value, unit: str, digits: int = 1) -> str:
    """``12.3 ml``, or ``n/a`` where a measure could not be made (e.g. no LV found)."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f} {unit}"


def report_dict(study: CineStudy, function: CardiacFunction | None, model: str, runtime_s: float, **extra) -> dict:
    """One analysis as a report: every measure of ``function`` (none where nothing was
    measured), the model, and the study it came from; ``extra`` adds or overrides fields
    (the app adds the model's events and indices, and names the source as the user sees it)."""
    report = function.to_dict() if function is not None else {}
    report.update({"model": model, "runtime_s": round(runtime_s, 3), "source": study.info.get("source"),
                   "shape": list(study.shape), "spacing_mm": list(study.spacing)})
    report.update(extra)
    return report


def report_json(report: dict) -> str:
    """A `report_dict` as indented JSON (numpy values, e.g. event scores, as plain lists)."""
    return json.dumps(report, indent=2, default=json_value)


def json_value(value):
    """numpy arrays and scalars (event scores, per-frame indices) as plain JSON values."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def save_segmentation(path, study: CineStudy, segmentation: np.ndarray) -> Path:
    """The segmentation as a 4D NIfTI in the study's own space: its affine and its frame step,
    so a viewer lays it over the input exactly."""
    step_ms = float(np.median(np.diff(study.frame_times_ms))) if study.n_frames > 1 else 0.0
    return save_nifti(path, segmentation, study.affine, frame_duration_ms=step_ms)


def segmentation_nifti_bytes(study: CineStudy, segmentation: np.ndarray) -> bytes:
    """`save_segmentation` as gzipped bytes (a download needs bytes, not a file)."""
    with tempfile.TemporaryDirectory(prefix="cardiolab-segmentation-") as folder:
        return save_segmentation(Path(folder) / "segmentation.nii.gz", study, segmentation).read_bytes()


# --- plotting -------------------------------------------------------------------------------------
STRUCTURE_NAMES = {"lv": "LV cavity", "rv": "RV cavity", "myo": "LV myocardium"}
STRUCTURE_COLOURS = {"lv": "rgb(230,75,53)", "rv": "rgb(60,84,220)", "myo": "rgb(0,160,135)"}
LINE_DASHES = ["solid", "dot", "dash", "dashdot"]  # one per model, so two models can be compared


def volume_curves_figure(functions: dict, structures=("lv", "rv"), title: str = "Volume-time curves"):
    """Volume (ml) over the cycle for each ``{model name: CardiacFunction}`` (plotly).

    Each structure gets its own colour, each model its own line style; ED and ES of the
    first model are marked with dashed vertical lines. A model whose function is None
    (nothing measured) and an all-zero curve (a structure not found) are left out.
    """
    import plotly.graph_objects as go

    figure = go.Figure()
    first = None
    for number, (model, function) in enumerate(functions.items()):
        if function is None:
            continue
        first = first or function
        times = function.volume_curve_times_ms or function.volume_curve_frames
        for key in structures:
            values = function.volume_curve_ml.get(key)
            if not values or not any(values):
                continue
            name = f"{STRUCTURE_NAMES[key]} ({model})" if model else STRUCTURE_NAMES[key]
            line = dict(color=STRUCTURE_COLOURS[key], dash=LINE_DASHES[number % len(LINE_DASHES)])
            figure.add_trace(go.Scatter(x=times, y=values, mode="lines+markers", name=name, line=line))
    if first is not None:
        times = first.volume_curve_times_ms or first.volume_curve_frames
        for frame, label in ((first.ed_frame, "ED"), (first.es_frame, "ES")):
            if frame is not None and frame in first.volume_curve_frames:
                figure.add_vline(x=times[first.volume_curve_frames.index(frame)], line_dash="dash",
                                 annotation_text=f"{label} (frame {frame})")
    time_known = first is not None and first.volume_curve_times_ms is not None
    figure.update_layout(title=title, xaxis_title="time after the R wave (ms)" if time_known else "frame",
                         yaxis_title="volume (ml)", template="plotly_white", height=360,
                         margin=dict(l=40, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.2))
    return figure


def volume_curve_figure(function: CardiacFunction):
    """LV, RV and myocardial volume of one analysis, titled with its LVEF (the CLI's plot)."""
    return volume_curves_figure({"": function}, structures=("lv", "rv", "myo"),
                                title=f"Volume-time curves (LVEF {format_value(function.lv_ef_pct, '%')})")


def resolve_model(model, task: str = "segmentation"):
    """A `SliceModelBundle` (run directly) or a `cardiolab.predict.Predictor` of the wanted task,
    from a zoo name ("default"), a checkpoint path, or a loaded bundle/predictor."""
    if isinstance(model, SliceModelBundle):
        return model
    from cardiolab.predict import Predictor, load_predictor

    predictor = model if isinstance(model, Predictor) else load_predictor(model)
    if predictor.task != task:
        raise ValueError(f"model {predictor.name!r} is a {predictor.task} model; this step needs a {task} model")
    return predictor


def segment_every_frame(model, study: CineStudy, device, progress) -> tuple[np.ndarray, str]:
    """``(T, Z, Y, X)`` uint8 labels in the study's grid, and the model's name."""
    if isinstance(model, SliceModelBundle):
        return segment_study(model, study, device=device, progress=progress), model.name
    return model.predict(study, device=device, progress=progress).segmentation, model.name


def analyze_study(study, model="default", device="cpu", progress=False, events_model=None,
                  **function_options) -> AnalysisResult:
    """Segment every frame of ``study`` (a CineStudy or a path) and measure its function.

    progress: False, True (a progress bar) or a callable ``progress(done, total)``.
    events_model: None (ED/ES from the data, else the LV volume curve) or an events
        model of the zoo (e.g. ``"esed_detector"``) whose detected ED and ES are used.
    """
    started = time.perf_counter()
    timings = {}
    if not isinstance(study, CineStudy):
        study = load_cine(study)
        timings["load"] = time.perf_counter() - started
    segmenter = resolve_model(model)
    timings["model"] = time.perf_counter() - started - sum(timings.values())
    segmentation, model_name = segment_every_frame(segmenter, study, device, progress or None)
    timings["segmentation"] = time.perf_counter() - started - sum(timings.values())
    events = None
    if events_model is not None:
        events = resolve_model(events_model, task="events").predict(study, device=device).events
        timings["events"] = time.perf_counter() - started - sum(timings.values())
    function = measure_segmentation(study, segmentation, events, **function_options)
    if events_model is not None:
        function.ed_es_source = f"detected by {events_model}"
    timings["measures"] = time.perf_counter() - started - sum(timings.values())
    runtime = time.perf_counter() - started
    return AnalysisResult(study=study, segmentation=segmentation, function=function, model=model_name,
                          runtime_s=runtime, timings_s={k: round(v, 3) for k, v in timings.items()})
