"""DICOM short-axis cine: read a series into a `CineStudy`, write one back.

A cine MRI exam reaches the user as a folder of DICOM files. In the classic layout
(MR Image Storage) every file is one 2D image: one slice position at one cardiac phase,
so a short-axis cine of T phases and Z slices is T x Z files, in no useful file order.
The enhanced layout (Enhanced MR Image Storage) puts every image of the series in one
file as frames and describes each frame in a per-frame functional group.

What decides where an image goes (DICOM PS3.3 C.7.6.2, C.7.6.16):

* ``ImageOrientationPatient`` (IOP): two unit vectors in patient space (LPS: x to the
  patient's Left, y to Posterior, z to Superior): the direction of a row (the way the
  column index grows) and the direction of a column (the way the row index grows).
* ``ImagePositionPatient`` (IPP): the LPS position (mm) of the centre of the first pixel.
* The slice normal is the cross product of the two IOP vectors; an image's position
  along it, ``dot(IPP, normal)``, sorts the slices. Files carry no slice index.
* ``TriggerTime`` (ms after the R wave) sorts the phases of one slice.
* ``PixelSpacing`` is (row spacing, column spacing) = (y, x) in mm. The slice spacing is
  the measured distance between neighbouring slice positions, not ``SliceThickness``
  (a stack may have gaps or overlap).
* Stored pixel values become intensities through ``RescaleSlope``/``RescaleIntercept``.

Choices made where the standard leaves room, each stated here once:

* Slices run in increasing position along the normal, so the affine built from a
  DICOM series is right-handed. A study saved from a left-handed affine comes back
  with its slices in reverse order and an affine that places every voxel at the same
  world position as before.
* Without ``TriggerTime`` the phases follow ``InstanceNumber``; without IPP/IOP the
  slices follow ``SliceLocation`` (then ``InstanceNumber`` with
  ``CardiacNumberOfImages``) and the affine is axis-aligned. Each fallback is written to
  ``info['notes']`` and raised as a warning.
* The patient's name and id are never copied into the study (privacy); the height,
  weight and heart rate are, because the clinical measures need them.
* `save_dicom_series` writes intensities as uint16 with one slope and intercept for the
  whole series (so grey levels stay comparable between images), which quantises them
  to 1/65534 of the intensity range.
"""
from __future__ import annotations

import os
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Callable

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, UID, generate_uid
from pydicom.valuerep import format_number_as_ds

from cardiolab.data.errors import CineLoadError
from cardiolab.data.study import CineStudy

MR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.4")
ENHANCED_MR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.4.1")
MEDIA_STORAGE_DIRECTORY_STORAGE = UID("1.2.840.10008.1.3.10")  # a DICOMDIR

DICOM_PREFIX_OFFSET = 128  # bytes of preamble before the b"DICM" prefix (PS3.10 7.1)
HEADER_DEFER_BYTES = 4096  # elements larger than this (pixel data) are read only when used
POSITION_TOLERANCE_MM = 0.01  # images closer than this along the normal share a slice
ORIENTATION_TOLERANCE = 1e-3  # direction cosines closer than this are the same orientation
MISSING_SLICE_GAP_RATIO = 1.5  # a gap this many times the usual spacing means a lost slice
UNEVEN_SPACING_RATIO = 1.1  # spacing varying more than this gets a note
SHORT_AXIS_NAME = re.compile(r"(^|[^a-z])(sa|sax)([^a-z]|$)|short", re.IGNORECASE)  # not "sagittal"
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])  # DICOM is LPS, NIfTI is RAS: flip x and y


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------
def looks_like_dicom(path) -> bool:
    """True for a file with the ``DICM`` prefix at byte 128, or that reads as a raw DICOM dataset."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        return _read_dataset(path, defer_size=HEADER_DEFER_BYTES)[0] is not None
    except CineLoadError:  # it claims to be DICOM but is broken: still DICOM, for the dispatch
        return True


def _has_prefix(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(DICOM_PREFIX_OFFSET + 4)
    return head[DICOM_PREFIX_OFFSET:] == b"DICM"


def _read_dataset(path: Path, defer_size: int) -> tuple[Dataset | None, bool]:
    """``(dataset, read_without_prefix)``, or ``(None, False)`` for a file that is not DICOM.

    A file with the ``DICM`` prefix that pydicom cannot parse is corrupt (`CineLoadError`).
    Old exports and some PACS tools write the dataset without the 128-byte preamble
    and prefix (PS3.10 7.1 requires them): such a file is read with ``force=True`` and
    accepted only where the result looks like a DICOM object (it names its SOP class,
    or has rows and pixel data), since forcing reads any bytes as *something*.
    """
    if _has_prefix(path):
        try:
            return pydicom.dcmread(path, defer_size=defer_size), False
        except Exception as error:  # pydicom raises many types on broken files
            raise CineLoadError(path, f"truncated or corrupt DICOM file ({type(error).__name__}: {error})") from None
    if not _starts_like_a_dataset(path):
        return None, False  # forcing arbitrary bytes can ask for gigabytes: only try what looks like DICOM
    try:
        dataset = pydicom.dcmread(path, defer_size=defer_size, force=True)
        plausible = "SOPClassUID" in dataset or ("Rows" in dataset and "PixelData" in dataset)
    except Exception:  # bytes that do not even parse as a raw dataset: not DICOM
        return None, False
    if not plausible:
        return None, False
    _name_the_transfer_syntax(dataset)
    return dataset, True


def _starts_like_a_dataset(path: Path) -> bool:
    """Whether a file without the prefix begins as a raw dataset does: its first element in
    group 0002 (file meta) or 0008 (identification), either an explicit VR or an implicit
    length that fits in the file."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if len(head) < 8 or head[:2] not in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08"):
        return False
    explicit_vr = head[4:6].isalpha() and head[4:6].isupper()
    return explicit_vr or int.from_bytes(head[4:8], "little") <= path.stat().st_size


