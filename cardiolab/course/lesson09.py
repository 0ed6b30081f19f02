"""Checks of lesson 9, "Is it good enough for the clinic?": agreement, detection, variability, failures."""
from __future__ import annotations

import numpy as np

from cardiolab.course.core import Wrong, as_number, as_pair, close, exercise, how_far, matches_one_of
from cardiolab.metrics import bland_altman, reduced_ef_detection


def _triple(answer) -> np.ndarray:
    if isinstance(answer, dict):
        try:
            answer = (answer["bias"], answer["loa_lower"], answer["loa_upper"])
        except KeyError:
            raise Wrong("a dict answer needs the keys bias, loa_lower, loa_upper.") from None
    if not hasattr(answer, "__len__") or len(answer) != 3:
        raise Wrong("give (bias, lower limit, upper limit), three numbers.")
    return np.asarray([as_number(v, "each value") for v in answer])


@exercise("9.1", "bland_altman", "bias and limits of agreement")
def check_bland_altman(answer, a, b):
    """``answer = (bias, loa_lower, loa_upper)`` of the differences ``a - b``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    value = _triple(answer)
    result = bland_altman(a, b)
    expected = np.asarray([result["bias"], result["loa_lower"], result["loa_upper"]])
    if close(value, expected, rtol=1e-6, atol=1e-9):
        return (f"bias {value[0]:+.2f}, 95 % of differences expected in [{value[1]:.2f}, {value[2]:.2f}] "
                f"(width {value[2] - value[1]:.2f}).")
    difference = a - b
    bias = difference.mean()

    def limits(centre, spread, z=1.96):
        return np.asarray([centre, centre - z * spread, centre + z * spread])

    hint = matches_one_of(value, [
        (limits(-bias, difference.std(ddof=1)), "the differences are a - b (the method minus the reference), "
                                                "not b - a: the sign of the bias tells which one reads higher."),
        (limits(bias, difference.std(ddof=0)), "use the sample SD (ddof=1): np.std's default (ddof=0) is "
                                               "slightly too small for a handful of cases."),
        (limits(bias, difference.std(ddof=1), z=2.0), "the 95 % limits are bias +- 1.96 SD, not 2 SD."),
        (limits(bias, np.std(a, ddof=1)), "the SD is of the DIFFERENCES a - b, not of the values."),
        (np.asarray([bias, bias - difference.std(ddof=1), bias + difference.std(ddof=1)]),
         "+- 1 SD covers about 68 %; the 95 % limits are +- 1.96 SD."),
    ], rtol=1e-6, atol=1e-9)
    raise Wrong(hint or "bias = mean(a - b); limits = bias -+ 1.96 x SD(a - b, ddof=1).")


def _is_nan(value) -> bool:
    try:
        return bool(np.isnan(float(value)))
    except (TypeError, ValueError):
        return False


@exercise("9.2", "reduced_ef_detection", "sensitivity and specificity of 'reduced EF'")
def check_reduced_ef_detection(answer, pred_ef, true_ef):
    """``answer = (sensitivity, specificity)`` of calling an EF < 55 % reduced (reduced = positive)."""
    expected = reduced_ef_detection(pred_ef, true_ef)
    pair = as_pair(answer, "(sensitivity, specificity)")
    # nan is a right answer where a class has no case (no truly reduced EF: no sensitivity)
    sensitivity, specificity = (float("nan") if _is_nan(v) else as_number(v, name)
                                for v, name in zip(pair, ("sensitivity", "specificity")))
    value = np.asarray([sensitivity, specificity])
    target = np.asarray([expected["sensitivity"], expected["specificity"]])
    if np.allclose(value, target, rtol=1e-6, atol=1e-9, equal_nan=True):  # nan: no case of that class
        found, reduced = expected["tp"], expected["tp"] + expected["fn"]
        return (f"sensitivity {sensitivity:.2f} ({found} of {reduced} reduced EFs found), "
                f"specificity {specificity:.2f}.")
    at_50 = reduced_ef_detection(pred_ef, true_ef, threshold=50.0)
    hint = matches_one_of(value, [
        (target[::-1], "sensitivity and specificity are swapped: sensitivity = found reduced / truly reduced."),
        (np.asarray([at_50["sensitivity"], at_50["specificity"]]), "the cut-off is 55 % (seed 000), not 50 %."),
        (100 * target, "give fractions between 0 and 1, not percentages."),
    ], rtol=1e-6, atol=1e-9)
    raise Wrong(hint or "sensitivity = TP / (TP + FN), specificity = TN / (TN + FP), reduced = EF < 55 %.")


@exercise("9.3", "loa_ratio", "the model's disagreement against the observers'")
def check_loa_ratio(answer, model_ef, reference_ef, second_observer_ef):
    """``answer`` = width of the model's limits of agreement / width of the second observer's (both vs reference)."""
    value = as_number(answer, "the ratio")
    model = bland_altman(model_ef, reference_ef)
    observer = bland_altman(second_observer_ef, reference_ef)
    expected = (model["loa_upper"] - model["loa_lower"]) / (observer["loa_upper"] - observer["loa_lower"])
    if close(value, expected, rtol=1e-6):
        verdict = "within" if expected <= 1 else "beyond"
        return f"ratio {value:.2f}: the model's disagreement is {verdict} the spread between two observers."
    model_ef, reference_ef = np.asarray(model_ef, float), np.asarray(reference_ef, float)
    second_observer_ef = np.asarray(second_observer_ef, float)
    hint = matches_one_of(value, [
        (1 / expected, "the ratio is upside down: the model's width divided by the observer's."),
        (np.std(model_ef, ddof=1) / np.std(second_observer_ef, ddof=1),
         "that compares the spread of the EF values; agreement is about the spread of the DIFFERENCES."),
        (abs(model["bias"]) / abs(observer["bias"]) if observer["bias"] else None,
         "that compares the biases; the limits' width (upper - lower) measures the scatter."),
    ], rtol=1e-6)
    raise Wrong(hint or f"(upper - lower limit) of model vs reference / (upper - lower) of observer 2 vs reference: "
                        f"{how_far(value, expected)}.")


@exercise("9.4", "worst_case", "the case with the largest EF error")
def check_worst_case(answer, pred_ef, true_ef, cases):
    """``answer`` = the name in ``cases`` (or its index) of the case with the largest |predicted - true| EF."""
    pred, true = np.asarray(pred_ef, float), np.asarray(true_ef, float)
    cases = list(cases)
    error = pred - true
    expected = int(np.argmax(np.abs(error)))
    if isinstance(answer, (int, np.integer)) and not isinstance(answer, bool):
        index = int(answer)
    elif answer in cases:
        index = cases.index(answer)
    else:
        raise Wrong(f"give one of the case names {cases[:3]}... (or its index), got {answer!r}.")
    if index == expected:
        return f"{cases[index]}: EF off by {error[index]:+.1f} points. Look at it before trusting the others."
    if index == int(np.argmax(error)):
        raise Wrong("that is the largest error in ONE direction (over-estimation): take the absolute error.")
    if index == int(np.argmin(np.abs(error))):
        raise Wrong("that is the BEST case: the largest absolute error is wanted.")
    if index == int(np.argmin(error)):
        raise Wrong("that is the largest under-estimation: take the absolute error, both directions count.")
    raise Wrong("the case with the largest |predicted EF - reference EF|.")
