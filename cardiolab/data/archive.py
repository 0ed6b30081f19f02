"""Safe zip extraction for uploaded studies.

Users hand cardiolab a zip of DICOM files (the web app takes uploads). A zip is not
trusted input: an entry may be named ``../../home/user/.bashrc`` or ``/etc/passwd``
("zip slip"), may be a symbolic link pointing anywhere, and a few kilobytes can declare
or decompress to gigabytes ("zip bomb"). `extract_zip` refuses all of these before
writing outside the destination or filling the disk:

1. the archive must open as a zip (else: not a zip / corrupt);
2. every entry name is checked: no absolute path, no drive letter, no ``..`` part, no
   symbolic link, and the resolved target must lie inside the destination;
3. the number of files and the sum of the declared uncompressed sizes are capped
   before anything is written;
4. while streaming, the bytes actually written are counted against the same cap, so a
   header that lies about its size cannot get past it; zipfile's CRC check catches
   data that does not match its header.

Every refusal is a `CineLoadError` naming the zip and the offending entry.
"""
from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

from cardiolab.data.errors import CineLoadError

# Largest total uncompressed size accepted (bytes). A cine series is tens to hundreds of
# MB; 2 GiB leaves room for a whole exam while keeping a zip bomb off the disk.
MAX_TOTAL_BYTES = 2 * 1024**3
# Most files accepted in one zip. A whole cardiac exam is a few thousand images.
MAX_FILES = 20_000
# Bytes copied per read while streaming an entry to disk.
COPY_CHUNK_BYTES = 1024 * 1024

DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


def extract_zip(zip_path, dest_folder, max_total_bytes: int = MAX_TOTAL_BYTES, max_files: int = MAX_FILES) -> Path:
    """Extract ``zip_path`` into ``dest_folder`` (created if needed) and return the folder.

    Raises `CineLoadError` for a non-zip or corrupt archive, an entry that would land
    outside ``dest_folder`` (absolute, drive letter, ``..``, symbolic link), more than
    ``max_files`` files, or more than ``max_total_bytes`` uncompressed bytes.
    """
    zip_path = Path(zip_path)
    if max_total_bytes <= 0:
        raise ValueError(f"max_total_bytes must be positive, got {max_total_bytes}")
    if max_files <= 0:
        raise ValueError(f"max_files must be positive, got {max_files}")
    if not zip_path.is_file():
        raise CineLoadError(zip_path, "no such file")
    dest = Path(dest_folder)
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise CineLoadError(zip_path, f"not a zip file or a corrupt one ({error})") from None
    with archive:
        entries = archive.infolist()
        targets = [_checked_target(zip_path, dest, entry) for entry in entries]
        _check_totals(zip_path, entries, max_total_bytes, max_files)
        written_bytes = 0
        for entry, target in zip(entries, targets):
            if entry.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written_bytes = _stream_entry(zip_path, archive, entry, target, written_bytes, max_total_bytes)
    return dest


def _refuse(zip_path: Path, entry_name: str, problem: str) -> CineLoadError:
    return CineLoadError(zip_path, f"entry {entry_name!r} {problem}")


def _checked_target(zip_path: Path, dest: Path, entry: zipfile.ZipInfo) -> Path:
    """The path an entry would be written to, after refusing every unsafe name."""
    name = entry.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts  # Windows zips may use backslashes
    if name.startswith(("/", "\\")):
        raise _refuse(zip_path, name, "has an absolute path")
    if DRIVE_LETTER.match(name):
        raise _refuse(zip_path, name, "starts with a drive letter")
    if ".." in parts:
        raise _refuse(zip_path, name, "has a '..' component (it would escape the destination)")
    # The top 4 bits of the Unix mode sit in the upper half of external_attr.
    if stat.S_ISLNK(entry.external_attr >> 16):
        raise _refuse(zip_path, name, "is a symbolic link")
    target = (dest / Path(*parts)).resolve() if parts else dest
    if not target.is_relative_to(dest):
        raise _refuse(zip_path, name, f"resolves to {target}, outside the destination")
    return target


def _check_totals(zip_path: Path, entries, max_total_bytes: int, max_files: int) -> None:
    files = [entry for entry in entries if not entry.is_dir()]
    if len(files) > max_files:
        past = files[max_files].filename
        raise CineLoadError(zip_path, f"holds {len(files)} files, more than the limit of {max_files} (entry {past!r} is past it)")
    declared = 0
    for entry in files:
        declared += entry.file_size
        if declared > max_total_bytes:
            problem = f"takes the declared uncompressed size to {declared} bytes, over the limit of {max_total_bytes}"
            raise _refuse(zip_path, entry.filename, problem)


def _stream_entry(zip_path: Path, archive: zipfile.ZipFile, entry, target: Path, written_bytes: int, max_total_bytes: int) -> int:
    """Copy one entry to disk in chunks, counting real bytes against the cap."""
    try:
        with archive.open(entry) as source, open(target, "wb") as sink:
            while chunk := source.read(COPY_CHUNK_BYTES):
                written_bytes += len(chunk)
                if written_bytes > max_total_bytes:
                    problem = f"decompresses past the limit of {max_total_bytes} bytes (its header said {entry.file_size})"
                    raise _refuse(zip_path, entry.filename, problem)
                sink.write(chunk)
    except CineLoadError:
        target.unlink(missing_ok=True)
        raise
    except Exception as error:  # BadZipFile (bad CRC), zlib.error, EOFError, encrypted entries, ...
        target.unlink(missing_ok=True)
        raise _refuse(zip_path, entry.filename, f"cannot be extracted ({type(error).__name__}: {error})") from None
    return written_bytes
