"""Training targets computed from label maps: events, phases, volumes and the LVQuan indices.

Three models of the papers are not trained on label maps but on numbers measured from
them. This file measures those numbers, so that any labelled study (the phantom, a
pseudo-cine, ACDC) can train them:

* [thesis] Ch. 7: the ES and ED frames of a sequence, as one-hot targets over the
  classes (ES, ED, other) (`event_targets`).
* [thesis] Ch. 6: the LV end-diastolic volume in ml (`lv_cavity_volume_ml`).
* [seed 001] Sec. 2.2 (the LVQuan 2018 challenge data): per frame of one mid-ventricular
  slice, 11 indices and the cardiac phase (`lvquan_indices`, `cardiac_phase`):

  ==========  ==============================================================  =======
  index       definition here                                                 unit
  ==========  ==============================================================  =======
  A1, A2      area of the LV cavity, of the LV myocardium (pixel count x      mm^2
              pixel area)
  D1, D2, D3  cavity length along the axes at anatomical angles 0 (A-I),      mm
              60 (AS-IL) and 120 (IS-AL) degrees through the cavity centroid
  RWT1..6     mean wall thickness over the rays of the sectors IS, I, IL,     mm
              AL, A, AS (the stcnn_lvquan `INDEX_NAMES` order)
  phase       1 = systole (frames ED, ED+1, ..., ES-1, circularly),            class
              0 = diastole (ES, ..., ED-1), the model's `PHASE_NAMES`
  ==========  ==============================================================  =======

Choices where the papers are silent
-----------------------------------
* Orientation. Sectors are the AHA mid-ventricular ones (60 degrees each, anterior
  centred on the anterior direction), placed as `cardiolab.clinical.wall_thickness`
  places them: the septum is the bisector of the RV insertion points, the anterior
  insertion point is the one nearer the image top; a slice without RV contact falls back
  to the conventional display (septum at the image left, anterior up). "Anatomical
  angle" counts degrees from anterior towards the septum. The LVQuan data were rotated
  to a common orientation before release; finding the septum from the RV does the same
  job on unrotated data.
* Rays leave the cavity centroid (``rays_per_degree`` per degree, default 1). Along a
  ray, the cavity indicator and the LV (cavity or myocardium) indicator are sampled by
  bilinear interpolation every quarter pixel; the endocardial radius r is where the
  first falls below 0.5, the epicardial radius R where the second does (linear
  interpolation between samples). Thickness = R - r; a cavity dimension = r(theta) +
  r(theta + 180). With the voxel-centre labelling of the phantom and of manual contours,
  the 0.5 crossing lies on the pixel edge, the boundary that the area count also uses.
* Systole includes the ED frame and excludes the ES frame, so (ES - ED) mod T frames
  are systolic.
* ED and ES come from the study where it knows them; otherwise from the labels: ED is
  the labelled frame with the largest LV cavity, ES the one with the smallest.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from cardiolab import LV_CAVITY, LV_MYOCARDIUM
from cardiolab.clinical.wall_thickness import rv_insertion_orientation, segment_of
from cardiolab.data.study import CineStudy

EVENT_CLASSES = ("ES", "ED", "other")  # [thesis] Sec. 7.3.4 order, as cardiolab.losses.EVENT_CLASSES
ES_CLASS, ED_CLASS, OTHER_CLASS = 0, 1, 2
DIASTOLE, SYSTOLE = 0, 1  # class indices of the phase, as stcnn_lvquan.PHASE_NAMES
# AHA mid-ventricular segment numbers in the stcnn_lvquan INDEX_NAMES order of the 6 thicknesses
RWT_SEGMENTS = (9, 10, 11, 12, 7, 8)  # IS, I, IL, AL, A, AS
DIMENSION_AXES_DEG = (0.0, 60.0, 120.0)  # anatomical angles of D1 (A-I), D2 (AS-IL), D3 (IS-AL)
FALLBACK_ORIENTATION = (180.0, -1)  # septum at the image left; anterior (up) lies clockwise of it on screen


# --- events and phases ---------------------------------------------------------------------
def _lv_cavity_counts(study: CineStudy) -> dict[int, int]:
    return {t: int(np.count_nonzero(labels == LV_CAVITY)) for t, labels in study.labels.items()}


def ed_es_frames(study: CineStudy) -> tuple[int, int]:
    """The study's (ED, ES) frames; where unknown, the labelled frames with the largest / smallest LV."""
    ed, es = study.ed_frame, study.es_frame
    if ed is None or es is None:
        counts = _lv_cavity_counts(study)
        if len(counts) < 2:
            raise ValueError("the study knows no ED/ES frame and has fewer than 2 labelled frames to find them")
        ed = max(counts, key=counts.get) if ed is None else ed
        es = min(counts, key=counts.get) if es is None else es
    if ed == es:
        raise ValueError(f"ED and ES are the same frame ({ed}): the study cannot define events or phases")
    return int(ed), int(es)


