"""`CineStudy`: one cine acquisition in memory, in the package's conventions.

A cine study is a stack of short-axis slices imaged at T phases of one heart beat.
Everything downstream (clinical measures, models, the app) takes a `CineStudy`, so the
loaders are the only place that knows about file formats.

Data dictionary
---------------
image           float32 ``(T, Z, Y, X)``: signal intensity, arbitrary units.
spacing         ``(z, y, x)`` in mm: distance between slice centres, row and column pitch.
frame_times_ms  float ``(T,)``: time of each frame after the R wave, in ms.
labels          dict ``frame index -> (Z, Y, X) uint8`` in the canonical label map
                (0 background, 1 LV cavity, 2 LV myocardium, 3 RV cavity). Sparse in
                time: most studies are labelled only at ED and ES.
ed_frame        0-based index of end-diastole (largest LV), or None where unknown.
es_frame        0-based index of end-systole (smallest LV), or None where unknown.
affine          4x4 NIfTI affine: voxel index ``(x, y, z)`` -> RAS+ world mm, so results
                can be written back in the source's space.
info            free-form facts about the patient and source: ``height_cm``,
                ``weight_kg``, ``group``, ``heart_rate_bpm``, ``source``,
                ``series_description``, and the notes of any fallback a loader used.
truth           known ground truth (only synthetic studies have it): ``lv_edv_ml``, ...
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass
class CineStudy:
    image: np.ndarray
    spacing: tuple[float, float, float]
    frame_times_ms: np.ndarray | None = None
    labels: dict[int, np.ndarray] = field(default_factory=dict)
    ed_frame: int | None = None
    es_frame: int | None = None
    affine: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)

    def __post_init__(self):
        self.image = np.asarray(self.image, dtype=np.float32)
        if self.image.ndim != 4:
            raise ValueError(f"CineStudy.image must be (T, Z, Y, X), got {self.image.ndim}-D shape {self.image.shape}")
        if min(self.image.shape) < 1:
            raise ValueError(f"CineStudy.image has an empty axis: shape {self.image.shape}")
        self.spacing = tuple(float(s) for s in self.spacing)
        if len(self.spacing) != 3 or not all(np.isfinite(self.spacing)) or min(self.spacing) <= 0:
            raise ValueError(f"CineStudy.spacing must be three positive (z, y, x) mm values, got {self.spacing}")
        n_frames = self.image.shape[0]
        if self.frame_times_ms is None:
            # Unknown timing: spread the frames evenly over a 1000 ms beat (60 bpm), and say so.
            self.frame_times_ms = np.arange(n_frames) * (1000.0 / n_frames)
            self.info.setdefault("notes", []).append("frame times unknown: assumed evenly spaced over 1000 ms")
        self.frame_times_ms = np.asarray(self.frame_times_ms, dtype=np.float64).reshape(-1)
        if len(self.frame_times_ms) != n_frames:
            raise ValueError(f"frame_times_ms has {len(self.frame_times_ms)} values for {n_frames} frames")
        self.labels = {int(t): np.asarray(lab, dtype=np.uint8) for t, lab in self.labels.items()}
        for t, lab in self.labels.items():
            if not 0 <= t < n_frames:
                raise ValueError(f"label frame {t} is outside 0..{n_frames - 1}")
            if lab.shape != self.image.shape[1:]:
                raise ValueError(f"labels of frame {t} have shape {lab.shape}, image frames are {self.image.shape[1:]}")
        for name in ("ed_frame", "es_frame"):
            value = getattr(self, name)
            if value is not None:
                value = int(value)
                if not 0 <= value < n_frames:
                    raise ValueError(f"{name}={value} is outside 0..{n_frames - 1}")
                setattr(self, name, value)
        if self.affine is None:
            self.affine = affine_from_spacing(self.spacing)
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, got {self.affine.shape}")

    # --- shape ---------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return self.image.shape[0]

    @property
    def n_slices(self) -> int:
        return self.image.shape[1]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(self.image.shape)

    @property
    def labelled_frames(self) -> list[int]:
        return sorted(self.labels)

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in ml (1 ml = 1000 mm^3)."""
        return float(np.prod(self.spacing)) / 1000.0

    # --- cheap views -----------------------------------------------------------------
    def frames(self, indices) -> "CineStudy":
        """A study with only the given frames (a list or slice); labels and ED/ES follow."""
        keep = np.arange(self.n_frames)[indices] if not isinstance(indices, (list, tuple)) else np.asarray(indices)
        keep = np.atleast_1d(keep)
        new_index = {int(old): new for new, old in enumerate(keep)}
        return replace(
            self,
            image=self.image[keep],
            frame_times_ms=self.frame_times_ms[keep],
            labels={new_index[t]: lab for t, lab in self.labels.items() if t in new_index},
            ed_frame=new_index.get(self.ed_frame),
            es_frame=new_index.get(self.es_frame),
            info=dict(self.info),
        )

    def slices(self, indices) -> "CineStudy":
        """A study with only the given slices (a slice object keeps the affine exact)."""
        if isinstance(indices, int):
            indices = slice(indices, indices + 1)
        affine = self.affine.copy()
        if isinstance(indices, slice):
            start, _, step = indices.indices(self.n_slices)
            # Shift the origin to the first kept slice and scale the z column by the step.
            affine[:3, 3] = self.affine[:3, :3] @ np.array([0, 0, start]) + self.affine[:3, 3]
            affine[:3, 2] = self.affine[:3, 2] * step
        return replace(
            self,
            image=self.image[:, indices],
            labels={t: lab[indices] for t, lab in self.labels.items()},
            affine=affine,
            info=dict(self.info),
        )

    def label_sequence(self, fill: int = 255) -> np.ndarray:
        """Labels as a dense ``(T, Z, Y, X)`` array; unlabelled frames hold ``fill``."""
        dense = np.full(self.image.shape, fill, dtype=np.uint8)
        for t, lab in self.labels.items():
            dense[t] = lab
        return dense

    @property
    def provenance(self) -> dict:
        """Where the study came from and what the reader had to tolerate or assume.

        ``warnings`` lists every fallback a loader used (slice order from SliceLocation,
        frame times assumed, files skipped, another series chosen, ...), in the words
        the command line and the app show the user. The other keys are there when the
        loader knows them.
        """
        keys = ("source", "format", "series_description", "series_uid", "series_found", "n_images", "modality")
        facts = {key: self.info[key] for key in keys if self.info.get(key) not in (None, "")}
        return {**facts, "warnings": list(self.info.get("notes", []))}

    def summary(self) -> dict:
        """The facts `cardiolab info --json` prints."""
        return {
            "n_frames": self.n_frames,
            "n_slices": self.n_slices,
            "shape": list(self.shape),
            "spacing_mm": [round(s, 4) for s in self.spacing],
            "frame_times_ms": [round(float(t), 2) for t in self.frame_times_ms],
            "labelled_frames": self.labelled_frames,
            "ed_frame": self.ed_frame,
            "es_frame": self.es_frame,
            "source": self.info.get("source"),
            "notes": self.info.get("notes", []),
            "provenance": self.provenance,
        }


def affine_from_spacing(spacing_zyx) -> np.ndarray:
    """The simplest NIfTI affine for a grid: axes aligned, origin at voxel 0."""
    z, y, x = spacing_zyx
    return np.diag([x, y, z, 1.0])
