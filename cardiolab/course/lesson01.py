"""Checks of lesson 1, "The heart in cine MRI": ED, ES, EF and what it means clinically."""
from __future__ import annotations

import numpy as np

from cardiolab.clinical import REDUCED_LVEF_PCT, ejection_fraction_pct, normal_range
from cardiolab.course.core import Wrong, as_array, as_number, as_pair, close, exercise, how_far, matches_one_of

EF_CATEGORIES = ("reduced", "low-normal", "normal", "high")


@exercise("1.1", "ed_es_frames", "ED and ES frames from the volume curve")
def check_ed_es_frames(answer, lv_volume_ml):
    """``answer = (ed_frame, es_frame)``, 0-based, from an LV volume curve (ml per frame)."""
    curve = as_array(lv_volume_ml, "lv_volume_ml").astype(float)
    ed, es = (int(round(as_number(v, "each frame"))) for v in as_pair(answer, "(ed_frame, es_frame)"))
    expected = (int(np.argmax(curve)), int(np.argmin(curve)))  # ED = largest LV, ES = smallest
    if (ed, es) == expected:
        return f"ED is frame {ed} ({curve[ed]:.0f} ml), ES is frame {es} ({curve[es]:.0f} ml)."
    if (es, ed) == expected:
        raise Wrong("ED and ES are swapped: end-diastole is the frame where the LV holds the MOST blood, "
                    "end-systole the frame where it holds the least.")
    if (ed - 1, es - 1) == expected:
        raise Wrong("off by one: Python counts frames from 0, so the first frame is frame 0 "
                    "(np.argmax already gives 0-based indices).")
    wrong = [name for name, mine, right in (("ED", ed, expected[0]), ("ES", es, expected[1])) if mine != right]
    raise Wrong(f"{' and '.join(wrong)} not right: ED is where the volume curve is highest "
                f"(np.argmax), ES where it is lowest (np.argmin).")


@exercise("1.2", "ejection_fraction", "ejection fraction from EDV and ESV")
def check_ejection_fraction(answer, edv_ml, esv_ml):
    """``answer`` = LVEF in % from the end-diastolic and end-systolic volumes."""
    value = as_number(answer, "the ejection fraction")
    expected = ejection_fraction_pct(float(edv_ml), float(esv_ml))
    if close(value, expected, rtol=1e-3):
        return f"LVEF = {value:.1f} %."
    hint = matches_one_of(value, [
        (expected / 100, "that is a fraction (0 to 1): the EF is given in percent, multiply by 100."),
        (100 * esv_ml / edv_ml, "that is ESV / EDV, the share of blood LEFT in the ventricle; "
                                "the EF is the share EJECTED, (EDV - ESV) / EDV."),
        (100 * (edv_ml - esv_ml) / esv_ml, "divide the stroke volume by the END-DIASTOLIC volume, not the ESV."),
        (-expected, "the sign is wrong: EDV - ESV, not ESV - EDV."),
        (edv_ml - esv_ml, "that is the stroke volume in ml; the EF divides it by the EDV (and x 100)."),
    ])
    raise Wrong(hint or f"not the EF = (EDV - ESV) / EDV x 100: {how_far(value, expected)}.")


def ef_category(lv_ef_pct: float) -> str:
    """The reading of an LVEF: reduced below 55 % (seed 000), else the thesis' normal range 57-77 %."""
    low, high = normal_range("lv_ef_pct", None)
    if lv_ef_pct < REDUCED_LVEF_PCT:
        return "reduced"
    if lv_ef_pct < low:
        return "low-normal"
    return "normal" if lv_ef_pct <= high else "high"


@exercise("1.3", "ef_categories", "reading EF values clinically")
def check_ef_categories(answer, ef_values_pct):
    """``answer`` = one of "reduced", "low-normal", "normal", "high" per EF value, in order."""
    values = [float(v) for v in ef_values_pct]
    if isinstance(answer, str) or not hasattr(answer, "__len__") or len(answer) != len(values):
        raise Wrong(f"give a list of {len(values)} words, one per EF value, in the same order.")
    given = [str(word).strip().lower() for word in answer]
    unknown = sorted({word for word in given if word not in EF_CATEGORIES})
    if unknown:
        raise Wrong(f"use only the words {EF_CATEGORIES}; got {unknown}.")
    expected = [ef_category(v) for v in values]
    if given == expected:
        return "Reduced < 55 % (seed 000), normal 57-77 % (thesis), low-normal in between."
    first = next(i for i, (g, e) in enumerate(zip(given, expected)) if g != e)
    value = values[first]
    low, high = normal_range("lv_ef_pct", None)
    if expected[first] == "reduced":
        hint = f"an EF below {REDUCED_LVEF_PCT:g} % is called reduced (seed 000)."
    elif expected[first] == "low-normal":
        hint = (f"between {REDUCED_LVEF_PCT:g} % (the 'reduced' cut-off) and {low:g} % (the low end of the "
                f"normal range) an EF is neither reduced nor normal: low-normal.")
    elif expected[first] == "normal":
        hint = f"the thesis' normal range is {low:g}-{high:g} %, ends included."
    else:
        hint = f"above {high:g} % the EF is higher than the normal range: high (a small, hypertrophied LV can do this)."
    raise Wrong(f"EF {value:g} %: you wrote '{given[first]}'; {hint}")


@exercise("1.4", "stroke_volume_output", "stroke volume and cardiac output")
def check_stroke_volume_output(answer, edv_ml, esv_ml, heart_rate_bpm):
    """``answer = (stroke_volume_ml, cardiac_output_l_min)``: SV = EDV - ESV, CO = SV x HR."""
    sv, co = (as_number(v, name) for v, name in zip(as_pair(answer, "(sv_ml, co_l_min)"), ("SV", "CO")))
    expected_sv = float(edv_ml) - float(esv_ml)  # [thesis] Eq. 2.1
    expected_co = expected_sv * float(heart_rate_bpm) / 1000.0  # [thesis] Eq. 2.2, ml/min -> l/min
    if not close(sv, expected_sv, rtol=1e-3):
        hint = matches_one_of(sv, [(-expected_sv, "the stroke volume is EDV - ESV (positive)."),
                                   (expected_sv / edv_ml, "that is SV / EDV (the EF as a fraction); "
                                                          "the stroke volume is in ml: EDV - ESV.")])
        raise Wrong(hint or f"stroke volume: {how_far(sv, expected_sv)}; SV = EDV - ESV in ml.")
    if close(co, expected_co, rtol=1e-3):
        return f"SV = {sv:.0f} ml per beat, CO = {co:.2f} l/min."
    hint = matches_one_of(co, [
        (expected_co * 1000, "that is ml per minute: divide by 1000 for litres per minute."),
        (expected_co / 60, "the heart rate is already per minute (beats/min): do not divide by 60."),
        (expected_sv * heart_rate_bpm / 60 / 1000, "the heart rate is already per minute: no /60."),
        (expected_sv * 60 / heart_rate_bpm / 1000, "multiply by the heart rate, do not divide."),
    ])
    raise Wrong(hint or f"cardiac output: {how_far(co, expected_co)}; CO = SV x heart rate, in l/min.")
