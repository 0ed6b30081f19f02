"""Quality control of a segmentation before its numbers are trusted.

A clinical measure is only as good as the label map under it, and the failures of
automatic segmentation are often plain to see in the map itself. This file checks the
anatomical common sense of a label map and of the function computed from it, and
returns a list of flags, each ``{"code", "message", "frames", "slices"}``:

``empty_structure``   a structure (LV cavity, myocardium, RV) has no voxel in a frame.
                      Data sets that do not label a structure (CT without RV, thesis ES
                      frames without myocardium) raise it too: it is a fact to know.
``lv_gap``            a slice without LV cavity between slices with LV cavity.
``lv_components``     the LV cavity is more than one 3D connected component in a frame
                      (26-connectivity, so slices that touch only diagonally still join).
``lv_not_enclosed``   on a slice, the LV cavity touches background directly along more
                      than ``open_fraction`` of its boundary (and ``open_min_pixels``
                      pixels): the myocardium does not enclose it. The most basal LV slice
                      is exempt, as the valve plane / outflow tract is open there.
``implausible_ef``    LVEF below 5 % or above 90 %, or ESV above EDV.

The thresholds are choices, not from the papers (none of them describes QC); they are
`QCConfig` fields. On the 200 reference frames (ED, ES) of the 100 ACDC training
patients the defaults raise one flag: patient085's ES LV cavity is three pieces (4582,
32 and 10 voxels), a real flaw of that annotation. No non-basal ACDC slice has a single
LV cavity pixel touching background; the basal slices reach 20 %.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cardiolab import BACKGROUND, LABEL_NAMES, LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY
from cardiolab.clinical.volumes import basal_end

_CROSS = ndimage.generate_binary_structure(2, 1)  # 4-neighbourhood in a slice
_CUBE = np.ones((3, 3, 3), bool)  # 26-neighbourhood in a volume


@dataclass
class QCConfig:
    open_fraction: float = 0.1  # share of the LV cavity boundary allowed to touch background
    open_min_pixels: int = 3  # ... and never flag fewer touching pixels than this
    ef_low_pct: float = 5.0  # an LVEF below this is implausible
    ef_high_pct: float = 90.0  # an LVEF above this is implausible


def qc_flag(code: str, message: str, frames=None, slices=None) -> dict:
    return {"code": code, "message": message,
            "frames": [int(f) for f in frames] if frames is not None else None,
            "slices": [int(s) for s in slices] if slices is not None else None}


def _crop_to_labels(labels_zyx):
    """The label map cropped in-plane to its labelled voxels (plus one pixel), for speed."""
    rows, cols = np.nonzero(labels_zyx.any(axis=0))
    if len(rows) == 0:
        return labels_zyx
    r0, r1 = max(rows.min() - 1, 0), rows.max() + 2
    c0, c1 = max(cols.min() - 1, 0), cols.max() + 2
    return labels_zyx[:, r0:r1, c0:c1]


def lv_gap_slices(labels_zyx) -> list[int]:
    """Slices without LV cavity between the first and last slices that have it."""
    has_lv = (labels_zyx == LV_CAVITY).any(axis=(1, 2))
    slices = np.nonzero(has_lv)[0]
    if len(slices) < 2:
        return []
    return [int(z) for z in range(slices[0], slices[-1] + 1) if not has_lv[z]]


def lv_component_sizes(labels_zyx) -> list[int]:
    """Voxel counts of the 3D connected components of the LV cavity, largest first."""
    components, count = ndimage.label(labels_zyx == LV_CAVITY, structure=_CUBE)
    sizes = np.bincount(components.ravel())[1:]
    return sorted((int(s) for s in sizes), reverse=True)


def lv_open_slices(labels_zyx, config: QCConfig) -> list[int]:
    """Slices (the most basal LV slice excepted) where the LV cavity touches background."""
    cavity_slices = np.nonzero((labels_zyx == LV_CAVITY).any(axis=(1, 2)))[0]
    if len(cavity_slices) == 0:
        return []
    basal_slice = cavity_slices[0] if basal_end(labels_zyx) > 0 else cavity_slices[-1]
    open_slices = []
    for z in cavity_slices:
        if z == basal_slice:
            continue
        frame = np.pad(labels_zyx[z], 1, constant_values=BACKGROUND)  # outside the image is background
        cavity = frame == LV_CAVITY
        boundary = cavity & ndimage.binary_dilation(~cavity, structure=_CROSS)
        touching = cavity & ndimage.binary_dilation(frame == BACKGROUND, structure=_CROSS)
        n_touching = int(touching.sum())
        if n_touching >= config.open_min_pixels and n_touching > config.open_fraction * boundary.sum():
            open_slices.append(int(z))
    return open_slices


def segmentation_qc(labels_by_frame: dict, config: QCConfig | None = None) -> list[dict]:
    """Flags of the label maps themselves, ``{frame: (Z, Y, X)}`` (see the module docstring)."""
    config = config or QCConfig()
    flags = []
    empty = {value: [] for value in (LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY)}
    for t, labels_zyx in sorted(labels_by_frame.items()):
        labels_zyx = _crop_to_labels(np.asarray(labels_zyx))
        present = np.bincount(labels_zyx.ravel(), minlength=4)
        for value in empty:
            if present[value] == 0:
                empty[value].append(t)
        if present[LV_CAVITY] == 0:
            continue
        gaps = lv_gap_slices(labels_zyx)
        if gaps:
            flags.append(qc_flag("lv_gap", f"frame {t}: no LV cavity on slices {gaps} between LV slices", [t], gaps))
        sizes = lv_component_sizes(labels_zyx)
        if len(sizes) > 1:
            flags.append(qc_flag("lv_components",
                                 f"frame {t}: LV cavity is {len(sizes)} separate pieces (voxels {sizes})", [t]))
        open_slices = lv_open_slices(labels_zyx, config)
        if open_slices:
            flags.append(qc_flag("lv_not_enclosed",
                                 f"frame {t}: LV cavity touches background on slices {open_slices}", [t], open_slices))
    for value, frames in empty.items():
        if frames:
            flags.append(qc_flag("empty_structure", f"no {LABEL_NAMES[value]} in frames {frames}", frames))
    return flags


def function_qc(lv_edv_ml, lv_esv_ml, lv_ef_pct, ed_frame=None, es_frame=None,
                config: QCConfig | None = None) -> list[dict]:
    """Flags of implausible LV function: EF outside [5, 90] % or ESV above EDV."""
    config = config or QCConfig()
    frames = [f for f in (ed_frame, es_frame) if f is not None]
    flags = []
    if lv_edv_ml is not None and lv_esv_ml is not None and lv_esv_ml > lv_edv_ml:
        flags.append(qc_flag("implausible_ef", f"LV ESV {lv_esv_ml:.1f} ml exceeds EDV {lv_edv_ml:.1f} ml "
                                               f"(ED frame {ed_frame}, ES frame {es_frame})", frames))
    elif lv_ef_pct is not None and not config.ef_low_pct <= lv_ef_pct <= config.ef_high_pct:
        flags.append(qc_flag("implausible_ef", f"LVEF {lv_ef_pct:.1f} % is outside the plausible "
                                               f"{config.ef_low_pct:g}-{config.ef_high_pct:g} %", frames))
    return flags
