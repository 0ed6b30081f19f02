"""Agreement between an automatic and a reference measurement (volumes, EF).

* `bland_altman`: bias (mean of ``a - b``), SD of the differences (ddof=1) and the 95 %
  limits of agreement bias +- 1.96 SD (Bland & Altman, Lancet 1986).
* `pearson` (from `cardiolab.metrics.regression`) and `linear_fit`: the correlation and
  the least-squares line of predicted on reference volume ([thesis] Ch. 6, Sec. 6.3.4
  and 6.4.2 report Pearson R and a linear fit).
* `reduced_ef_detection`: EF "judged as reduced when less than 55%" ([seed 000] Sec. 3.4;
  its Sec. 4 reports the sensitivity and specificity of that call). Reduced EF is the
  positive class: sensitivity is the share of truly reduced EFs also called reduced.
"""
from __future__ import annotations

import numpy as np

from cardiolab.metrics.regression import as_paired, pearson

LOA_Z = 1.96  # two-sided 95 % normal quantile of the limits of agreement

__all__ = ["bland_altman", "linear_fit", "pearson", "reduced_ef_detection"]


def bland_altman(a, b) -> dict:
    """Bias, SD and 95 % limits of agreement of the differences ``a - b`` (1D arrays)."""
    a, b = as_paired(a, b)
    if a.ndim != 1 or len(a) < 2:
        raise ValueError(f"a and b must be 1D with at least 2 values, got shape {a.shape}")
    difference = a - b
    bias, sd = float(difference.mean()), float(difference.std(ddof=1))
    return {"bias": bias, "sd": sd, "loa_lower": bias - LOA_Z * sd, "loa_upper": bias + LOA_Z * sd, "n": len(a)}


def linear_fit(x, y) -> dict:
    """Least-squares line ``y = slope * x + intercept`` and its coefficient of determination r2."""
    x, y = as_paired(x, y)
    if x.ndim != 1 or len(x) < 2 or np.ptp(x) == 0:
        raise ValueError("x and y must be 1D with at least 2 values and x not constant")
    slope, intercept = np.polyfit(x, y, deg=1)
    residual = y - (slope * x + intercept)
    total = np.sum((y - y.mean()) ** 2)
    r2 = 1.0 - np.sum(residual**2) / total if total > 0 else float("nan")
    return {"slope": float(slope), "intercept": float(intercept), "r2": float(r2)}


def reduced_ef_detection(pred_ef, true_ef, threshold: float | None = None) -> dict:
    """Sensitivity and specificity of calling an EF (%) reduced (< ``threshold``).

    ``threshold`` defaults to `cardiolab.clinical.REDUCED_LVEF_PCT` (55 %, [seed 000]).

    Returns ``tp, fp, tn, fn`` counts and ``sensitivity = tp / (tp + fn)``,
    ``specificity = tn / (tn + fp)`` (nan where the denominator is 0).
    """
    if threshold is None:
        # imported here, not at the top: the clinical package pulls in plotting libraries
        from cardiolab.clinical.reference import REDUCED_LVEF_PCT as threshold
    pred_ef, true_ef = as_paired(pred_ef, true_ef)
    pred_reduced, true_reduced = pred_ef < threshold, true_ef < threshold
    tp = int(np.sum(pred_reduced & true_reduced))
    fp = int(np.sum(pred_reduced & ~true_reduced))
    tn = int(np.sum(~pred_reduced & ~true_reduced))
    fn = int(np.sum(~pred_reduced & true_reduced))
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
            "specificity": tn / (tn + fp) if tn + fp else float("nan")}
