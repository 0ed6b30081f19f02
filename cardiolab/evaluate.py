"""Evaluation harness: the same measurements for every segmentation model.

For each study: segment the labelled frames, then score per structure (LV cavity,
myocardium, RV cavity) and per phase (ED, ES) with Dice, HD95 and ASSD in mm
(`cardiolab.metrics`), and compare the clinical measures computed from the prediction
and from the reference (`cardiolab.clinical`): LVEF, LVEDV, LVESV, RVEF, LV mass, with
Bland-Altman agreement, Pearson r and reduced-EF detection.

``evaluate_segmentation(bundle, studies)`` returns ``{"per_case": [...], "summary": {...}}``;
``cardiolab evaluate`` writes it as JSON and prints a table next to the papers' numbers.
"""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from cardiolab import metrics
from cardiolab.clinical import cardiac_function
from cardiolab.inference import segment_study

STRUCTURE_NAMES = {1: "lv", 2: "myo", 3: "rv"}
CLINICAL_KEYS = ("lv_ef_pct", "lv_edv_ml", "lv_esv_ml", "rv_ef_pct", "rv_edv_ml", "rv_esv_ml", "lv_mass_g")

# Published numbers to put ours next to (Dice; EF as absolute error).
PAPER_RESULTS = {
    "thesis Ch. 5 PSPU-net (private data, median Dice)": {"lv_ed": 0.955, "rv_ed": 0.905, "myo_ed": 0.875, "lv_es": 0.896, "rv_es": 0.798},
    # seed 002, Table 1 (ACDC, mean Dice).
    "seed 002 DeU-Net (ACDC)": {"lv_ed": 0.97, "lv_es": 0.92, "myo_ed": 0.90, "myo_es": 0.91, "rv_ed": 0.93, "rv_es": 0.86},
    # Bernard et al., IEEE TMI 2018: best challenge entries (LV and myocardium).
    "ACDC challenge best (Bernard et al. 2018)": {"lv_ed": 0.964, "lv_es": 0.912, "myo_ed": 0.90},
    # Measured, not quoted: `python benchmarks/baseline_unet2d_acdc.py --epochs 12` (MONAI 2D U-Net, 1.63 M,
    # trained on cv0_train, epoch picked on cv0_val, this row scored once on the test split holdout20).
    "cardiolab baseline 2D U-Net (1.6 M, 12 epochs, holdout20)": {"lv_ed": 0.951, "lv_es": 0.902, "myo_ed": 0.844,
                                                                   "myo_es": 0.871, "rv_ed": 0.893, "rv_es": 0.791,
                                                                   "lv_ef_mae_pct": 4.4},
}


def _phase_of(study, frame):
    return "ed" if frame == study.ed_frame else "es" if frame == study.es_frame else f"frame{frame}"


def evaluate_study(bundle, study, device="cpu") -> dict:
    """Scores and clinical measures of one labelled study."""
    frames = study.labelled_frames
    predicted = segment_study(bundle, study, device=device, frames=frames)  # never sees the labels
    reference = np.stack([study.labels[t] for t in frames])
    rows = metrics.segmentation_scores(predicted, reference, study.spacing)
    scores = {}
    for row in rows:
        phase = _phase_of(study, frames[row["frame"]])
        structure = STRUCTURE_NAMES[row["label"]]
        for key in ("dice", "hd95_mm", "assd_mm"):
            scores[f"{key}_{structure}_{phase}"] = row[key]
    ed_index, es_index = frames.index(study.ed_frame), frames.index(study.es_frame)
    predicted_function = cardiac_function(predicted, study.spacing, ed_frame=ed_index, es_frame=es_index, regional=False).to_dict()
    reference_function = cardiac_function(reference, study.spacing, ed_frame=ed_index, es_frame=es_index, regional=False).to_dict()
    clinical = {f"{key}_pred": predicted_function[key] for key in CLINICAL_KEYS}
    clinical.update({f"{key}_ref": reference_function[key] for key in CLINICAL_KEYS})
    return {"case": study.info.get("patient", study.info.get("source")), "group": study.info.get("group"),
            **scores, **clinical}


def summarise(per_case: list[dict]) -> dict:
    """Mean and SD of every score; Bland-Altman, r and MAE for every clinical measure."""
    summary = {}
    score_keys = sorted({k for case in per_case for k in case if k.split("_")[0] in ("dice", "hd95", "assd")})
    for key in score_keys:
        values = np.array([case[key] for case in per_case if key in case], dtype=float)
        finite = values[np.isfinite(values)]
        summary[key] = {"mean": float(finite.mean()) if len(finite) else float("nan"),
                        "sd": float(finite.std(ddof=1)) if len(finite) > 1 else 0.0, "n": int(len(finite))}
    for key in CLINICAL_KEYS:
        predicted = np.array([case[f"{key}_pred"] for case in per_case], dtype=float)
        reference = np.array([case[f"{key}_ref"] for case in per_case], dtype=float)
        # A measure the prediction could not give (no LV found) counts as a failure, not a number.
        measured = np.isfinite(predicted) & np.isfinite(reference)
        predicted, reference = predicted[measured], reference[measured]
        summary[key] = {"mae": float(np.mean(np.abs(predicted - reference))) if measured.any() else float("nan"),
                        "n": int(measured.sum()), "n_failed": int((~measured).sum())}
        if measured.sum() >= 3:
            summary[key]["pearson_r"] = float(np.asarray(metrics.pearson(predicted[:, None], reference[:, None])).ravel()[0])
            summary[key].update({f"bland_altman_{k}": v for k, v in metrics.bland_altman(predicted, reference).items()})
    pairs = [(c["lv_ef_pct_pred"], c["lv_ef_pct_ref"]) for c in per_case
             if c["lv_ef_pct_pred"] is not None and np.isfinite(c["lv_ef_pct_pred"])]
    if pairs:
        summary["reduced_lvef_detection"] = metrics.reduced_ef_detection(*map(list, zip(*pairs)))
    return summary


def evaluate_segmentation(bundle, studies, device="cpu", progress=True) -> dict:
    per_case = [evaluate_study(bundle, study, device) for study in tqdm(list(studies), desc="evaluating", disable=not progress)]
    return {"model": bundle.name, "n_cases": len(per_case), "per_case": per_case, "summary": summarise(per_case)}


def results_table(summary: dict) -> str:
    """A Markdown table: our Dice per structure and phase, and EF error, next to the papers'."""
    columns = ["lv_ed", "lv_es", "myo_ed", "myo_es", "rv_ed", "rv_es"]
    ours = {c: summary.get(f"dice_{c.split('_')[0]}_{c.split('_')[1]}", {}).get("mean") for c in columns}
    ours["lv_ef_mae_pct"] = summary.get("lv_ef_pct", {}).get("mae")
    header = "| model | " + " | ".join(f"Dice {c}" for c in columns) + " | LVEF MAE % |"
    lines = [header, "|" + "---|" * (len(columns) + 2)]
    for name, values in [("cardiolab (this run)", ours), *PAPER_RESULTS.items()]:
        cells = [values.get(c) for c in columns + ["lv_ef_mae_pct"]]
        lines.append(f"| {name} | " + " | ".join("" if v is None else f"{v:.3f}" if v < 1.5 else f"{v:.1f}" for v in cells) + " |")
    return "\n".join(lines)