def _check_events(n_frames: int, ed_frame: int, es_frame: int) -> None:
    if not (0 <= ed_frame < n_frames and 0 <= es_frame < n_frames) or ed_frame == es_frame:
        raise ValueError(f"ed_frame and es_frame must be different frames in 0..{n_frames - 1}, "
                         f"got {ed_frame} and {es_frame}")


def event_targets(n_frames: int, ed_frame: int, es_frame: int) -> np.ndarray:
    """One-hot ``(3, T)`` float32 over (ES, ED, other): exactly one ES and one ED frame."""
    _check_events(n_frames, ed_frame, es_frame)
    classes = np.full(n_frames, OTHER_CLASS)
    classes[es_frame], classes[ed_frame] = ES_CLASS, ED_CLASS
    return np.eye(len(EVENT_CLASSES), dtype=np.float32)[classes].T  # (3, T)


def cardiac_phase(n_frames: int, ed_frame: int, es_frame: int) -> np.ndarray:
    """``(T,)`` int64: 1 (systole) on frames ED .. ES-1 going forward circularly, else 0."""
    _check_events(n_frames, ed_frame, es_frame)
    steps_after_ed = (np.arange(n_frames) - ed_frame) % n_frames
    return np.where(steps_after_ed < (es_frame - ed_frame) % n_frames, SYSTOLE, DIASTOLE).astype(np.int64)


# --- volumes ---------------------------------------------------------------------------------
def lv_cavity_volume_ml(labels_zyx: np.ndarray, spacing_zyx) -> float:
    """LV cavity volume in ml: voxel count x voxel volume (1 ml = 1000 mm^3)."""
    return float(np.count_nonzero(np.asarray(labels_zyx) == LV_CAVITY) * np.prod(spacing_zyx) / 1000.0)


# --- LVQuan indices ------------------------------------------------------------------------------
def slice_orientation(slice_yx: np.ndarray, spacing_yx) -> tuple[float, int]:
    """``(septum_deg, anterior_sign)`` from the RV insertion points, or the display fallback.

    septum_deg: screen angle of the septum (0 = image right, 90 = image up);
    anterior_sign: +1 when anterior lies counter-clockwise (on screen) of the septum.
    """
    found = rv_insertion_orientation(np.asarray(slice_yx), tuple(spacing_yx))
    return found if found is not None else FALLBACK_ORIENTATION


def _first_drop_mm(profiles: np.ndarray, step_mm: float) -> np.ndarray:
    """Distance where each ``(R, S)`` indicator profile first falls below 0.5 (interpolated)."""
    below = profiles < 0.5
    first = np.where(below.any(axis=1), below.argmax(axis=1), profiles.shape[1] - 1)  # (R,)
    rays = np.arange(len(profiles))
    before = profiles[rays, np.maximum(first - 1, 0)]
    at = profiles[rays, first]
    fraction = np.where(before > at, (before - 0.5) / np.maximum(before - at, 1e-12), 0.0)
    return np.where(first == 0, 0.0, (first - 1 + fraction) * step_mm)


