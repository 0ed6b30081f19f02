"""Global cardiac function from a label sequence: volumes, EF, mass, output, rates.

What the sources say
--------------------
* Seed 000 (4D CCTA, sec. 4 "Ejection fraction") computes the EF "based on the ratio of
  minimum and maximum LV cavity volume throughout the cardiac cycle" and calls it
  reduced below 55 %.
* The thesis (seed 003, Ch. 2 sec. 2.2.2) gives the formulas used here:
  SV = EDV - ESV (Eq. 2.1); CO = SV x HR (Eq. 2.2); EF = SV / EDV x 100 (Eq. 2.3);
  BSA = sqrt(height_cm x weight_kg / 3600), Mosteller (Eq. 2.4); indexed value =
  value / BSA (Eq. 2.5); LV mass = myocardial volume (at ED) x 1.055 g/ml.

What this file does
-------------------
`cardiac_function` measures the LV, myocardium and RV volume of every labelled frame
(`volumes.volume_curves_ml`), picks end-diastole (ED) and end-systole (ES), and derives
everything else from the volumes at those two frames. Choices where the sources are
silent:

* ED/ES. A frame given by the caller (``ed_frame=``/``es_frame=``) wins, then the one the
  data carries (``study.ed_frame``/``es_frame``: ACDC's Info.cfg, a detector model's
  output), else the LV volume curve: ED = the labelled frame of largest LV cavity, ES =
  the smallest (seed 000). ``ed_es_source`` records "given", "volume_curve" or, if the
  two were found differently, e.g. "given ED, volume_curve ES". On a sparse study the
  curve only knows the labelled frames, so ED/ES are the extremes among those.
* RV. Its ED and ES are the LV's frames (as ACDC and the thesis annotate both ventricles
  at the same two frames); the RV curve's own extremes are in ``volume_curve_ml``.
* Mass. Myocardial volume at ED x ``myocardial_density_g_per_ml``. The default is
  1.05 g/ml (the usual CMR value); the thesis uses 1.055: pass it to reproduce that.
* Heart rate. From the caller, then ``study.info["heart_rate_bpm"]``, then the frame
  times when they are known and the sequence has at least 5 frames: a cine
  reconstructs one R-R interval, R-R = last - first frame time + one frame step.
  Frame times a loader *assumed* (its notes say so) give no heart rate and no rates:
  nothing is invented; cardiac output then stays None.
* Peak ejection / filling rate (ml/s). Only on a full sequence (every frame labelled,
  at least 5 frames) with known frame times: central differences of the LV curve
  treated as periodic (the frame after the last is the first, one R-R later). The
  ejection rate is reported as a positive number (``-min dV/dt``), filling ``max dV/dt``.
* Regional wall thickness (AHA 16 segments) at ED and ES and systolic thickening,
  `wall_thickness.measure_wall_thickness`; ES thickness is None where ES has no
  myocardium label (the thesis' own data).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from cardiolab import LV_MYOCARDIUM
from cardiolab.clinical.qc import function_qc, segmentation_qc
from cardiolab.clinical.reference import interpret_all, normalise_sex, reduced_lvef, AFFECTED_THICKENING_MM
from cardiolab.clinical.volumes import labelled_frames, volume_curves_ml
from cardiolab.clinical.wall_thickness import measure_wall_thickness, systolic_thickening

DEFAULT_MYOCARDIAL_DENSITY_G_PER_ML = 1.05  # usual CMR value; the thesis (sec. 2.2.2) uses 1.055
MIN_FRAMES_FOR_CYCLE = 5  # fewer frames do not resolve a cardiac cycle: no rates, no heart rate

# Fields that hold {segment: value}; JSON keys are strings, the dataclass keeps ints.
SEGMENT_FIELDS = ("wall_thickness_ed_mm", "wall_thickness_es_mm", "systolic_thickening_mm", "systolic_thickening_pct")


@dataclass
class CardiacFunction:
    """One report of global (and regional) cardiac function; every unit is in the name."""

    # which frames
    ed_frame: int | None = None
    es_frame: int | None = None
    ed_es_source: str | None = None  # "given", "volume_curve", or mixed ("given ED, volume_curve ES")
    n_frames: int | None = None  # frames in the whole sequence
    spacing_mm: list | None = None  # (z, y, x)
    # left ventricle
    lv_edv_ml: float | None = None
    lv_esv_ml: float | None = None
    lv_sv_ml: float | None = None
    lv_ef_pct: float | None = None
    lv_myocardial_volume_ml: float | None = None  # at ED
    lv_mass_g: float | None = None
    myocardial_density_g_per_ml: float | None = None
    lv_peak_ejection_rate_ml_s: float | None = None  # positive number, -min dV/dt
    lv_peak_filling_rate_ml_s: float | None = None  # max dV/dt
    # right ventricle (same ED/ES frames as the LV)
    rv_edv_ml: float | None = None
    rv_esv_ml: float | None = None
    rv_sv_ml: float | None = None
    rv_ef_pct: float | None = None
    # per labelled frame
    volume_curve_ml: dict = field(default_factory=dict)  # {"lv": [...], "myo": [...], "rv": [...]}
    volume_curve_frames: list = field(default_factory=list)  # frame index of each curve value
    volume_curve_times_ms: list | None = None  # time of each curve value (None: unknown)
    frame_times_assumed: bool | None = None  # True: the loader assumed the times, not measured
    # body size and rate
    sex: str | None = None
    height_cm: float | None = None
    weight_kg: float | None = None
    heart_rate_bpm: float | None = None
    heart_rate_source: str | None = None  # "argument", "study.info", "frame_times"
    bsa_m2: float | None = None  # Mosteller
    lv_edvi_ml_m2: float | None = None
    lv_esvi_ml_m2: float | None = None
    lv_svi_ml_m2: float | None = None
    lv_massi_g_m2: float | None = None
    rv_edvi_ml_m2: float | None = None
    rv_esvi_ml_m2: float | None = None
    rv_svi_ml_m2: float | None = None
    lv_co_l_min: float | None = None
    lv_ci_l_min_m2: float | None = None
    # regional (AHA 16 segments, keys 1..16)
    wall_thickness_ed_mm: dict | None = None
    wall_thickness_es_mm: dict | None = None
    systolic_thickening_mm: dict | None = None  # ES - ED, thesis Eq. 2.6
    systolic_thickening_pct: dict | None = None  # (ES - ED) / ED x 100
    wall_thickness_orientation: str | None = None
    affected_segments: list | None = None  # thickening < 2 mm (thesis sec. 2.2.2)
    # reading
    reduced_lvef: bool | None = None  # LVEF < 55 % (seed 000)
    interpretation: dict = field(default_factory=dict)  # measure -> {value, low, high, status, source}
    qc_flags: list = field(default_factory=list)  # [{code, message, frames, slices}]
    notes: list = field(default_factory=list)  # why a value is missing, which fallback was used

    def to_dict(self) -> dict:
        """Plain JSON-ready values: segment keys as strings, NaN as None."""
        report = asdict(self)
        for name in SEGMENT_FIELDS:
            if report[name] is not None:
                report[name] = {str(k): v for k, v in report[name].items()}
        return _json_ready(report)

    @classmethod
    def from_dict(cls, report: dict) -> "CardiacFunction":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in report.items() if k in known}
        for name in SEGMENT_FIELDS:
            if values.get(name) is not None:
                values[name] = {int(k): (float("nan") if v is None else v) for k, v in values[name].items()}
        return cls(**values)


def _json_ready(value):
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# --- the formulas --------------------------------------------------------------------------
def mosteller_bsa_m2(height_cm: float, weight_kg: float) -> float:
    """Body surface area, Mosteller: sqrt(height_cm x weight_kg / 3600) ([thesis 003] Eq. 2.4)."""
    if not (height_cm and height_cm > 0):
        raise ValueError(f"height_cm must be positive, got {height_cm!r}")
    if not (weight_kg and weight_kg > 0):
        raise ValueError(f"weight_kg must be positive, got {weight_kg!r}")
    return math.sqrt(height_cm * weight_kg / 3600.0)


def ejection_fraction_pct(edv_ml: float, esv_ml: float) -> float | None:
    """EF = (EDV - ESV) / EDV x 100 ([thesis 003] Eq. 2.1, 2.3); None for an empty ventricle."""
    return (edv_ml - esv_ml) / edv_ml * 100.0 if edv_ml > 0 else None


def curve_ejection_fraction_pct(volume_ml) -> float | None:
    """EF of a whole volume curve (e.g. a volume model's per-frame prediction): its largest
    volume taken as EDV and its smallest as ESV, as [seed 000] picks ED and ES; None for a
    curve too short or not finite, or an empty ventricle."""
    volume_ml = np.asarray(volume_ml, dtype=np.float64)
    if volume_ml.size < 2 or not np.isfinite(volume_ml).all():
        return None
    return ejection_fraction_pct(float(volume_ml.max()), float(volume_ml.min()))


def rr_interval_ms(frame_times_ms) -> float:
    """One R-R interval from the frame times of a cine that spans one beat."""
    times = np.asarray(frame_times_ms, dtype=float)
    return float(times[-1] - times[0] + np.median(np.diff(times)))


def ejection_filling_rates_ml_s(volume_ml, frame_times_ms, rr_ms: float | None = None) -> tuple[float, float]:
    """``(peak ejection rate, peak filling rate)`` in ml/s of a periodic volume curve.

    Central differences with wrap-around: the frame after the last is the first, one
    R-R interval (``rr_ms``, default `rr_interval_ms`) later. Both rates are >= 0.
    """
    volume = np.asarray(volume_ml, dtype=float)
    times = np.asarray(frame_times_ms, dtype=float)
    if volume.ndim != 1 or len(volume) < MIN_FRAMES_FOR_CYCLE:
        raise ValueError(f"volume_ml needs at least {MIN_FRAMES_FOR_CYCLE} frames of a cycle, got {volume.shape}")
    if times.shape != volume.shape or not np.all(np.diff(times) > 0):
        raise ValueError("frame_times_ms must be increasing and match volume_ml in length")
    rr_ms = rr_interval_ms(times) if rr_ms is None else float(rr_ms)
    if rr_ms <= times[-1] - times[0]:
        raise ValueError(f"rr_ms={rr_ms} must exceed the span of the frame times ({times[-1] - times[0]} ms)")
    next_time = np.append(times[1:], times[0] + rr_ms)  # (T,) time of frame i+1
    prev_time = np.insert(times[:-1], 0, times[-1] - rr_ms)  # (T,) time of frame i-1
    slope_ml_ms = (np.roll(volume, -1) - np.roll(volume, 1)) / (next_time - prev_time)  # (T,)
    slope_ml_s = slope_ml_ms * 1000.0
    return float(max(0.0, -slope_ml_s.min())), float(max(0.0, slope_ml_s.max()))


# --- where the inputs come from ------------------------------------------------------------
def _study_of(study_or_labels):
    from cardiolab.data.study import CineStudy

    return study_or_labels if isinstance(study_or_labels, CineStudy) else None


def _times_were_assumed(study) -> bool:
    """True when a loader wrote that it assumed the frame times (see CineStudy, loaders)."""
    notes = study.info.get("notes", []) if study is not None else []
    return any("assumed" in note and ("frame time" in note or "frame duration" in note) for note in notes)


def _frame_times(study, frame_times_ms, n_frames):
    """``(times or None, assumed)`` of every frame of the sequence."""
    if frame_times_ms is not None:
        times = np.asarray(frame_times_ms, dtype=float).reshape(-1)
        if len(times) != n_frames or not np.all(np.isfinite(times)) or not np.all(np.diff(times) > 0):
            raise ValueError(f"frame_times_ms must be {n_frames} increasing finite values, got {frame_times_ms!r}")
        return times, False
    if study is not None:
        return np.asarray(study.frame_times_ms, dtype=float), _times_were_assumed(study)
    return None, None


def _pick_frame(name, argument, study_value, curve_frame, labelled, notes):
    """(frame, "given" | "volume_curve") for ED or ES; see the module docstring."""
    if argument is not None:
        if int(argument) not in labelled:
            raise ValueError(f"{name}={argument} is not a labelled frame; labelled: {labelled}")
        return int(argument), "given"
    if study_value is not None:
        if study_value in labelled:
            return int(study_value), "given"
        notes.append(f"study {name} {study_value} is not labelled: {name} taken from the LV volume curve")
    return int(curve_frame), "volume_curve"


def _body_value(name, argument, study, notes):
    if argument is not None:
        return float(argument)
    value = study.info.get(name) if study is not None else None
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        notes.append(f"study.info[{name!r}]={value!r} is not a number: ignored")
        return None


# --- the report -----------------------------------------------------------------------------
def cardiac_function(study_or_labels, spacing=None, *, frame_times_ms=None, ed_frame=None, es_frame=None,
                     height_cm=None, weight_kg=None, heart_rate_bpm=None, sex=None,
                     myocardial_density_g_per_ml=DEFAULT_MYOCARDIAL_DENSITY_G_PER_ML,
                     regional=True, anterior="up") -> CardiacFunction:
    """Clinical function report of a `CineStudy`, a ``(T, Z, Y, X)`` label array or a
    ``{frame: (Z, Y, X)}`` dict (these two need ``spacing`` (z, y, x) mm).

    ``regional=False`` skips the AHA wall thickness; ``anterior`` ("up"/"down") says on
    which image side the anterior RV insertion point lies (see `wall_thickness`).
    """
    if not myocardial_density_g_per_ml or myocardial_density_g_per_ml <= 0:
        raise ValueError(f"myocardial_density_g_per_ml must be positive, got {myocardial_density_g_per_ml!r}")
    study = _study_of(study_or_labels)
    n_frames = len(frame_times_ms) if frame_times_ms is not None and isinstance(study_or_labels, dict) else None
    by_frame, spacing, n_frames = labelled_frames(study_or_labels, spacing, n_frames)
    if len(by_frame) < 2:
        raise ValueError(f"cardiac function needs at least two labelled frames (ED and ES), got {list(by_frame)}")
    report = CardiacFunction(n_frames=n_frames, spacing_mm=list(spacing),
                             myocardial_density_g_per_ml=float(myocardial_density_g_per_ml))
    notes = report.notes

    # Volumes of every labelled frame, then ED and ES.
    curves = volume_curves_ml(by_frame, spacing)
    curves.n_frames = n_frames  # a dict of frames does not know the sequence length; the source did
    report.volume_curve_ml, report.volume_curve_frames = curves.as_dict(), list(curves.frames)
    curve_ed = curves.frames[int(np.argmax(curves.lv_ml))]  # [seed 000] ED = maximum LV volume
    curve_es = curves.frames[int(np.argmin(curves.lv_ml))]  # [seed 000] ES = minimum LV volume
    ed, ed_source = _pick_frame("ed_frame", ed_frame, study.ed_frame if study else None, curve_ed, curves.frames, notes)
    es, es_source = _pick_frame("es_frame", es_frame, study.es_frame if study else None, curve_es, curves.frames, notes)
    report.ed_frame, report.es_frame = ed, es
    report.ed_es_source = ed_source if ed_source == es_source else f"{ed_source} ED, {es_source} ES"
    at = {frame: i for i, frame in enumerate(curves.frames)}

    # Left ventricle: [thesis 003] Eq. 2.1 and 2.3; mass = myocardial volume at ED x density.
    report.lv_edv_ml, report.lv_esv_ml = float(curves.lv_ml[at[ed]]), float(curves.lv_ml[at[es]])
    report.lv_sv_ml = report.lv_edv_ml - report.lv_esv_ml
    report.lv_ef_pct = ejection_fraction_pct(report.lv_edv_ml, report.lv_esv_ml)
    if report.lv_ef_pct is None:
        notes.append("LV cavity empty at ED: no LVEF")
    report.lv_myocardial_volume_ml = float(curves.myo_ml[at[ed]])
    if report.lv_myocardial_volume_ml > 0:
        report.lv_mass_g = report.lv_myocardial_volume_ml * myocardial_density_g_per_ml
    else:
        notes.append("no myocardium labelled at ED: no LV mass")

    # Right ventricle at the same frames.
    rv_edv, rv_esv = float(curves.rv_ml[at[ed]]), float(curves.rv_ml[at[es]])
    if rv_edv > 0:
        report.rv_edv_ml, report.rv_esv_ml, report.rv_sv_ml = rv_edv, rv_esv, rv_edv - rv_esv
        report.rv_ef_pct = ejection_fraction_pct(rv_edv, rv_esv)
    else:
        notes.append("no RV labelled at ED: RV measures left out")

    # Timing: frame times, heart rate, ejection and filling rates.
    times, assumed = _frame_times(study, frame_times_ms, n_frames)
    report.frame_times_assumed = assumed
    if times is not None:
        report.volume_curve_times_ms = [float(times[t]) for t in curves.frames]
    times_known = times is not None and not assumed
    full_cycle = curves.is_full_sequence and n_frames >= MIN_FRAMES_FOR_CYCLE
    if full_cycle and times_known:
        per, pfr = ejection_filling_rates_ml_s(curves.lv_ml, times)
        report.lv_peak_ejection_rate_ml_s, report.lv_peak_filling_rate_ml_s = per, pfr
    else:
        why = "not every frame is labelled" if not curves.is_full_sequence else (
            f"fewer than {MIN_FRAMES_FOR_CYCLE} frames" if not full_cycle else "frame times unknown or assumed")
        notes.append(f"no peak ejection/filling rates: {why}")

    report.heart_rate_bpm = _body_value("heart_rate_bpm", heart_rate_bpm, study, notes)
    if report.heart_rate_bpm is not None:
        report.heart_rate_source = "argument" if heart_rate_bpm is not None else "study.info"
    elif times_known and n_frames >= MIN_FRAMES_FOR_CYCLE:
        report.heart_rate_bpm = 60000.0 / rr_interval_ms(times)  # frames span one R-R interval
        report.heart_rate_source = "frame_times"
    else:
        notes.append("heart rate unknown: no cardiac output")
    if report.heart_rate_bpm is not None and report.heart_rate_bpm <= 0:
        raise ValueError(f"heart_rate_bpm must be positive, got {report.heart_rate_bpm}")
    if report.heart_rate_bpm is not None:
        report.lv_co_l_min = report.lv_sv_ml * report.heart_rate_bpm / 1000.0  # [thesis 003] Eq. 2.2

    # Body size: [thesis 003] Eq. 2.4 (Mosteller) and Eq. 2.5 (indexed = value / BSA).
    report.sex = normalise_sex(sex if sex is not None else (study.info.get("sex") if study else None))
    report.height_cm = _body_value("height_cm", height_cm, study, notes)
    report.weight_kg = _body_value("weight_kg", weight_kg, study, notes)
    if report.height_cm is not None and report.weight_kg is not None:
        report.bsa_m2 = mosteller_bsa_m2(report.height_cm, report.weight_kg)
        _index_by_bsa(report)
    else:
        notes.append("height or weight unknown: no BSA or indexed values")

    if regional:
        _regional(report, by_frame, spacing, anterior)

    # Reading and quality control.
    report.reduced_lvef = reduced_lvef(report.lv_ef_pct)
    report.interpretation = interpret_all(asdict(report), report.sex)
    report.qc_flags = segmentation_qc(by_frame) + function_qc(
        report.lv_edv_ml, report.lv_esv_ml, report.lv_ef_pct, ed, es)
    return report


def _index_by_bsa(report: CardiacFunction) -> None:
    bsa = report.bsa_m2
    for indexed, raw in (("lv_edvi_ml_m2", "lv_edv_ml"), ("lv_esvi_ml_m2", "lv_esv_ml"),
                         ("lv_svi_ml_m2", "lv_sv_ml"), ("lv_massi_g_m2", "lv_mass_g"),
                         ("rv_edvi_ml_m2", "rv_edv_ml"), ("rv_esvi_ml_m2", "rv_esv_ml"),
                         ("rv_svi_ml_m2", "rv_sv_ml")):
        value = getattr(report, raw)
        setattr(report, indexed, None if value is None else value / bsa)
    if report.lv_co_l_min is not None:
        report.lv_ci_l_min_m2 = report.lv_co_l_min / bsa


def _regional(report: CardiacFunction, by_frame: dict, spacing, anterior: str) -> None:
    """AHA wall thickness at ED and ES, and systolic thickening."""
    def thickness(frame):
        if not (by_frame[frame] == LV_MYOCARDIUM).any():
            report.notes.append(f"frame {frame} has no myocardium label: no wall thickness there")
            return None
        measured = measure_wall_thickness(by_frame[frame], spacing, anterior=anterior)
        report.notes.extend(f"frame {frame}: {flag}" for flag in measured.flags)
        return measured

    at_ed, at_es = thickness(report.ed_frame), thickness(report.es_frame)
    if at_ed is not None:
        report.wall_thickness_ed_mm = at_ed.segments_mm
        report.wall_thickness_orientation = at_ed.orientation
    if at_es is not None:
        report.wall_thickness_es_mm = at_es.segments_mm
    if at_ed is not None and at_es is not None:
        report.systolic_thickening_mm, report.systolic_thickening_pct = systolic_thickening(
            at_ed.segments_mm, at_es.segments_mm)
        report.affected_segments = [s for s, mm in report.systolic_thickening_mm.items()
                                    if np.isfinite(mm) and mm < AFFECTED_THICKENING_MM]


def qc_flags(study_or_labels, spacing=None, **function_options) -> list[dict]:
    """All QC flags of a study or label sequence: those `cardiac_function` reports."""
    return cardiac_function(study_or_labels, spacing, **function_options).qc_flags