def _name_the_transfer_syntax(dataset: Dataset) -> None:
    """A raw dataset carries no file meta: record the encoding pydicom detected, so the
    pixel data can be decoded (uncompressed is the only possibility without file meta)."""
    if not hasattr(dataset, "file_meta"):
        dataset.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" in dataset.file_meta:
        return
    implicit, little = getattr(dataset, "original_encoding", (True, True))
    if implicit is None:
        implicit, little = True, True
    if implicit:
        syntax = pydicom.uid.ImplicitVRLittleEndian
    else:
        syntax = pydicom.uid.ExplicitVRLittleEndian if little else pydicom.uid.ExplicitVRBigEndian
    dataset.file_meta.TransferSyntaxUID = syntax


@dataclass
class _Image:
    """One 2D image of a series: a classic file, or one frame of an enhanced file."""

    name: str  # how error messages refer to it: the file, plus the frame if enhanced
    rows: int
    columns: int
    position_lps: np.ndarray | None  # ImagePositionPatient (3,), mm
    orientation: np.ndarray | None  # ImageOrientationPatient (6,): row then column cosines
    slice_location: float | None  # SliceLocation, mm (only a fallback)
    trigger_ms: float | None  # TriggerTime / NominalCardiacTriggerDelayTime, ms
    order: int | None  # InstanceNumber (classic) or TemporalPositionIndex (enhanced)
    pixel_spacing: tuple[float, float] | None  # (row spacing, column spacing) = (y, x) mm
    slice_thickness: float | None  # mm
    slope: float
    intercept: float
    read_stored: Callable[[], np.ndarray]  # the stored (rows, columns) values
    order_keyword: str = "InstanceNumber"  # where `order` came from, for the notes
    location_keyword: str = "SliceLocation"  # where `slice_location` came from


def load_dicom(source, series_uid: str | None = None) -> CineStudy:
    """Load a short-axis cine from a DICOM folder (searched recursively) or a list of files.

    Where a folder holds several series, the short-axis cine with the most phases is
    picked (several phases at each of several slice positions, one orientation; a
    description with "sa"/"sax"/"short" comes first) and the others are listed in a
    warning, or ``series_uid`` names the one to load. Raises `CineLoadError` naming the
    file or folder and the problem for anything that is not a complete cine.

    Real exports are read tolerantly, and each thing tolerated becomes a note in
    ``info['notes']`` (`CineStudy.provenance`) and a warning: files without the DICM
    prefix, a DICOMDIR, files that are not images, invalid values pydicom warns about
    (a UID with a leading zero, say), and every fallback of the geometry and timing.
    """
    label, files, from_folder = _list_files(source)
    notes: list[str] = []
    with _pydicom_warnings_as_notes(label, notes):
        headers = _read_headers(label, files, strict=not from_folder, notes=notes)
        series = _group_by_series(headers)
        # A series that cannot be read (None) is no candidate; only the chosen one must be readable.
        images_by_series = {uid: _images_or_none(members) for uid, members in series.items()}
        chosen = _choose_series(label, series, images_by_series, series_uid, notes)
        images = images_by_series[chosen] or _images_of(series[chosen])  # the second call raises the error
        study = _assemble(label, images, series[chosen][0][1], notes)
    study.info["series_uid"] = chosen
    study.info["series_found"] = len(series)
    return study