def radial_extents_mm(slice_yx: np.ndarray, centre_yx, spacing_yx, screen_angles_deg):
    """Endocardial and epicardial radii (mm) along rays from ``centre_yx`` (pixels).

    Returns ``(r_endo (R,), r_epi (R,))`` for the R screen angles (0 = image right,
    90 = image up); see the module docstring for the 0.5-crossing rule.
    """
    slice_yx = np.asarray(slice_yx)
    spacing_y, spacing_x = spacing_yx
    step_mm = min(spacing_yx) / 4.0
    reach_mm = np.hypot(slice_yx.shape[0] * spacing_y, slice_yx.shape[1] * spacing_x)
    radii_mm = np.arange(0.0, reach_mm, step_mm)  # (S,)
    theta = np.radians(np.asarray(screen_angles_deg, dtype=float))[:, None]  # (R, 1)
    rows = centre_yx[0] - radii_mm * np.sin(theta) / spacing_y  # (R, S): screen up is -row
    cols = centre_yx[1] + radii_mm * np.cos(theta) / spacing_x
    cavity = (slice_yx == LV_CAVITY).astype(np.float32)
    ventricle = ((slice_yx == LV_CAVITY) | (slice_yx == LV_MYOCARDIUM)).astype(np.float32)
    sample = lambda mask: ndimage.map_coordinates(mask, [rows, cols], order=1, mode="constant", cval=0.0)  # noqa: E731
    return _first_drop_mm(sample(cavity), step_mm), _first_drop_mm(sample(ventricle), step_mm)


def lvquan_indices(slice_yx: np.ndarray, spacing_yx, orientation=None, rays_per_degree: int = 1) -> np.ndarray:
    """The 11 LVQuan indices of one short-axis label slice, ``(11,)`` float64 in mm^2 and mm.

    Order: cavity area, myocardium area, D1 (A-I), D2 (AS-IL), D3 (IS-AL), RWT IS, I, IL,
    AL, A, AS (module docstring). ``orientation`` = ``(septum_deg, anterior_sign)`` (e.g.
    one per slice, shared by its frames); None finds it on this slice. All NaN when the
    slice has no LV cavity.
    """
    slice_yx = np.asarray(slice_yx)
    if slice_yx.ndim != 2:
        raise ValueError(f"slice_yx must be a (Y, X) label map, got shape {slice_yx.shape}")
    spacing_yx = tuple(float(s) for s in spacing_yx)
    if len(spacing_yx) != 2 or min(spacing_yx) <= 0:
        raise ValueError(f"spacing_yx must be two positive (y, x) mm values, got {spacing_yx}")
    cavity = slice_yx == LV_CAVITY
    if not cavity.any():
        return np.full(11, np.nan)
    pixel_mm2 = spacing_yx[0] * spacing_yx[1]
    areas = [cavity.sum() * pixel_mm2, np.count_nonzero(slice_yx == LV_MYOCARDIUM) * pixel_mm2]  # A1, A2
    septum_deg, sign = orientation if orientation is not None else slice_orientation(slice_yx, spacing_yx)
    centre = ndimage.center_of_mass(cavity)
    # phi: degrees from the septum towards anterior -> screen angle (0 = image right, 90 = image up)
    to_screen = lambda phi: septum_deg + sign * np.asarray(phi)  # noqa: E731

    # Dimensions: anatomical angle alpha (from anterior towards the septum) is phi = 90 - alpha.
    axis_phi = 90.0 - np.asarray(DIMENSION_AXES_DEG)
    r_endo, _ = radial_extents_mm(slice_yx, centre, spacing_yx, to_screen(np.concatenate([axis_phi, axis_phi + 180.0])))
    dimensions = r_endo[:3] + r_endo[3:]  # D = r(theta) + r(theta + 180)

    # Regional wall thickness: mean over the rays of each 60-degree sector.
    n_rays = 360 * rays_per_degree
    phi = (np.arange(n_rays) + 0.5) * (360.0 / n_rays)
    r_endo, r_epi = radial_extents_mm(slice_yx, centre, spacing_yx, to_screen(phi))
    segments = segment_of(phi, "mid")
    thickness = [float(np.mean((r_epi - r_endo)[segments == segment])) for segment in RWT_SEGMENTS]
    return np.array([*areas, *dimensions, *thickness], dtype=np.float64)
