"""NIfTI reading/writing: round trip, sidecars and bad input."""
import gzip
import json

import nibabel as nib
import numpy as np
import pytest

from cardiolab.data import CineLoadError, CineStudy, load_cine, save_nifti, save_study


def oblique_affine(spacing_zyx):
    z, y, x = spacing_zyx
    angle = np.deg2rad(25)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([x, y, z])
    affine[:3, 3] = [-40.0, 12.5, 7.0]
    return affine


def test_round_trip_preserves_data_spacing_affine_and_timing(tmp_path):
    rng = np.random.default_rng(1)
    image = rng.random((6, 3, 10, 7)).astype(np.float32)
    affine = oblique_affine((8.0, 1.4, 1.3))
    path = save_nifti(tmp_path / "cine.nii.gz", image, affine, frame_duration_ms=33.0)
    # The file is (X, Y, Z, T), as NIfTI readers expect.
    assert nib.load(str(path)).shape == (7, 10, 3, 6)
    study = load_cine(path)
    np.testing.assert_array_equal(study.image, image)
    np.testing.assert_allclose(study.spacing, (8.0, 1.4, 1.3), rtol=1e-6)
    np.testing.assert_allclose(study.affine, affine, atol=1e-5)
    np.testing.assert_allclose(study.frame_times_ms, np.arange(6) * 33.0, rtol=1e-6)
    again = save_nifti(tmp_path / "again.nii.gz", study.image, study.affine, frame_duration_ms=33.0)
    np.testing.assert_array_equal(np.asarray(nib.load(str(again)).dataobj), np.asarray(nib.load(str(path)).dataobj))


def test_3d_nifti_is_a_single_frame(tmp_path):
    path = save_nifti(tmp_path / "frame.nii", np.ones((4, 5, 6), np.float32), spacing=(5.0, 1.0, 1.0))
    study = load_cine(path)
    assert study.shape == (1, 4, 5, 6) and study.spacing == (5.0, 1.0, 1.0)


def test_save_study_writes_labels_and_truth_that_load_back(tmp_path):
    labels = {t: np.full((2, 4, 4), t % 4, np.uint8) for t in range(3)}
    study = CineStudy(image=np.zeros((3, 2, 4, 4)), spacing=(6, 1, 1), frame_times_ms=[0, 40, 80],
                      labels=labels, ed_frame=0, es_frame=2, truth={"lv_ef_pct": 61.0, "ed_frame": 0, "es_frame": 2})
    written = save_study(study, tmp_path / "p.nii.gz")
    assert sorted(p.name for p in written) == ["p.nii.gz", "p_gt.nii.gz", "p_truth.json"]
    back = load_cine(tmp_path / "p.nii.gz")
    assert back.labelled_frames == [1, 2]  # frame 0 is all background: unlabelled
    np.testing.assert_array_equal(back.labels[2], labels[2])
    assert back.truth["lv_ef_pct"] == 61.0 and (back.ed_frame, back.es_frame) == (0, 2)
    assert json.loads((tmp_path / "p_truth.json").read_text())["es_frame"] == 2


def write_bytes(path, content):
    path.write_bytes(content)
    return path


def write_raw(path, data, zooms=None):
    image = nib.Nifti1Image(data, np.eye(4))
    if zooms is not None:
        image.header.set_zooms(zooms)
    nib.save(image, str(path))
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: write_raw(p / "flat.nii.gz", np.zeros((5, 5), np.float32)), "2-D"),
    (lambda p: write_raw(p / "five.nii.gz", np.zeros((3, 3, 3, 2, 2), np.float32)), "5-D"),
    (lambda p: write_raw(p / "nan.nii.gz", np.full((3, 3, 3, 2), np.nan, np.float32)), "NaN"),
    (lambda p: write_raw(p / "zero.nii.gz", np.zeros((3, 3, 3), np.float32), zooms=(1.0, 0.0, 1.0)), "spacing must be positive"),
    (lambda p: write_bytes(p / "text.nii.gz", gzip.compress(b"hello, not an image")), "not a readable NIfTI"),
])
def test_bad_nifti_names_the_file_and_the_problem(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(CineLoadError, match=message) as error:
        load_cine(path)
    assert path.name in str(error.value)


def test_truncated_nifti_is_rejected(tmp_path):
    path = save_nifti(tmp_path / "cut.nii.gz", np.random.default_rng(0).random((4, 3, 20, 20)).astype(np.float32), spacing=(1, 1, 1))
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(CineLoadError, match="cut.nii.gz"):
        load_cine(path)


def test_missing_path_and_unknown_format(tmp_path):
    with pytest.raises(CineLoadError, match="no such file"):
        load_cine(tmp_path / "absent.nii.gz")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CineLoadError, match="notes.txt"):
        load_cine(tmp_path / "notes.txt")