@contextmanager
def _pydicom_warnings_as_notes(label, notes: list[str]):
    """Collect pydicom's warnings while reading; summarise them as notes, one per kind.

    pydicom warns once per element (a GE export with invalid UIDs gives one warning
    per file and UID): the user needs to know what was tolerated, not 480 lines of it.
    Warnings from anywhere else pass through unchanged. On an error the tolerated
    values are dropped: the error says what matters.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for warning in caught:  # re-emitted outside the catcher, or each would be caught again
            if f"{os.sep}pydicom{os.sep}" not in warning.filename:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    kinds: dict[str, list[str]] = {}
    for warning in caught:
        if f"{os.sep}pydicom{os.sep}" in warning.filename:
            text = str(warning.message)
            kind, _, detail = text.partition(": ")  # "Invalid value for VR UI: '1.2.03'. Please see ..."
            kinds.setdefault(kind if detail else text[:120], []).append(detail.split(". Please see")[0])
    for kind, details in kinds.items():
        example = f" (e.g. {details[0]})" if details[0] else ""
        _fallback(notes, label, f"pydicom: {kind}, {len(details)} times{example}: read as stored")


def _list_files(source) -> tuple[Path, list[Path], bool]:
    """``(label for messages, files, whether they came from a folder scan)``."""
    if isinstance(source, (list, tuple)):
        files = [Path(p) for p in source]
        if not files:
            raise CineLoadError("<empty list>", "no files given")
        for path in files:
            if not path.is_file():
                raise CineLoadError(path, "no such file")
        label = files[0] if len(files) == 1 else files[0].parent
        return label, files, False
    folder = Path(source)
    if folder.is_file():
        return folder, [folder], False
    if not folder.is_dir():
        raise CineLoadError(folder, "no such file or folder")
    hidden = (".", "__MACOSX")
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(hidden) for part in p.relative_to(folder).parts)
    )
    return folder, files, True


def _read_headers(label, files: list[Path], strict: bool, notes: list[str]) -> list[tuple[Path, Dataset]]:
    """Read every file's header (pixel data deferred). ``strict``: a non-DICOM file is an error.

    A folder may hold a DICOMDIR, reports or text files: those are skipped, and noted.
    A file that claims to be an image (by its SOP class) but cannot be read, or lost its
    pixel data, is truncated or corrupt, and that is always an error.
    """
    headers, skipped, directories, raw = [], [], [], []
    for path in files:
        dataset, without_prefix = _read_dataset(path, defer_size=HEADER_DEFER_BYTES)
        if dataset is None:
            if strict:
                raise CineLoadError(path, "not a DICOM file (no 'DICM' prefix at byte 128, nor a readable raw dataset)")
            skipped.append(path)
            continue
        sop_class = dataset.get("SOPClassUID") or dataset.file_meta.get("MediaStorageSOPClassUID")
        if "PixelData" not in dataset and (sop_class is None or not UID(str(sop_class)).is_valid):
            # Every DICOM object names its class; a file that does not, or ends inside it, was cut short.
            raise CineLoadError(path, "truncated or corrupt DICOM file (no complete SOP class: the header ends early)")
        if sop_class == MEDIA_STORAGE_DIRECTORY_STORAGE:
            directories.append(path)  # an index of the medium, not an image
            continue
        is_image_class = sop_class is not None and "Image Storage" in UID(str(sop_class)).name
        if "PixelData" not in dataset:
            if is_image_class:
                raise CineLoadError(path, f"{UID(str(sop_class)).name} file without pixel data: truncated or corrupt")
            if strict:
                raise CineLoadError(path, "DICOM file holds no image (no pixel data)")
            skipped.append(path)
            continue
        if without_prefix:
            raw.append(path)
        headers.append((path, dataset))
    if not headers:
        others = skipped + directories
        detail = f" ({len(others)} other files skipped, e.g. {others[0].name})" if others else ""
        raise CineLoadError(label, f"no DICOM image files found{detail}")
    if directories:
        what = "a DICOMDIR" if len(directories) == 1 else _count(directories, "DICOMDIR")
        _fallback(notes, label, f"{what} (media index, not an image) skipped: the images were found by reading the folder itself")
    if skipped:
        _fallback(notes, label, f"{_count(skipped, 'file')} skipped, not DICOM images (e.g. {skipped[0].name})")
    if raw:
        _fallback(
            notes,
            label,
            f"{_count(raw, 'file')} without the 128-byte preamble and 'DICM' prefix read as raw datasets (e.g. {raw[0].name})",
        )
    return headers


def _count(items, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _group_by_series(headers) -> dict[str, list[tuple[Path, Dataset]]]:
    series: dict[str, list] = {}
    for path, dataset in headers:
        uid = str(dataset.get("SeriesInstanceUID", "<no SeriesInstanceUID>"))
        series.setdefault(uid, []).append((path, dataset))
    return series


def _description(dataset: Dataset) -> str:
    return str(dataset.get("SeriesDescription", ""))


def _choose_series(label, series, images_by_series, series_uid, notes: list[str]) -> str:
    """The uid of the series to load: ``series_uid``, the only one, or the best short-axis cine."""
    shapes = {uid: _cine_shape(images) if images else None for uid, images in images_by_series.items()}

    def describe(uid) -> str:
        shape = f"{shapes[uid][0]} phases x {shapes[uid][1]} slices" if shapes[uid] else "not a cine"
        return f"uid={uid} description={_description(series[uid][0][1])!r} files={len(series[uid])} ({shape})"

    listing = "\n".join(f"  {describe(uid)}" for uid in series)
    if series_uid is not None:
        if str(series_uid) not in series:
            raise CineLoadError(label, f"no series with series_uid={series_uid}; the series found are:\n{listing}")
        return str(series_uid)
    if len(series) == 1:
        return next(iter(series))
    cines = [uid for uid, shape in shapes.items() if shape is not None]
    if not cines:
        raise CineLoadError(label, f"{len(series)} series found and none looks like a short-axis cine; pick one with series_uid=:\n{listing}")

    def preference(uid):
        # Named short axis first, then the most phases, the most slices, the latest series
        # (a repeat is acquired because the first try failed), and the uid for a stable order.
        first = series[uid][0][1]
        named = bool(SHORT_AXIS_NAME.search(_description(first)))
        return (named, *shapes[uid], _number(first, "SeriesNumber", 0.0), str(first.get("SeriesTime", "")), uid)

    chosen = max(cines, key=preference)
    others = "; ".join(describe(uid) for uid in series if uid != chosen)
    _fallback(
        notes,
        label,
        f"{len(series)} series found: loaded {describe(chosen)}; the others (load one with series_uid=): {others}",
    )
    return chosen


def _cine_shape(images: list[_Image]) -> tuple[int, int] | None:
    """``(phases, slices)`` of a series with several phases at each of several slice
    positions, all in one orientation; None for anything else (a localiser, a 4CH cine)."""
    if any(image.orientation is None or image.position_lps is None for image in images):
        return None
    first = images[0].orientation
    if any(np.abs(image.orientation - first).max() > ORIENTATION_TOLERANCE for image in images):
        return None
    normal = np.cross(first[:3], first[3:])
    slices = _group_positions(np.array([image.position_lps @ normal for image in images]))
    phases = min(len(members) for members in slices)
    return (phases, len(slices)) if len(slices) > 1 and phases > 1 else None


# --- one series -> images -----------------------------------------------------------------
def _images_or_none(members: list[tuple[Path, Dataset]]) -> list[_Image] | None:
    try:
        return _images_of(members)
    except CineLoadError:
        return None


def _images_of(members: list[tuple[Path, Dataset]]) -> list[_Image]:
    images = []
    for path, dataset in members:
        if _is_enhanced(dataset):
            images.extend(_enhanced_frames(path, dataset))
        elif _number_of_frames(dataset) > 1:
            raise CineLoadError(path, "multi-frame file without per-frame functional groups: not a supported cine layout")
        else:
            images.append(_classic_image(path, dataset))
    return images


def _number_of_frames(dataset: Dataset) -> int:
    try:
        return int(dataset.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):  # a malformed element: one frame, as in a classic image
        return 1


def _is_enhanced(dataset: Dataset) -> bool:
    """An enhanced multi-frame object, by its SOP class and frame count, with functional groups to read.

    Never by the mere presence of a functional-groups element: scanner exports (a GE Signa
    cine, for one) put an empty ``PerFrameFunctionalGroupsSequence`` into classic
    single-frame MR images, whose geometry sits at the top level.
    """
    sop_class = str(dataset.get("SOPClassUID") or dataset.file_meta.get("MediaStorageSOPClassUID", ""))
    multi_frame_class = sop_class != MR_IMAGE_STORAGE and "Enhanced" in UID(sop_class).name
    has_groups = len(dataset.get("PerFrameFunctionalGroupsSequence") or []) > 0
    return has_groups and (multi_frame_class or _number_of_frames(dataset) > 1)


def _number(dataset, keyword, default=None):
    """A numeric element as float; ``default`` where absent, empty or unreadable."""
    value = dataset.get(keyword) if dataset is not None else None
    try:
        return default if value is None or value == "" else float(value)
    except (TypeError, ValueError):  # a multi-valued or malformed element: treat as absent
        return default


def _vector(dataset, keyword, length):
    """A multi-valued numeric element as an array of ``length``, or None."""
    value = dataset.get(keyword) if dataset is not None else None
    try:
        vector = np.array([float(v) for v in value], dtype=np.float64) if value is not None else None
    except (TypeError, ValueError):
        return None
    return vector if vector is not None and vector.shape == (length,) else None


def _classic_image(path: Path, dataset: Dataset) -> _Image:
    rows, columns = _number(dataset, "Rows"), _number(dataset, "Columns")
    if not rows or not columns:
        raise CineLoadError(path, "image without Rows/Columns: corrupt header")
    instance = _number(dataset, "InstanceNumber")
    spacing = _vector(dataset, "PixelSpacing", 2)
    return _Image(
        name=str(path),
        rows=int(rows),
        columns=int(columns),
        position_lps=_vector(dataset, "ImagePositionPatient", 3),
        orientation=_vector(dataset, "ImageOrientationPatient", 6),
        slice_location=_number(dataset, "SliceLocation"),
        trigger_ms=_number(dataset, "TriggerTime"),
        order=int(instance) if instance is not None else None,
        pixel_spacing=tuple(spacing) if spacing is not None else None,
        slice_thickness=_number(dataset, "SliceThickness"),
        slope=_number(dataset, "RescaleSlope", 1.0),
        intercept=_number(dataset, "RescaleIntercept", 0.0),
        read_stored=lambda: _pixel_array(path, dataset),
    )


def _enhanced_frames(path: Path, dataset: Dataset) -> list[_Image]:
    """One `_Image` per frame, each described by its per-frame (else the shared) groups."""
    n_frames = int(dataset.get("NumberOfFrames", 1) or 1)
    per_frame = dataset.PerFrameFunctionalGroupsSequence
    if len(per_frame) != n_frames:
        raise CineLoadError(path, f"{n_frames} frames but {len(per_frame)} per-frame functional groups")
    shared = dataset.SharedFunctionalGroupsSequence[0] if dataset.get("SharedFunctionalGroupsSequence") else Dataset()
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    all_frames = cache(lambda: _pixel_array(path, dataset).reshape(n_frames, rows, columns))

    def group(frame: Dataset, sequence: str) -> Dataset | None:
        # [PS3.3 C.7.6.16] a functional group sits in the frame's item or in the shared one.
        for holder in (frame, shared):
            if holder.get(sequence):
                return holder.get(sequence)[0]
        return None

    images = []
    for index, frame in enumerate(per_frame):
        measures = group(frame, "PixelMeasuresSequence")
        rescale = group(frame, "PixelValueTransformationSequence") or dataset
        content = group(frame, "FrameContentSequence")
        trigger = _number(group(frame, "CardiacSynchronizationSequence"), "NominalCardiacTriggerDelayTime")
        temporal = content.get("TemporalPositionIndex") if content is not None else None
        spacing = _vector(measures, "PixelSpacing", 2)
        # Without a plane position, the stack index times the slice step stands in for it.
        stack_index = _number(content, "InStackPositionNumber")
        slice_step = _number(measures, "SpacingBetweenSlices") or _number(measures, "SliceThickness") or 1.0
        images.append(
            _Image(
                name=f"{path} frame {index + 1}",
                rows=rows,
                columns=columns,
                position_lps=_vector(group(frame, "PlanePositionSequence"), "ImagePositionPatient", 3),
                orientation=_vector(group(frame, "PlaneOrientationSequence"), "ImageOrientationPatient", 6),
                slice_location=stack_index * slice_step if stack_index is not None else None,
                trigger_ms=trigger,
                order=int(temporal) if temporal is not None else None,
                pixel_spacing=tuple(spacing) if spacing is not None else None,
                slice_thickness=_number(measures, "SliceThickness"),
                slope=_number(rescale, "RescaleSlope", 1.0),
                intercept=_number(rescale, "RescaleIntercept", 0.0),
                read_stored=lambda index=index: all_frames()[index],
                order_keyword="TemporalPositionIndex",
                location_keyword="InStackPositionNumber",
            )
        )
    return images


def _pixel_array(path: Path, dataset: Dataset) -> np.ndarray:
    """Stored pixel values: ``(rows, columns)``, or ``(frames, rows, columns)``."""
    try:
        native = _native_pixels(path, dataset)
        return native if native is not None else dataset.pixel_array
    except CineLoadError:
        raise
    except Exception as error:  # truncated data, unsupported compression, ...
        raise CineLoadError(
            path, f"cannot decode the pixel data, truncated or compressed in an unsupported way ({type(error).__name__}: {error})"
        ) from None


def _native_pixels(path: Path, dataset: Dataset) -> np.ndarray | None:
    """Uncompressed little-endian greyscale read straight from the bytes, or None.

    This is the layout of nearly every cine series, and reading it with numpy is several
    times faster than pydicom's general decoder, which handles everything else.
    """
    uncompressed = (pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ImplicitVRLittleEndian)
    bits_allocated = int(dataset.get("BitsAllocated") or 0)
    bits_stored = int(dataset.get("BitsStored") or bits_allocated)
    signed = int(dataset.get("PixelRepresentation", 0)) == 1
    if (
        dataset.file_meta.get("TransferSyntaxUID") not in uncompressed
        or int(dataset.get("SamplesPerPixel", 1)) != 1
        or bits_allocated not in (8, 16, 32)
        or (signed and bits_stored != bits_allocated)  # sign extension: leave it to pydicom
    ):
        return None
    rows, columns, frames = int(dataset.Rows), int(dataset.Columns), int(dataset.get("NumberOfFrames", 1) or 1)
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits_allocated // 8}")
    raw = dataset.PixelData
    expected = rows * columns * frames * dtype.itemsize
    if len(raw) < expected:
        raise CineLoadError(path, f"pixel data has {len(raw)} bytes, {expected} expected: the file is truncated")
    values = np.frombuffer(raw, dtype=dtype, count=rows * columns * frames)
    if not signed and bits_stored < bits_allocated:
        values = values & np.array((1 << bits_stored) - 1, dtype=dtype)  # bits above HighBit are not pixel data
    shape = (rows, columns) if frames == 1 else (frames, rows, columns)
    return values.reshape(shape)


# --- images -> (T, Z, Y, X) ---------------------------------------------------------------
def _fallback(notes: list[str], label, text: str) -> None:
    """Record a fallback in the study's notes and tell the caller now."""
    notes.append(text)
    warnings.warn(f"{label}: {text}", stacklevel=4)


