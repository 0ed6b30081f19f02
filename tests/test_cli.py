"""The `cardiolab` command, run as a user would (a subprocess)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from cardiolab.data import save_nifti

INFO_KEYS = {"n_frames", "n_slices", "shape", "spacing_mm", "frame_times_ms", "labelled_frames", "ed_frame", "es_frame"}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "cardiolab", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_info_json_on_a_4d_nifti(tmp_path):
    path = save_nifti(tmp_path / "cine.nii.gz", np.zeros((7, 3, 12, 10), np.float32), spacing=(8, 1.5, 1.5), frame_duration_ms=40)
    result = run_cli("info", path, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert INFO_KEYS <= set(info)
    assert info["shape"] == [7, 3, 12, 10] and info["n_frames"] == 7 and info["spacing_mm"] == [8, 1.5, 1.5]
    assert info["frame_times_ms"][1] == pytest.approx(40.0)


def test_info_text_on_an_acdc_patient(acdc_training):
    result = run_cli("info", acdc_training / "patient090")
    assert result.returncode == 0, result.stderr
    assert "(12, 7, 224, 154)" in result.stdout and "3 / 10" in result.stdout


def test_info_json_on_an_acdc_patient(acdc_training):
    info = json.loads(run_cli("info", acdc_training / "patient001", "--json").stdout)
    assert info["labelled_frames"] == [0, 1] and info["n_slices"] == 10


def test_unreadable_input_gives_one_clear_line_and_exit_code_2(tmp_path):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"\x1f\x8b garbage")
    result = run_cli("info", bad)
    assert result.returncode == 2
    assert "broken.nii.gz" in result.stderr and "Traceback" not in result.stderr


def test_info_json_on_a_dicom_cine_folder(tmp_path):
    from cardiolab.data import CineStudy
    from cardiolab.data.dicom import save_dicom_series

    image = np.random.default_rng(0).random((5, 4, 16, 12)).astype(np.float32) * 500
    study = CineStudy(image=image, spacing=(8.0, 1.5, 1.5), frame_times_ms=np.arange(5) * 45.0)
    save_dicom_series(study, tmp_path / "dicom")
    info = json.loads(run_cli("info", tmp_path / "dicom", "--json").stdout)
    assert info["shape"] == [5, 4, 16, 12]
    assert info["spacing_mm"] == pytest.approx([8.0, 1.5, 1.5], abs=1e-3)
    assert info["frame_times_ms"] == pytest.approx(list(np.arange(5) * 45.0), abs=0.5)


def test_info_shows_how_a_pacs_export_was_read(tmp_path):
    from cardiolab.data.phantom import make_phantom
    from cardiolab.data.scanner_export import write_scanner_export, zip_folder

    study = make_phantom(seed=1, n_frames=4, n_slices=3, size=(32, 32))
    archive = zip_folder(write_scanner_export(study, tmp_path / "EXPORT"), tmp_path / "export.zip")
    text = run_cli("info", archive)
    assert text.returncode == 0, text.stderr
    assert "format          dicom, series 1.2.840.0113619.2.80.2 ('SA CINE')" in text.stdout
    warning_lines = [line for line in text.stdout.splitlines() if line.startswith("warning")]
    assert len(warning_lines) == 5 and any("LOCALIZER" in line for line in warning_lines)
    info = json.loads(run_cli("info", archive, "--json").stdout)
    assert INFO_KEYS <= set(info) and info["shape"] == [4, 3, 32, 32]
    assert info["provenance"]["warnings"] == info["notes"] and info["provenance"]["series_found"] == 2


def test_phantom_command_writes_an_image_its_labels_and_truth(tmp_path):
    result = run_cli("phantom", tmp_path / "ph.nii.gz", "--seed", 2, "--ef", 40, "--frames", 10, "--slices", 6)
    assert result.returncode == 0, result.stderr
    info = json.loads(run_cli("info", tmp_path / "ph.nii.gz", "--json").stdout)
    assert info["n_frames"] == 10 and info["n_slices"] == 6 and len(info["labelled_frames"]) == 10
    truth = json.loads((tmp_path / "ph_truth.json").read_text())
    assert truth["lv_ef_pct"] == pytest.approx(40, abs=0.5)


def test_an_unknown_model_name_is_one_clear_line(tmp_path):
    path = save_nifti(tmp_path / "cine.nii.gz", np.zeros((3, 2, 16, 16), np.float32), spacing=(8, 1.5, 1.5))
    result = run_cli("analyze", path, "--model", "no_such_model", "--out", tmp_path / "out")
    assert result.returncode == 2
    assert "no bundled model 'no_such_model'" in result.stderr and "Traceback" not in result.stderr
