"""Structure volumes from label maps: the raw material of every clinical measure.

A label map says, voxel by voxel, which structure is there (0 background, 1 LV cavity,
2 LV myocardium, 3 RV cavity). A structure's volume is its voxel count times the voxel
volume, ``prod(spacing_mm) / 1000`` ml (1 ml = 1000 mm^3). This is the "summation of
discs" (Simpson's) method of cardiac MRI, with each slice a disc as thick as the slice
spacing (distance between slice centres), so a gap between slices counts as tissue.

The label source can be a whole ``(T, Z, Y, X)`` sequence, a ``{frame: (Z, Y, X)}``
dict of sparse frames, or a `CineStudy` (usually labelled only at ED and ES). This file
turns all three into one `VolumeCurves` object: the labelled frames in time order with
their LV, myocardium and RV volumes.

Choices made here:
* A frame of a dense array whose voxels are all 255 is unlabelled: that is the fill of
  `CineStudy.label_sequence`, so such a sequence round-trips.
* Voxels may only hold 0..3; anything else is an error, never silently ignored.
* The base of the heart is the end of the stack with the larger LV (cavity plus
  myocardium) area, measured as the mean area over the outer thirds of the slices that
  hold myocardium; the wall-thickness and QC code share `basal_end` below.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardiolab import LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY

UNLABELLED_FILL = 255  # `CineStudy.label_sequence` marks unlabelled frames with this value
STRUCTURES = {"lv": LV_CAVITY, "myo": LV_MYOCARDIUM, "rv": RV_CAVITY}  # curve key -> label value


# --- argument checking -------------------------------------------------------------------
def check_spacing(spacing, name: str = "spacing") -> tuple[float, float, float]:
    """Three positive, finite ``(z, y, x)`` mm values, or a ValueError naming the argument."""
    try:
        values = tuple(float(s) for s in spacing)
    except TypeError:
        raise ValueError(f"{name} must be three (z, y, x) values in mm, got {spacing!r}") from None
    if len(values) != 3 or not all(np.isfinite(values)) or min(values) <= 0:
        raise ValueError(f"{name} must be three positive (z, y, x) values in mm, got {spacing!r}")
    return values


def as_label_array(labels, name: str = "labels") -> np.ndarray:
    """A numpy uint8 view of a label map (numpy or torch), checked to hold only 0..3."""
    if hasattr(labels, "detach"):  # a torch tensor, on any device
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biu":
        if not np.all(labels == np.rint(labels)):
            raise ValueError(f"{name} must hold integer labels, got dtype {labels.dtype} with fractions")
    labels = labels.astype(np.uint8, copy=False) if labels.dtype != np.uint8 else labels
    return labels


def _check_label_values(frame: np.ndarray, name: str) -> None:
    if frame.size and frame.max() > RV_CAVITY:
        bad = int(frame[frame > RV_CAVITY][0])
        raise ValueError(f"{name} holds label {bad}; expected 0 background, 1 LV, 2 myocardium, 3 RV")


# --- volumes of one frame or of a dense sequence ----------------------------------------------
def structure_volumes_ml(labels, spacing) -> dict:
    """Volumes in ml of the LV cavity, LV myocardium and RV cavity.

    ``labels`` is ``(Z, Y, X)`` (returns floats) or ``(T, Z, Y, X)`` (returns ``(T,)``
    arrays); ``spacing`` is ``(z, y, x)`` mm. Keys: ``lv``, ``myo``, ``rv``.
    """
    spacing = check_spacing(spacing)
    labels = as_label_array(labels)
    if labels.ndim not in (3, 4):
        raise ValueError(f"labels must be (Z, Y, X) or (T, Z, Y, X), got shape {labels.shape}")
    voxel_ml = float(np.prod(spacing)) / 1000.0
    frames = labels[None] if labels.ndim == 3 else labels
    counts = np.stack([np.bincount(frame.ravel(), minlength=256) for frame in frames])  # (T, 256)
    if counts[:, RV_CAVITY + 1:].any():
        bad = int(np.nonzero(counts[:, RV_CAVITY + 1:].any(axis=0))[0][0]) + RV_CAVITY + 1
        raise ValueError(f"labels hold label {bad}; expected 0 background, 1 LV, 2 myocardium, 3 RV")
    volumes = {key: counts[:, value] * voxel_ml for key, value in STRUCTURES.items()}  # each (T,)
    if labels.ndim == 3:
        return {key: float(v[0]) for key, v in volumes.items()}
    return volumes


# --- volume curves over the labelled frames ---------------------------------------------------
@dataclass
class VolumeCurves:
    """Volumes of the labelled frames of one sequence, in time order.

    frames      0-based indices of the labelled frames (sorted).
    lv_ml, myo_ml, rv_ml   ``(len(frames),)`` volumes in ml.
    n_frames    frames in the whole sequence (labelled or not).
    """

    frames: list[int]
    lv_ml: np.ndarray
    myo_ml: np.ndarray
    rv_ml: np.ndarray
    n_frames: int

    @property
    def is_full_sequence(self) -> bool:
        """True when every frame of the sequence is labelled."""
        return len(self.frames) == self.n_frames

    def as_dict(self) -> dict:
        return {"lv": self.lv_ml.tolist(), "myo": self.myo_ml.tolist(), "rv": self.rv_ml.tolist()}


def labelled_frames(study_or_labels, spacing=None, n_frames: int | None = None):
    """Normalise any label source to ``(labels_by_frame, spacing, n_frames)``.

    ``study_or_labels`` is a `CineStudy`, a ``(T, Z, Y, X)`` array (frames all 255 are
    unlabelled), a single ``(Z, Y, X)`` frame, or a ``{frame: (Z, Y, X)}`` dict.
    ``n_frames`` (the sequence length) defaults to the study's, the array's, or one more
    than the largest key of a dict.
    """
    from cardiolab.data.study import CineStudy  # local: keeps `clinical` importable on its own

    if isinstance(study_or_labels, CineStudy):
        study = study_or_labels
        if spacing is not None and not np.allclose(check_spacing(spacing), study.spacing):
            raise ValueError(f"spacing={tuple(spacing)} disagrees with the study's {study.spacing}; leave it out")
        by_frame = dict(study.labels)
        spacing = study.spacing
        n_frames = study.n_frames
    else:
        if spacing is None:
            raise ValueError("spacing (z, y, x in mm) is required when labels are not a CineStudy")
        spacing = check_spacing(spacing)
        if isinstance(study_or_labels, dict):
            by_frame = {int(t): as_label_array(lab, f"labels[{t}]") for t, lab in study_or_labels.items()}
            if n_frames is None:
                n_frames = max(by_frame) + 1 if by_frame else 0
        else:
            labels = as_label_array(study_or_labels)
            if labels.ndim == 3:
                labels = labels[None]  # one frame: (1, Z, Y, X)
            if labels.ndim != 4:
                raise ValueError(f"labels must be (T, Z, Y, X), (Z, Y, X) or a dict, got shape {labels.shape}")
            by_frame = {t: labels[t] for t in range(labels.shape[0]) if not np.all(labels[t] == UNLABELLED_FILL)}
            n_frames = labels.shape[0] if n_frames is None else n_frames
    shapes = {lab.shape for lab in by_frame.values()}
    if len(shapes) > 1 or any(len(s) != 3 for s in shapes):
        raise ValueError(f"every labelled frame must be one (Z, Y, X) shape, got {sorted(shapes)}")
    for t, lab in by_frame.items():
        if not 0 <= t < n_frames:
            raise ValueError(f"labelled frame {t} is outside the sequence of {n_frames} frames")
        _check_label_values(lab, f"labels of frame {t}")
    return dict(sorted(by_frame.items())), spacing, n_frames


def volume_curves_ml(study_or_labels, spacing=None) -> VolumeCurves:
    """LV, myocardium and RV volume (ml) of every labelled frame, in time order."""
    by_frame, spacing, n_frames = labelled_frames(study_or_labels, spacing)
    if not by_frame:
        raise ValueError("no labelled frame: volumes need at least one label map")
    frames = list(by_frame)
    volumes = structure_volumes_ml(np.stack([by_frame[t] for t in frames]), spacing)  # each (F,)
    return VolumeCurves(frames, volumes["lv"], volumes["myo"], volumes["rv"], n_frames)


# --- where is the base? ------------------------------------------------------------------
def basal_end(labels_zyx: np.ndarray) -> int:
    """+1 if the base is at slice 0 (slices run base -> apex), -1 if at the last slice.

    The base is where the LV is widest: compare the mean LV (cavity + myocardium) area of
    the first and last thirds of the slices holding LV tissue. A tie (a cylinder) keeps the
    storage order, base first.
    """
    lv_area = ((labels_zyx == LV_CAVITY) | (labels_zyx == LV_MYOCARDIUM)).sum(axis=(1, 2))  # (Z,)
    slices = np.nonzero(lv_area)[0]
    if len(slices) < 2:
        return 1
    third = max(1, len(slices) // 3)
    first, last = lv_area[slices[:third]].mean(), lv_area[slices[-third:]].mean()
    return 1 if first >= last else -1
