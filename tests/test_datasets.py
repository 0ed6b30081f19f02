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


def test_folds_stay_the_same_size_when_groups_do_not_divide_evenly():
    groups = {f"p{i:02d}": ["NOR", "MINF", "DCM", "HCM", "RV"][i % 5] for i in range(80)}  # 16 per group
    folds = datasets.stratified_folds(groups)
    assert [len(fold) for fold in folds] == [16] * 5
    for fold in folds:
        per_group = [sorted(groups[p] for p in fold).count(g) for g in ("NOR", "MINF", "DCM", "HCM", "RV")]
        assert set(per_group) <= {3, 4}


def fake_acdc(root, n_patients=100):
    """An ACDC-shaped tree of Info.cfg files only (20 patients per group, as the real one)."""
    for index in range(1, n_patients + 1):
        folder = root / "training" / f"patient{index:03d}"
        folder.mkdir(parents=True)
        group = ["NOR", "MINF", "DCM", "HCM", "RV"][(index - 1) // 20]
        (folder / "Info.cfg").write_text(f"ED: 1\nES: 10\nGroup: {group}\nNbFrame: 20\n")
    return root


def test_train_validation_and_test_splits_never_share_a_patient(tmp_path):
    root = fake_acdc(tmp_path)
    names = lambda split: {folder.name for folder in datasets.acdc_split(split, root)}  # noqa: E731
    test, develop = names("holdout20"), names("develop80")
    assert len(test) == 20 and len(develop) == 80 and not test & develop
    validation_folds = []
    for k in range(datasets.N_FOLDS):
        train, validation = names(f"cv{k}_train"), names(f"cv{k}_val")
        assert len(train) == 64 and len(validation) == 16
        assert train | validation == develop and not train & validation and not validation & test
        validation_folds.append(validation)
    assert set().union(*validation_folds) == develop  # every developing patient validates once
    with pytest.raises(ValueError, match="folds 0..4"):
        datasets.acdc_split("cv7_val", root)
    with pytest.raises(ValueError, match="cvK_train"):
        datasets.acdc_split("validation", root)


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
