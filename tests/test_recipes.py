"""Phantom training recipes and generic zoo checkpoints (`export_model`, `load_model`).

Each recipe runs with tiny overrides (one epoch, two training phantoms, one validation
phantom, small phantoms), so these tests check the plumbing (train, validate, export,
reload), not the accuracy.
"""
import math
import subprocess
import sys

import pytest
import torch

from cardiolab import models
from cardiolab.cli import main as cli_main
from cardiolab.data import datasets
from cardiolab.data.preprocess import Preprocessor
from cardiolab.train import recipes
from cardiolab.train.recipes import RECIPES, VAL_SEED_START
from cardiolab.zoo import ZOO_FORMAT, export_bundle, export_model, load_model

TINY_PHANTOM = dict(n_frames=8, n_slices=4, size=(64, 64))
PHANTOM_RECIPES = {"esed_phantom": "esed_detector", "unet4d_phantom": "unet4d",
                   "fcslstm_phantom": "fcslstm", "stcnn_phantom": "stcnn_lvquan"}


@pytest.fixture(scope="module")
def recipe_runs(tmp_path_factory):
    runs = {}
    for name in PHANTOM_RECIPES:
        out_dir = tmp_path_factory.mktemp(name)
        result = RECIPES[name](out_dir=str(out_dir), epochs=1, seed=0, device="cpu", n_train=2, n_val=1,
                               phantom=TINY_PHANTOM)
        runs[name] = (out_dir, result)
    return runs


@pytest.mark.parametrize("name", sorted(PHANTOM_RECIPES))
def test_recipe_writes_a_safe_checkpoint_that_reloads_its_best_weights(recipe_runs, name):
    out_dir, result = recipe_runs[name]
    raw = torch.load(out_dir / f"{name}.pt", weights_only=True)  # raises on any pickled object
    assert raw["format"] == ZOO_FORMAT and raw["model_name"] == PHANTOM_RECIPES[name]
    assert raw["task"] == models.spec(PHANTOM_RECIPES[name]).task
    assert all(value.dtype != torch.float32 for value in raw["state_dict"].values())  # stored as float16
    model, meta = load_model(out_dir / f"{name}.pt")
    assert not model.training
    best = torch.load(out_dir / "best.pt", weights_only=True)["model"]
    for key, value in model.state_dict().items():  # the exported weights are the best epoch's, to fp16 precision
        assert torch.allclose(value.double(), best[key].double(), rtol=1e-3, atol=1e-3), key
    assert meta["metrics"] == result["metrics"] and meta["metrics"]
    assert all(isinstance(v, float) and math.isfinite(v) for v in meta["metrics"].values())
    data = meta["training"]["data"]
    assert data["n_train"] == 2 and data["n_val"] == 1 and data["val_seeds"].startswith(str(VAL_SEED_START))


@pytest.mark.parametrize("name", sorted(PHANTOM_RECIPES))
def test_recipe_writes_a_model_card_with_command_and_metrics(recipe_runs, name):
    out_dir, result = recipe_runs[name]
    card = (out_dir / f"{name}.md").read_text()
    assert f"cardiolab train --recipe {name}" in card
    assert "phantom" in card.lower() and "licence" in card.lower()
    for metric in result["metrics"]:
        assert f"| {metric} |" in card


def test_loaded_event_detector_reproduces_its_stored_validation_metrics(recipe_runs):
    """Validate the reloaded model on freshly generated validation phantoms: same scores as stored."""
    from torch.utils.data import DataLoader

    from cardiolab.train.pipelines import EventSamplingConfig, EventSequenceDataset
    from cardiolab.train.tasks import EventDetectionTask

    out_dir, _ = recipe_runs["esed_phantom"]
    model, meta = load_model(out_dir / "esed_phantom.pt")
    preprocessing = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["preprocessing"].items()
                     if k != "projection"}
    studies = recipes.phantom_studies(1, VAL_SEED_START, meta["training"]["data"]["phantom"])
    val_set = EventSequenceDataset(studies, EventSamplingConfig(preprocessor=Preprocessor(**preprocessing), augment=False))
    with torch.no_grad():
        scores = EventDetectionTask().validate(model, DataLoader(val_set, batch_size=1), torch.device("cpu"))
    assert scores["afd_es_naive"] == meta["metrics"]["afd_es_naive"]
    assert scores["loss"] == pytest.approx(meta["metrics"]["loss"], abs=1e-2)  # fp16 weights


def test_export_model_round_trips_tuple_configs_stored_as_lists(tmp_path):
    model = models.create("fcslstm", size="small", block_widths=(2, 4, 4, 8, 8))
    path = export_model(tmp_path / "m.pt", model, task="segmentation", preprocessing={"crop_size_yx": (64, 64)},
                        metrics={"dice": 0.5}, training={"epochs": 0})
    bundle = torch.load(path, weights_only=True)
    bundle["model_config"] = {k: list(v) if isinstance(v, tuple) else v for k, v in bundle["model_config"].items()}
    torch.save(bundle, path)  # as a writer that turns tuples into lists (JSON) would leave it
    loaded, meta = load_model(path)
    assert loaded.config.block_widths == (2, 4, 4, 8, 8) and meta["preprocessing"]["crop_size_yx"] == (64, 64)
    image = torch.randn(1, 1, 2, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(image), model.half().float().eval()(image), atol=1e-4)


