"""NIfTI reading and writing.

NIfTI stores a cine as ``(X, Y, Z, T)`` with the voxel sizes in ``pixdim`` and the frame
duration in ``pixdim[4]``; cardiolab holds ``(T, Z, Y, X)``. These two functions are the
only place where that transposition happens, so a round trip
NIfTI -> CineStudy -> NIfTI gives back the same voxels, spacing and affine.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np

from cardiolab.data.errors import CineLoadError
from cardiolab.data.study import CineStudy

NIFTI_SUFFIXES = (".nii", ".nii.gz")
# Sidecar files that `cardiolab phantom` writes next to an image and load_nifti picks up.
LABEL_SUFFIX = "_gt"
TRUTH_SUFFIX = "_truth.json"


def is_nifti(path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def nifti_stem(path) -> str:
    name = Path(path).name
    return name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else name[: -len(".nii")]


def read_nifti_array(path) -> tuple[np.ndarray, nib.Nifti1Image]:
    """Read a 3D or 4D NIfTI; returns the raw ``(X, Y, Z[, T])`` array and the image.

    Raises `CineLoadError` for anything that is not a readable, finite 3D/4D volume.
    """
    path = Path(path)
    if not path.is_file():
        raise CineLoadError(path, "no such file")
    try:
        image = nib.load(str(path))
        data = np.asanyarray(image.dataobj)
    except Exception as error:  # nibabel raises many types for broken files
        raise CineLoadError(path, f"not a readable NIfTI file ({type(error).__name__}: {error})") from None
    # A 4D file with one frame is often stored with a trailing singleton 5th axis.
    while data.ndim > 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim not in (3, 4):
        raise CineLoadError(path, f"expected a 3D (X, Y, Z) or 4D (X, Y, Z, T) image, got {data.ndim}-D shape {data.shape}")
    if data.dtype.kind not in "biuf":
        raise CineLoadError(path, f"unsupported voxel type {data.dtype}")
    zooms = _raw_zooms(path)
    if not all(np.isfinite(zooms)) or min(zooms) <= 0:
        raise CineLoadError(path, f"voxel spacing must be positive, header says {tuple(float(z) for z in zooms)} mm")
    return data, image


def _raw_zooms(path: Path) -> tuple[float, float, float]:
    """Voxel sizes as written in the file (nibabel silently turns a 0 into 1 on load)."""
    opener = gzip.open if str(path).lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        header = nib.Nifti1Header.from_fileobj(handle, check=False)
    return tuple(float(z) for z in header["pixdim"][1:4])


def frame_duration_ms(image: nib.Nifti1Image) -> float | None:
    """Duration of one frame from pixdim[4] and the header's time unit, or None."""
    header = image.header
    if len(header.get_zooms()) < 4:
        return None
    step = float(header.get_zooms()[3])
    if not np.isfinite(step) or step <= 0:
        return None
    unit = header.get_xyzt_units()[1]
    return step * {"sec": 1000.0, "msec": 1.0, "usec": 0.001}.get(unit, 1.0)


def to_tzyx(data: np.ndarray) -> np.ndarray:
    """``(X, Y, Z[, T])`` -> ``(T, Z, Y, X)``."""
    if data.ndim == 3:
        data = data[..., None]
    return np.ascontiguousarray(np.transpose(data, (3, 2, 1, 0)))


def load_nifti(path, labels_path=None) -> CineStudy:
    """Load a 3D or 4D NIfTI cine as a `CineStudy`.

    Labels come from ``labels_path`` or, when it exists, from the sibling file
    ``<stem>_gt.nii.gz`` (canonical label map, either one frame per image frame or a
    single 3D frame for a 3D image). A sibling ``<stem>_truth.json`` fills ``truth``.
    """
    path = Path(path)
    data, image = read_nifti_array(path)
    volume = to_tzyx(data).astype(np.float32)
    if not np.isfinite(volume).all():
        bad = int((~np.isfinite(volume)).sum())
        raise CineLoadError(path, f"{bad} voxels are NaN or infinite")
    zx, zy, zz = (float(z) for z in image.header.get_zooms()[:3])
    n_frames = volume.shape[0]
    notes = []
    step_ms = frame_duration_ms(image)
    if step_ms is None and n_frames > 1:
        notes.append("frame duration missing from the header (pixdim[4]): assumed evenly spaced over 1000 ms")
        step_ms = 1000.0 / n_frames
    frame_times = np.arange(n_frames) * (step_ms or 0.0)
    info = {"source": str(path), "format": "nifti", "notes": notes}
    labels = _read_sidecar_labels(path, labels_path, volume.shape)
    truth = _read_sidecar_truth(path)
    return CineStudy(
        image=volume,
        spacing=(zz, zy, zx),
        frame_times_ms=frame_times,
        labels=labels,
        ed_frame=truth.get("ed_frame"),
        es_frame=truth.get("es_frame"),
        affine=image.affine,
        info=info,
        truth=truth,
    )


