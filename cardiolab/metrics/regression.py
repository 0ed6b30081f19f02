"""Scores of direct regression and phase classification ([seed 001] Sec. 2.2, Eq. 2-4).

[seed 001] regresses 11 LV indices per image (2 areas, 3 cavity dimensions, 6 regional
wall thicknesses) and classifies the cardiac phase (systole / diastole). It scores each
index ``ind`` over the N test images by

* the mean absolute error MAE_ind = (1/N) sum_i |phi_ind(i) - y_ind(i)|       (Eq. 3),
* the Pearson correlation coefficient PCC_ind                               (Eq. 2),

and the phase by the error rate ER = (1/N) sum_i 1(phi_phase(i) != y_phase(i)) x 100 % (Eq. 4).

Arrays are ``(N,)`` for one index or ``(N, K)`` with one column per index; the scores
come back as a float or a ``(K,)`` array.
"""
from __future__ import annotations

import numpy as np


def as_paired(pred, true) -> tuple[np.ndarray, np.ndarray]:
    """Two float arrays of one shape, (N,) or (N, K), or a ValueError naming them."""
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    if pred.shape != true.shape:
        raise ValueError(f"pred and true must have the same shape, got {pred.shape} and {true.shape}")
    if pred.ndim not in (1, 2) or len(pred) < 1:
        raise ValueError(f"pred and true must be (N,) or (N, K) with N >= 1, got {pred.shape}")
    return pred, true


def mae(pred, true):
    """Mean absolute error per index (column), [seed 001] Eq. (3)."""
    pred, true = as_paired(pred, true)
    errors = np.mean(np.abs(pred - true), axis=0)
    return float(errors) if errors.ndim == 0 else errors


def pearson(pred, true):
    """Pearson correlation coefficient per index (column), [seed 001] Eq. (2).

    nan for a column where either variable is constant (the coefficient is undefined).
    """
    pred, true = as_paired(pred, true)
    if len(pred) < 2:
        raise ValueError("pearson needs at least 2 samples")
    pred_centred = pred - pred.mean(axis=0)
    true_centred = true - true.mean(axis=0)
    denominator = np.sqrt(np.sum(pred_centred**2, axis=0) * np.sum(true_centred**2, axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sum(pred_centred * true_centred, axis=0) / denominator
    r = np.where(denominator > 0, r, np.nan)
    return float(r) if r.ndim == 0 else r


def phase_error_rate(pred_phase, true_phase) -> float:
    """Phase error rate in % ([seed 001] Eq. (4)): share of images whose phase is wrong."""
    pred_phase, true_phase = np.asarray(pred_phase), np.asarray(true_phase)
    if pred_phase.shape != true_phase.shape or pred_phase.size == 0:
        raise ValueError(f"pred_phase and true_phase must be non-empty and the same shape, got {pred_phase.shape} and {true_phase.shape}")
    return float(np.mean(pred_phase != true_phase) * 100.0)
