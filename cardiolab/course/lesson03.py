"""Checks of lesson 3, "Measuring by hand": volumes, EF, mass and curves from label maps.

Every expected value comes from `cardiolab.clinical` on the same labels, so a learner's
by-hand computation is compared with the library's.
"""
from __future__ import annotations

import numpy as np

from cardiolab import LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY
from cardiolab.clinical import cardiac_function, structure_volumes_ml, volume_curves_ml
from cardiolab.clinical.function import DEFAULT_MYOCARDIAL_DENSITY_G_PER_ML
from cardiolab.course.core import (Wrong, as_array, as_number, as_pair, call_learner, close, exercise, how_far,
                                   matches_one_of)


def _lv_volume_mistakes(labels, spacing, expected_ml):
    voxel_ml = float(np.prod(spacing)) / 1000.0
    counts = np.bincount(np.asarray(labels).ravel(), minlength=4)
    return [
        (expected_ml * 1000, "that is mm^3: divide by 1000 for ml (1 ml = 1000 mm^3)."),
        (float(counts[LV_CAVITY]), "that is a voxel COUNT: multiply by the volume of one voxel."),
        ((counts[LV_CAVITY] + counts[LV_MYOCARDIUM]) * voxel_ml,
         "that counts the myocardium (label 2) too: the cavity is label 1 only."),
        (counts[RV_CAVITY] * voxel_ml, "label 3 is the RV cavity in cardiolab (ACDC's files use 3 for the LV, "
                                       "but the loader remaps them): the LV cavity is label 1."),
        (counts[1:].sum() * voxel_ml, "that counts every labelled voxel: the LV cavity is label 1 only."),
        (expected_ml / spacing[0], "the slice spacing is missing: a voxel is z x y x x mm^3."),
        (counts[LV_CAVITY] * spacing[1] * spacing[2] / 1000,
         "the slice spacing is missing: a voxel is z x y x x mm^3."),
    ]


@exercise("3.1", "lv_volume_function", "a function for the LV cavity volume")
def check_lv_volume_function(answer, labels_zyx, spacing):
    """``answer`` = a function ``(labels_zyx, spacing_zyx) -> LV cavity volume in ml``.

    It is tried on the given labels and spacing, then on the same labels with another,
    anisotropic spacing (so a spacing typed in as numbers is caught).
    """
    labels = np.asarray(labels_zyx)
    cases = [(labels, tuple(float(s) for s in spacing)), (labels, (10.0, 1.25, 0.8))]
    for case_labels, case_spacing in cases:
        value = as_number(call_learner(answer, case_labels, case_spacing), "the value your function returned")
        expected = structure_volumes_ml(case_labels, case_spacing)["lv"]
        if close(value, expected, rtol=1e-5):
            continue
        hint = matches_one_of(value, _lv_volume_mistakes(case_labels, case_spacing, expected), rtol=1e-5)
        where = f"with spacing {case_spacing} mm"
        raise Wrong(f"{where}: {hint or how_far(value, expected)}" + ("" if case_spacing == cases[0][1] else
                    " (the first spacing worked: use the spacing argument, do not type numbers in)"))
    return "It gives the library's `structure_volumes_ml(labels, spacing)['lv']` for any spacing."


def _function(study):
    return cardiac_function(study, regional=False)


@exercise("3.2", "lv_ef_from_labels", "the LVEF from the ED and ES label maps")
def check_lv_ef_from_labels(answer, study):
    """``answer`` = the LVEF (%) from the study's labels at ``study.ed_frame`` and ``study.es_frame``."""
    value = as_number(answer, "the ejection fraction")
    report = _function(study)
    expected = report.lv_ef_pct
    if close(value, expected, rtol=1e-4):
        truth = study.truth.get("lv_ef_pct")
        return f"LVEF = {value:.1f} %" + (f" (the phantom's analytic truth: {truth:.1f} %)." if truth else ".")
    first, second = (structure_volumes_ml(study.labels[t], study.spacing)["lv"] for t in study.labelled_frames[:2])
    hint = matches_one_of(value, [
        (expected / 100, "that is a fraction: multiply by 100 for percent."),
        (report.rv_ef_pct, "that is the RV's EF (label 3): the LV cavity is label 1."),
        (-expected * report.lv_edv_ml / report.lv_esv_ml, "ED and ES are swapped: ED is study.ed_frame."),
        (100 * (first - second) / first if first else None,
         "you used the first two labelled frames: use study.ed_frame and study.es_frame."),
    ], rtol=1e-4)
    raise Wrong(hint or f"not the LVEF of the labels at study.ed_frame and study.es_frame: {how_far(value, expected)}.")


