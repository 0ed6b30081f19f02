"""Time the web app in a real browser: upload -> first EF, and the redraw of a slider step.

The targets: from upload to the first displayed EF of an ACDC-size cine (30 frames x 10
slices x 256 x 216) under 10 s for a NIfTI and 12 s for a zipped DICOM export on a
2-core CPU, and a redraw after changing the slice or frame well under a second. The script

1. writes an ACDC-size phantom as a 4D NIfTI (``--format nifti``, as `bench_analyze.py`
   does) or as a zipped PACS export of classic DICOM files with every quirk of
   `cardiolab.data.scanner_export` (``--format dicom``: 300 files, a localiser, a DICOMDIR),
2. serves the app with ``streamlit run`` on a free local port (`webapp.serve`),
3. opens it in the system's headless Chromium (`webapp.browser`, Playwright) on the
   Course page (which runs no model) and hands the file to the sidebar's uploader,
4. times from handing over the file to the ``LVEF`` tile showing a number (transfer,
   unpacking, reading, heart location, 300 slices through the default model, the
   measures, the drawing), and reads the app's own timing of the model run from the page,
5. steps the frame and the slice sliders ``--steps`` times each and times each redraw
   (from the key press to the new image caption).

    python benchmarks/bench_app.py [--steps 10] [--size acdc|ge|small] [--format nifti|dicom]

Needs Chromium (``apt-get install chromium``) and Playwright; downloads nothing.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `webapp` lives beside `cardiolab`

from webapp import browser, serve

SIZES = {
    "acdc": {"n_frames": 30, "n_slices": 10, "size": (256, 216), "pixel_mm": 1.5, "slice_mm": 10.0},
    "ge": {"n_frames": 20, "n_slices": 12, "size": (256, 256), "pixel_mm": 1.4, "slice_mm": 8.0},  # the GE Signa export
    "small": {"n_frames": 8, "n_slices": 8, "size": (112, 112)},
}


def write_cine(folder: Path, size: str, file_format: str = "nifti"):
    from cardiolab.data import save_nifti
    from cardiolab.data.phantom import make_phantom
    from cardiolab.data.scanner_export import write_scanner_export, zip_folder

    study = make_phantom(seed=0, **SIZES[size])
    if file_format == "dicom":  # stored as uint16 with one slope for the series, as scanners do
        return zip_folder(write_scanner_export(study, folder / "EXPORT"), folder / "export.zip"), study
    step_ms = float(study.frame_times_ms[1] - study.frame_times_ms[0])
    # Scanners store integer intensities (12-bit MR; ACDC's float32 files hold whole
    # numbers), which gzip compresses to ~1.4 bytes a voxel. The phantom's float noise
    # would not compress at all (60 MB instead of ~20 MB): store it as a scanner would.
    image = np.round(study.image / study.image.max() * 4095).astype(np.float32)
    return save_nifti(folder / "cine.nii.gz", image, study.affine, frame_duration_ms=step_ms), study


def time_redraws(page, label: str, steps: int, caption) -> list[float]:
    return [browser.time_redraw(page, label, caption(step)) for step in range(1, steps + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="slider steps timed per slider")
    parser.add_argument("--size", choices=sorted(SIZES), default="acdc")
    parser.add_argument("--format", choices=("nifti", "dicom"), default="nifti", help="what the user uploads")
    args = parser.parse_args()
    missing = browser.missing_requirements()
    if missing:
        raise SystemExit(f"cannot run: {missing}")
    with tempfile.TemporaryDirectory() as folder:
        path, study = write_cine(Path(folder), args.size, args.format)
        file_mb = path.stat().st_size / 1e6
        with serve.serve_app(log_path=Path(folder) / "streamlit.log") as url, browser.headless_chromium() as chromium:
            page = browser.open_page(chromium, url + "/course", timeout_s=600)
            started = time.perf_counter()
            browser.upload(page, [path])
            browser.go_to(page, "Analyse")
            lvef_pct = browser.metric_number(page, "LVEF")
            upload_to_ef_s = time.perf_counter() - started
            ran_in = page.get_by_text(re.compile(r"^default ran in [\d.]+ s")).first.inner_text()
            model_s = float(re.search(r"ran in ([\d.]+) s", ran_in).group(1))  # the app's own timing of the run
            page.get_by_text(re.compile(r"^frame 0\b")).first.wait_for()
            time.sleep(1.0)  # let the page settle: the first redraw should not wait for the curve
            frame_steps = min(args.steps, study.n_frames - 1)
            frames = time_redraws(page, "Frame (cardiac phase)", frame_steps, lambda i: re.compile(rf"^frame {i}\b"))
            first_slice = study.n_slices // 2  # where the viewer starts
            slice_steps = min(args.steps, study.n_slices - 1 - first_slice)
            slices = time_redraws(page, "Slice", slice_steps, lambda i: re.compile(rf"slice {first_slice + i}: default$"))
    t, z, y, x = study.shape
    what = "NIfTI" if args.format == "nifti" else "zip of a DICOM export"
    print(f"cine {t} x {z} x {y} x {x} ({file_mb:.1f} MB {what}), default model, CPU")
    print(f"upload -> first LVEF shown: {upload_to_ef_s:.2f} s, of which the model run (with measures) "
          f"{model_s:.1f} s   (LVEF {lvef_pct:.1f} %, truth {study.truth['lv_ef_pct']:.1f} %)")
    print(f"redraw after a frame step: median {statistics.median(frames):.3f} s, max {max(frames):.3f} s ({len(frames)} steps)")
    print(f"redraw after a slice step: median {statistics.median(slices):.3f} s, max {max(slices):.3f} s ({len(slices)} steps)")


if __name__ == "__main__":
    main()
