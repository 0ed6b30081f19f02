"""The data-set registry: `datasets.yaml` at the project's root, and loaders for it.

    from cardiolab.data import datasets
    datasets.names()                         # ['acdc', 'ccta4d', 'kaggle_dsb', ...]
    datasets.describe("acdc")                # its entry: source, licence, citation, ...
    for study in datasets.load("acdc", split="fold0_val"):
        ...

Nothing is downloaded: a data set you do not have raises an error that says how to
obtain it. ACDC is looked for in ``root``, then ``$CARDIOLAB_ACDC``, then
``../shared/data/acdc`` beside the project.

How the 100 ACDC training patients are split (every split is stratified by diagnostic
group and deterministic, so every run and every reader gets the same patients):

=====================  =====  ===========================================================
split                  size   what it is for
=====================  =====  ===========================================================
``holdout20``          20     the **test** split (4 patients per group): reported as
                              held-out, never trained on, never used to pick anything
``develop80``          80     everything else: the only patients a recipe may learn from
``cvK_train/cvK_val``  64/16  a 5-fold split of ``develop80`` (K = 0..4): recipes train
                              on ``cv0_train`` and pick their best epoch on ``cv0_val``
                              (validation); all five folds serve recipe search
``foldK_train/_val``   80/20  the 5-fold split of all 100 (``fold0_val`` is ``holdout20``)
=====================  =====  ===========================================================

A figure measured on the split that picked the epoch is a *validation* figure and is
labelled so; only ``holdout20`` figures of a model selected on ``cvK_val`` are held-out.
"""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import numpy as np
import yaml

from cardiolab.data.study import CineStudy

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REGISTRY_PATH = PROJECT_ROOT / "datasets.yaml"
N_FOLDS = 5
PHANTOM_SEEDS = {"train": range(0, 80), "val": range(80, 90), "test": range(90, 100)}


class DatasetNotFound(FileNotFoundError):
    """A data set is registered but no copy of it was found; the message says how to get it."""


def registry() -> dict:
    with open(REGISTRY_PATH) as handle:
        return yaml.safe_load(handle)


def names() -> list[str]:
    return sorted(registry())


def describe(name: str) -> dict:
    entries = registry()
    if name not in entries:
        raise KeyError(f"unknown data set {name!r}; known: {', '.join(sorted(entries))}")
    return entries[name]


# --- ACDC -----------------------------------------------------------------------------
def find_acdc_root(root=None) -> Path:
    """The ACDC folder (the one holding training/), from ``root``, the environment or the default."""
    candidates = [root, os.environ.get("CARDIOLAB_ACDC"), PROJECT_ROOT.parent / "shared" / "data" / "acdc"]
    for candidate in candidates:
        if candidate is None:
            continue
        candidate = Path(candidate)
        if (candidate / "training").is_dir():
            return candidate
        if candidate.name in ("training", "testing") and candidate.is_dir():
            return candidate.parent
    raise DatasetNotFound(f"ACDC not found (looked in {[str(c) for c in candidates if c]}). {describe('acdc')['obtain']}")


def acdc_groups(training_folder) -> dict[str, str]:
    """patient name -> diagnostic group, from each Info.cfg."""
    from cardiolab.data.acdc import patient_folders, read_info_cfg

    return {folder.name: read_info_cfg(folder)["group"] for folder in patient_folders(training_folder)}


def stratified_folds(groups: dict[str, str], n_folds: int = N_FOLDS, seed: int = 0) -> list[list[str]]:
    """Split patients into ``n_folds`` validation folds, each with the same share of every group.

    Deterministic: patients are sorted, shuffled with a fixed seed per group, then dealt
    round-robin into the folds, so every fold gets len(group)/n_folds of each group. The
    dealing goes on from group to group (it does not restart at fold 0), so where a
    group does not divide evenly the folds still end up the same size.
    """
    by_group = defaultdict(list)
    for patient, group in sorted(groups.items()):
        by_group[group].append(patient)
    folds = [[] for _ in range(n_folds)]
    rng = np.random.default_rng(seed)
    dealt = 0
    for group in sorted(by_group):
        for patient in rng.permutation(by_group[group]):
            folds[dealt % n_folds].append(str(patient))
            dealt += 1
    return [sorted(fold) for fold in folds]


ACDC_SPLITS = ("train", "test", "holdout20", "develop80", "cvK_train", "cvK_val", "foldK_train", "foldK_val")
ALIASES = {"holdout20": "fold0_val", "develop80": "fold0_train"}


def acdc_split(split: str, root=None) -> list[Path]:
    """Patient folders of an ACDC split (the table in this module's docstring)."""
    root = find_acdc_root(root)
    from cardiolab.data.acdc import patient_folders

    if split == "test":
        if not (root / "testing").is_dir():
            raise DatasetNotFound(f"ACDC test split not found under {root}/testing. {describe('acdc')['obtain']}")
        return patient_folders(root / "testing")
    training = patient_folders(root / "training")
    if split == "train":
        return training
    split = ALIASES.get(split, split)
    for prefix, pool in (("fold", None), ("cv", "fold0_train")):
        fold_index, want_val = _parse_fold(split, prefix)
        if fold_index is None:
            continue
        groups = acdc_groups(root / "training")
        if pool is not None:  # cross-validation inside develop80: holdout20 never enters it
            members = {folder.name for folder in acdc_split(pool, root)}
            groups = {patient: group for patient, group in groups.items() if patient in members}
        validation = set(stratified_folds(groups)[fold_index])
        return [folder for folder in training if folder.name in groups and (folder.name in validation) == want_val]
    raise ValueError(f"unknown ACDC split {split!r}; use one of {', '.join(ACDC_SPLITS)} (K=0..{N_FOLDS - 1})")


def _parse_fold(split: str, prefix: str) -> tuple[int | None, bool]:
    """``("cv3_val", "cv") -> (3, True)``; ``(None, False)`` where ``split`` is not of that form."""
    if not (split.startswith(prefix) and split.endswith(("_train", "_val"))):
        return None, False
    number = split[len(prefix):].split("_")[0]
    if not number.isdigit() or not 0 <= int(number) < N_FOLDS:
        raise ValueError(f"ACDC has folds 0..{N_FOLDS - 1}, got {split!r}")
    return int(number), split.endswith("_val")


# --- the one entry point ---------------------------------------------------------------
def load(name: str, root=None, split: str = "train", **options) -> Iterator[CineStudy]:
    """Yield the studies of data set ``name`` and ``split`` (lazily, one at a time)."""
    entry = describe(name)
    if name == "phantom":
        from cardiolab.data.phantom import make_phantom

        if split not in PHANTOM_SEEDS:
            raise ValueError(f"phantom splits are {sorted(PHANTOM_SEEDS)}, got {split!r}")
        for seed in PHANTOM_SEEDS[split]:
            yield make_phantom(seed=seed, **options)
        return
    if name == "acdc":
        from cardiolab.data.acdc import load_acdc_patient

        for folder in acdc_split(split, root):
            yield load_acdc_patient(folder)
        return
    if name in ("mnms", "kaggle_dsb"):
        if root is None:
            raise DatasetNotFound(f"{name}: pass root= the folder you downloaded. {entry['obtain']}")
        from cardiolab.data.loader import load_cine

        pattern = "*_sa.nii.gz" if name == "mnms" else "*/study"
        for path in sorted(Path(root).rglob(pattern)):
            yield load_cine(path, **options)
        return
    raise NotImplementedError(f"{name}: no loader yet ({entry.get('loader')}). {entry['obtain']}")
