"""Reference solutions of lesson 9, "Is it good enough for the clinic?" (loaded only with ``use_solutions=True``)."""
import numpy as np


def bland_altman(a, b):
    difference = np.asarray(a, float) - np.asarray(b, float)
    bias, sd = difference.mean(), difference.std(ddof=1)
    return bias, bias - 1.96 * sd, bias + 1.96 * sd


def reduced_ef_detection(pred_ef, true_ef):
    pred_reduced, true_reduced = np.asarray(pred_ef) < 55, np.asarray(true_ef) < 55
    found, truly_reduced = (pred_reduced & true_reduced).sum(), true_reduced.sum()
    cleared, truly_normal = (~pred_reduced & ~true_reduced).sum(), (~true_reduced).sum()
    sensitivity = found / truly_reduced if truly_reduced else float("nan")  # no reduced case: undefined
    specificity = cleared / truly_normal if truly_normal else float("nan")
    return sensitivity, specificity


def loa_ratio(model_ef, reference_ef, second_observer_ef):
    _, model_low, model_high = bland_altman(model_ef, reference_ef)
    _, observer_low, observer_high = bland_altman(second_observer_ef, reference_ef)
    return (model_high - model_low) / (observer_high - observer_low)


def worst_case(pred_ef, true_ef, cases):
    return list(cases)[int(np.argmax(np.abs(np.asarray(pred_ef) - np.asarray(true_ef))))]
