"""The ACDC patient loader on the real data (skipped where it is absent)."""
import nibabel as nib
import numpy as np
import pytest

from cardiolab.data import CineLoadError, load_cine
from cardiolab.data.acdc import remap_acdc_labels


def test_remap_swaps_lv_and_rv():
    np.testing.assert_array_equal(remap_acdc_labels(np.array([0, 1, 2, 3])), [0, 3, 2, 1])


def test_patient_with_4d_cine(acdc_training):
    study = load_cine(acdc_training / "patient090")
    assert study.shape[0] == 12 and study.image.dtype == np.float32
    assert (study.ed_frame, study.es_frame) == (3, 10)  # Info.cfg: ED 4, ES 11 (1-based)
    assert study.labelled_frames == [3, 10]
    assert study.spacing[0] == pytest.approx(10.0) and study.spacing[1] < 2.0
    assert study.info["group"] == "RV" and study.info["height_cm"] == 150.0
    # The ED frame of the 4D file is the ED volume file.
    ed_file = nib.load(str(acdc_training / "patient090" / "patient090_frame04.nii.gz"))
    np.testing.assert_allclose(study.image[3], np.asarray(ed_file.dataobj).transpose(2, 1, 0), rtol=1e-5)


def test_patient_without_4d_is_a_two_frame_study_with_canonical_labels(acdc_training):
    study = load_cine(acdc_training / "patient001")
    assert study.shape == (2, 10, 256, 216)
    assert (study.ed_frame, study.es_frame) == (0, 1)
    raw = np.asarray(nib.load(str(acdc_training / "patient001" / "patient001_frame01_gt.nii.gz")).dataobj).transpose(2, 1, 0)
    assert ((study.labels[0] == 1) == (raw == 3)).all()  # LV cavity
    assert ((study.labels[0] == 3) == (raw == 1)).all()  # RV cavity
    assert ((study.labels[0] == 2) == (raw == 2)).all()  # myocardium
    assert study.frame_times_ms[1] > study.frame_times_ms[0]


def test_broken_info_cfg_is_named(tmp_path):
    folder = tmp_path / "patient999"
    folder.mkdir()
    (folder / "Info.cfg").write_text("ED: one\n")
    with pytest.raises(CineLoadError, match="Info.cfg"):
        load_cine(folder)
