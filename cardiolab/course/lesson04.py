"""Checks of lesson 4, "A first segmentation network": Dice, logits to labels, HD95 in mm."""
from __future__ import annotations

import numpy as np

from cardiolab import LV_CAVITY
from cardiolab.course.core import Wrong, as_array, as_number, close, exercise, how_far, matches_one_of
from cardiolab.metrics import dice, hd95


@exercise("4.2", "dice_by_hand", "the Dice coefficient by hand")
def check_dice_by_hand(answer, pred, ref, label):
    """``answer`` = Dice of structure ``label`` between the label maps ``pred`` and ``ref``."""
    pred, ref = np.asarray(pred), np.asarray(ref)
    value = as_number(answer, "the Dice coefficient")
    expected = dice(pred, ref, label)
    if close(value, expected, rtol=1e-6, atol=1e-9):
        return f"Dice = {value:.4f}, as cardiolab.metrics.dice."
    p, r = pred == label, ref == label
    both, either = np.logical_and(p, r).sum(), np.logical_or(p, r).sum()
    hint = matches_one_of(value, [
        (both / either if either else None, "that is the Jaccard index (IoU) |P and R| / |P or R|; "
                                           "Dice = 2 |P and R| / (|P| + |R|)."),
        (float((pred == ref).mean()), "that is the share of ALL pixels that agree, background included: "
                                      "compare only the masks pred == label and ref == label."),
        (both / (p.sum() + r.sum()) if p.sum() + r.sum() else None,
         "the factor 2 is missing: 2 |P and R| / (|P| + |R|)."),
        (100 * expected, "give the Dice as a number between 0 and 1, not a percentage."),
    ], rtol=1e-6, atol=1e-9)
    if hint is None:
        others = [other for other in np.unique(np.concatenate([np.unique(pred), np.unique(ref)]))
                  if other != label and close(value, dice(pred, ref, other), rtol=1e-6, atol=1e-9)]
        if others:
            hint = f"that is the Dice of label {others[0]}: this exercise asks for label {label}."
    raise Wrong(hint or f"Dice = 2 |P and R| / (|P| + |R|) with P = (pred == {label}), R = (ref == {label}).")


@exercise("4.1", "logits_to_labels", "from logits to a label map")
def check_logits_to_labels(answer, logits):
    """``answer`` = label maps ``(N, Y, X)`` from model logits ``(N, 4, 1, Y, X)``."""
    logits = as_array(logits, "logits")
    value = as_array(answer, "the label map")
    expected = logits.argmax(axis=1)[:, 0]  # the class with the largest logit, per pixel; Z (=1) dropped
    if value.shape == expected.shape and value.dtype.kind in "biu" and np.array_equal(value, expected):
        counts = np.bincount(value.ravel(), minlength=4)
        return f"{value.shape[0]} label maps; pixels per class {counts.tolist()}."
    if value.dtype.kind == "f" and value.shape[:2] == logits.shape[:2]:
        raise Wrong("those are still scores or probabilities per class: take the arg-max over the class axis "
                    "(axis 1) to get one label per pixel.")
    if value.shape == (logits.shape[0], 1, *logits.shape[3:]) or value.shape == (logits.shape[0], *logits.shape[2:]):
        raise Wrong(f"shape {value.shape}: drop the slice axis of size 1 as well, to get (N, Y, X) = {expected.shape}.")
    if value.shape != expected.shape:
        raise Wrong(f"shape {value.shape}: the arg-max must run over the CLASS axis (axis 1 of (N, C, Z, Y, X)), "
                    f"giving (N, Y, X) = {expected.shape}.")
    if value.dtype.kind == "f":
        raise Wrong("labels are whole numbers: use argmax, not a rounded probability.")
    raise Wrong("the shape is right but the labels are not the arg-max over the class axis (axis 1).")


@exercise("4.3", "hd95_mm", "the 95th-percentile Hausdorff distance in mm")
def check_hd95_mm(answer, pred, ref, spacing):
    """``answer`` = HD95 (mm) of the LV cavity between label volumes ``(Z, Y, X)`` with ``spacing`` (z, y, x)."""
    pred, ref = np.asarray(pred), np.asarray(ref)
    spacing = tuple(float(s) for s in spacing)
    value = as_number(answer, "the HD95")
    expected = hd95(pred, ref, LV_CAVITY, spacing)
    if close(value, expected, rtol=1e-6, atol=1e-6):
        return f"HD95 = {value:.2f} mm: 95 % of the LV boundary lies within that distance of the other contour."
    hint = matches_one_of(value, [
        (hd95(pred, ref, LV_CAVITY, (1.0, 1.0, 1.0)), "that is in voxels (spacing 1, 1, 1): pass the study's "
                                                       "spacing (z, y, x) in mm."),
        (hd95(pred, ref, LV_CAVITY, spacing[::-1]), "the spacing is reversed: cardiolab's is (z, y, x), "
                                                     "the order of the array axes."),
        (dice(pred, ref, LV_CAVITY), "that is the Dice coefficient, not a distance."),
    ], rtol=1e-6, atol=1e-6)
    if hint is None:
        others = [label for label in (2, 3) if close(value, hd95(pred, ref, label, spacing), rtol=1e-6, atol=1e-6)]
        if others:
            hint = f"that is the HD95 of label {others[0]}: the LV cavity is label 1."
    raise Wrong(hint or f"not cardiolab.metrics.hd95 of label 1 with the study's spacing: {how_far(value, expected)}.")
