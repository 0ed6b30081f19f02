"""How long does loading a cine take?

Times `cardiolab.data.load_cine` on

(a) ACDC patient folders (NIfTI; patient001 has only ED/ES, patient090 a full 4D cine),
    skipped with a message where the data is absent;
(b) a classic DICOM series of 300 files (30 phases x 10 slices x 256 x 216, the size of
    a clinical short-axis cine) written once to a temporary folder with
    `save_dicom_series`, loaded from the folder, from a list of files and from a zip,
    and the same study as one enhanced multi-frame file.

Each figure is the median of ``--repeats`` runs (the files stay in the OS cache, so
these are warm-cache times), wall clock and CPU time of this process; writing is timed
once. Usage::

    python benchmarks/bench_load.py [--acdc PATH] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from cardiolab.data import CineStudy, load_cine
from cardiolab.data.dicom import save_dicom_series

DEFAULT_ACDC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "acdc" / "training"
ACDC_PATIENTS = ("patient001", "patient090")
DICOM_SHAPE = (30, 10, 256, 216)  # (T, Z, Y, X): 300 files
DICOM_SPACING = (8.0, 1.5, 1.5)  # (z, y, x) mm


def median_seconds(load, repeats: int) -> tuple[tuple[float, float], object]:
    """Median wall-clock and CPU seconds of ``repeats`` calls, and the last result.

    CPU time is printed too because on a busy machine the wall clock mostly measures
    the other processes."""
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        result = load()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return (statistics.median(wall), statistics.median(cpu)), result


def synthetic_study() -> CineStudy:
    rng = np.random.default_rng(0)
    image = rng.gamma(2.0, 100.0, DICOM_SHAPE).astype(np.float32)
    frame_times = np.arange(DICOM_SHAPE[0]) * 33.0  # ms, about a 1 s beat
    return CineStudy(image, DICOM_SPACING, frame_times_ms=frame_times)


def row(name: str, seconds: tuple[float, float], study: CineStudy, per_file: int | None = None) -> str:
    wall, cpu = seconds
    shape = "x".join(str(n) for n in study.shape)
    rate = f"{wall / per_file * 1000:.2f}" if per_file else "-"
    return f"{name:<34} {shape:>14} {wall * 1000:9.1f} {cpu * 1000:9.1f} {rate:>10}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acdc", type=Path, default=DEFAULT_ACDC, help="ACDC training folder (patientNNN folders inside)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is printed")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    lines = [f"{'source':<34} {'T x Z x Y x X':>14} {'wall ms':>9} {'cpu ms':>9} {'wall/file':>10}"]
    for patient in ACDC_PATIENTS:
        folder = args.acdc / patient
        if not folder.is_dir():
            print(f"skipping ACDC {patient}: {folder} not found (pass --acdc PATH)")
            continue
        seconds, study = median_seconds(lambda: load_cine(folder), args.repeats)
        lines.append(row(f"ACDC {patient} (NIfTI)", seconds, study))

    study = synthetic_study()
    with tempfile.TemporaryDirectory(prefix="cardiolab-bench-") as scratch:
        scratch = Path(scratch)
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        files = save_dicom_series(study, scratch / "classic")
        write_seconds = (time.perf_counter() - start_wall, time.process_time() - start_cpu)
        (enhanced,) = save_dicom_series(study, scratch / "enhanced", enhanced=True)
        archive = scratch / "series.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in files:
                zipped.write(path, f"exam/{path.name}")

        n_files = len(files)
        lines.append(row(f"write DICOM series ({n_files} files)", write_seconds, study, n_files))
        for name, source, per_file in (
            (f"DICOM folder ({n_files} files)", scratch / "classic", n_files),
            (f"DICOM file list ({n_files} files)", files, n_files),
            (f"DICOM zip ({n_files} files)", archive, n_files),
            ("DICOM enhanced (1 file)", enhanced, None),
        ):
            seconds, loaded = median_seconds(lambda source=source: load_cine(source), args.repeats)
            error = float(np.abs(loaded.image - study.image).max())
            assert error < 0.01 * float(study.image.max()), f"{name}: round trip error {error}"
            lines.append(row(name, seconds, loaded, per_file))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
