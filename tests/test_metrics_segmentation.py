"""Segmentation metrics against hand-computed cases, MONAI and SimpleITK."""
import math
import warnings

import numpy as np
import pytest
from scipy import ndimage

from cardiolab import metrics

ANISOTROPIC_MM = (5.0, 1.4, 1.4)  # a cine MRI stack: thick slices, fine in-plane pixels


def blob(shape, seed, fraction=0.15, sigma=(1.0, 4.0, 4.0)):
    """A random smooth blob: the top ``fraction`` of smoothed noise."""
    field = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), sigma=sigma)
    return (field > np.quantile(field, 1 - fraction)).astype(np.uint8)


def blob_pair(seed, shape=(8, 40, 36)):
    """A reference blob and a noisy copy of it (overlapping, different surfaces)."""
    reference = blob(shape, seed)
    noise = ndimage.gaussian_filter(np.random.default_rng(seed + 1000).standard_normal(shape), sigma=(1, 3, 3))
    prediction = (ndimage.gaussian_filter(reference.astype(float), (0.5, 2, 2)) + 0.4 * noise > 0.5).astype(np.uint8)
    return prediction, reference


def monai_scores(pred, ref, spacing):
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    as_batch = [torch.from_numpy(np.ascontiguousarray(a))[None, None].float() for a in (pred, ref)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "dice": monai_metrics.compute_dice(*as_batch, include_background=True).item(),
            "hd95": monai_metrics.compute_hausdorff_distance(*as_batch, include_background=True, percentile=95, spacing=spacing).item(),
            "hd": monai_metrics.compute_hausdorff_distance(*as_batch, include_background=True, spacing=spacing).item(),
            "assd": monai_metrics.compute_average_surface_distance(*as_batch, include_background=True, symmetric=True, spacing=spacing).item(),
        }


# --- hand-computed cases -----------------------------------------------------------------
@pytest.mark.parametrize("shift_px", [1, 2, 3])
def test_squares_shifted_by_k_pixels_are_k_spacings_apart(shift_px):
    spacing = (2.0, 0.7)  # (y, x) mm
    ref = np.zeros((30, 30), np.uint8)
    ref[5:20, 5:20] = 1
    pred = np.roll(ref, shift_px, axis=1)
    assert metrics.dice(pred, ref, 1) == pytest.approx((15 - shift_px) / 15)
    assert metrics.hausdorff_distance(pred, ref, 1, spacing) == pytest.approx(shift_px * 0.7)
    assert metrics.hd95(pred, ref, 1, spacing) == pytest.approx(shift_px * 0.7)


def test_cube_shifted_by_one_slice_is_one_slice_spacing_apart():
    ref = np.zeros((6, 20, 20), np.uint8)
    ref[1:4, 5:15, 5:15] = 1
    pred = np.roll(ref, 1, axis=0)
    assert metrics.hausdorff_distance(pred, ref, 1, ANISOTROPIC_MM) == pytest.approx(5.0)
    assert metrics.dice(pred, ref, 1) == pytest.approx(2 / 3)


def test_single_voxels_are_their_physical_distance_apart():
    pred, ref = np.zeros((5, 9, 9), np.uint8), np.zeros((5, 9, 9), np.uint8)
    pred[1, 2, 3] = 1
    ref[3, 5, 7] = 1
    expected_mm = math.sqrt((2 * 5.0) ** 2 + (3 * 1.4) ** 2 + (4 * 1.4) ** 2)
    assert metrics.hd95(pred, ref, 1, ANISOTROPIC_MM) == pytest.approx(expected_mm)
    assert metrics.assd(pred, ref, 1, ANISOTROPIC_MM) == pytest.approx(expected_mm)
    assert metrics.dice(pred, ref, 1) == 0.0


def test_identical_masks_score_perfectly():
    ref = blob((6, 30, 30), seed=3)
    assert metrics.dice(ref, ref, 1) == 1.0
    assert metrics.hd95(ref, ref, 1, ANISOTROPIC_MM) == 0.0
    assert metrics.assd(ref, ref, 1, ANISOTROPIC_MM) == 0.0