def _assemble(label, images: list[_Image], first: Dataset, notes: list[str]) -> CineStudy:
    _check_same_grid(images)
    positions, geometry = _slice_positions(label, images, first, notes)
    slices = _group_positions(positions)  # image indices per slice, in increasing position
    centres = np.array([positions[members].mean() for members in slices])
    _check_every_slice_complete(label, slices, centres)
    _check_no_missing_slice(label, centres)
    phases, by_trigger = _order_phases(label, images, slices, notes)  # (Z, T) image indices
    n_slices, n_frames = phases.shape

    volume = np.empty((n_frames, n_slices, images[0].rows, images[0].columns), dtype=np.float32)  # (T, Z, Y, X)
    for z in range(n_slices):
        for t in range(n_frames):
            volume[t, z] = _intensities(images[phases[z, t]])

    spacing_yx = _pixel_spacing(label, images, notes)
    spacing_z = _slice_spacing(label, images, centres, notes)
    if geometry is not None:
        first_of_each_slice = [images[slice_images[0]].position_lps for slice_images in phases]
        affine = _affine_from_geometry(geometry, first_of_each_slice, spacing_yx, spacing_z)
    else:
        affine = np.diag([spacing_yx[1], spacing_yx[0], spacing_z, 1.0])
    if by_trigger:
        trigger = np.array([[images[i].trigger_ms for i in slice_images] for slice_images in phases])  # (Z, T)
        frame_times = np.median(trigger, axis=0)  # scanners stagger slices by a few ms: one time per phase
    else:
        frame_times = _even_frame_times(label, first, n_frames, notes)
    return CineStudy(
        image=volume,
        spacing=(spacing_z, *spacing_yx),
        frame_times_ms=frame_times,
        affine=affine,
        info=_study_info(label, first, len(images), notes),
    )


