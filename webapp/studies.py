"""Opening a study in the web app: bundled examples, uploads, and paths on the server.

Three ways in, one way out: each function returns an `OpenedStudy` (the `CineStudy`,
a key that identifies its source, a label to show) or raises `CineLoadError` with a
message fit to show the user as is.

* `open_example`: a synthetic phantom (`cardiolab.data.phantom.make_phantom`) drawn on
  the fly, with a known ejection fraction in ``study.truth``. The first example is the
  embedded default (seed 0, the study ``cardiolab demo`` measures).
* `open_uploads`: files the browser sent: one NIfTI (3D or 4D), one DICOM file, several
  DICOM files, a NIfTI with its ``_gt``/``_truth.json`` sidecars, the files of an ACDC
  patient folder, or one zip of any of these.
* `open_server_path`: a file or folder on the server, for studies larger than the
  upload limit.

Uploads are untrusted input. What this file does about it:

* every upload is written into its own temporary folder (`UploadSpace`); opening the
  next upload removes the previous folder, and the app removes the whole space when the
  session ends (``ui.upload_space``);
* file names are reduced to a plain base name, so ``../../x`` or ``/etc/x`` cannot place
  a file outside that folder;
* zips go through `cardiolab.data.archive.extract_zip`, which refuses absolute and
  ``..`` entry names and symbolic links, with the app's own caps on the number of files
  and on the decompressed size (`MAX_UNZIPPED_BYTES`, `MAX_ZIP_FILES`);
* a NIfTI header is read before its voxels, and an image that would take more than
  `MAX_IMAGE_BYTES` of memory once decoded is refused (a small ``.nii.gz`` can declare
  gigabytes);
* nothing is ever unpickled: NIfTI, DICOM and zip readers only.

The size of a single upload is limited by Streamlit itself (``server.maxUploadSize``
in ``.streamlit/config.toml``); the app states that limit next to the upload widget.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cardiolab.data import CineLoadError, CineStudy, load_cine
from cardiolab.data.archive import extract_zip

MAX_UNZIPPED_BYTES = 1024**3  # 1 GiB: a 30-frame x 20-slice cine of 512 x 512 int16 DICOMs is 0.3 GiB
MAX_ZIP_FILES = 5_000  # a cine series is a few hundred files; a whole exam a few thousand
MAX_IMAGE_BYTES = 1024**3  # decoded float32 image held in memory (ACDC size is 66 MB)
DATA_ROOT_VARIABLE = "CARDIOLAB_DATA_ROOT"  # if set, server paths must lie inside this folder

NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass
class OpenedStudy:
    """A study the app has opened, with where it came from."""

    key: str  # identifies the source; analyses are cached per (key, model)
    label: str  # what the user sees ("upload: patient001.nii.gz")
    study: CineStudy
    notes: list = field(default_factory=list)  # loader notes worth showing (assumed frame times, ...)


# --- bundled examples -------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    seed: int
    options: dict  # `PhantomOptions` fields; the rest is drawn from the seed
    description: str


# Phantoms drawn on the fly. The rotation is fixed at 0 degrees (anterior up, RV on the
# image's left, the conventional short-axis display) except for the embedded default,
# which is exactly the study `cardiolab demo` generates.
EXAMPLES = {
    "Embedded default (seed 0)": Example(0, {}, "the study `cardiolab demo` measures: a normal heart"),
    "Normal heart (LVEF 62 %)": Example(1, {"lv_ef_pct": 62.0, "rotation_deg": 0.0}, "healthy ventricle"),
    "Reduced EF (LVEF 35 %)": Example(2, {"lv_ef_pct": 35.0, "rotation_deg": 0.0}, "dilated, poorly contracting LV"),
    "Severely reduced EF (LVEF 20 %)": Example(3, {"lv_ef_pct": 20.0, "rotation_deg": 0.0}, "heart failure"),
    "Inferior hypokinesis": Example(
        4, {"lv_ef_pct": 60.0, "rotation_deg": 0.0, "hypokinesis": {"sector_deg": (150.0, 210.0), "severity": 0.8}},
        "the inferior wall barely moves: a lower EF and a thin bull's-eye sector"),
}
DEFAULT_EXAMPLE = "Embedded default (seed 0)"

# How large an example is drawn. "ACDC size" is the size the speed targets are stated for.
EXAMPLE_SIZES = {
    "standard (25 frames x 12 slices x 128 x 128)": {},
    "small, fast (8 frames x 8 slices x 112 x 112)": {"n_frames": 8, "n_slices": 8, "size": (112, 112)},
    "ACDC size (30 frames x 10 slices x 256 x 216)": {"n_frames": 30, "n_slices": 10, "size": (256, 216),
                                                       "pixel_mm": 1.5, "slice_mm": 10.0},
}
DEFAULT_SIZE = "standard (25 frames x 12 slices x 128 x 128)"


def open_example(name: str = DEFAULT_EXAMPLE, size: str = DEFAULT_SIZE) -> OpenedStudy:
    """Draw a bundled example phantom; ``study.truth`` holds its true volumes and EF."""
    from cardiolab.data.phantom import make_phantom

    if name not in EXAMPLES:
        raise ValueError(f"name must be one of {list(EXAMPLES)}, got {name!r}")
    if size not in EXAMPLE_SIZES:
        raise ValueError(f"size must be one of {list(EXAMPLE_SIZES)}, got {size!r}")
    example = EXAMPLES[name]
    study = make_phantom(seed=example.seed, **example.options, **EXAMPLE_SIZES[size])
    return OpenedStudy(key=f"example:{name}:{size}", label=f"example: {name}, {size.split(' (')[0]}", study=study)


# --- the per-session upload folder -------------------------------------------------------------
class UploadSpace:
    """Scratch space of one session: each upload gets a fresh folder, the previous one goes.

    ``new_folder()`` removes the folder of the previous upload and creates the next one;
    ``cleanup()`` removes everything (the app calls it when the session ends). A
    forgotten space is still removed at interpreter exit (TemporaryDirectory's finaliser).
    """

    def __init__(self, parent=None):
        self._root = tempfile.TemporaryDirectory(prefix="cardiolab-session-", dir=parent)
        self.root = Path(self._root.name)
        self.current: Path | None = None
        self._count = 0

    def new_folder(self) -> Path:
        if self.current is not None:
            shutil.rmtree(self.current, ignore_errors=True)
        self._count += 1
        self.current = self.root / f"upload-{self._count}"
        self.current.mkdir()
        return self.current

    def cleanup(self) -> None:
        self.current = None
        self._root.cleanup()


def safe_file_name(name: str, taken: set) -> str:
    """A plain base name for an uploaded file: no folders, no odd characters, no clash."""
    base = re.split(r"[\\/]", str(name))[-1]  # the browser's name may carry a path; keep its last part
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "upload"
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{number}_{base}"
    taken.add(candidate)
    return candidate


def write_uploads(files, folder: Path) -> list[Path]:
    """Write ``[(name, bytes), ...]`` into ``folder`` under safe names; returns the paths."""
    taken, paths = set(), []
    for name, data in files:
        path = Path(folder) / safe_file_name(name, taken)
        path.write_bytes(data)
        paths.append(path)
    return paths


def upload_key(files) -> str:
    """A short key that changes whenever the uploaded names or contents change."""
    digest = hashlib.sha1()
    for name, data in files:
        digest.update(name.encode())
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data[:65536])  # the first 64 KiB and the size tell uploads apart cheaply
    return digest.hexdigest()[:16]


def open_uploads(files, space: UploadSpace) -> OpenedStudy:
    """Open uploaded ``[(name, bytes), ...]`` in a fresh folder of ``space``.

    One file is opened by what it is (NIfTI, zip, DICOM); several files are opened as
    the folder they make up (a DICOM series, a NIfTI with its sidecars, an ACDC patient).
    """
    files = list(files)
    if not files:
        raise ValueError("files must hold at least one (name, bytes) pair")
    folder = space.new_folder()
    paths = write_uploads(files, folder)
    names = ", ".join(name for name, _ in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    try:
        if len(paths) == 1 and paths[0].suffix.lower() == ".zip":
            study = open_zip(paths[0], folder / "unzipped")
        elif len(paths) == 1:
            study = load_checked(paths[0])
        else:
            study = load_checked(folder)
    except CineLoadError as error:
        raise relabelled(error, folder, names) from None
    return OpenedStudy(key=f"upload:{upload_key(files)}", label=f"upload: {names}", study=study,
                       notes=list(study.info.get("notes", [])))


def open_server_path(text: str, space: UploadSpace, data_root=None) -> OpenedStudy:
    """Open a file or folder on the server (for studies larger than the upload limit).

    ``data_root`` (default: the ``CARDIOLAB_DATA_ROOT`` environment variable) restricts
    paths to one folder; without it any path the server can read is accepted, which is
    why the server binds to localhost unless configured otherwise.
    """
    if not str(text).strip():
        raise CineLoadError("<empty>", "give the path of a file or folder on the server")
    path = Path(str(text).strip()).expanduser().resolve()
    data_root = data_root or os.environ.get(DATA_ROOT_VARIABLE)
    if data_root and not path.is_relative_to(Path(data_root).expanduser().resolve()):
        raise CineLoadError(path, f"is outside the data folder this server allows ({DATA_ROOT_VARIABLE})")
    if not path.exists():
        raise CineLoadError(path, "no such file or folder on the server")
    if path.is_file() and path.suffix.lower() == ".zip":
        study = open_zip(path, space.new_folder() / "unzipped")
    else:
        study = load_checked(path)
    stamp = path.stat().st_mtime_ns
    return OpenedStudy(key=f"path:{path}:{stamp}", label=f"server: {path}", study=study,
                       notes=list(study.info.get("notes", [])))


# --- reading, with the app's limits -------------------------------------------------------------
def open_zip(zip_path: Path, folder: Path, max_bytes: int = MAX_UNZIPPED_BYTES,
             max_files: int = MAX_ZIP_FILES) -> CineStudy:
    """Extract a zip safely (capped) into ``folder`` and open what it holds."""
    root = extract_zip(zip_path, folder, max_total_bytes=max_bytes, max_files=max_files)
    # A zip usually wraps everything in one top folder: descend into it.
    entries = visible_entries(root)
    while len(entries) == 1 and entries[0].is_dir():
        root = entries[0]
        entries = visible_entries(root)
    if not entries:
        raise CineLoadError(zip_path, "the zip holds no files")
    if len(entries) == 1 and entries[0].is_file():
        return load_checked(entries[0])
    return load_checked(root)


def visible_entries(folder: Path) -> list[Path]:
    return [p for p in Path(folder).iterdir() if not p.name.startswith((".", "__MACOSX"))]


def load_checked(source) -> CineStudy:
    """`load_cine` after the NIfTI size check; any reader failure becomes a `CineLoadError`."""
    source = Path(source)
    for path in ([source] if source.is_file() else sorted(source.iterdir())):
        if str(path).lower().endswith(NIFTI_SUFFIXES):
            check_nifti_size(path)
    try:
        return load_cine(source)
    except CineLoadError:
        raise
    except Exception as error:  # a reader failing in an unforeseen way: say so, keep the app alive
        raise CineLoadError(source, f"could not be read ({type(error).__name__}: {error})") from None


def check_nifti_size(path: Path, max_bytes: int = MAX_IMAGE_BYTES) -> None:
    """Refuse a NIfTI whose header declares more than ``max_bytes`` of float32 voxels."""
    import nibabel as nib

    opener = gzip.open if str(path).lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            header = nib.Nifti1Header.from_fileobj(handle, check=False)
    except Exception as error:
        raise CineLoadError(path, f"not a readable NIfTI file ({type(error).__name__}: {error})") from None
    n_dims = int(header["dim"][0])
    if not 1 <= n_dims <= 7:
        raise CineLoadError(path, f"not a readable NIfTI file (header declares {n_dims} dimensions)")
    n_voxels = int(np.prod([max(int(d), 1) for d in header["dim"][1:n_dims + 1]], dtype=np.float64))
    if n_voxels * 4 > max_bytes:
        raise CineLoadError(path, f"declares {n_voxels} voxels ({n_voxels * 4 / 1024**2:.0f} MB as float32), "
                                  f"over the app's limit of {max_bytes / 1024**2:.0f} MB")


def relabelled(error: CineLoadError, folder: Path, upload_names: str) -> CineLoadError:
    """The loader's error with the uploaded names in place of the server's temporary folder."""
    folder = Path(folder).resolve()
    try:
        shown_path = str(Path(error.path).resolve().relative_to(folder))
    except ValueError:  # not a path inside the folder (e.g. "<empty list>")
        shown_path = error.path
    shown_path = upload_names if shown_path in (".", "") else shown_path.removeprefix("unzipped" + os.sep)
    problem = error.problem.replace(str(folder) + os.sep, "").replace(str(folder), "the upload")
    return CineLoadError(shown_path, problem)
