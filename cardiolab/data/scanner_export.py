"""Write a cine as a scanner's PACS export really looks: the messy DICOM readers must take.

A clean series written by `cardiolab.data.dicom.save_dicom_series` is what the standard
describes. What reaches a user from a scanner or a PACS differs in ways that break
naive readers; this module reproduces the common ones, so tests, benchmarks and the
course can show that `load_cine` reads them and says what it tolerated:

* a stray, empty ``PerFrameFunctionalGroupsSequence`` in every classic image (seen in
  GE Signa exports), which fools a reader into taking the file for enhanced multi-frame;
* UIDs that break the UI rules (a component with a leading zero), on which pydicom warns;
* vendor private blocks (a GE acquisition block, a Siemens CSA-like header);
* a localiser series in the same folder, which must not be mistaken for the cine;
* some files written without the 128-byte preamble and ``DICM`` prefix;
* a ``DICOMDIR`` index and a text report beside the images.

    export_folder = write_scanner_export(study, tmp / "EXPORT")
    archive = zip_folder(export_folder, tmp / "export.zip")   # what a user uploads

Nothing here is needed to *read* DICOM; it exists to prove the reader on real-world mess.
"""
from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import pydicom
from pydicom.sequence import Sequence

from cardiolab.data.dicom import save_dicom_series
from cardiolab.data.study import CineStudy

GE_LIKE_UID_ROOT = "1.2.840.0113619.2.80"  # "0113619": a leading zero, invalid in a UID
QUIRKS = ("empty_functional_groups", "invalid_uids", "private_tags", "localiser", "no_preamble", "dicomdir", "report")


def write_scanner_export(study: CineStudy, folder, quirks=QUIRKS, series_description: str = "SA CINE") -> Path:
    """Write ``study`` into ``folder`` as a PACS export with the given ``quirks``; returns ``folder``.

    With a DICOMDIR the files are laid out as on an exported CD (``PT*/ST*/SE*/IM*``, the
    names the index points to); without one, as ``SE0001`` (localiser) and ``SE0002``
    (the cine). Pixel values and geometry stay exactly those of `save_dicom_series`.
    """
    unknown = set(quirks) - set(QUIRKS)
    if unknown:
        raise ValueError(f"unknown quirks {sorted(unknown)}; choose from {QUIRKS}")
    folder = Path(folder)
    staging = folder / "_staging" if "dicomdir" in quirks else folder
    series_uid = f"{GE_LIKE_UID_ROOT}.2" if "invalid_uids" in quirks else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid UIDs written on purpose
        files = save_dicom_series(study, staging / "SE0002", series_description=series_description, series_uid=series_uid)
        if "localiser" in quirks:
            files += _write_localiser(study, staging / "SE0001")
        for index, path in enumerate(files):
            _add_quirks(path, index, quirks)
        if "dicomdir" in quirks:
            files = _as_file_set(files, folder)
            _remove_tree(staging)
        if "no_preamble" in quirks:
            for path in files[3::7]:  # a few files, as a relay that drops the preamble writes them
                _drop_preamble(path)
    if "report" in quirks:
        (folder / "REPORT.TXT").write_text("Exported by the scanner's PACS client.\n")
    return folder


def zip_folder(folder, archive) -> Path:
    """Zip ``folder`` (its own name as the top folder), as a user would before uploading."""
    folder, archive = Path(folder), Path(archive)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            bundle.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    return archive


def _write_localiser(study: CineStudy, folder: Path) -> list[Path]:
    """One frame of one slice: a scout image, a series of its own."""
    localiser = study.frames([0]).slices(study.n_slices // 2)
    localiser.labels = {}
    return save_dicom_series(localiser, folder, series_description="LOCALIZER")


def _add_quirks(path: Path, index: int, quirks) -> None:
    dataset = pydicom.dcmread(path)
    if "empty_functional_groups" in quirks:
        dataset.PerFrameFunctionalGroupsSequence = Sequence([])  # empty: the file is still a classic image
    if "invalid_uids" in quirks:
        dataset.SOPInstanceUID = f"{GE_LIKE_UID_ROOT}.3.{index + 1}"
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        if dataset.SeriesDescription == "LOCALIZER":
            dataset.SeriesInstanceUID = f"{GE_LIKE_UID_ROOT}.1"
    if "private_tags" in quirks:
        dataset.private_block(0x0019, "GEMS_ACQU_01", create=True).add_new(0x10, "DS", "1.5")
        dataset.private_block(0x0029, "SIEMENS CSA HEADER", create=True).add_new(0x10, "OB", b"SV10" + bytes(28))
    dataset.save_as(path)


def _as_file_set(files: list[Path], folder: Path) -> list[Path]:
    """Copy the images into ``folder`` as a DICOM File-set (PS3.10): a DICOMDIR and the
    ``PT*/ST*/SE*/IM*`` tree it indexes, as on a CD from a PACS. Returns the new paths."""
    from pydicom.fileset import FileSet

    file_set = FileSet()
    for path in files:
        file_set.add(pydicom.dcmread(path))
    file_set.write(folder)
    return sorted(Path(instance.path) for instance in file_set)


def _drop_preamble(path: Path) -> None:
    dataset = pydicom.dcmread(path)
    dataset.preamble = None
    dataset.save_as(path, enforce_file_format=False)


def _remove_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    folder.rmdir()
