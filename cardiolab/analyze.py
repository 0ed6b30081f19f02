"""Analyse one cine study: segment every frame, measure, report.

    from cardiolab.analyze import analyze_study
    result = analyze_study(study, model="default", device="cpu")
    result.segmentation        # (T, Z, Y, X) uint8, in the study's own grid
    result.function            # cardiolab.clinical.CardiacFunction
    result.write("out/")       # report.json, segmentation.nii.gz, volumes.csv, volume_curve.html

``cardiolab analyze STUDY --out DIR`` does the same from the command line.
ED and ES come from the data where it says them, else from the LV volume curve.
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


def resolve_model(model) -> SliceModelBundle:
    """A bundle from a zoo name ("default"), a checkpoint path, or a bundle itself."""
    if isinstance(model, SliceModelBundle):
        return model
    from cardiolab import zoo

    if isinstance(model, (str, Path)) and Path(model).suffix == ".pt" and Path(model).is_file():
        return zoo.load_bundle_file(model)
    return zoo.load(str(model))


def analyze_study(study, model="default", device="cpu", progress: bool = False, **function_options) -> AnalysisResult:
    """Segment every frame of ``study`` (a CineStudy or a path) and measure its function."""
    started = time.perf_counter()
    timings = {}
    if not isinstance(study, CineStudy):
        study = load_cine(study)
        timings["load"] = time.perf_counter() - started
    bundle = resolve_model(model)
    timings["model"] = time.perf_counter() - started - sum(timings.values())
    segmentation = segment_study(bundle, study, device=device, progress=progress)
    timings["segmentation"] = time.perf_counter() - started - sum(timings.values())
    # Measure the study as if it were labelled by the model: its timing, ED/ES and
    # patient facts (height, weight, heart rate) all come along.
    segmented = dataclasses.replace(study, labels={t: segmentation[t] for t in range(study.n_frames)})
    function = cardiac_function(segmented, **function_options)
    timings["measures"] = time.perf_counter() - started - sum(timings.values())
    runtime = time.perf_counter() - started
    return AnalysisResult(study=study, segmentation=segmentation, function=function, model=bundle.name,
                          runtime_s=runtime, timings_s={k: round(v, 3) for k, v in timings.items()})