@exercise("3.3", "lv_mass", "the LV mass in grams")
def check_lv_mass(answer, study):
    """``answer`` = LV mass (g): the myocardial volume at ED x 1.05 g/ml."""
    value = as_number(answer, "the LV mass")
    report = _function(study)
    expected = report.lv_mass_g  # myocardial volume at ED x DEFAULT_MYOCARDIAL_DENSITY_G_PER_ML
    if close(value, expected, rtol=1e-4):
        return f"LV mass = {value:.0f} g."
    myocardium_ml = report.lv_myocardial_volume_ml
    ed_labels = study.labels[report.ed_frame]
    voxel_ml = float(np.prod(study.spacing)) / 1000.0
    hint = matches_one_of(value, [
        (myocardium_ml, "that is the myocardial VOLUME in ml: mass = volume x density (1.05 g/ml)."),
        (myocardium_ml * 1.055, "you used the thesis' 1.055 g/ml; this exercise uses cardiolab's default 1.05 g/ml."),
        (myocardium_ml / DEFAULT_MYOCARDIAL_DENSITY_G_PER_ML, "divide? No: mass = volume x density."),
        (myocardium_ml * 1000 * DEFAULT_MYOCARDIAL_DENSITY_G_PER_ML, "the volume is in mm^3: divide by 1000 first."),
        (np.isin(ed_labels, (LV_CAVITY, LV_MYOCARDIUM)).sum() * voxel_ml * DEFAULT_MYOCARDIAL_DENSITY_G_PER_ML,
         "that includes the cavity (label 1): the muscle is label 2 only."),
    ], rtol=1e-4)
    raise Wrong(hint or f"not myocardial volume at ED x 1.05 g/ml: {how_far(value, expected)}.")


@exercise("3.4", "lv_volume_curve", "the LV volume curve over the cycle")
def check_lv_volume_curve(answer, study):
    """``answer`` = LV cavity volume (ml) of every labelled frame, in frame order: shape (frames,)."""
    curves = volume_curves_ml(study)
    expected = curves.lv_ml
    value = as_array(answer, "the volume curve").astype(float)
    if value.shape == expected.shape and close(value, expected, rtol=1e-5):
        return f"{len(value)} frames, from {value.min():.0f} to {value.max():.0f} ml."
    per_slice = np.stack([(study.labels[t] == LV_CAVITY).sum(axis=(1, 2)) for t in curves.frames])  # (F, Z)
    if value.shape == per_slice.shape:
        raise Wrong("that is one value per frame AND slice: sum over the slices too (axis 1, 2 and 3 of (T, Z, Y, X)).")
    if value.shape != expected.shape:
        raise Wrong(f"shape {value.shape}: expected one volume per labelled frame, shape {expected.shape}.")
    hint = matches_one_of(value, [
        (per_slice.sum(axis=1).astype(float), "those are voxel counts: multiply by the voxel volume in ml."),
        (expected * 1000, "that is mm^3: divide by 1000."),
        (per_slice.sum(axis=1) * study.spacing[1] * study.spacing[2] / 1000, "the slice spacing is missing."),
        (expected[::-1], "the frames are in reverse order."),
    ], rtol=1e-5)
    raise Wrong(hint or "not the LV cavity volume (label 1) of each frame in ml.")


@exercise("3.5", "wrong_spacing", "what a wrong spacing does to EDV and EF")
def check_wrong_spacing(answer, study):
    """``answer = (lv_edv_ml, lv_ef_pct)`` measured as if the spacing were (1, 1, 1) mm."""
    edv, ef = (as_number(v, name) for v, name in zip(as_pair(answer, "(edv_ml, ef_pct)"), ("EDV", "EF")))
    unit = cardiac_function({t: study.labels[t] for t in study.labelled_frames}, (1.0, 1.0, 1.0),
                            ed_frame=study.ed_frame, es_frame=study.es_frame, regional=False)
    right = _function(study)
    if close(edv, unit.lv_edv_ml, rtol=1e-4) and close(ef, unit.lv_ef_pct, rtol=1e-4):
        factor = float(np.prod(study.spacing))
        return (f"EDV {edv:.1f} ml instead of {right.lv_edv_ml:.1f} ml (off by the voxel volume, x{1 / factor:.3f}), "
                f"but the EF is unchanged: a ratio of two volumes does not care about the voxel size.")
    if not close(edv, unit.lv_edv_ml, rtol=1e-4):
        hint = matches_one_of(edv, [
            (right.lv_edv_ml, "that is the EDV with the TRUE spacing; use (1, 1, 1) mm: a voxel of 0.001 ml."),
            (unit.lv_edv_ml * 1000, "with 1 x 1 x 1 mm voxels, each voxel is 1 mm^3 = 0.001 ml: divide by 1000."),
        ], rtol=1e-4)
        raise Wrong(hint or f"EDV with (1, 1, 1) mm voxels: {how_far(edv, unit.lv_edv_ml)}.")
    raise Wrong("the EDV is right but the EF is not: EF = (EDV - ESV) / EDV, and both volumes shrink by the same "
                "factor, so the EF cannot change.")
