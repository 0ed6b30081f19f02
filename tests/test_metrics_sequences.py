"""Temporal, event, regression and agreement metrics against hand values and scipy."""
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from cardiolab import metrics


# --- temporal smoothness ([seed 000]) ------------------------------------------------------
def test_temporal_derivative_l2_counts_label_changes():
    sequence = np.zeros((4, 2, 5, 5), np.uint8)
    assert metrics.temporal_derivative_l2(sequence) == 0.0
    sequence[2, 0, 0, :2] = 1  # 2 of 50 voxels change label 0 -> 1 at t 1->2 and back at t 2->3
    # one-hot squared norm 2 per changed voxel: pairs (0,1): 0, (1,2): 2*2/50, (2,3): 2*2/50
    assert metrics.temporal_derivative_l2(sequence) == pytest.approx((0 + 0.08 + 0.08) / 3)
    # the cyclic pair (3, 0) adds a fourth pair with no change
    assert metrics.temporal_derivative_l2(sequence, cyclic=True) == pytest.approx(0.16 / 4)


def test_temporal_derivative_l2_of_probabilities_matches_labels_one_hot():
    labels = np.random.default_rng(0).integers(0, 3, size=(5, 2, 6, 6))
    one_hot = np.moveaxis(np.eye(3)[labels], -1, 1)  # (T, C, Z, Y, X)
    assert metrics.temporal_derivative_l2(one_hot) == pytest.approx(metrics.temporal_derivative_l2(labels, n_classes=3))


def test_consecutive_frame_assd_matches_monai_per_pair():
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    sequence = np.zeros((3, 3, 24, 24), np.uint8)
    for t, (start, size) in enumerate([(4, 10), (5, 10), (5, 12)]):
        sequence[t, :, start:start + size, 6:6 + size] = 2
    spacing = (8.0, 1.25, 1.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pair_mm = [monai_metrics.compute_average_surface_distance(
            torch.from_numpy(sequence[t + 1] == 2)[None, None].float(), torch.from_numpy(sequence[t] == 2)[None, None].float(),
            include_background=True, symmetric=True, spacing=spacing).item() for t in range(2)]
    assert metrics.consecutive_frame_assd(sequence, 2, spacing) == pytest.approx(np.mean(pair_mm), rel=1e-5)
    assert metrics.consecutive_frame_assd(sequence[[0, 0]], 2, spacing) == 0.0


# --- events ([thesis] Ch. 7) -----------------------------------------------------------------
def test_frame_distance_plain_and_cyclic():
    assert list(metrics.frame_distance([1, 28, 5], [2, 1, 5])) == [1, 27, 0]
    assert list(metrics.frame_distance([1, 28, 5], [2, 1, 5], n_frames=30, cyclic=True)) == [1, 3, 0]
    with pytest.raises(ValueError, match="n_frames"):
        metrics.frame_distance([1], [2], cyclic=True)


def test_afd_summary_mean_and_sample_sd():
    summary = metrics.afd_summary([0, 2, 4], [0, 0, 0], n_frames=[20, 20, 40])
    assert summary["afd_mean"] == pytest.approx(2.0)
    assert summary["afd_sd"] == pytest.approx(2.0)  # sample SD of 0, 2, 4
    assert summary["afd_over_t_mean"] == pytest.approx((0 + 0.1 + 0.1) / 3)
    assert summary["n"] == 3


# --- regression ([seed 001]) ----------------------------------------------------------------
def test_mae_and_pearson_per_column_match_scipy():
    rng = np.random.default_rng(1)
    true = rng.normal(size=(30, 3))
    pred = true + rng.normal(scale=[0.1, 0.5, 1.0], size=(30, 3))
    np.testing.assert_allclose(metrics.mae(pred, true), np.abs(pred - true).mean(axis=0))
    expected_r = [stats.pearsonr(pred[:, k], true[:, k])[0] for k in range(3)]
    np.testing.assert_allclose(metrics.pearson(pred, true), expected_r, rtol=1e-12)
    assert metrics.pearson(pred[:, 0], true[:, 0]) == pytest.approx(expected_r[0])
    assert math.isnan(metrics.pearson(np.ones(5), np.arange(5.0)))


def test_phase_error_rate_is_a_percentage():
    assert metrics.phase_error_rate([0, 1, 1, 0], [0, 1, 0, 0]) == pytest.approx(25.0)


# --- agreement ------------------------------------------------------------------------------
def test_bland_altman_by_hand():
    result = metrics.bland_altman([10.0, 12.0, 14.0], [9.0, 12.0, 12.0])  # differences 1, 0, 2
    assert result["bias"] == pytest.approx(1.0)
    assert result["sd"] == pytest.approx(1.0)
    assert (result["loa_lower"], result["loa_upper"]) == pytest.approx((1 - 1.96, 1 + 1.96))


def test_linear_fit_matches_scipy_linregress():
    rng = np.random.default_rng(2)
    x = rng.uniform(50, 250, size=40)
    y = 0.9 * x + 5 + rng.normal(scale=8, size=40)
    reference = stats.linregress(x, y)
    fit = metrics.linear_fit(x, y)
    assert fit["slope"] == pytest.approx(reference.slope)
    assert fit["intercept"] == pytest.approx(reference.intercept)
    assert fit["r2"] == pytest.approx(reference.rvalue**2)


def test_reduced_ef_detection_counts():
    true_ef = [30, 50, 60, 70, 54]
    pred_ef = [35, 58, 52, 71, 40]  # calls: reduced, normal, reduced, normal, reduced
    result = metrics.reduced_ef_detection(pred_ef, true_ef)  # default threshold 55 %
    assert (result["tp"], result["fn"], result["fp"], result["tn"]) == (2, 1, 1, 1)
    assert result["sensitivity"] == pytest.approx(2 / 3)
    assert result["specificity"] == pytest.approx(1 / 2)
