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
    card = default_model_card(model, training, results, n_val=len(val_studies))
    (Path(out_dir) / "default.md").write_text(card)
    if export_to:
        export_bundle(export_to, model, preprocessor, 3, metrics=results["summary"], training=training)
        Path(export_to).with_suffix(".md").write_text(card)
    return results


def default_model_card(model, training: dict, results: dict, n_val: int) -> str:
    """The model card (Markdown) of the default segmentation model, from its measured results."""
    from cardiolab.data.acdc import CITATION
    from cardiolab.evaluate import results_table

    summary = results["summary"]
    n_parameters = sum(p.numel() for p in model.parameters())

    def mean_sd(key):
        entry = summary.get(key, {})
        return f"{entry.get('mean', float('nan')):.3f} +- {entry.get('sd', float('nan')):.3f}"

    rows = []
    for structure, name in (("lv", "LV cavity"), ("myo", "LV myocardium"), ("rv", "RV cavity")):
        for phase in ("ed", "es"):
            rows.append(f"| {name} | {phase.upper()} | {mean_sd(f'dice_{structure}_{phase}')} | "
                        f"{mean_sd(f'hd95_mm_{structure}_{phase}')} | {mean_sd(f'assd_mm_{structure}_{phase}')} |")
    clinical = []
    for key, label in (("lv_ef_pct", "LVEF (%)"), ("lv_edv_ml", "LVEDV (ml)"), ("lv_esv_ml", "LVESV (ml)"),
                       ("rv_ef_pct", "RVEF (%)"), ("lv_mass_g", "LV mass (g)")):
        entry = summary.get(key, {})
        clinical.append(f"| {label} | {entry.get('mae', float('nan')):.2f} | {entry.get('bland_altman_bias', float('nan')):.2f} | "
                        f"{entry.get('bland_altman_loa_lower', float('nan')):.2f} .. {entry.get('bland_altman_loa_upper', float('nan')):.2f} | "
                        f"{entry.get('pearson_r', float('nan')):.3f} |")
    return "\n".join([
        "# Model card: `default` (cardiolab's bundled segmentation model)",
        "",
        "## Architecture",
        f"PSPU-net (thesis Ch. 5, `cardiolab.models.create('pspunet', ...)`) at reduced width: config "
        f"`{dict(model.config.__dict__)}`, {n_parameters / 1e6:.2f} M parameters. 2.5D input: each short-axis "
        "slice with its two neighbours as channels; output: background, LV cavity, LV myocardium, RV cavity.",
        "",
        "## Preprocessing (stored in the checkpoint)",
        f"In-plane resampling to {DEFAULT_PREPROCESSOR['target_spacing_yx_mm']} mm, a "
        f"{DEFAULT_PREPROCESSOR['crop_size_yx']} pixel window around the heart (located by a first, wide pass "
        "of the model), percentile (1-99) intensity normalisation per volume. No test-time flips (the model is
not trained with flips, which swap LV and RV sides). Inference keeps the largest "
        "connected component per structure and maps labels back to the study's grid.",
        "",
        "## Training",
        f"Data: {training['data']}; augmentation: rotation +-30 deg, zoom 0.85-1.15, shear +-10 deg, "
        "translation +-12 px, gamma/contrast/noise. Loss: generalised Dice (thesis weights 0.1/0.3) + "
        f"cross-entropy. AdamW, poly learning-rate decay, {training['epochs']} epochs (best epoch "
        f"{training['best_epoch']} by validation Dice), seed {training['seed']}, {training['minutes']} min on CPU.",
        f"Reproduce: `{training['command']}`; measure: `cardiolab evaluate --data acdc --split holdout20`.",
        "",
        "Data licence: ACDC, research and teaching use; cite " + CITATION,
        "",
        f"## Held-out accuracy ({n_val} ACDC training patients never used for training, 4 per diagnostic group)",
        "",
        "| structure | phase | Dice | HD95 (mm) | ASSD (mm) |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "| measure | mean abs. error | bias | limits of agreement | Pearson r |",
        "|---|---|---|---|---|",
        *clinical,
        "",
        "## Next to the papers",
        "",
        results_table(summary),
        "",
    ])


RECIPES = {"default_acdc": train_default_acdc}
