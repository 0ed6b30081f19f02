"""Recipes: complete, reproducible training runs that produce the bundled models.

``cardiolab train --recipe NAME`` runs one; each writes its run folder (checkpoints,
metrics.jsonl) and, at the end, a zoo bundle with its held-out metrics.

default_acdc
    The default segmentation model of the app and of `cardiolab analyze`: PSPU-net
    (thesis Ch. 5) at reduced width, over 2.5D input (each slice with its two
    neighbours as channels), trained on the ED and ES frames of 80 ACDC training
    patients (the stratified ``fold0_train`` split) and measured on the other 20
    (``holdout20``), with test-time flips.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from cardiolab import models
from cardiolab.data import datasets
from cardiolab.data.preprocess import Preprocessor
from cardiolab.train.config import TrainConfig
from cardiolab.train.engine import fit, load_checkpoint
from cardiolab.train.pipelines import SliceDataset, SliceSamplingConfig
from cardiolab.train.tasks import SegmentationTask

DEFAULT_PREPROCESSOR = dict(target_spacing_yx_mm=(1.5, 1.5), crop_size_yx=(128, 128),
                            normalisation="percentile", normalise_per="volume")
# Reduced-width PSPU-net: 12 base filters, 16-channel PSP paths, PSP output = skip width.
DEFAULT_MODEL = dict(name="pspunet", size="small", in_channels=3, base_filters=12, psp_branch_filters=16, psp_output_factor=1)


def train_default_acdc(out_dir="runs/default_acdc", data_root=None, epochs=40, batch_size=16, lr=2e-3, seed=0,
                       device="auto", resume=False, train_split="fold0_train", val_split="holdout20",
                       max_patients=None, export_to=None) -> dict:
    """Train, evaluate on the held-out patients, and export the zoo bundle."""
    from cardiolab.evaluate import evaluate_segmentation
    from cardiolab.zoo import export_bundle, load_bundle_file

    preprocessor = Preprocessor(**DEFAULT_PREPROCESSOR)
    sampling = SliceSamplingConfig(context=3, preprocessor=preprocessor)
    train_studies = list(datasets.load("acdc", root=data_root, split=train_split))[:max_patients]
    val_studies = list(datasets.load("acdc", root=data_root, split=val_split))[:max_patients]
    train_set = SliceDataset(train_studies, sampling, seed=seed)
    val_set = SliceDataset(val_studies, SliceSamplingConfig(context=3, preprocessor=preprocessor, augment=False,
                                                            skip_empty_slices=0.0), seed=seed)
    options = {k: v for k, v in DEFAULT_MODEL.items() if k not in ("name", "size")}
    model = models.create(DEFAULT_MODEL["name"], size=DEFAULT_MODEL["size"], **options)
    config = TrainConfig(model=DEFAULT_MODEL["name"], optimizer="adamw", lr=lr, weight_decay=1e-4, schedule="poly",
                         epochs=epochs, batch_size=batch_size, seed=seed, out_dir=str(out_dir), device=device,
                         monitor="val_dice", monitor_mode="max", channels_last=True)
    started = time.time()
    fit(model, SegmentationTask(), train_set, config, val_set=val_set, resume=resume)
    training_minutes = (time.time() - started) / 60
    best = load_checkpoint(Path(out_dir) / "best.pt")
    model.load_state_dict(best["model"])
    training = {"data": f"ACDC {train_split} ({len(train_studies)} patients, ED and ES frames)",
                "epochs": epochs, "best_epoch": best["epoch"], "seed": seed, "minutes": round(training_minutes, 1),
                "command": f"cardiolab train --recipe default_acdc --epochs {epochs} --seed {seed}"}
    bundle_path = export_bundle(Path(out_dir) / "default.pt", model, preprocessor, 3, metrics={}, training=training)
    results = evaluate_segmentation(load_bundle_file(bundle_path), val_studies, device=device)
    export_bundle(bundle_path, model, preprocessor, 3, metrics=results["summary"], training=training)
    (Path(out_dir) / "holdout_results.json").write_text(json.dumps(results, indent=2, default=float))
    if export_to:
        export_bundle(export_to, model, preprocessor, 3, metrics=results["summary"], training=training)
    return results


RECIPES = {"default_acdc": train_default_acdc}
