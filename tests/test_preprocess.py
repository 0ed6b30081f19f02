"""Shared preprocessing: resampling, crop/pad, normalisation, circular windows, and their inverses."""
import numpy as np
import pytest

from cardiolab import LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY
from cardiolab.data import CineStudy
from cardiolab.data.acdc import load_acdc_patient
from cardiolab.data.preprocess import (
    Preprocessor,
    crop_or_pad,
    heart_centre_yx,
    normalize_intensity,
    resample_inplane,
    resampled_shape_yx,
    temporal_windows,
    undo_crop_or_pad,
    undo_resample_inplane,
)

STRUCTURES = (LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY)


def dice(a, b):
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def heart_labels(shape_yx, centre_yx, spacing_mm, lv_radius_mm=22.0, wall_mm=9.0):
    """An analytic short-axis label map: LV disk, myocardial ring, RV crescent to the left."""
    yy, xx = np.mgrid[: shape_yx[0], : shape_yx[1]]
    y_mm, x_mm = (yy - centre_yx[0]) * spacing_mm, (xx - centre_yx[1]) * spacing_mm
    radius = np.hypot(y_mm, x_mm)
    labels = np.zeros(shape_yx, dtype=np.uint8)
    rv = (np.hypot(y_mm, x_mm + lv_radius_mm + wall_mm) < 26.0) & (radius >= lv_radius_mm + wall_mm)
    labels[rv] = RV_CAVITY
    labels[radius < lv_radius_mm + wall_mm] = LV_MYOCARDIUM
    labels[radius < lv_radius_mm] = LV_CAVITY
    return labels


def synthetic_study(spacing_yx=1.37, shape_yx=(120, 110), centre_yx=(64.0, 58.0), n_frames=3, n_slices=2):
    labels = heart_labels(shape_yx, centre_yx, spacing_yx)
    rng = np.random.default_rng(0)
    levels = np.array([0.1, 1.0, 0.3, 0.8], dtype=np.float32)
    image = np.stack([np.stack([levels[labels]] * n_slices)] * n_frames)
    image = image + 0.05 * rng.standard_normal(image.shape).astype(np.float32)
    stack = np.stack([labels] * n_slices)
    return CineStudy(image=image, spacing=(8.0, spacing_yx, spacing_yx), labels={0: stack, 1: stack.copy()},
                     ed_frame=0, es_frame=1)


