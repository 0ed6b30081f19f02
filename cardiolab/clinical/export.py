"""Writing a `CardiacFunction` report out: JSON (everything), CSV (one row per measure),
and a per-frame volumes CSV.

* JSON is `CardiacFunction.to_dict` (NaN written as null, segment keys as strings);
  `from_json` reads it back into a `CardiacFunction`.
* The measures CSV has the columns ``measure, value, unit``: every scalar of the report,
  the AHA segment values as ``wall_thickness_ed_mm[1]`` ... ``[16]``, the reading of each
  normal range as ``lv_edv_ml_status``, and each QC flag as ``qc_flag[i]`` (its code).
  The unit is read off the measure's name (``_ml`` -> ml, ``_pct`` -> %, ...), which is
  why every name carries its unit. `read_measures_csv` parses it back.
* The volumes CSV has ``frame, time_ms, lv_ml, myo_ml, rv_ml``, one row per labelled
  frame (``time_ms`` empty when the frame times are unknown).
Each writer returns the text and also writes it when given a path.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from cardiolab.clinical.function import CardiacFunction

# Name ending -> unit, longest ending first so "_ml_m2" wins over "_m2" and "_ml".
UNIT_OF_SUFFIX = [
    ("_l_min_m2", "l/min/m^2"), ("_ml_m2", "ml/m^2"), ("_g_m2", "g/m^2"), ("_g_per_ml", "g/ml"),
    ("_l_min", "l/min"), ("_ml_s", "ml/s"), ("_ml", "ml"), ("_pct", "%"), ("_m2", "m^2"),
    ("_bpm", "1/min"), ("_cm", "cm"), ("_kg", "kg"), ("_mm", "mm"), ("_ms", "ms"), ("_g", "g"),
    ("_frame", "frame"), ("n_frames", "frames"),
]
# Report fields that the measures CSV leaves to the volumes CSV or the JSON.
_NOT_MEASURES = {"volume_curve_ml", "volume_curve_frames", "volume_curve_times_ms", "notes", "interpretation",
                 "qc_flags", "affected_segments"}


def unit_of(measure: str) -> str:
    """The unit a measure's name ends with ("" for words, flags and readings)."""
    if measure.endswith("_status"):
        return ""
    base = measure.split("[", 1)[0]
    for suffix, unit in UNIT_OF_SUFFIX:
        if base.endswith(suffix):
            return unit
    return ""


def _write(text: str, path) -> str:
    if path is not None:
        Path(path).write_text(text)
    return text


def to_json(function: CardiacFunction, path=None, indent: int = 2) -> str:
    """The whole report as JSON text (also written to ``path`` when given)."""
    return _write(json.dumps(function.to_dict(), indent=indent), path)


def from_json(text_or_path) -> CardiacFunction:
    """A `CardiacFunction` from `to_json`'s text or from a file holding it."""
    text = str(text_or_path)
    if not text.lstrip().startswith("{"):
        text = Path(text_or_path).read_text()
    return CardiacFunction.from_dict(json.loads(text))


def measure_rows(function: CardiacFunction) -> list[tuple[str, object, str]]:
    """``(measure, value, unit)`` rows of the measures CSV."""
    report = function.to_dict()
    rows = []
    for name, value in report.items():
        if name in _NOT_MEASURES:
            continue
        if isinstance(value, dict):  # AHA segments, keys "1".."16"
            rows.extend((f"{name}[{key}]", v, unit_of(name)) for key, v in value.items())
        elif isinstance(value, list):  # spacing_mm
            rows.extend((f"{name}[{i}]", v, unit_of(name)) for i, v in enumerate(value))
        else:
            rows.append((name, value, unit_of(name)))
    for name, reading in report["interpretation"].items():
        rows.append((f"{name}_status", reading["status"], ""))
    for i, flag in enumerate(report["qc_flags"]):
        rows.append((f"qc_flag[{i}]", flag["code"], ""))
    return rows


def to_csv(function: CardiacFunction, path=None) -> str:
    """The measures CSV (``measure, value, unit``); None is written as an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["measure", "value", "unit"])
    for measure, value, unit in measure_rows(function):
        writer.writerow([measure, "" if value is None else value, unit])
    return _write(buffer.getvalue(), path)


def read_measures_csv(text_or_path) -> dict:
    """measure -> value from `to_csv`'s text or file: numbers as float, booleans as bool,
    empty cells as None, anything else as text."""
    text = str(text_or_path)
    if not text.startswith("measure,"):
        text = Path(text_or_path).read_text()
    values = {}
    for row in csv.DictReader(io.StringIO(text)):
        cell = row["value"]
        if cell == "":
            values[row["measure"]] = None
        elif cell in ("True", "False"):
            values[row["measure"]] = cell == "True"
        else:
            try:
                values[row["measure"]] = float(cell)
            except ValueError:
                values[row["measure"]] = cell
    return values


def volumes_csv(function: CardiacFunction, path=None) -> str:
    """Per labelled frame: ``frame, time_ms, lv_ml, myo_ml, rv_ml``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["frame", "time_ms", "lv_ml", "myo_ml", "rv_ml"])
    curve, times = function.volume_curve_ml, function.volume_curve_times_ms
    for i, frame in enumerate(function.volume_curve_frames):
        time_ms = "" if times is None else times[i]
        writer.writerow([frame, time_ms, curve["lv"][i], curve["myo"][i], curve["rv"][i]])
    return _write(buffer.getvalue(), path)
