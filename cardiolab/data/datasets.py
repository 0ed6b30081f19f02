"""The data-set registry: `datasets.yaml` at the project's root, and loaders for it.

    from cardiolab.data import datasets
    datasets.names()                         # ['acdc', 'ccta4d', 'kaggle_dsb', ...]
    datasets.describe("acdc")                # its entry: source, licence, citation, ...
    for study in datasets.load("acdc", split="fold0_val"):
        ...

Nothing is downloaded: a data set you do not have raises an error that says how to
obtain it. ACDC is looked for in ``root``, then ``$CARDIOLAB_ACDC``, then
``../shared/data/acdc`` beside the project.
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
    round-robin into the folds, so every fold gets len(group)/n_folds of each group.
    """
    by_group = defaultdict(list)
    for patient, group in sorted(groups.items()):
        by_group[group].append(patient)
    folds = [[] for _ in range(n_folds)]
    rng = np.random.default_rng(seed)
    for group in sorted(by_group):
        patients = list(rng.permutation(by_group[group]))
        for index, patient in enumerate(patients):
            folds[index % n_folds].append(str(patient))
    return [sorted(fold) for fold in folds]


def acdc_split(split: str, root=None) -> list[Path]:
    """Patient folders of an ACDC split: train, test, holdout20, foldK_train, foldK_val."""
    root = find_acdc_root(root)
    from cardiolab.data.acdc import patient_folders

    if split == "test":
        if not (root / "testing").is_dir():
            raise DatasetNotFound(f"ACDC test split not found under {root}/testing. {describe('acdc')['obtain']}")
        return patient_folders(root / "testing")
    training = patient_folders(root / "training")
    if split == "train":
        return training
    if split == "holdout20":
        split = "fold0_val"
    if split.startswith("fold") and split.endswith(("_train", "_val")):
        fold_index = int(split[len("fold"):].split("_")[0])
        if not 0 <= fold_index < N_FOLDS:
            raise ValueError(f"ACDC has folds 0..{N_FOLDS - 1}, got {split!r}")
        validation = set(stratified_folds(acdc_groups(root / "training"))[fold_index])
        want_val = split.endswith("_val")
        return [folder for folder in training if (folder.name in validation) == want_val]
    raise ValueError(f"unknown ACDC split {split!r}; use train, test, holdout20, foldK_train or foldK_val (K=0..{N_FOLDS - 1})")


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
