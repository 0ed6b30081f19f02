"""Cardiac function of the ACDC training set by diagnostic group, and its cost.

For every patient of the ACDC training set (Bernard et al., IEEE TMI 2018) this script
runs `cardiolab.clinical.cardiac_function` on the reference ED/ES labels and prints, per
diagnostic group (NOR normal, MINF previous infarction, DCM dilated cardiomyopathy, HCM
hypertrophic cardiomyopathy, RV abnormal right ventricle), the mean and SD of LVEF,
LV EDV, RVEF and LV mass, how many have a reduced LVEF (< 55 %, seed 000), and how many
raise QC flags. It then times `cardiac_function` on a dense 30-frame sequence of the
size of patient001 (10 slices of 256 x 216), made by giving every frame the ED or ES
labels of patient001 (the timing depends on the voxel count, not on the motion).

    python benchmarks/acdc_function_summary.py --acdc PATH/TO/acdc   [--json out.json]

``--acdc`` defaults to ``$CARDIOLAB_ACDC``; it is the folder that holds ``training/``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from cardiolab.clinical import cardiac_function
from cardiolab.data import load_cine
from cardiolab.data.acdc import patient_folders

GROUPS = ("NOR", "MINF", "DCM", "HCM", "RV")
SUMMARISED = ("lv_ef_pct", "lv_edv_ml", "rv_ef_pct", "lv_mass_g")


def mean_sd(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise_groups(training: Path) -> dict:
    by_group = defaultdict(list)
    for folder in patient_folders(training):
        study = load_cine(folder)
        by_group[study.info["group"]].append(cardiac_function(study))
    summary = {}
    for group in sorted(by_group, key=lambda g: GROUPS.index(g) if g in GROUPS else len(GROUPS)):
        reports = by_group[group]
        row = {"n": len(reports),
               "reduced_lvef": sum(bool(r.reduced_lvef) for r in reports),
               "with_qc_flags": sum(bool(r.qc_flags) for r in reports)}
        for measure in SUMMARISED:
            row[measure] = mean_sd(getattr(r, measure) for r in reports)
        summary[group] = row
    return summary


def time_dense_sequence(training: Path, n_frames: int = 30, repeats: int = 3) -> dict:
    study = load_cine(training / "patient001")
    ed, es = study.labels[study.ed_frame], study.labels[study.es_frame]
    phase = np.arange(n_frames) / n_frames
    systolic = (np.cos(2 * np.pi * phase) < 0)  # the middle of the cycle holds ES labels
    sequence = np.stack([es if s else ed for s in systolic])  # (T, Z, Y, X)
    times_ms = np.arange(n_frames) * (1000.0 / n_frames)
    timings = {}
    for regional in (False, True):
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            cardiac_function(sequence, study.spacing, frame_times_ms=times_ms, regional=regional)
            best = min(best, time.perf_counter() - start)
        timings["with_wall_thickness_s" if regional else "volumes_function_qc_s"] = best
    timings["shape"] = list(sequence.shape)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acdc", default=os.environ.get("CARDIOLAB_ACDC"), help="folder holding training/")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    if not args.acdc:
        parser.error("give --acdc or set CARDIOLAB_ACDC")
    training = Path(args.acdc) / "training"
    summary = summarise_groups(training)
    header = ["LVEF %", "LV EDV ml", "RVEF %", "LV mass g"]
    print(f"{'group':6} {'n':>3} {header[0]:>13} {header[1]:>15} {header[2]:>13} {header[3]:>15} {'EF<55':>6} {'QC':>3}")
    for group, row in summary.items():
        cells = [f"{m:6.1f} +- {s:4.1f}" if m is not None else "-" for m, s in (row[k] for k in SUMMARISED)]
        print(f"{group:6} {row['n']:3d} {cells[0]:>13} {cells[1]:>15} {cells[2]:>13} {cells[3]:>15} "
              f"{row['reduced_lvef']:6d} {row['with_qc_flags']:3d}")
    timing = time_dense_sequence(training)
    print(f"cardiac_function on a dense {timing['shape']} sequence: "
          f"{timing['volumes_function_qc_s']:.2f} s without wall thickness, "
          f"{timing['with_wall_thickness_s']:.2f} s with it (best of 3, one process)")
    if args.json:
        Path(args.json).write_text(json.dumps({"groups": summary, "timing": timing}, indent=2))


if __name__ == "__main__":
    main()
