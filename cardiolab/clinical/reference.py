"""Normal ranges and the reading of a measure against them.

The ranges are the ones the thesis quotes in Ch. 2, section 2.2.2 "Heart function"
(its reference [13]; file 003 of the seeds, digest in ``thesis_digest.md``), for adult
cine MRI:

=================  =============  =============
measure            women          men
=================  =============  =============
LV EDV (ml)        86-178         106-214
LV ESV (ml)        22-66          26-86
LV EF (%)          57-77 (both sexes, "normal value around 60 %")
LV mass (g)        56-140         92-176
LV mass / BSA      41-85 g/m^2    49-85 g/m^2
=================  =============  =============

Separately, seed 000 (4D CCTA, section 3, citing its ref. [4]) calls an ejection fraction
"reduced when less than 55 %"; `reduced_lvef` applies that cut-off, which is stricter
than the low end of the normal range above (57 %): 55-57 % is "low-normal", neither
reduced nor in range.

A measure is read as ``normal`` inside ``[low, high]`` (ends included), ``low`` or
``high`` outside, ``unknown sex`` when the range depends on sex and the sex is not known
(no range is guessed), and ``not measured`` when the value is missing. The thesis also
calls a segment with systolic wall thickening < 2 mm "affected" (its ref. [17]);
`AFFECTED_THICKENING_MM` holds that cut-off.
"""
from __future__ import annotations

REDUCED_LVEF_PCT = 55.0  # [seed 000] Sec. 3: EF "judged as reduced when less than 55%"
AFFECTED_THICKENING_MM = 2.0  # [thesis 003] Sec. 2.2.2, Eq. 2.6: thickening < 2 mm = affected segment

THESIS_RANGES = "thesis (seed 003) Ch. 2 sec. 2.2.2, citing its ref. [13]"

# measure -> {"female": (low, high), "male": (low, high), "source": text}; a "both" key
# replaces the two sexes where the source gives one range for everybody.
NORMAL_RANGES = {
    "lv_edv_ml": {"female": (86.0, 178.0), "male": (106.0, 214.0), "source": THESIS_RANGES},
    "lv_esv_ml": {"female": (22.0, 66.0), "male": (26.0, 86.0), "source": THESIS_RANGES},
    "lv_ef_pct": {"both": (57.0, 77.0), "source": THESIS_RANGES + " and its ref. [14]"},
    "lv_mass_g": {"female": (56.0, 140.0), "male": (92.0, 176.0), "source": THESIS_RANGES},
    "lv_massi_g_m2": {"female": (41.0, 85.0), "male": (49.0, 85.0), "source": THESIS_RANGES},
}

_SEX_WORDS = {"f": "female", "female": "female", "w": "female", "woman": "female",
              "m": "male", "male": "male", "man": "male"}


def normalise_sex(sex) -> str | None:
    """'female', 'male' or None from the usual spellings ('F', 'm', 'Woman', ...)."""
    if sex is None:
        return None
    word = str(sex).strip().lower()
    if word in ("", "unknown", "u", "o", "other"):
        return None
    if word not in _SEX_WORDS:
        raise ValueError(f"sex must be 'female' or 'male' (or F/M), got {sex!r}")
    return _SEX_WORDS[word]


def normal_range(measure: str, sex) -> tuple[float, float] | None:
    """The ``(low, high)`` normal range of a measure for a sex, or None where unknown."""
    if measure not in NORMAL_RANGES:
        raise ValueError(f"no normal range for {measure!r}; known: {sorted(NORMAL_RANGES)}")
    ranges = NORMAL_RANGES[measure]
    if "both" in ranges:
        return ranges["both"]
    sex = normalise_sex(sex)
    return ranges[sex] if sex else None


def interpret(measure: str, value, sex) -> dict:
    """``{value, low, high, status, source}`` for one measure (see the module docstring)."""
    bounds = normal_range(measure, sex)
    low, high = bounds if bounds else (None, None)
    if value is None:
        status = "not measured"
    elif bounds is None:
        status = "unknown sex"
    elif value < low:
        status = "low"
    elif value > high:
        status = "high"
    else:
        status = "normal"
    return {"value": value, "low": low, "high": high, "status": status, "source": NORMAL_RANGES[measure]["source"]}


def interpret_all(measures: dict, sex) -> dict:
    """`interpret` for every measure of `NORMAL_RANGES` found in ``measures``."""
    return {name: interpret(name, measures.get(name), sex) for name in NORMAL_RANGES if name in measures}


def reduced_lvef(lv_ef_pct) -> bool | None:
    """True when the LVEF is below 55 % (seed 000), None when it was not measured."""
    return None if lv_ef_pct is None else bool(lv_ef_pct < REDUCED_LVEF_PCT)
