"""Pictures and tables of the app, as plain functions (numpy and plotly, no Streamlit).

* `overlay_rgb`: one slice of one frame with the label map blended on top, as a small
  RGB array (the app shows it with ``st.image``). Redrawing a frame is a few array
  operations on ~100 kB, not a new figure, which keeps slider moves well under a second.
* `heatmap_rgb`: the same for a class-activation map (Grad-CAM) in [0, 1].
* `metric_tiles`: the six headline numbers (LVEF, LVEDV, LVESV, LVSV, LV mass, RVEF)
  with their units and their reading against the normal ranges.
* `dice_by_frame`: agreement of two segmentations, per frame and structure.

What the library computes the app does not compute again: the volume curves
(`volume_curves_figure`, one line style per model so two can be compared), `format_value`,
the report and the segmentation download are `cardiolab.analyze`'s, the path of
``cardiolab analyze``; they are named here so the pages have one place to look.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardiolab import LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY, analyze
from cardiolab.analyze import format_value, segmentation_nifti_bytes, volume_curves_figure  # noqa: F401
from cardiolab.clinical import REDUCED_LVEF_PCT, CardiacFunction
from cardiolab.metrics import dice

# Overlay colours (RGB 0-255), chosen to stay apart for colour-blind readers.
LABEL_COLOURS = {LV_CAVITY: (230, 75, 53), LV_MYOCARDIUM: (0, 160, 135), RV_CAVITY: (60, 84, 220)}
STRUCTURE_LABELS = {"LV": LV_CAVITY, "Myocardium": LV_MYOCARDIUM, "RV": RV_CAVITY}
DISPLAY_PERCENTILES = (1.0, 99.5)  # grey-level window: ignore the darkest 1 % and brightest 0.5 %
DISPLAY_PIXELS = 384  # slices are enlarged (by whole pixels, no blur) to about this many rows
# Colour map of the CAM: dark blue (0) -> cyan -> yellow -> red (1), a "jet"-like ramp.
HEAT_STOPS = np.array([0.0, 0.35, 0.65, 1.0])
HEAT_COLOURS = np.array([(0, 0, 130), (0, 200, 255), (255, 230, 0), (220, 0, 0)], dtype=np.float64)


# --- images ------------------------------------------------------------------------------------------
def display_window(image: np.ndarray) -> tuple[float, float]:
    """Grey-level window ``(low, high)`` of a whole study, computed once per study."""
    sample = np.asarray(image, dtype=np.float32).ravel()[:: max(1, image.size // 2_000_000)]  # <= 2 M voxels
    low, high = np.percentile(sample, DISPLAY_PERCENTILES)
    return float(low), float(high if high > low else low + 1.0)


def zoom_factor(rows: int, target: int = DISPLAY_PIXELS) -> int:
    """Whole-pixel enlargement that brings ``rows`` near ``target`` (at least 1)."""
    return max(1, round(target / max(rows, 1)))


def grey_rgb(image_yx: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """A slice as float RGB in [0, 255] through the grey-level window."""
    low, high = window
    grey = np.clip((np.asarray(image_yx, np.float32) - low) / (high - low), 0.0, 1.0) * 255.0
    return np.repeat(grey[..., None], 3, axis=-1)


def enlarge(rgb: np.ndarray, zoom: int) -> np.ndarray:
    """Nearest-neighbour enlargement by ``zoom`` (crisp voxels, no smoothing)."""
    return rgb if zoom == 1 else np.repeat(np.repeat(rgb, zoom, axis=0), zoom, axis=1)


def overlay_rgb(image_yx: np.ndarray, labels_yx: np.ndarray | None, window: tuple[float, float],
                opacity: float = 0.4, structures=(LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY), zoom: int = 1) -> np.ndarray:
    """``(Y*zoom, X*zoom, 3)`` uint8: the slice in grey, the chosen structures blended on top.

    ``opacity`` 0 shows the image only, 1 paints the structures opaque.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    rgb = grey_rgb(image_yx, window)
    if labels_yx is not None:
        if labels_yx.shape != image_yx.shape:
            raise ValueError(f"labels_yx has shape {labels_yx.shape}, image_yx {image_yx.shape}")
        for label in structures:
            mask = labels_yx == label
            rgb[mask] = (1.0 - opacity) * rgb[mask] + opacity * np.array(LABEL_COLOURS[label], np.float32)
    return enlarge(np.rint(rgb).astype(np.uint8), zoom)


