"""The data-set registry (datasets.yaml) and its splits."""
import pytest

from cardiolab.data import datasets

REQUIRED_FIELDS = {"modality", "contents", "obtain", "licence", "citation", "layout", "label_map", "splits", "loader"}


def test_registry_lists_every_required_data_set_with_all_fields():
    entries = datasets.registry()
    assert {"phantom", "acdc", "mnms", "sunnybrook", "lvquan18", "kaggle_dsb", "ccta4d"} <= set(entries)
    for name, entry in entries.items():
        missing = REQUIRED_FIELDS - set(entry)
        assert not missing, f"{name} lacks {missing}"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="acdc"):
        datasets.describe("nope")


def test_stratified_folds_are_deterministic_disjoint_and_balanced():
    groups = {f"patient{i:03d}": ["NOR", "MINF", "DCM", "HCM", "RV"][(i - 1) // 20] for i in range(1, 101)}
    folds = datasets.stratified_folds(groups)
    assert folds == datasets.stratified_folds(groups)
    assert sorted(p for fold in folds for p in fold) == sorted(groups)
    for fold in folds:
        assert len(fold) == 20
        assert sorted(groups[p] for p in fold).count("NOR") == 4
    assert folds != datasets.stratified_folds(groups, seed=1)


def test_acdc_splits(acdc_training):
    root = acdc_training.parent
    assert len(datasets.acdc_split("train", root)) == 100
    validation = datasets.acdc_split("fold2_val", root)
    training = datasets.acdc_split("fold2_train", root)
    assert len(validation) == 20 and len(training) == 80 and not set(validation) & set(training)
    assert datasets.acdc_split("holdout20", root) == datasets.acdc_split("fold0_val", root)
    study = next(datasets.load("acdc", root=root, split="fold0_val"))
    assert study.info["format"] == "acdc"


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDIOLAB_ACDC", str(tmp_path))
    monkeypatch.setattr(datasets, "PROJECT_ROOT", tmp_path)
    with pytest.raises(datasets.DatasetNotFound, match="creatis"):
        list(datasets.load("acdc", root=tmp_path / "nowhere"))
    with pytest.raises(NotImplementedError, match="lvquan18"):
        list(datasets.load("lvquan18"))