def test_relative_volume_error_and_mean_pixel_accuracy_by_hand():
    ref = np.zeros((4, 5), np.uint8)
    ref[0, :4] = 1  # 4 voxels
    pred = np.zeros((4, 5), np.uint8)
    pred[0, :5] = 1
    pred[1, 0] = 1  # 6 voxels
    assert metrics.relative_volume_error(pred, ref, 1) == pytest.approx(0.5)
    ref = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, 2])
    # per class: 2/3 of class 0, 1/2 of class 1, 1/1 of class 2; class 3 absent from ref
    assert metrics.mean_pixel_accuracy(pred, ref, n_classes=4) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)


# --- independent references --------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_monai_on_random_blobs_with_anisotropic_spacing(seed):
    pred, ref = blob_pair(seed)
    reference = monai_scores(pred, ref, ANISOTROPIC_MM)
    assert reference["hd95"] > 0 and reference["assd"] > 0  # a non-trivial case
    assert metrics.dice(pred, ref, 1) == pytest.approx(reference["dice"], abs=1e-6)
    assert metrics.hd95(pred, ref, 1, ANISOTROPIC_MM) == pytest.approx(reference["hd95"], rel=1e-5)
    assert metrics.hausdorff_distance(pred, ref, 1, ANISOTROPIC_MM) == pytest.approx(reference["hd"], rel=1e-5)
    assert metrics.assd(pred, ref, 1, ANISOTROPIC_MM) == pytest.approx(reference["assd"], rel=1e-5)


