"""Regional myocardial wall thickness in the AHA 16-segment model, and its bull's-eye plot.

The American Heart Association model (Cerqueira et al., Circulation 2002) cuts the LV
into thirds along its long axis and each third into sectors around it:

* basal (1-6) and mid (7-12): six 60 degree sectors, in the order anterior, anteroseptal,
  inferoseptal, inferior, inferolateral, anterolateral (1 basal anterior ... 6 basal
  anterolateral; mid = basal + 6);
* apical (13-16): four 90 degree sectors, 13 anterior, 14 septal, 15 inferior, 16 lateral.

The septum is found from the right ventricle: where the RV cavity meets the LV
myocardium is the septum, and the two ends of that contact are the anterior and inferior
RV insertion points. The thesis (seed 003, sec. 2.2.2, Eq. 2.6) defines wall thickening
as ``WTh_ES - WTh_ED`` in mm and calls a segment with less than 2 mm "affected"; seed 001
regresses six regional mid-cavity thicknesses. This file measures the thickness itself.

What this file does, per frame (a ``(Z, Y, X)`` label map):

1. Levels. The slices holding myocardium, ordered base -> apex (the base is the end with
   the larger LV area, `volumes.basal_end`), are split into thirds with
   ``np.array_split`` (an extra slice goes to the basal, then the mid third).
2. Orientation, per slice. Myocardium pixels within ``rv_contact_mm`` of the RV cavity
   form the septal contact arc around the LV centre; its two angular ends are the RV
   insertion points. The septum direction is their bisector. Which end is anterior
   cannot be read from a label map (a mirrored heart looks the same), so the anterior
   one is the end nearer the image top (smaller row index) as in the usual short-axis
   display; ``anterior="down"`` flips that for data stored upside down. Left-right
   mirroring needs no option: the septum is found from the RV wherever it lies.
   A slice with no RV contact (often the apex) borrows the orientation of the nearest
   slice that has one; if no slice has one the orientation is fixed (septum at the image
   left, anterior up) and the result says so in ``orientation``.
3. Sectors. Fixed-width sectors (60 degrees basal/mid, 90 apical) start from the septum
   direction: the basal anteroseptal/inferoseptal boundary (2|3) and the centre of the
   apical septal segment (14) lie on it. The RV insertion points themselves fall near
   the 1|2 and 3|4 boundaries when the septum spans 120 degrees, as it usually does.
4. Thickness, per ray. ``n_rays`` rays leave the LV cavity centroid at equal angles,
   sampled every quarter pixel (nearest-neighbour labels, distances in mm from the
   in-plane spacing). Along a ray the wall is the first run of myocardium samples; its
   thickness is the distance from its first sample to the first sample past it. A slice
   without LV cavity (the apical cap, cut tangentially) is not measured, because its
   in-plane "thickness" is not the wall's. A segment's value is the mean over the rays
   that fall in it on every measured slice of its level; NaN where none did.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from cardiolab import LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY
from cardiolab.clinical.volumes import as_label_array, basal_end, check_spacing

SEGMENT_NAMES = {
    1: "basal anterior", 2: "basal anteroseptal", 3: "basal inferoseptal",
    4: "basal inferior", 5: "basal inferolateral", 6: "basal anterolateral",
    7: "mid anterior", 8: "mid anteroseptal", 9: "mid inferoseptal",
    10: "mid inferior", 11: "mid inferolateral", 12: "mid anterolateral",
    13: "apical anterior", 14: "apical septal", 15: "apical inferior", 16: "apical lateral",
}
LEVELS = {"basal": (1, 2, 3, 4, 5, 6), "mid": (7, 8, 9, 10, 11, 12), "apical": (13, 14, 15, 16)}

# Sector centres in the "septal frame": phi = angle from the septum direction, increasing
# towards the anterior insertion point (degrees). Basal/mid sector k spans centre +-30.
_SIX_SECTOR_CENTRES = {2: 30.0, 1: 90.0, 6: 150.0, 5: 210.0, 4: 270.0, 3: 330.0}  # basal numbering
_FOUR_SECTOR_CENTRES = {14: 0.0, 13: 90.0, 16: 180.0, 15: 270.0}  # apical, each +-45


@dataclass
class WallThicknessConfig:
    n_rays: int = 180  # rays per slice (2 degree steps)
    rv_contact_mm: float = 3.0  # myocardium this close to the RV cavity is septal contact
    min_contact_pixels: int = 3  # fewer contact pixels than this: no insertion points on the slice
    anterior: str = "up"  # which image side the anterior insertion point is on: "up" or "down"


@dataclass
class WallThickness:
    """AHA 16-segment thickness of one frame.

    segments_mm     segment (1..16) -> mean wall thickness in mm (NaN: not measured).
    orientation     "rv_insertion" (every measured slice found its own), "rv_insertion,
                    borrowed" (some slices used a neighbour's), or "fixed: no RV insertion
                    found" (septum assumed at the image left, anterior up).
    levels          "basal" / "mid" / "apical" -> slice indices of that third.
    septum_deg      slice -> septum direction in degrees (0 = image right, 90 = image up).
    flags           plain-language notes on anything that was not measured.
    """

    segments_mm: dict = field(default_factory=dict)
    orientation: str = "rv_insertion"
    levels: dict = field(default_factory=dict)
    septum_deg: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)


# --- geometry helpers -------------------------------------------------------------------
def _wrap_deg(angle):
    """Angles wrapped to [-180, 180)."""
    return (np.asarray(angle) + 180.0) % 360.0 - 180.0


def _angles_deg(rows, cols, centre_yx, spacing_yx):
    """Angle of pixels around a centre, in mm, 0 = image right, 90 = image up."""
    up_mm = -(np.asarray(rows) - centre_yx[0]) * spacing_yx[0]
    right_mm = (np.asarray(cols) - centre_yx[1]) * spacing_yx[1]
    return np.degrees(np.arctan2(up_mm, right_mm))


def _lv_centre(slice_yx):
    """Centroid (row, col) of the LV cavity, or of the myocardium where there is no cavity."""
    cavity = slice_yx == LV_CAVITY
    region = cavity if cavity.any() else slice_yx == LV_MYOCARDIUM
    return ndimage.center_of_mass(region)


def rv_insertion_orientation(slice_yx, spacing_yx, config: WallThicknessConfig | None = None):
    """``(septum_deg, anterior_sign)`` of one slice from its RV insertion points, or None.

    ``anterior_sign`` is +1 when the anterior insertion point lies counter-clockwise
    (on screen) of the septum direction, -1 when clockwise.
    """
    config = config or WallThicknessConfig()
    myocardium, rv = slice_yx == LV_MYOCARDIUM, slice_yx == RV_CAVITY
    if not myocardium.any() or not rv.any():
        return None
    reach_px = max(1, int(round(config.rv_contact_mm / min(spacing_yx))))
    near_rv = ndimage.binary_dilation(rv, structure=np.ones((3, 3), bool), iterations=reach_px)
    rows, cols = np.nonzero(myocardium & near_rv)
    if len(rows) < config.min_contact_pixels:
        return None
    centre = _lv_centre(slice_yx)
    angles = _angles_deg(rows, cols, centre, spacing_yx)
    # The contact is one arc: measure every angle from its circular mean, take the two ends.
    mean = math.degrees(math.atan2(np.sin(np.radians(angles)).mean(), np.cos(np.radians(angles)).mean()))
    offsets = _wrap_deg(angles - mean)
    end_a, end_b = mean + offsets.min(), mean + offsets.max()  # the two RV insertion points
    septum = float(_wrap_deg(mean + (offsets.min() + offsets.max()) / 2.0))
    up_a, up_b = math.sin(math.radians(end_a)), math.sin(math.radians(end_b))
    anterior = end_a if (up_a > up_b) == (config.anterior == "up") else end_b
    sign = 1 if _wrap_deg(anterior - septum) > 0 else -1
    return septum, sign


def segment_of(phi_deg, level: str) -> np.ndarray:
    """AHA segment number of angles ``phi`` (degrees from the septum towards anterior)."""
    phi = np.asarray(phi_deg) % 360.0
    if level == "apical":
        index = np.floor(((phi + 45.0) % 360.0) / 90.0).astype(int)  # 0 septal, 1 anterior, 2 lateral, 3 inferior
        return np.array([14, 13, 16, 15])[index]
    index = np.floor(phi / 60.0).astype(int)  # 0 = [0, 60) anteroseptal ... 5 = [300, 360) inferoseptal
    basal = np.array([2, 1, 6, 5, 4, 3])[index]
    return basal + (6 if level == "mid" else 0)


# --- per-ray thickness ----------------------------------------------------------------------
def ray_thickness_mm(slice_yx, centre_yx, spacing_yx, n_rays: int):
    """``(angles_deg (n_rays,), thickness_mm (n_rays,))`` of the first myocardium run per ray."""
    rows, cols = np.nonzero(slice_yx == LV_MYOCARDIUM)
    angles = np.arange(n_rays) * (360.0 / n_rays)
    if len(rows) == 0:
        return angles, np.full(n_rays, np.nan)
    step_mm = min(spacing_yx) / 4.0
    reach_mm = np.hypot((rows - centre_yx[0]) * spacing_yx[0], (cols - centre_yx[1]) * spacing_yx[1]).max()
    radii_mm = np.arange(0.0, reach_mm + 2 * max(spacing_yx), step_mm)  # (S,)
    theta = np.radians(angles)[:, None]  # (R, 1)
    ray_rows = np.rint(centre_yx[0] - radii_mm * np.sin(theta) / spacing_yx[0]).astype(int)  # (R, S)
    ray_cols = np.rint(centre_yx[1] + radii_mm * np.cos(theta) / spacing_yx[1]).astype(int)  # (R, S)
    inside = (ray_rows >= 0) & (ray_rows < slice_yx.shape[0]) & (ray_cols >= 0) & (ray_cols < slice_yx.shape[1])
    on_myocardium = np.zeros(ray_rows.shape, bool)
    on_myocardium[inside] = slice_yx[ray_rows[inside], ray_cols[inside]] == LV_MYOCARDIUM
    hits = on_myocardium.any(axis=1)
    entry = on_myocardium.argmax(axis=1)  # first myocardium sample (endocardial boundary)
    step_index = np.arange(len(radii_mm))[None, :]
    past_wall = ~on_myocardium & (step_index >= entry[:, None])
    exit_ = np.where(past_wall.any(axis=1), past_wall.argmax(axis=1), len(radii_mm))  # first sample past the wall
    thickness = np.where(hits, (exit_ - entry) * step_mm, np.nan)
    return angles, thickness


# --- the AHA model on one frame -------------------------------------------------------------
def _levels(labels_zyx) -> dict:
    with_myocardium = np.nonzero((labels_zyx == LV_MYOCARDIUM).any(axis=(1, 2)))[0]
    ordered = with_myocardium if basal_end(labels_zyx) > 0 else with_myocardium[::-1]  # base -> apex
    thirds = np.array_split(ordered, 3)
    return {name: [int(z) for z in part] for name, part in zip(("basal", "mid", "apical"), thirds)}


def _slice_orientations(labels_zyx, slices, spacing_yx, config):
    """slice -> (septum_deg, sign), borrowing from the nearest slice where needed."""
    own = {z: rv_insertion_orientation(labels_zyx[z], spacing_yx, config) for z in slices}
    found = {z: o for z, o in own.items() if o is not None}
    if not found:
        fixed_sign = -1 if config.anterior == "up" else 1  # septum at 180 deg, anterior at 90 or 270
        return {z: (180.0, fixed_sign) for z in slices}, "fixed: no RV insertion found"
    result = {z: found[min(found, key=lambda k: (abs(k - z), k))] for z in slices}
    return result, "rv_insertion" if len(found) == len(slices) else "rv_insertion, borrowed"


def measure_wall_thickness(labels_zyx, spacing, config: WallThicknessConfig | None = None,
                           **overrides) -> WallThickness:
    """AHA 16-segment wall thickness (mm) of one ``(Z, Y, X)`` label map; see the module docstring."""
    config = config or WallThicknessConfig()
    if overrides:
        config = WallThicknessConfig(**{**config.__dict__, **overrides})
    if config.anterior not in ("up", "down"):
        raise ValueError(f"anterior must be 'up' or 'down', got {config.anterior!r}")
    if config.n_rays < 16:
        raise ValueError(f"n_rays must be at least 16 (one per segment), got {config.n_rays}")
    spacing = check_spacing(spacing)
    labels_zyx = as_label_array(labels_zyx, "labels_zyx")
    if labels_zyx.ndim != 3:
        raise ValueError(f"labels_zyx must be one (Z, Y, X) frame, got shape {labels_zyx.shape}")
    spacing_yx = spacing[1:]
    result = WallThickness(segments_mm={s: float("nan") for s in SEGMENT_NAMES})
    result.levels = _levels(labels_zyx)
    measured = [z for zs in result.levels.values() for z in zs if (labels_zyx[z] == LV_CAVITY).any()]
    if not measured:
        result.orientation = "not measured"
        result.flags.append("no slice holds both LV cavity and myocardium: wall thickness not measured")
        return result
    orientations, result.orientation = _slice_orientations(labels_zyx, measured, spacing_yx, config)
    for level, slices in result.levels.items():
        segments, thickness = [], []
        for z in (z for z in slices if z in orientations):
            septum, sign = orientations[z]
            result.septum_deg[z] = septum
            angles, ray_mm = ray_thickness_mm(labels_zyx[z], _lv_centre(labels_zyx[z]), spacing_yx, config.n_rays)
            phi = sign * (angles - septum)  # degrees from the septum towards anterior
            segments.append(segment_of(phi, level))
            thickness.append(ray_mm)
        if not segments:
            result.flags.append(f"no {level} slice with LV cavity: segments {LEVELS[level]} not measured")
            continue
        segments, thickness = np.concatenate(segments), np.concatenate(thickness)
        for segment in LEVELS[level]:
            values = thickness[(segments == segment) & np.isfinite(thickness)]
            if len(values):
                result.segments_mm[segment] = float(values.mean())
    if result.orientation.startswith("fixed"):
        result.flags.append("no RV insertion point found: septum assumed at the image left, anterior up")
    return result


def wall_thickness(labels_zyx, spacing, **options) -> dict:
    """Segment (1..16) -> mean wall thickness in mm; NaN where not measured.

    ``options`` are `WallThicknessConfig` fields (``n_rays``, ``anterior``, ...). Use
    `measure_wall_thickness` for the orientation source and flags too.
    """
    return measure_wall_thickness(labels_zyx, spacing, **options).segments_mm


def systolic_thickening(ed_mm: dict, es_mm: dict) -> tuple[dict, dict]:
    """Per segment: ``(thickening_mm, thickening_pct)``, ``ES - ED`` and ``(ES - ED) / ED x 100``.

    The mm form is the thesis' Eq. 2.6 (sec. 2.2.2); the % form is the usual relative one.
    """
    thickening_mm, thickening_pct = {}, {}
    for segment in SEGMENT_NAMES:
        ed, es = ed_mm.get(segment, np.nan), es_mm.get(segment, np.nan)
        thickening_mm[segment] = float(es - ed)  # [thesis 003] Eq. 2.6
        thickening_pct[segment] = float((es - ed) / ed * 100.0) if ed and np.isfinite(ed) else float("nan")
    return thickening_mm, thickening_pct


# --- the bull's-eye plot ----------------------------------------------------------------------
def _bullseye_layout():
    """Segment -> (inner radius, theta centre on screen in degrees, width in degrees).

    The bull's-eye is seen from the apex with anterior up and the septum on the left:
    screen angle = 180 - phi (phi from the septum towards anterior).
    """
    layout = {}
    for basal, phi in _SIX_SECTOR_CENTRES.items():
        layout[basal] = (2.0, 180.0 - phi, 60.0)
        layout[basal + 6] = (1.0, 180.0 - phi, 60.0)
    for apical, phi in _FOUR_SECTOR_CENTRES.items():
        layout[apical] = (0.0, 180.0 - phi, 90.0)
    return layout


def aha_bullseye_figure(values_by_segment: dict, title: str = "", unit: str = "mm", colorscale: str = "Viridis"):
    """A plotly bull's-eye of the 16 AHA segments (apex at the centre, base outside).

    ``values_by_segment`` maps 1..16 (int or str keys) to numbers; missing or NaN segments
    are drawn grey. Each sector carries its number and value.
    """
    import plotly.graph_objects as go

    values = {s: float("nan") for s in SEGMENT_NAMES}
    for key, value in values_by_segment.items():
        segment = int(key)
        if segment not in SEGMENT_NAMES:
            raise ValueError(f"values_by_segment has segment {key!r}; AHA segments are 1..16")
        values[segment] = float("nan") if value is None else float(value)
    finite = [v for v in values.values() if np.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if high == low:
        high = low + 1.0
    layout = _bullseye_layout()
    measured = [s for s in SEGMENT_NAMES if np.isfinite(values[s])]
    missing = [s for s in SEGMENT_NAMES if not np.isfinite(values[s])]
    figure = go.Figure()
    hover = "segment %{customdata[0]} %{customdata[1]}<br>%{customdata[2]}<extra></extra>"

    def sectors(segments, **marker):
        return go.Barpolar(
            r=[1.0] * len(segments), base=[layout[s][0] for s in segments],
            theta=[layout[s][1] for s in segments], width=[layout[s][2] for s in segments],
            marker=dict(line=dict(color="white", width=2), **marker),
            customdata=[[s, SEGMENT_NAMES[s], f"{values[s]:.1f} {unit}" if np.isfinite(values[s]) else "not measured"]
                        for s in segments],
            hovertemplate=hover, showlegend=False,
        )

    if measured:
        figure.add_trace(sectors(measured, color=[values[s] for s in measured], colorscale=colorscale,
                                 cmin=low, cmax=high, colorbar=dict(title=unit)))
    if missing:
        figure.add_trace(sectors(missing, color="lightgrey"))
    labels = [f"{s}<br>{values[s]:.1f}" if np.isfinite(values[s]) else f"{s}<br>-" for s in SEGMENT_NAMES]
    figure.add_trace(go.Scatterpolar(
        r=[layout[s][0] + 0.5 for s in SEGMENT_NAMES], theta=[layout[s][1] for s in SEGMENT_NAMES],
        mode="text", text=labels, textfont=dict(size=11), hoverinfo="skip", showlegend=False,
    ))
    figure.update_layout(
        title=title,
        polar=dict(radialaxis=dict(visible=False, range=[0, 3]),
                   angularaxis=dict(visible=False, direction="counterclockwise", rotation=0)),
        margin=dict(l=30, r=30, t=60, b=30),
    )
    return figure
