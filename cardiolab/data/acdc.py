"""ACDC patient folders (Bernard et al., IEEE TMI 2018).

A patient folder holds ``Info.cfg`` (ED and ES as 1-based frame numbers, diagnostic
group, height, weight, number of frames), the ED and ES volumes
``patientNNN_frameEE.nii.gz`` with their labels ``..._gt.nii.gz`` and, in the official
release, the whole cine ``patientNNN_4d.nii.gz``.

ACDC labels are 0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity; this loader
remaps them to the canonical map (1 LV cavity, 2 LV myocardium, 3 RV cavity).
Without the 4D file the study has two frames, ED then ES, with their true frame times.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from cardiolab.data.errors import CineLoadError
from cardiolab.data.nifti import frame_duration_ms, read_nifti_array, to_tzyx
from cardiolab.data.study import CineStudy

# ACDC value -> canonical value (0 bg, 1 RV -> 3, 2 myo -> 2, 3 LV -> 1).
ACDC_TO_CANONICAL = np.array([0, 3, 2, 1], dtype=np.uint8)
CITATION = (
    'O. Bernard et al., "Deep Learning Techniques for Automatic MRI Cardiac Multi-structures '
    'Segmentation and Diagnosis: Is the Problem Solved?", IEEE TMI 37(11):2514-2525, 2018.'
)


def is_acdc_folder(path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "Info.cfg").is_file()


def read_info_cfg(path) -> dict:
    """Parse ``Info.cfg`` (``key: value`` lines) into typed values."""
    cfg_path = Path(path) / "Info.cfg"
    values = {}
    for line in cfg_path.read_text().splitlines():
        if ":" in line:
            key, value = (part.strip() for part in line.split(":", 1))
            values[key] = value
    try:
        return {
            "ed_frame_1based": int(values["ED"]),
            "es_frame_1based": int(values["ES"]),
            "group": values.get("Group"),
            "height_cm": float(values["Height"]) if "Height" in values else None,
            "weight_kg": float(values["Weight"]) if "Weight" in values else None,
            "n_frames": int(values["NbFrame"]) if "NbFrame" in values else None,
        }
    except (KeyError, ValueError) as error:
        raise CineLoadError(cfg_path, f"missing or malformed entry {error}") from None


def remap_acdc_labels(labels: np.ndarray) -> np.ndarray:
    if labels.max() > 3 or labels.min() < 0:
        raise ValueError(f"ACDC labels must be 0-3, found {labels.min()}..{labels.max()}")
    return ACDC_TO_CANONICAL[labels.astype(np.intp)]


def _frame_file(folder: Path, patient: str, frame_1based: int, suffix: str = "") -> Path:
    return folder / f"{patient}_frame{frame_1based:02d}{suffix}.nii.gz"


def _read_frame(path: Path) -> tuple[np.ndarray, object]:
    data, image = read_nifti_array(path)
    if data.ndim != 3:
        raise CineLoadError(path, f"expected a 3D frame, got shape {data.shape}")
    return to_tzyx(data)[0], image


def load_acdc_patient(folder) -> CineStudy:
    """Load one ACDC patient folder as a `CineStudy` (see the module docstring)."""
    folder = Path(folder)
    cfg = read_info_cfg(folder)
    patient = folder.name
    ed1, es1 = cfg["ed_frame_1based"], cfg["es_frame_1based"]
    ed_image, ed_nifti = _read_frame(_frame_file(folder, patient, ed1))
    es_image, _ = _read_frame(_frame_file(folder, patient, es1))
    labels_by_frame1 = {}
    for frame1 in (ed1, es1):
        gt_path = _frame_file(folder, patient, frame1, "_gt")
        if gt_path.is_file():
            gt, _ = _read_frame(gt_path)
            labels_by_frame1[frame1] = remap_acdc_labels(np.rint(gt).astype(np.int16))

    cine_path = folder / f"{patient}_4d.nii.gz"
    n_frames = cfg["n_frames"]
    info = {
        "source": str(folder),
        "format": "acdc",
        "patient": patient,
        "group": cfg["group"],
        "height_cm": cfg["height_cm"],
        "weight_kg": cfg["weight_kg"],
        "citation": CITATION,
        "notes": [],
    }
    zx, zy, zz = (float(z) for z in ed_nifti.header.get_zooms()[:3])
    if cine_path.is_file():
        data, cine_nifti = read_nifti_array(cine_path)
        image = to_tzyx(data).astype(np.float32)
        step_ms = frame_duration_ms(cine_nifti)
        if step_ms is None or step_ms <= 1.0:
            # ACDC headers carry no usable frame duration; frame order is what matters.
            step_ms = 1000.0 / image.shape[0]
            info["notes"].append("frame duration not in the header: assumed evenly spaced over 1000 ms")
        frame_times = np.arange(image.shape[0]) * step_ms
        labels = {f1 - 1: lab for f1, lab in labels_by_frame1.items()}
        ed_frame, es_frame = ed1 - 1, es1 - 1
        affine = cine_nifti.affine
    else:
        # Only ED and ES exist: a two-frame study, each frame at its time in the cycle.
        image = np.stack([ed_image, es_image]).astype(np.float32)
        n = n_frames or max(ed1, es1)
        step_ms = 1000.0 / n
        frame_times = np.array([(ed1 - 1) * step_ms, (es1 - 1) * step_ms])
        labels = {index: labels_by_frame1[f1] for index, f1 in enumerate((ed1, es1)) if f1 in labels_by_frame1}
        ed_frame, es_frame = 0, 1
        affine = ed_nifti.affine
        info["notes"].append(f"no 4D cine: a 2-frame study of ED (frame {ed1}) and ES (frame {es1}) of {n}")
        info["notes"].append("frame duration not in the header: frame times assumed from a 1000 ms beat")
    if not np.isfinite(image).all():
        raise CineLoadError(folder, "image contains NaN or infinite voxels")
    return CineStudy(
        image=image,
        spacing=(zz, zy, zx),
        frame_times_ms=frame_times,
        labels=labels,
        ed_frame=ed_frame,
        es_frame=es_frame,
        affine=affine,
        info=info,
    )


def patient_folders(root) -> list[Path]:
    """The patient folders under an ACDC root (``training/``, ``testing/`` or the root itself)."""
    root = Path(root)
    found = sorted(p for p in root.rglob("Info.cfg"))
    return [p.parent for p in found if re.match(r"patient\d+", p.parent.name)]