# --- resampling -----------------------------------------------------------------------
def test_resample_reproduces_a_linear_ramp_at_the_new_pixel_centres():
    spacing, target = (1.37, 1.6), (1.0, 1.1)
    shape = (40, 30)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    # Pixel i covers [i s, (i+1) s): its centre is at (i + 0.5) s mm.
    ramp = lambda y_mm, x_mm: 2.0 * y_mm - 0.5 * x_mm + 3.0
    image = ramp((yy + 0.5) * spacing[0], (xx + 0.5) * spacing[1]).astype(np.float32)
    volume = np.stack([image, 2 * image])  # (Z, Y, X): the slices must not mix
    resampled = resample_inplane(volume, (8.0,) + spacing, target, kind="image")
    expected_shape = (round(40 * 1.37 / 1.0), round(30 * 1.6 / 1.1))
    assert resampled.shape == (2,) + expected_shape and resampled.dtype == np.float32
    ny, nx = expected_shape
    yy2, xx2 = np.mgrid[:ny, :nx]
    expected = ramp((yy2 + 0.5) * target[0], (xx2 + 0.5) * target[1])
    inner = (slice(2, -2), slice(2, -2))  # the outermost half pixel is clamped, not extrapolated
    np.testing.assert_allclose(resampled[0][inner], expected[inner], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(resampled[1][inner], 2 * expected[inner], rtol=1e-4, atol=1e-3)


def test_label_resampling_round_trip_keeps_every_structure():
    study = synthetic_study(spacing_yx=1.37)
    labels = study.labels[0]
    up = resample_inplane(labels, study.spacing, (1.0, 1.0), kind="labels")
    assert up.dtype == np.uint8 and set(np.unique(up)) <= {0, 1, 2, 3}
    assert up.shape[-2:] == resampled_shape_yx(labels.shape[-2:], study.spacing, (1.0, 1.0))
    back = undo_resample_inplane(up, labels.shape[-2:], study.spacing, (1.0, 1.0), kind="labels")
    assert back.shape == labels.shape
    for k in STRUCTURES:
        assert dice(back == k, labels == k) > 0.95


def test_resample_study_keeps_the_field_of_view_in_world_space():
    study = synthetic_study(spacing_yx=1.37, shape_yx=(50, 40))
    resampled = resample_inplane(study, target_yx_mm=(1.0, 1.0))
    assert resampled.spacing == (8.0, 1.0, 1.0)
    assert resampled.image.shape[:2] == study.image.shape[:2]
    assert set(resampled.labels) == set(study.labels)
    # The corner of the field of view (voxel -0.5, -0.5) is the same world point.
    corner = np.array([-0.5, -0.5, 0.0, 1.0])
    np.testing.assert_allclose(resampled.affine @ corner, study.affine @ corner, atol=1e-9)
    np.testing.assert_allclose(resampled.affine[:3, 0], [1.0, 0, 0], atol=1e-12)


def test_resample_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        resample_inplane(np.zeros((4, 4)), (1.0, 1.0), (1.0, 1.0), kind="nearest")
    with pytest.raises(ValueError, match="spacing_mm"):
        resample_inplane(np.zeros((4, 4)), None, (1.0, 1.0))
    with pytest.raises(ValueError, match="target_yx_mm"):
        resample_inplane(np.zeros((4, 4)), (1.0, 1.0), (0.0, 1.0))


# --- crop / pad ---------------------------------------------------------------------------
def test_crop_or_pad_matches_padding_then_slicing_and_undoes_exactly():
    rng = np.random.default_rng(1)
    array = rng.integers(1, 9, size=(2, 10, 12)).astype(np.uint8)
    centre, size = (2.0, 11.0), (8, 9)  # the window runs off the top and the right
    window = crop_or_pad(array, centre, size, fill=0)
    start_y, start_x = round(2.0 - 4), round(11.0 - 4.5)
    padded = np.pad(array, ((0, 0), (20, 20), (20, 20)))
    reference = padded[:, 20 + start_y: 20 + start_y + 8, 20 + start_x: 20 + start_x + 9]
    np.testing.assert_array_equal(window, reference)
    back = undo_crop_or_pad(window, centre, array.shape[-2:], fill=0)
    inside = np.zeros(array.shape[-2:], bool)
    inside[max(start_y, 0): start_y + 8, max(start_x, 0): start_x + 9] = True
    np.testing.assert_array_equal(back[:, inside], array[:, inside])
    assert not back[:, ~inside].any()


def test_crop_larger_than_the_image_pads_and_undo_recovers_everything():
    array = np.arange(30, dtype=np.float32).reshape(5, 6)
    window = crop_or_pad(array, (2.0, 3.0), (16, 16), fill=-1.0)
    assert window.shape == (16, 16) and (window == -1.0).sum() == 16 * 16 - 30
    np.testing.assert_array_equal(undo_crop_or_pad(window, (2.0, 3.0), (5, 6)), array)


# --- heart centre ----------------------------------------------------------------------------
def test_heart_centre_from_labels_is_the_labelled_centroid():
    study = synthetic_study(centre_yx=(64.0, 58.0))
    ys, xs = np.nonzero(study.labels[0][0] > 0)
    assert heart_centre_yx(study) == pytest.approx((ys.mean(), xs.mean()), abs=1e-9)


def test_heart_centre_without_labels_finds_the_moving_structure():
    # A disk that beats (radius changes) off the image centre, in a textured static scene.
    rng = np.random.default_rng(2)
    n_y, n_x, centre = 96, 96, (60.0, 36.0)
    yy, xx = np.mgrid[:n_y, :n_x]
    radius = np.hypot(yy - centre[0], xx - centre[1])
    background = rng.uniform(0.0, 0.4, size=(n_y, n_x)).astype(np.float32)
    frames = [np.where(radius < r, 1.0, background) for r in (14, 11, 8, 11, 13, 14)]
    image = np.stack(frames)[:, None].astype(np.float32)  # (T, 1, Y, X)
    study = CineStudy(image=image, spacing=(8.0, 1.5, 1.5))
    cy, cx = heart_centre_yx(study)
    assert np.hypot(cy - centre[0], cx - centre[1]) < 4.0
    single = CineStudy(image=image[:1], spacing=(8.0, 1.5, 1.5))
    assert heart_centre_yx(single) == ((n_y - 1) / 2, (n_x - 1) / 2)


# --- intensity --------------------------------------------------------------------------------
def test_normalize_intensity_methods_against_analytic_values():
    values = np.arange(101, dtype=np.float32).reshape(1, 101)
    minmax = normalize_intensity(values, "minmax")
    assert minmax.min() == 0 and minmax.max() == 1 and minmax[0, 50] == pytest.approx(0.5)
    pct = normalize_intensity(values, "percentile", percentiles=(1, 99))  # 1st / 99th percentile = 1 / 99
    assert pct[0, 0] == 0 and pct[0, 100] == 1 and pct[0, 50] == pytest.approx(49 / 98)
    z = normalize_intensity(values, "zscore")
    assert z.mean() == pytest.approx(0, abs=1e-6) and z.std() == pytest.approx(1, abs=1e-5)
    assert not normalize_intensity(np.full((3, 4), 7.0)).any()  # flat -> zeros, no NaN


def test_normalize_per_frame_scales_each_frame_on_its_own():
    frames = np.stack([np.linspace(0, 1, 20), np.linspace(10, 50, 20)]).reshape(2, 4, 5)
    per_frame = normalize_intensity(frames, "minmax", per="frame")
    np.testing.assert_allclose(per_frame[0], per_frame[1], atol=1e-6)
    per_volume = normalize_intensity(frames, "minmax", per="volume")
    assert per_volume[0].max() < 0.1 and per_volume[1].max() == 1
    with pytest.raises(ValueError, match="method"):
        normalize_intensity(frames, "max")
    with pytest.raises(ValueError, match="per"):
        normalize_intensity(frames, per="slice")


# --- circular windows -----------------------------------------------------------------------
def test_temporal_windows_wrap_around_the_cycle():
    sequence = np.arange(5)[:, None] * np.ones((5, 2))  # frame t holds t
    windows = temporal_windows(sequence, 3)
    assert windows.shape == (5, 3, 2)
    # [seed 001] circular hypothesis: frame 4 is followed by frame 0.
    np.testing.assert_array_equal(windows[0, :, 0], [4, 0, 1])
    np.testing.assert_array_equal(windows[4, :, 0], [3, 4, 0])
    np.testing.assert_array_equal(temporal_windows(sequence, 5)[1, :, 0], [4, 0, 1, 2, 3])
    np.testing.assert_array_equal(temporal_windows(sequence, 1)[:, 0], sequence)
    for bad in (2, 0, -1, 3.0):
        with pytest.raises(ValueError, match="kappa"):
            temporal_windows(sequence, bad)


def test_temporal_windows_work_on_torch_tensors():
    torch = pytest.importorskip("torch")
    sequence = torch.arange(4.0).reshape(4, 1)
    windows = temporal_windows(sequence, 3)
    assert windows.shape == (4, 3, 1) and windows[0, 0, 0].item() == 3.0


# --- the whole chain ----------------------------------------------------------------------------
def test_preprocessor_forward_shapes_and_inverse_round_trip():
    study = synthetic_study(spacing_yx=1.37)
    pre = Preprocessor(target_spacing_yx_mm=(1.0, 1.0), crop_size_yx=(128, 128))
    image, labels, record = pre.forward(study)
    assert image.shape == (3, 2, 128, 128) and image.dtype == np.float32
    assert image.min() == 0 and image.max() == 1
    assert set(labels) == {0, 1} and labels[0].shape == (2, 128, 128)
    assert record.original_shape == study.image.shape and record.spacing_mm == (8.0, 1.0, 1.0)
    back = pre.inverse_labels(labels, record)
    for k in STRUCTURES:
        assert dice(back[0] == k, study.labels[0] == k) > 0.95
    assert pre.inverse_labels(labels[0], record).shape == study.labels[0].shape  # (Z, Y', X') works too
    probabilities = pre.inverse_probabilities(np.ones((4, 3, 2, 128, 128)), record)
    assert probabilities.shape == (4,) + study.image.shape
    with pytest.raises(ValueError, match="prepared plane"):
        pre.inverse_labels(np.zeros((2, 100, 128), np.uint8), record)


def one_hot(labels, n_classes=4):
    return np.stack([labels == k for k in range(n_classes)], axis=-3).astype(np.float32)  # (..., C, Y, X)


def test_inverse_argmax_matches_resampling_the_probabilities_then_argmax():
    study = synthetic_study(spacing_yx=1.37)
    pre = Preprocessor(target_spacing_yx_mm=(1.5, 1.5), crop_size_yx=(64, 80))
    _, labels, record = pre.forward(study)
    rng = np.random.default_rng(0)
    # smooth, noisy probabilities: one-hot labels blurred with noise (T, Z, C, Y', X')
    probabilities = one_hot(np.stack([labels[t] for t in sorted(labels)])) + 0.3 * rng.random((2, 2, 4, 64, 80))
    probabilities /= probabilities.sum(axis=2, keepdims=True)
    fast = pre.inverse_argmax(probabilities, record)
    channels = [pre.inverse_probabilities(probabilities[:, :, c], record, fill=1.0 if c == 0 else 0.0) for c in range(4)]
    slow = np.argmax(np.stack(channels, axis=2), axis=2)
    assert fast.shape == slow.shape == (2, 2) + study.image.shape[-2:] and fast.dtype == np.uint8
    np.testing.assert_array_equal(fast, slow)


def test_inverse_argmax_is_closer_to_the_truth_than_resampled_labels():
    study = synthetic_study(spacing_yx=1.1)
    pre = Preprocessor(target_spacing_yx_mm=(2.0, 2.0), crop_size_yx=(96, 96))
    _, labels, record = pre.forward(study)
    nearest = pre.inverse_labels(labels[0], record)
    interpolated = pre.inverse_argmax(one_hot(labels[0]), record)
    for k in STRUCTURES:
        assert dice(interpolated == k, study.labels[0] == k) >= dice(nearest == k, study.labels[0] == k)
    cleaned = pre.inverse_argmax(one_hot(labels[0]), record, clean=lambda volume: np.where(volume == RV_CAVITY, 0, volume))
    assert not (cleaned == RV_CAVITY).any() and (cleaned == LV_CAVITY).any()
    with pytest.raises(ValueError, match="probabilities must be"):
        pre.inverse_argmax(np.zeros((2, 4, 50, 96)), record)


def test_preprocessor_is_exact_without_resampling_when_the_crop_holds_the_heart():
    study = synthetic_study(spacing_yx=1.5)
    pre = Preprocessor(target_spacing_yx_mm=(1.5, 1.5), crop_size_yx=(96, 96), normalisation="zscore")
    _, labels, record = pre.forward(study)
    back = pre.inverse_labels(labels, record)
    for t in study.labels:
        np.testing.assert_array_equal(back[t], study.labels[t])


def test_preprocessor_without_resampling_or_crop_keeps_the_grid():
    study = synthetic_study(spacing_yx=1.5, shape_yx=(40, 30))
    image, _, record = Preprocessor(target_spacing_yx_mm=None, crop_size_yx=None).forward(study)
    assert image.shape == study.image.shape and record.crop_start_yx == (0, 0)


@pytest.mark.acdc
def test_acdc_labels_survive_the_round_trip(acdc_training):
    study = load_acdc_patient(acdc_training / "patient002")  # 1.37 mm in-plane
    assert study.spacing[1] == pytest.approx(1.367, abs=0.01)
    pre = Preprocessor(target_spacing_yx_mm=(1.0, 1.0), crop_size_yx=(176, 176))
    image, labels, record = pre.forward(study)
    assert image.shape == (study.n_frames, study.n_slices, 176, 176)
    back = pre.inverse_labels(labels, record)
    for t in study.labels:
        assert back[t].shape == study.labels[t].shape
        for k in STRUCTURES:
            assert dice(back[t] == k, study.labels[t] == k) > 0.95