def test_slice_bundles_load_through_load_model_too(tmp_path):
    model = models.create("pspunet", size="small", in_channels=3, base_filters=4)
    path = export_bundle(tmp_path / "s.pt", model, Preprocessor(crop_size_yx=(48, 48)), 3, metrics={}, training={})
    loaded, meta = load_model(path)
    assert meta["context"] == 3 and meta["task"] == "segmentation" and loaded.config.base_filters == 4


def test_fine_tuning_starts_from_a_run_checkpoint_or_a_zoo_bundle(tmp_path, recipe_runs):
    model = models.create("pspunet", size="small", in_channels=3, base_filters=4)
    bundle = export_bundle(tmp_path / "s.pt", model, Preprocessor(crop_size_yx=(48, 48)), 3, metrics={}, training={})
    fresh = models.create("pspunet", size="small", in_channels=3, base_filters=4)
    fresh.load_state_dict(recipes.checkpoint_weights(bundle))  # float16 on disk, cast back on loading
    for name, value in model.state_dict().items():
        assert torch.allclose(fresh.state_dict()[name].float(), value.float(), atol=1e-2), name
    run_checkpoint = recipe_runs["esed_phantom"][0] / "last.pt"
    assert recipes.checkpoint_weights(run_checkpoint).keys() == torch.load(run_checkpoint, weights_only=True)["model"].keys()
    plain = tmp_path / "weights.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(ValueError, match="no model weights"):
        recipes.checkpoint_weights(plain)


def test_load_model_refuses_files_that_are_not_zoo_checkpoints(tmp_path, recipe_runs):
    plain = tmp_path / "weights.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    training_checkpoint = recipe_runs["esed_phantom"][0] / "last.pt"
    for path in (plain, text, training_checkpoint):
        with pytest.raises(ValueError, match="not a cardiolab zoo checkpoint"):
            load_model(path)
    with pytest.raises(KeyError):
        load_model("no_such_bundled_model")


def test_recipes_validate_their_sizes(tmp_path):
    with pytest.raises(ValueError, match="n_train"):
        recipes.train_esed_phantom(out_dir=str(tmp_path), n_train=0)


def test_cli_lists_every_recipe_without_importing_torch():
    from cardiolab.cli import RECIPE_NAMES

    assert sorted(RECIPE_NAMES) == sorted(RECIPES)
    help_text = subprocess.run([sys.executable, "-m", "cardiolab", "train", "--help"], capture_output=True,
                               text=True, check=True).stdout
    for name in PHANTOM_RECIPES:
        assert name in help_text
    probe = "import sys; from cardiolab.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_cli_rejects_an_unknown_recipe_in_one_line(capsys):
    assert cli_main(["train", "--recipe", "nope"]) == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err


def test_cli_train_passes_only_the_options_a_recipe_accepts(monkeypatch, tmp_path, capsys):
    received = {}

    def fake_recipe(out_dir="x", epochs=1, seed=0, device="auto", resume=False):
        received.update(out_dir=out_dir, epochs=epochs, seed=seed, device=device, resume=resume)
        return {"metrics": {"afd": 0.25}, "bundle": "b.pt", "card": "b.md"}

    monkeypatch.setitem(RECIPES, "esed_phantom", fake_recipe)
    code = cli_main(["train", "--recipe", "esed_phantom", "--out", str(tmp_path), "--epochs", "3",
                     "--data-root", "ignored"])
    assert code == 0 and received == {"out_dir": str(tmp_path), "epochs": 3, "seed": 0, "device": "auto",
                                      "resume": False}
    assert "afd" in capsys.readouterr().out


def test_recipe_studies_add_acdc_pseudo_cine_from_disjoint_patient_splits(acdc_training):
    options = dict(TINY_PHANTOM)
    train, groups = recipes.recipe_studies(2, 1, options, pseudo_cine_patients=1, data_root=str(acdc_training.parent))
    assert len(train) == 3 and set(groups) == {"phantom", "pseudo_cine"}
    cine_train, cine_val = train[-1], groups["pseudo_cine"][0]
    for cine in (cine_train, cine_val):
        assert cine.info["pseudo_cine"] and cine.n_frames == options["n_frames"]
        assert sorted(cine.labels) == list(range(options["n_frames"]))  # every frame labelled
    # training patients come from cv0_train, validation patients from cv0_val: never the same person
    assert cine_train.info["patient"] != cine_val.info["patient"]


def test_recipe_studies_without_pseudo_cine_are_phantoms_only():
    train, groups = recipes.recipe_studies(2, 1, dict(TINY_PHANTOM))
    assert len(train) == 2 and set(groups) == {"phantom"}


