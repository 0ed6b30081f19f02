"""Analyse one cine study: segment every frame, measure, report.

    from cardiolab.analyze import analyze_study
    result = analyze_study(study, model="default", device="cpu")
    result.segmentation        # (T, Z, Y, X) uint8, in the study's own grid
    result.function            # cardiolab.clinical.CardiacFunction
    result.write("out/")       # report.json, segmentation.nii.gz, volumes.csv, volume_curve.html

``cardiolab analyze STUDY --out DIR`` does the same from the command line.

``model`` is any segmentation model of the zoo (the 2.5D ``default``, or a temporal
segmenter such as ``unet4d``), a zoo checkpoint path, or a loaded bundle/predictor.
ED and ES come from the data where it says them, else from the LV volume curve, or,
with ``events_model="esed_detector"`` (any events model of the zoo), from that
network's ES/ED detection (thesis Ch. 7).
"""
from __future__ import annotations

import dataclasses
import json
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
        report = self.function.to_dict()
        report.update({"model": self.model, "runtime_s": round(self.runtime_s, 3), "timings_s": self.timings_s,
                       "source": self.study.info.get("source"), "shape": list(self.study.shape),
                       "spacing_mm": list(self.study.spacing)})
        return report

    def write(self, out_dir) -> dict[str, Path]:
        """Write the report, the segmentation (in the input's space), the volumes and a plot."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        step = float(np.median(np.diff(self.study.frame_times_ms))) if self.study.n_frames > 1 else 0.0
        paths = {
            "report": out / "report.json",
            "segmentation": save_nifti(out / "segmentation.nii.gz", self.segmentation, self.study.affine, frame_duration_ms=step),
            "volumes": out / "volumes.csv",
            "plot": out / "volume_curve.html",
        }
        paths["report"].write_text(json.dumps(self.report(), indent=2))  # to_dict() is JSON-ready
        volumes_csv(self.function, paths["volumes"])
        volume_curve_figure(self.function).write_html(paths["plot"], include_plotlyjs="cdn")
        return paths


def format_value(value, unit: str, digits: int = 1) -> str:
    """``12.3 ml``, or ``n/a`` where a measure could not be made (e.g. no LV found)."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f} {unit}"


def volume_curve_figure(function: CardiacFunction):
    """LV, RV and myocardial volume over the cycle, with ED and ES marked (plotly)."""
    import plotly.graph_objects as go

    curve = function.volume_curve_ml
    times = function.volume_curve_times_ms or function.volume_curve_frames
    figure = go.Figure()
    for key, name in (("lv", "LV cavity"), ("rv", "RV cavity"), ("myo", "LV myocardium")):
        figure.add_trace(go.Scatter(x=times, y=curve[key], mode="lines+markers", name=name))
    for frame, label in ((function.ed_frame, "ED"), (function.es_frame, "ES")):
        if frame is not None and frame in function.volume_curve_frames:
            index = function.volume_curve_frames.index(frame)
            figure.add_vline(x=times[index], line_dash="dash", annotation_text=label)
    figure.update_layout(title=f"Volume-time curves (LVEF {format_value(function.lv_ef_pct, '%')})",
                         xaxis_title="time (ms)" if function.volume_curve_times_ms else "frame",
                         yaxis_title="volume (ml)", template="plotly_white")
    return figure


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
    if events_model is not None:
        events = resolve_model(events_model, task="events").predict(study, device=device).events
        function_options = {"ed_frame": events["ed_frame"], "es_frame": events["es_frame"], **function_options}
        timings["events"] = time.perf_counter() - started - sum(timings.values())
    # Measure the study as if it were labelled by the model: its timing, ED/ES and
    # patient facts (height, weight, heart rate) all come along.
    segmented = dataclasses.replace(study, labels={t: segmentation[t] for t in range(study.n_frames)})
    function = cardiac_function(segmented, **function_options)
    if events_model is not None:
        function.ed_es_source = f"detected by {events_model}"
    timings["measures"] = time.perf_counter() - started - sum(timings.values())
    runtime = time.perf_counter() - started
    return AnalysisResult(study=study, segmentation=segmentation, function=function, model=model_name,
                          runtime_s=runtime, timings_s={k: round(v, 3) for k, v in timings.items()})
