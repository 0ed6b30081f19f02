"""CineStudy: validation of its fields and its cheap views."""
import numpy as np
import pytest

from cardiolab.data import CineStudy


def small_study(n_frames=5, n_slices=4):
    rng = np.random.default_rng(0)
    image = rng.random((n_frames, n_slices, 8, 6)).astype(np.float32)
    labels = {0: np.ones((n_slices, 8, 6), np.uint8), 3: np.full((n_slices, 8, 6), 2, np.uint8)}
    return CineStudy(image=image, spacing=(8.0, 1.5, 1.25), frame_times_ms=np.arange(n_frames) * 40.0,
                     labels=labels, ed_frame=0, es_frame=3)


def test_defaults_fill_affine_and_times_with_a_note():
    study = CineStudy(image=np.zeros((4, 2, 3, 3)), spacing=(10, 2, 1))
    assert study.image.dtype == np.float32
    np.testing.assert_allclose(study.affine, np.diag([1.0, 2.0, 10.0, 1.0]))
    np.testing.assert_allclose(study.frame_times_ms, [0, 250, 500, 750])
    assert any("frame times unknown" in note for note in study.info["notes"])
    assert study.voxel_volume_ml == pytest.approx(0.02)


@pytest.mark.parametrize("kwargs, message", [
    (dict(image=np.zeros((3, 3, 3)), spacing=(1, 1, 1)), "(T, Z, Y, X)"),
    (dict(image=np.zeros((2, 3, 3, 3, 1)), spacing=(1, 1, 1)), "(T, Z, Y, X)"),
    (dict(image=np.zeros((2, 3, 3, 3)), spacing=(0, 1, 1)), "positive"),
    (dict(image=np.zeros((2, 3, 3, 3)), spacing=(1, 1)), "three positive"),
    (dict(image=np.zeros((2, 3, 3, 3)), spacing=(1, 1, 1), labels={5: np.zeros((3, 3, 3))}), "outside"),
    (dict(image=np.zeros((2, 3, 3, 3)), spacing=(1, 1, 1), labels={0: np.zeros((3, 3))}), "shape"),
    (dict(image=np.zeros((2, 3, 3, 3)), spacing=(1, 1, 1), es_frame=2), "es_frame"),
    (dict(image=np.zeros((2, 3, 3, 3)), spacing=(1, 1, 1), frame_times_ms=[0.0]), "frame_times_ms"),
])
def test_invalid_fields_are_rejected_with_a_named_problem(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CineStudy(**kwargs)


def test_frames_view_keeps_labels_and_events_in_step():
    study = small_study()
    sub = study.frames([3, 4])
    assert sub.shape == (2, 4, 8, 6)
    assert sub.labelled_frames == [0] and sub.es_frame == 0 and sub.ed_frame is None
    np.testing.assert_array_equal(sub.labels[0], study.labels[3])
    np.testing.assert_allclose(sub.frame_times_ms, [120, 160])


def test_slices_view_moves_the_affine_origin():
    study = small_study()
    sub = study.slices(slice(1, 4, 2))
    assert sub.shape == (5, 2, 8, 6)
    # voxel (0, 0, 0) of the view is voxel (0, 0, 1) of the study
    np.testing.assert_allclose(sub.affine @ [0, 0, 0, 1], study.affine @ [0, 0, 1, 1])
    np.testing.assert_allclose(sub.affine @ [0, 0, 1, 1], study.affine @ [0, 0, 3, 1])
    np.testing.assert_array_equal(sub.labels[3], study.labels[3][1:4:2])


def test_label_sequence_marks_unlabelled_frames():
    dense = small_study().label_sequence(fill=255)
    assert dense.shape == (5, 4, 8, 6)
    assert (dense[1] == 255).all() and (dense[0] == 1).all() and (dense[3] == 2).all()