def _check_same_grid(images: list[_Image]) -> None:
    reference = images[0]
    for image in images[1:]:
        if (image.rows, image.columns) != (reference.rows, reference.columns):
            raise CineLoadError(
                image.name,
                f"image is {image.rows}x{image.columns} (rows x columns) but {reference.name} is "
                f"{reference.rows}x{reference.columns}: one series must share one grid",
            )
        if image.pixel_spacing is not None and reference.pixel_spacing is not None:
            if not np.allclose(image.pixel_spacing, reference.pixel_spacing, atol=1e-4):
                raise CineLoadError(
                    image.name, f"PixelSpacing {image.pixel_spacing} differs from {reference.pixel_spacing} in {reference.name}"
                )


def _slice_positions(label, images: list[_Image], first: Dataset, notes: list[str]):
    """Each image's position (mm) along the slice normal, and the orientation used.

    Returns ``(positions, (row_cosines, column_cosines, normal))``; the geometry is None
    where a fallback without IPP/IOP was used.
    """
    if all(image.position_lps is not None and image.orientation is not None for image in images):
        reference = images[0]
        for image in images[1:]:
            if np.abs(image.orientation - reference.orientation).max() > ORIENTATION_TOLERANCE:
                raise CineLoadError(
                    image.name,
                    f"ImageOrientationPatient {np.round(image.orientation, 4).tolist()} differs from "
                    f"{np.round(reference.orientation, 4).tolist()} in {reference.name}",
                )
        row_cosines, column_cosines = reference.orientation[:3], reference.orientation[3:]
        normal = np.cross(row_cosines, column_cosines)  # [PS3.3 C.7.6.2.1.1] the slice normal
        if abs(np.linalg.norm(normal) - 1.0) > 0.01:
            problem = f"ImageOrientationPatient {reference.orientation.tolist()} is not two perpendicular unit vectors"
            raise CineLoadError(reference.name, problem)
        positions = np.array([image.position_lps @ normal for image in images])
        return positions, (row_cosines, column_cosines, normal)

    missing = sum(image.position_lps is None or image.orientation is None for image in images)
    lacking = f"{missing} of {len(images)} images lack ImagePositionPatient/ImageOrientationPatient"
    if all(image.slice_location is not None for image in images):
        keyword = images[0].location_keyword
        _fallback(notes, label, f"{lacking}: slices sorted by {keyword} and the affine is axis-aligned, not the scanner's")
        return np.array([image.slice_location for image in images]), None
    # Last resort: InstanceNumbers run slice by slice, CardiacNumberOfImages phases each.
    phases_per_slice = int(first.get("CardiacNumberOfImages") or 0)
    if not phases_per_slice or any(image.order is None for image in images):
        raise CineLoadError(
            label, f"{lacking} and there is no SliceLocation (nor InstanceNumber with CardiacNumberOfImages) to tell slices apart"
        )
    _fallback(
        notes,
        label,
        f"{lacking} and SliceLocation: slices taken as runs of {phases_per_slice} InstanceNumbers "
        "(CardiacNumberOfImages), the affine is axis-aligned",
    )
    first_instance = min(image.order for image in images)
    thickness = images[0].slice_thickness or 1.0
    return np.array([(image.order - first_instance) // phases_per_slice * thickness for image in images], dtype=float), None


def _group_positions(positions: np.ndarray) -> list[np.ndarray]:
    """Image indices grouped by slice position, in increasing position."""
    order = np.argsort(positions, kind="stable")
    breaks = np.flatnonzero(np.diff(positions[order]) > POSITION_TOLERANCE_MM) + 1
    return np.split(order, breaks)


def _check_every_slice_complete(label, slices, centres) -> None:
    counts = np.array([len(members) for members in slices])
    expected = int(counts.max())
    short = [
        f"slice {z + 1} of {len(slices)} at {centres[z]:.2f} mm along the slice normal has {counts[z]} phases, expected {expected}"
        for z in np.flatnonzero(counts < expected)
    ]
    if short:
        raise CineLoadError(label, "incomplete series: " + "; ".join(short))


def _check_no_missing_slice(label, centres) -> None:
    if len(centres) < 3:
        return
    gaps = np.diff(centres)
    # The lower median: in a short stack with one gap doubled by a lost slice, the plain
    # median would sit halfway between the usual spacing and that gap.
    usual = float(np.percentile(gaps, 50, method="lower"))
    for index in np.flatnonzero(gaps > MISSING_SLICE_GAP_RATIO * usual):
        raise CineLoadError(
            label,
            f"a slice seems to be missing: slice positions {centres[index]:.2f} and {centres[index + 1]:.2f} mm "
            f"are {gaps[index]:.2f} mm apart, the usual spacing is {usual:.2f} mm",
        )


def _order_phases(label, images, slices, notes) -> tuple[np.ndarray, bool]:
    """``(Z, T)`` image indices, each slice's images in cardiac phase order; and whether
    TriggerTime gave that order."""
    by_trigger = all(
        all(images[i].trigger_ms is not None for i in members) and len({images[i].trigger_ms for i in members}) == len(members)
        for members in slices
    )
    if by_trigger:
        key = lambda i: images[i].trigger_ms  # noqa: E731
    else:
        keyword = images[0].order_keyword
        if any(images[i].order is None for members in slices for i in members):
            raise CineLoadError(label, f"cannot order the phases: TriggerTime and {keyword} are both missing")
        _fallback(notes, label, f"TriggerTime missing or repeated within a slice: phases ordered by {keyword}")
        key = lambda i: images[i].order  # noqa: E731
    return np.array([sorted(members, key=key) for members in slices], dtype=np.intp), by_trigger


def _intensities(image: _Image) -> np.ndarray:
    stored = image.read_stored()
    values = stored.astype(np.float32) * np.float32(image.slope) + np.float32(image.intercept)
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise CineLoadError(image.name, f"{bad} pixels are NaN or infinite after rescaling")
    return values


def _pixel_spacing(label, images, notes) -> tuple[float, float]:
    spacing = images[0].pixel_spacing
    if spacing is None or not np.isfinite(spacing).all() or min(spacing) <= 0:
        _fallback(notes, label, "PixelSpacing missing: 1 mm assumed")
        return (1.0, 1.0)
    return (float(spacing[0]), float(spacing[1]))


def _slice_spacing(label, images, centres, notes) -> float:
    if len(centres) < 2:
        thickness = images[0].slice_thickness
        _fallback(notes, label, "one slice: spacing taken from SliceThickness" if thickness else "one slice: spacing 1 mm assumed")
        return float(thickness or 1.0)
    gaps = np.diff(centres)
    if gaps.max() > UNEVEN_SPACING_RATIO * gaps.min():
        _fallback(notes, label, f"slice spacing varies from {gaps.min():.2f} to {gaps.max():.2f} mm: the median is used")
    return float(np.median(gaps))  # the measured spacing, not SliceThickness


def _affine_from_geometry(geometry, first_positions: list[np.ndarray], spacing_yx, spacing_z) -> np.ndarray:
    """NIfTI affine, voxel ``(x=column, y=row, z=slice)`` -> RAS mm."""
    row_cosines, column_cosines, normal = geometry
    if len(first_positions) > 1:
        # The step between slices as the positions say (along the normal in a plain stack).
        slice_step = (first_positions[-1] - first_positions[0]) / (len(first_positions) - 1)
    else:
        slice_step = normal * spacing_z
    affine_lps = np.eye(4)
    affine_lps[:3, 0] = row_cosines * spacing_yx[1]  # the column index x moves along a row
    affine_lps[:3, 1] = column_cosines * spacing_yx[0]  # the row index y moves down a column
    affine_lps[:3, 2] = slice_step
    affine_lps[:3, 3] = first_positions[0]
    return LPS_TO_RAS @ affine_lps


def _even_frame_times(label, first: Dataset, n_frames: int, notes) -> np.ndarray | None:
    """Frame times without TriggerTime: spread over the R-R interval where it is known."""
    interval_ms = _number(first, "NominalInterval")
    heart_rate = _number(first, "HeartRate")
    if not interval_ms and heart_rate:
        interval_ms = 60000.0 / heart_rate
    if interval_ms:
        _fallback(notes, label, f"frame times spread evenly over the R-R interval of {interval_ms:.0f} ms")
        return np.arange(n_frames) * (interval_ms / n_frames)
    return None  # CineStudy then assumes an even spread over 1000 ms and notes it


def _study_info(label, first: Dataset, n_images: int, notes: list[str]) -> dict:
    info = {
        "source": str(label),
        "format": "dicom",
        "modality": str(first.get("Modality", "")),
        "series_description": _description(first),
        "n_images": n_images,
        "notes": notes,
    }
    heart_rate = _number(first, "HeartRate")
    if heart_rate:
        info["heart_rate_bpm"] = heart_rate
    height_m = _number(first, "PatientSize")
    if height_m:
        info["height_cm"] = height_m * 100.0  # PatientSize is in metres
    weight_kg = _number(first, "PatientWeight")
    if weight_kg:
        info["weight_kg"] = weight_kg
    return info


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
def save_dicom_series(
    study: CineStudy, folder, series_description: str = "SA cine", series_uid: str | None = None, enhanced: bool = False
) -> list[Path]:
    """Write a study as a short-axis cine series; returns the files written.

    Classic (default): MR Image Storage, one file per slice per phase, named
    ``IM_<InstanceNumber>.dcm`` with InstanceNumber running phase-fastest within a slice.
    ``enhanced=True``: one Enhanced MR Image Storage file, ``enhanced_cine.dcm``.
    The orientation and the position of every slice come from ``study.affine`` and
    the pixel and slice spacing from ``study.spacing`` (they win where the affine's
    column lengths disagree, as in NIfTI files with a unit affine). Intensities are
    stored as uint16 with one RescaleSlope/RescaleIntercept for the series.
    """
    if not isinstance(study, CineStudy):
        raise TypeError(f"study must be a CineStudy, got {type(study).__name__}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    geometry = _geometry_from_affine(study)
    stored, slope, intercept = _to_uint16(study.image)
    series = _series_header(study, series_description, series_uid or generate_uid(), slope, intercept)
    if enhanced:
        return [_write_enhanced(study, folder / "enhanced_cine.dcm", series, geometry, stored)]
    return _write_classic(study, folder, series, geometry, stored)


@dataclass
class _Geometry:
    row_cosines: np.ndarray  # LPS direction of increasing column index
    column_cosines: np.ndarray  # LPS direction of increasing row index
    slice_step_mm: np.ndarray  # LPS step from one slice to the next
    origin_mm: np.ndarray  # LPS centre of voxel (0, 0, 0)

    def position(self, z: int) -> np.ndarray:
        return self.origin_mm + z * self.slice_step_mm


def _geometry_from_affine(study: CineStudy) -> _Geometry:
    affine_lps = LPS_TO_RAS @ study.affine  # the flip is its own inverse
    columns = affine_lps[:3, :3]
    lengths = np.linalg.norm(columns, axis=0)
    if min(lengths) <= 0:
        raise ValueError(f"study.affine has a zero column: {study.affine.tolist()}")
    directions = columns / lengths
    if abs(directions[:, 0] @ directions[:, 1]) > ORIENTATION_TOLERANCE:
        raise ValueError("study.affine has non-perpendicular row and column axes: DICOM cannot store that orientation")
    spacing_z, spacing_y, spacing_x = study.spacing
    if not np.allclose(lengths, [spacing_x, spacing_y, spacing_z], rtol=1e-3):
        warnings.warn(
            f"affine voxel sizes {np.round(lengths, 4).tolist()} disagree with spacing (x, y, z) "
            f"{[spacing_x, spacing_y, spacing_z]}: the spacing is written",
            stacklevel=3,
        )
    return _Geometry(
        row_cosines=directions[:, 0],
        column_cosines=directions[:, 1],
        slice_step_mm=directions[:, 2] * spacing_z,
        origin_mm=affine_lps[:3, 3],
    )


def _ds(value: float) -> str:
    """A decimal string within the 16 characters DICOM allows (VR DS)."""
    return format_number_as_ds(float(value))


def _to_uint16(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Stored uint16 values and the (slope, intercept) that give the intensities back."""
    low, high = float(image.min()), float(image.max())
    # 65534 levels, not 65535: the slope is rounded to 16 characters and must not overflow.
    slope = float(_ds((high - low) / 65534.0)) if high > low else 1.0
    intercept = float(_ds(low))
    stored = np.rint((image.astype(np.float64) - intercept) / slope)
    return np.clip(stored, 0, 65535).astype(np.uint16), slope, intercept


def _series_header(study: CineStudy, description: str, series_uid: str, slope: float, intercept: float) -> Dataset:
    """The elements every image of the series shares."""
    now = datetime.now()
    ds = Dataset()
    ds.PatientName = "Anonymous"
    ds.PatientID = "ANONYMOUS"  # the study never holds the patient's identity
    for keyword, info_key, scale in (("PatientSize", "height_cm", 0.01), ("PatientWeight", "weight_kg", 1.0)):
        if study.info.get(info_key):
            setattr(ds, keyword, _ds(study.info[info_key] * scale))
    ds.StudyInstanceUID = generate_uid()
    ds.StudyID = "1"
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = generate_uid()
    ds.StudyDate = ds.SeriesDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = now.strftime("%H%M%S")
    ds.Modality = "MR"
    ds.SeriesNumber = 1
    ds.SeriesDescription = description
    ds.ImageType = ["DERIVED", "PRIMARY", "CINE"]
    if study.info.get("heart_rate_bpm"):
        ds.HeartRate = int(round(study.info["heart_rate_bpm"]))
    ds.CardiacNumberOfImages = study.n_frames
    ds.Rows, ds.Columns = study.image.shape[2], study.image.shape[3]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = _ds(slope), _ds(intercept), "US"
    return ds


def _file_dataset(series: Dataset, sop_class: UID) -> Dataset:
    ds = Dataset()
    ds.update(series)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return ds


def _orientation(geometry: _Geometry) -> list[str]:
    return [_ds(v) for v in (*geometry.row_cosines, *geometry.column_cosines)]


def _write_classic(study, folder: Path, series: Dataset, geometry: _Geometry, stored: np.ndarray) -> list[Path]:
    normal = np.cross(geometry.row_cosines, geometry.column_cosines)
    spacing_z, spacing_y, spacing_x = study.spacing
    written = []
    for z in range(study.n_slices):
        position = geometry.position(z)
        for t in range(study.n_frames):
            ds = _file_dataset(series, MR_IMAGE_STORAGE)
            ds.InstanceNumber = z * study.n_frames + t + 1
            ds.TriggerTime = _ds(study.frame_times_ms[t])
            ds.ImageOrientationPatient = _orientation(geometry)
            ds.ImagePositionPatient = [_ds(v) for v in position]
            ds.SliceLocation = _ds(position @ normal)
            ds.PixelSpacing = [_ds(spacing_y), _ds(spacing_x)]  # (row spacing, column spacing)
            ds.SliceThickness = _ds(spacing_z)
            ds.PixelData = np.ascontiguousarray(stored[t, z]).tobytes()
            path = folder / f"IM_{ds.InstanceNumber:05d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            written.append(path)
    return written


def _item(**elements) -> Sequence:
    item = Dataset()
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return Sequence([item])


def _write_enhanced(study, path: Path, series: Dataset, geometry: _Geometry, stored: np.ndarray) -> Path:
    spacing_z, spacing_y, spacing_x = study.spacing
    ds = _file_dataset(series, ENHANCED_MR_IMAGE_STORAGE)
    for keyword in ("RescaleSlope", "RescaleIntercept", "RescaleType"):
        del ds[keyword]  # [PS3.3 C.8.13] they live in the functional groups here
    ds.InstanceNumber = 1
    ds.NumberOfFrames = study.n_frames * study.n_slices
    shared = Dataset()
    shared.PixelMeasuresSequence = _item(
        PixelSpacing=[_ds(spacing_y), _ds(spacing_x)], SliceThickness=_ds(spacing_z), SpacingBetweenSlices=_ds(spacing_z)
    )
    shared.PlaneOrientationSequence = _item(ImageOrientationPatient=_orientation(geometry))
    shared.PixelValueTransformationSequence = _item(
        RescaleSlope=series.RescaleSlope, RescaleIntercept=series.RescaleIntercept, RescaleType="US"
    )
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for z in range(study.n_slices):  # frame order: slice-major, phase fastest
        for t in range(study.n_frames):
            frame = Dataset()
            frame.PlanePositionSequence = _item(ImagePositionPatient=[_ds(v) for v in geometry.position(z)])
            frame.CardiacSynchronizationSequence = _item(NominalCardiacTriggerDelayTime=float(study.frame_times_ms[t]))
            frame.FrameContentSequence = _item(
                StackID="1", InStackPositionNumber=z + 1, TemporalPositionIndex=t + 1, DimensionIndexValues=[z + 1, t + 1]
            )
            frames.append(frame)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = np.ascontiguousarray(stored.transpose(1, 0, 2, 3)).tobytes()  # (Z, T, Y, X) frames
    ds.save_as(path, enforce_file_format=True)
    return path
