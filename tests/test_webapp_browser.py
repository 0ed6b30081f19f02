"""End-to-end: the app served by ``streamlit run`` on localhost, driven by headless Chromium.

The distribution's Chromium is driven by Playwright (never a downloaded browser); the
tests skip with the reason where either is missing. What a user does:

* upload a phantom 4D NIfTI, let the default model run, read the ``LVEF`` tile and
  compare it with the phantom's true EF (within 5 percentage points);
* step the frame and slice sliders and time the redraw;
* upload a broken file and read the loader's message; the app keeps working.

Screenshots go to ``$CARDIOLAB_TEST_ARTIFACTS`` (default: a pytest temporary folder),
never into the repository. Timings are printed (``pytest -s`` shows them); only a
generous bound is asserted here, the figures belong to ``benchmarks/bench_app.py``.
"""
import os
import re
import statistics
import sys
import time
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from webapp import browser, serve

MISSING = browser.missing_requirements()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(MISSING is not None, reason=f"browser tests: {MISSING}")]

EF_TOLERANCE_PCT = 5.0  # the bound for the LVEF read in the browser vs the phantom truth
REDRAW_BOUND_S = 10.0  # generous: a redraw takes well under a second on an idle machine
FRAME_SLIDER = "Frame (cardiac phase)"


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    """Where screenshots and the server log go: $CARDIOLAB_TEST_ARTIFACTS, never the repository."""
    chosen = os.environ.get("CARDIOLAB_TEST_ARTIFACTS")
    folder = Path(chosen).resolve() if chosen else tmp_path_factory.mktemp("webapp_artifacts")
    if folder.is_relative_to(PROJECT_ROOT):
        folder = tmp_path_factory.mktemp("webapp_artifacts")  # test artefacts never land in the repository
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser test artefacts: {folder}")
    return folder


@pytest.fixture(scope="module")
def app_url(artefacts):
    with serve.serve_app(log_path=artefacts / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    with browser.headless_chromium() as running:
        yield running


def write_phantom_nifti(folder: Path):
    """A small 4D phantom as one NIfTI file (no sidecars: the app sees only the image)."""
    from cardiolab.data import save_nifti
    from cardiolab.data.phantom import make_phantom

    study = make_phantom(seed=3, lv_ef_pct=20.0, rotation_deg=0.0, n_frames=8, n_slices=8, size=(112, 112))
    step_ms = float(study.frame_times_ms[1] - study.frame_times_ms[0])
    return save_nifti(folder / "phantom.nii.gz", study.image, study.affine, frame_duration_ms=step_ms), study.truth


def test_upload_a_phantom_and_read_its_lvef(app_url, chromium, artefacts, tmp_path):
    path, truth = write_phantom_nifti(tmp_path)
    page = browser.open_page(chromium, app_url + "/course", timeout_s=300)  # a page that runs no model
    started = time.perf_counter()
    browser.upload(page, [path])
    page.get_by_text("Open: upload: phantom.nii.gz").wait_for()
    browser.go_to(page, "Analyse")
    lvef_pct = browser.metric_number(page, "LVEF")
    upload_to_ef_s = time.perf_counter() - started
    page.screenshot(path=str(artefacts / "analyse_lvef.png"))
    print(f"upload -> first LVEF: {upload_to_ef_s:.2f} s (8 x 8 x 112 x 112 cine); "
          f"LVEF {lvef_pct:.1f} % vs truth {truth['lv_ef_pct']:.1f} %")
    assert lvef_pct == pytest.approx(truth["lv_ef_pct"], abs=EF_TOLERANCE_PCT)

    page.get_by_text(re.compile(r"^frame 0\b")).first.wait_for()
    frame_redraws = [browser.time_redraw(page, FRAME_SLIDER, re.compile(rf"^frame {frame}\b")) for frame in range(1, 6)]
    slice_redraw = browser.time_redraw(page, "Slice", re.compile(r"slice 5: default$"), key="ArrowRight")
    page.locator('[data-testid="stImage"]').first.scroll_into_view_if_needed()
    page.screenshot(path=str(artefacts / "analyse_viewer.png"))
    print(f"redraw after a frame step: median {statistics.median(frame_redraws):.3f} s, "
          f"max {max(frame_redraws):.3f} s; after a slice step: {slice_redraw:.3f} s")
    assert max(frame_redraws + [slice_redraw]) < REDRAW_BOUND_S


def test_broken_upload_shows_the_loader_error(app_url, chromium, artefacts, tmp_path):
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"\x1f\x8b this is not a NIfTI image")
    page = browser.open_page(chromium, app_url + "/course", timeout_s=300)
    browser.upload(page, [broken])
    error = page.locator('[data-testid="stAlert"]', has_text="Could not open the study: broken.nii.gz")
    error.first.wait_for()
    page.screenshot(path=str(artefacts / "broken_upload.png"))
    assert "not a readable NIfTI" in error.first.inner_text()
    page.get_by_text("Open: example: Embedded default (seed 0)").wait_for()  # the previous study is still open


def write_dicom_zip(folder: Path):
    """A zip of a cine as a PACS exports it (`cardiolab.data.scanner_export`): the GE Signa
    stray empty functional-groups element, invalid UIDs, private tags, a localiser, a
    DICOMDIR, files without preamble."""
    from cardiolab.data.phantom import make_phantom
    from cardiolab.data.scanner_export import write_scanner_export, zip_folder

    study = make_phantom(seed=3, lv_ef_pct=20.0, rotation_deg=0.0, n_frames=8, n_slices=8, size=(112, 112))
    return zip_folder(write_scanner_export(study, folder / "EXPORT"), folder / "export.zip"), study.truth


def test_landing_page_takes_a_dicom_zip_and_shows_its_ef_and_volume_curve(app_url, chromium, artefacts, tmp_path):
    archive, truth = write_dicom_zip(tmp_path)
    page = browser.open_page(chromium, app_url, timeout_s=300)  # the landing page, no click
    default_lvef_pct = browser.metric_number(page, "LVEF")  # the embedded default has been measured
    started = time.perf_counter()
    page.locator("input[type=file]").set_input_files([str(archive)])
    page.get_by_text("Open: upload: export.zip").wait_for()
    lvef_pct = default_lvef_pct
    while lvef_pct == default_lvef_pct and time.perf_counter() - started < 120:  # until the new study's tile
        time.sleep(0.2)
        lvef_pct = browser.metric_number(page, "LVEF")
    upload_to_ef_s = time.perf_counter() - started
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for()  # the volume curve
    page.get_by_text("How this study was read").first.wait_for()  # the reader's warnings, shown
    assert "LOCALIZER" in page.locator('[data-testid="stAlert"]', has_text="How this study was read").first.inner_text()
    page.screenshot(path=str(artefacts / "dicom_zip_lvef.png"))
    print(f"DICOM zip upload -> LVEF on the landing page: {upload_to_ef_s:.2f} s; "
          f"LVEF {lvef_pct:.1f} % vs truth {truth['lv_ef_pct']:.1f} %")
    assert lvef_pct == pytest.approx(truth["lv_ef_pct"], abs=EF_TOLERANCE_PCT)