def _read_sidecar_labels(path: Path, labels_path, image_shape) -> dict[int, np.ndarray]:
    if labels_path is None:
        candidate = path.with_name(nifti_stem(path) + LABEL_SUFFIX + ".nii.gz")
        if not candidate.is_file():
            return {}
        labels_path = candidate
    data, _ = read_nifti_array(labels_path)
    labels = to_tzyx(np.rint(data)).astype(np.uint8)
    if labels.shape[1:] != image_shape[1:] or labels.shape[0] not in (1, image_shape[0]):
        raise CineLoadError(labels_path, f"label shape {labels.shape} does not match image {image_shape}")
    if labels.max() > 3:
        raise CineLoadError(labels_path, f"label values must be 0-3 (canonical map), found {int(labels.max())}")
    # Sparse 4D labels (e.g. M&Ms): frames that are entirely background are unlabelled.
    labelled = [t for t in range(labels.shape[0]) if labels[t].any()] if labels.shape[0] > 1 else [0]
    return {t: labels[t] for t in (labelled or range(labels.shape[0]))}


def _read_sidecar_truth(path: Path) -> dict:
    candidate = path.with_name(nifti_stem(path) + TRUTH_SUFFIX)
    if not candidate.is_file():
        return {}
    return json.loads(candidate.read_text())


def save_nifti(path, array, affine=None, *, spacing=None, frame_duration_ms=None) -> Path:
    """Write a ``(T, Z, Y, X)`` or ``(Z, Y, X)`` array as NIfTI ``(X, Y, Z[, T])``.

    ``affine`` (4x4) places the voxels in the world; without it one is built from
    ``spacing`` ``(z, y, x)``. uint8 arrays (label maps) are stored as uint8, anything
    else as float32. ``frame_duration_ms`` goes into pixdim[4].
    """
    array = np.asarray(array)
    if array.ndim not in (3, 4):
        raise ValueError(f"save_nifti takes (T, Z, Y, X) or (Z, Y, X), got shape {array.shape}")
    if affine is None:
        if spacing is None:
            raise ValueError("save_nifti needs an affine or a spacing")
        from cardiolab.data.study import affine_from_spacing

        affine = affine_from_spacing(spacing)
    dtype = np.uint8 if array.dtype == np.uint8 else np.float32
    data = np.transpose(array, tuple(range(array.ndim))[::-1]).astype(dtype)
    image = nib.Nifti1Image(data, np.asarray(affine, dtype=np.float64))
    image.header.set_data_dtype(dtype)
    image.header.set_xyzt_units("mm", "msec")
    if array.ndim == 4:
        zooms = list(image.header.get_zooms()[:3]) + [float(frame_duration_ms or 0.0)]
        image.header.set_zooms(zooms)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, str(path))
    return path


def save_study(study: CineStudy, path) -> list[Path]:
    """Write a study's image, its labels (``<stem>_gt.nii.gz``, all frames, if every
    frame is labelled) and its truth (``<stem>_truth.json``) so `load_nifti` reads them back."""
    path = Path(path)
    step = float(np.median(np.diff(study.frame_times_ms))) if study.n_frames > 1 else 0.0
    written = [save_nifti(path, study.image, study.affine, frame_duration_ms=step)]
    stem = nifti_stem(path)
    if study.labels and len(study.labels) == study.n_frames:
        labels = np.stack([study.labels[t] for t in range(study.n_frames)])
        written.append(save_nifti(path.with_name(stem + LABEL_SUFFIX + ".nii.gz"), labels, study.affine, frame_duration_ms=step))
    if study.truth:
        truth_path = path.with_name(stem + TRUTH_SUFFIX)
        truth_path.write_text(json.dumps(study.truth, indent=2, default=float))
        written.append(truth_path)
    return written