# --- the ACDC recipes, on two patients and one epoch ----------------------------------------------
@pytest.mark.acdc
def test_default_acdc_trains_fine_tunes_and_writes_a_card_against_the_targets(acdc_training, tmp_path):
    root = str(acdc_training.parent)
    first = recipes.train_default_acdc(out_dir=str(tmp_path / "a"), data_root=root, epochs=1, max_patients=2,
                                       device="cpu")
    assert first["n_cases"] == 2 and "dice_lv_ed" in first["summary"]
    second = recipes.train_default_acdc(out_dir=str(tmp_path / "b"), data_root=root, epochs=1, max_patients=2,
                                        device="cpu", lr=1e-4, init_from=str(tmp_path / "a" / "best.pt"))
    card = (tmp_path / "b" / "default.md").read_text()
    assert "--init-from" in card and "## Against the targets" in card
    # held-out figures come from the test split only; the split that picked the epoch is named validation
    assert "## Held-out test accuracy (`holdout20`" in card and "Validation (`cv0_val`" in card
    test_cases = {case["case"] for case in second["per_case"]}
    assert test_cases <= {folder.name for folder in datasets.acdc_split("holdout20", root)}
    # the sentence needs two patients with a measured LVEF; after one epoch the LV may not be found
    measured = [case for case in second["per_case"] if case["lv_ef_pct_pred"] is not None]
    assert ("Largest LVEF error" in card) == (len(measured) >= 2)
    _, meta = load_model(tmp_path / "b" / "default.pt")
    assert meta["training"]["init_from"].endswith("best.pt")
    assert (meta["training"]["selected_on"], meta["training"]["evaluated_on"]) == ("cv0_val", "holdout20")
    assert set(meta["training"]["validation"]) >= {"dice_lv_ed", "dice_lv_es", "lv_ef_pct_mae"}
    assert meta["metrics"]["dice_lv_ed"]["mean"] == pytest.approx(second["summary"]["dice_lv_ed"]["mean"])


@pytest.mark.acdc
def test_lv_volume_acdc_exports_a_volume_model_the_predictor_and_explainer_run(acdc_training, tmp_path):
    from cardiolab.data.phantom import make_phantom
    from cardiolab.explain import explain
    from cardiolab.predict import load_predictor, predict

    result = recipes.train_lv_volume_acdc(out_dir=str(tmp_path), data_root=str(acdc_training.parent), epochs=1,
                                          max_patients=2, device="cpu")
    metrics = result["metrics"]
    assert metrics["volume_mae_ml"] > 0 and 0.0 <= metrics["map_dice_lv"] <= 1.0
    card = (tmp_path / "lv_volume_weak.md").read_text()
    assert "ED and ES stacks (4)" in result["training"]["data"] and f"{metrics['volume_mae_ml']:.1f}" in card
    predictor = load_predictor(tmp_path / "lv_volume_weak.pt")
    study = make_phantom(seed=1, n_frames=3, n_slices=6, size=(80, 80))
    volumes = predict(predictor, study).indices["lv_volume_ml"]
    assert predictor.task == "volume" and volumes.shape == (3,) and (volumes >= 0).all()
    explanation = explain(predictor, study, frame=0)
    assert explanation.method == "model map" and explanation.cam.shape == study.image.shape[1:]


def test_a_recipe_refuses_a_test_split_that_would_train_or_pick_the_model():
    recipes.check_splits_apart("cv0_train", "cv0_val", "holdout20")
    for train, validation in (("holdout20", "cv0_val"), ("cv0_train", "holdout20")):
        with pytest.raises(ValueError, match="validation figures"):
            recipes.check_splits_apart(train, validation, "holdout20")


def test_targets_hold_per_phase_so_a_weak_phase_is_not_hidden_by_the_mean():
    summary = {key: {"mean": 0.99} for key in recipes.DEFAULT_TARGETS if key.startswith("dice_")}
    summary["dice_myo_ed"] = {"mean": 0.87}  # the mean with ES (0.99) would pass 0.88
    summary["lv_ef_pct"] = {"mae": 2.0}
    rows = {row.split(" | ")[0].strip("| "): row for row in recipes.target_rows(summary)}
    assert rows["dice_myo_ed"].endswith("NOT met |") and rows["dice_myo_es"].endswith("| met |")


def test_largest_ef_error_names_the_worst_patient_and_skips_unmeasured_ones():
    cases = [{"case": "p1", "group": "NOR", "lv_ef_pct_pred": 60.0, "lv_ef_pct_ref": 62.0, "dice_lv_es": 0.9},
             {"case": "p2", "group": "HCM", "lv_ef_pct_pred": 40.0, "lv_ef_pct_ref": 70.0, "dice_lv_es": 0.5},
             {"case": "p3", "group": "DCM", "lv_ef_pct_pred": 20.0, "lv_ef_pct_ref": 24.0, "dice_lv_es": 0.9},
             {"case": "p4", "group": "RV", "lv_ef_pct_pred": None, "lv_ef_pct_ref": 50.0}]  # no LV found
    sentence = recipes.largest_ef_error(cases)
    assert sentence.startswith("Largest LVEF error: p2 (HCM), 30.0 %") and "other 2 patients 3.0 %" in sentence
    assert recipes.largest_ef_error(cases[3:]) == ""