def heat_colours(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB float in [0, 255] along `HEAT_COLOURS`."""
    values = np.clip(values, 0.0, 1.0)
    return np.stack([np.interp(values, HEAT_STOPS, HEAT_COLOURS[:, c]) for c in range(3)], axis=-1)


def heatmap_rgb(image_yx: np.ndarray, cam_yx: np.ndarray, window: tuple[float, float], opacity: float = 0.5,
                zoom: int = 1) -> np.ndarray:
    """The slice in grey with a CAM in [0, 1] blended on top; the blend grows with the CAM
    value, so regions the model ignored keep the plain image."""
    if cam_yx.shape != image_yx.shape:
        raise ValueError(f"cam_yx has shape {cam_yx.shape}, image_yx {image_yx.shape}")
    rgb = grey_rgb(image_yx, window)
    weight = opacity * np.clip(np.asarray(cam_yx, np.float32), 0.0, 1.0)[..., None]
    rgb = (1.0 - weight) * rgb + weight * heat_colours(cam_yx)
    return enlarge(np.rint(rgb).astype(np.uint8), zoom)


# --- curves --------------------------------------------------------------------------------------------
def series_figures(indices: dict, frame_times_ms) -> list:
    """Per-frame predicted values (LV indices, volumes) as plotly figures, one per unit.

    ``indices`` maps names that end in their unit (``lv_cavity_area_mm2``,
    ``lv_volume_ml``) to one value per frame; non-numeric entries (phase names) are left
    to a table.
    """
    import plotly.graph_objects as go

    from cardiolab.clinical.export import unit_of

    by_unit = {}
    for name, values in indices.items():
        values = np.asarray(values)
        if values.ndim == 1 and values.dtype.kind in "fiu" and len(values) == len(frame_times_ms):
            by_unit.setdefault(unit_of(name) or "value", []).append((name, values))
    figures = []
    for unit, series in by_unit.items():
        figure = go.Figure([go.Scatter(x=list(frame_times_ms), y=values.tolist(), mode="lines+markers", name=name)
                            for name, values in series])
        figure.update_layout(xaxis_title="time after the R wave (ms)", yaxis_title=unit, height=320,
                             template="plotly_white", margin=dict(l=40, r=20, t=30, b=40))
        figures.append(figure)
    return figures


# --- numbers -------------------------------------------------------------------------------------------
@dataclass
class MetricTile:
    """One ``st.metric`` tile: label, value with unit, and its reading against the norm."""

    label: str  # exactly "LVEF", "LVEDV", "LVESV", "LVSV", "LV mass" or "RVEF"
    value: str  # "58.2 %", "n/a" where not measured
    reading: str | None = None  # "normal (57-77 %)", "reduced (< 55 %)", ...
    colour: str = "gray"  # "green" normal, "red" reduced / out of range, "orange" borderline
    help: str | None = None  # where the range comes from


TILES = [  # (label, report field, unit)
    ("LVEF", "lv_ef_pct", "%"), ("LVEDV", "lv_edv_ml", "ml"), ("LVESV", "lv_esv_ml", "ml"),
    ("LVSV", "lv_sv_ml", "ml"), ("LV mass", "lv_mass_g", "g"), ("RVEF", "rv_ef_pct", "%"),
]


def metric_tiles(function: CardiacFunction) -> list[MetricTile]:
    """The six tiles of the Function summary, read against the thesis' normal ranges."""
    tiles = []
    for label, name, unit in TILES:
        value = getattr(function, name)
        tile = MetricTile(label=label, value=format_value(value, unit))
        reading = function.interpretation.get(name)
        if reading and reading["status"] in ("normal", "low", "high"):
            tile.reading = f"{reading['status']} ({reading['low']:g}-{reading['high']:g} {unit})"
            tile.colour = "green" if reading["status"] == "normal" else "red"
            tile.help = f"normal range from the {reading['source']}"
        elif reading and reading["status"] == "unknown sex":
            tile.reading = "no range (sex unknown)"
            tile.help = f"the normal range depends on sex; ranges from the {reading['source']}"
        if name == "lv_ef_pct" and function.reduced_lvef:  # [seed 000]: EF < 55 % is reduced
            tile.reading, tile.colour = f"reduced (< {REDUCED_LVEF_PCT:g} %)", "red"
        elif name == "lv_ef_pct" and function.reduced_lvef is False and tile.colour == "red":
            tile.colour = "orange"  # 55-57 %: low-normal, neither reduced nor inside the range
        tiles.append(tile)
    return tiles


def truth_line(truth: dict) -> str | None:
    """A phantom's true values in one line, or None for a study without truth."""
    keys = [("LVEF", "lv_ef_pct", "%"), ("LVEDV", "lv_edv_ml", "ml"), ("LVESV", "lv_esv_ml", "ml"),
            ("LV mass", "lv_mass_g", "g"), ("RVEF", "rv_ef_pct", "%")]
    parts = [f"{label} {format_value(truth[key], unit)}" for label, key, unit in keys if truth.get(key) is not None]
    return ("Truth (phantom): " + ", ".join(parts)) if parts else None


def measure_rows(function: CardiacFunction) -> list[dict]:
    """Every measure of the report with its value, unit and reading, as table rows."""
    from cardiolab.clinical.export import measure_rows as export_rows

    readings = function.interpretation or {}
    rows = []
    for name, value, unit in export_rows(function):
        if name.endswith("_status") or name.startswith(("qc_flag", "wall_thickness", "systolic_thickening", "spacing_mm")):
            continue  # readings get their own column; segments their own plot
        status = readings.get(name, {}).get("status", "")
        rows.append({"measure": name, "value": "" if value is None else (round(value, 2) if isinstance(value, float) else value),
                     "unit": unit, "reading": status})
    return rows


def dice_by_frame(segmentation_a: np.ndarray, segmentation_b: np.ndarray, frames) -> list[dict]:
    """Dice of the two segmentations per frame and structure (1 = identical, 0 = disjoint)."""
    if segmentation_a.shape != segmentation_b.shape:
        raise ValueError(f"segmentations differ in shape: {segmentation_a.shape} vs {segmentation_b.shape}")
    rows = []
    for t in frames:
        row = {"frame": int(t)}
        for name, label in STRUCTURE_LABELS.items():
            row[name] = float(dice(segmentation_a[t], segmentation_b[t], label))  # rounded for display only
        rows.append(row)
    return rows


def mean_dice(rows: list[dict]) -> dict:
    """Mean Dice per structure over the rows of `dice_by_frame`."""
    return {name: float(np.mean([row[name] for row in rows])) if rows else float("nan") for name in STRUCTURE_LABELS}


# --- downloads -------------------------------------------------------------------------------------------
def report_json(run, opened) -> str:
    """The report of a `ModelRun` as JSON: `cardiolab.analyze`'s report, with the model's
    own outputs (task, events, indices), the source as the user sees it, and the truth."""
    study = opened.study
    report = analyze.report_dict(study, run.function, run.model, run.runtime_s, task=run.task, source=opened.label,
                                 events=run.events, indices=run.indices, truth=study.truth or None)
    return analyze.report_json(report)