def test_agrees_with_monai_in_2d_and_at_the_array_border():
    pred, ref = blob_pair(7, shape=(1, 48, 40))
    pred, ref = pred[0], ref[0]
    ref[:, :6] = 1  # the reference touches the array's edge: the crop must not change its surface
    reference = monai_scores(pred, ref, (1.2, 0.8))
    assert metrics.hd95(pred, ref, 1, (1.2, 0.8)) == pytest.approx(reference["hd95"], rel=1e-5)
    assert metrics.assd(pred, ref, 1, (1.2, 0.8)) == pytest.approx(reference["assd"], rel=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_max_hausdorff_agrees_with_simpleitk(seed):
    sitk = pytest.importorskip("SimpleITK")
    pred, ref = blob((8, 40, 36), seed), blob((8, 40, 36), seed + 50)
    images = []
    for mask in (pred, ref):
        image = sitk.GetImageFromArray(mask)
        image.SetSpacing(ANISOTROPIC_MM[::-1])  # SimpleITK orders spacing (x, y, z)
        images.append(image)
    hausdorff = sitk.HausdorffDistanceImageFilter()
    hausdorff.Execute(*images)
    assert metrics.hausdorff_distance(pred, ref, 1, ANISOTROPIC_MM) == pytest.approx(hausdorff.GetHausdorffDistance(), rel=1e-9)


def test_full_connectivity_surface_contains_the_face_surface():
    mask = blob((6, 30, 30), seed=5).astype(bool)
    face, full = metrics.surface(mask, 1), metrics.surface(mask, 3)
    assert np.all(full[face]) and full.sum() > face.sum()
    assert not np.any(face & ~mask)


# --- empty structures and the batch table ------------------------------------------------
def test_empty_mask_semantics():
    empty, filled = np.zeros((3, 8, 8), np.uint8), np.zeros((3, 8, 8), np.uint8)
    filled[1, 2:5, 2:5] = 1
    assert (metrics.dice(empty, empty, 1), metrics.hd95(empty, empty, 1, ANISOTROPIC_MM), metrics.assd(empty, empty, 1, ANISOTROPIC_MM)) == (1.0, 0.0, 0.0)
    assert metrics.dice(filled, empty, 1) == 0.0
    assert math.isinf(metrics.hd95(filled, empty, 1, ANISOTROPIC_MM))
    assert math.isinf(metrics.assd(empty, filled, 1, ANISOTROPIC_MM))


def test_segmentation_scores_per_frame_and_structure_with_flags():
    ref = np.zeros((3, 4, 32, 32), np.uint8)
    ref[:, 1:3, 8:20, 8:20] = 1
    ref[:, 1:3, 10:14, 22:28] = 3
    pred = ref.copy()
    pred[:, 1:3, 8:20, 19] = 0  # LV slightly eroded
    pred[2][pred[2] == 3] = 0  # RV missed on frame 2
    rows = metrics.segmentation_scores(pred, ref, ANISOTROPIC_MM, labels=(1, 2, 3))
    assert len(rows) == 9
    by_key = {(row["frame"], row["label"]): row for row in rows}
    assert by_key[(0, 1)]["dice"] == pytest.approx(metrics.dice(pred[0], ref[0], 1))
    assert by_key[(0, 1)]["hd95_mm"] == pytest.approx(metrics.hd95(pred[0], ref[0], 1, ANISOTROPIC_MM))
    assert by_key[(0, 1)]["ref_volume_ml"] == pytest.approx(2 * 12 * 12 * 5.0 * 1.4 * 1.4 / 1000)
    assert by_key[(1, 2)]["both_empty"] and by_key[(2, 3)]["one_empty"]
    summary = metrics.summarise_scores(rows)
    assert summary["LV myocardium"]["n"] == 0 and summary["LV myocardium"]["n_both_empty"] == 3
    rv = summary["RV cavity"]
    assert rv["n_one_empty"] == 1 and rv["dice_mean"] == pytest.approx(2 / 3)  # (1 + 1 + 0) / 3
    assert rv["hd95_mm_mean"] == 0.0  # the inf of frame 2 is left out and counted instead
    # sparse reference labels, as CineStudy.labels: only those frames are scored
    sparse = metrics.segmentation_scores(pred, {0: ref[0], 2: ref[2]}, ANISOTROPIC_MM, labels=(1,))
    assert [row["frame"] for row in sparse] == [0, 2]


def test_arguments_are_checked():
    a = np.zeros((3, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="same shape"):
        metrics.dice(a, a[:2], 1)
    with pytest.raises(ValueError, match="spacing"):
        metrics.hd95(a, a, 1, (1.0, 1.0))
    with pytest.raises(ValueError, match="frames"):
        metrics.segmentation_scores(a[None], {0: a}, ANISOTROPIC_MM, frames=[1])


@pytest.mark.acdc
def test_agrees_with_monai_on_acdc_ed_versus_es_labels(acdc_training):
    from cardiolab.data import load_cine

    study = load_cine(acdc_training / "patient001")
    ed, es = study.labels[study.ed_frame], study.labels[study.es_frame]
    for label in (1, 2, 3):
        reference = monai_scores((es == label).astype(np.uint8), (ed == label).astype(np.uint8), study.spacing)
        assert metrics.hd95(es, ed, label, study.spacing) == pytest.approx(reference["hd95"], rel=1e-5)
        assert metrics.assd(es, ed, label, study.spacing) == pytest.approx(reference["assd"], rel=1e-5)


def test_map_dice_keeps_the_largest_region_above_the_threshold_and_dilates_in_plane():
    reference = np.zeros((2, 20, 20), dtype=bool)
    reference[:, 5:15, 5:15] = True                        # 200 voxels
    probability_map = np.zeros(reference.shape)
    probability_map[:, 7:13, 7:13] = 0.95                  # inside the reference, 72 voxels
    probability_map[0, 0:2, 18:20] = 0.99                  # a stray speck, dropped as not the largest region
    assert metrics.map_dice(probability_map, reference, 0.9) == pytest.approx(2 * 72 / (72 + 200))
    assert metrics.map_dice(probability_map, reference, 0.99) == pytest.approx(0.0)  # only the speck is left
    # dilated by 2 px in-plane (the thesis' 5 x 5): 6 x 6 -> 10 x 10 per slice, the reference exactly
    assert metrics.map_dice(probability_map, reference, 0.9, dilation_px=2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.map_dice(probability_map[0], reference, 0.9)
    assert not metrics.largest_region(np.zeros((3, 3), dtype=bool)).any()  # nothing above the threshold: no region
