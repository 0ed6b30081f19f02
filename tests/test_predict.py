"""Whole-study prediction (`cardiolab.predict`) for every kind of model, on small phantoms."""
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn as nn

from cardiolab import LV_CAVITY, models
from cardiolab.data.phantom import make_phantom
from cardiolab.events import detect_events
from cardiolab.inference import segment_study
from cardiolab.predict import (
    LVQUAN_INDEX_UNITS,
    Prediction,
    Predictor,
    available_models,
    crop_to_study,
    cycle_probabilities,
    default_metadata,
    load_predictor,
    lvquan_crop,
    predict,
    predictor_from_model,
)

COARSE = dict(target_spacing_yx_mm=(6.0, 6.0), normalisation="percentile", normalise_per="volume")


@pytest.fixture(scope="module")
def study():
    return make_phantom(3, n_frames=6, n_slices=4, size=(64, 64))


def tiny_predictor(name: str, **metadata) -> Predictor:
    torch.manual_seed(0)
    options = {"in_channels": 3, "base_filters": 4, "psp_branch_filters": 4, "depth": 2} if name == "pspunet" else {}
    return predictor_from_model(models.create(name, size="small", **options), metadata or None)


def check_segmentation(prediction: Prediction, study, name: str):
    assert prediction.task == "segmentation" and prediction.model == name
    assert prediction.segmentation.shape == study.image.shape
    assert prediction.segmentation.dtype == np.uint8
    assert set(np.unique(prediction.segmentation)) <= {0, 1, 2, 3}
    assert prediction.events is None and prediction.indices is None and prediction.runtime_s > 0


# --- segmentation ------------------------------------------------------------------------
def test_slice_bundle_prediction_equals_segment_study(study):
    chosen = tiny_predictor("pspunet", preprocessing={**COARSE, "crop_size_yx": (32, 32)}, context=3)
    calls = []
    prediction = predict(chosen.bundle, study, progress=lambda done, total: calls.append((done, total)))
    check_segmentation(prediction, study, "pspunet")
    np.testing.assert_array_equal(prediction.segmentation, segment_study(chosen.bundle, study))
    assert calls and calls[-1][0] == calls[-1][1]  # the callable reaches segment_study's batches


class Pointwise4d(nn.Module):
    """A stand-in 4D net with known output: logits (x, -x, 0, x / 2) per voxel; checks the padding."""
    size_divisors = (4, 2, 4, 4)

    def forward(self, x):
        assert all(n % d == 0 for n, d in zip(x.shape[2:], self.size_divisors)), x.shape
        return torch.cat([x, -x, torch.zeros_like(x), 0.5 * x], dim=1)


@pytest.mark.parametrize("max_voxels", [10**9, 4 * 4 * 12 * 8])  # one pass; windows of 4 frames
def test_cycle_probabilities_pads_windows_and_averages_exactly(max_voxels):
    image = np.random.default_rng(0).normal(size=(6, 3, 10, 6)).astype(np.float32)  # (T, Z, Y, X), no multiple
    probabilities = cycle_probabilities(Pointwise4d(), image, Pointwise4d.size_divisors, max_voxels, "cpu")
    logits = np.stack([image, -image, np.zeros_like(image), 0.5 * image])  # (C, T, Z, Y, X)
    expected = np.exp(logits) / np.exp(logits).sum(axis=0, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)


def test_unet4d_segments_the_whole_cycle_without_seeing_labels(study):
    chosen = tiny_predictor("unet4d")
    prediction = chosen.predict(study)
    check_segmentation(prediction, study, "unet4d")
    unlabelled = dataclasses.replace(study, labels={})  # the labels would move the crop if they were read
    np.testing.assert_array_equal(chosen.predict(unlabelled).segmentation, prediction.segmentation)


@pytest.mark.parametrize("name, preprocessing", [
    ("fcslstm", {**COARSE, "crop_size_yx": (32, 32)}),
    ("deunet", {**COARSE, "crop_size_yx": (32, 32)}),
    ("unet3d_thesis", {**COARSE, "crop_size_yx": (32, 32)}),
    ("unet3d_ccta", {**COARSE, "crop_size_yx": (32, 32)}),
])
def test_other_segmenters_give_study_grid_labels(study, name, preprocessing):
    check_segmentation(tiny_predictor(name, preprocessing=preprocessing).predict(study), study, name)


# --- events, regression, volume ----------------------------------------------------------
def test_event_detector_gives_ed_es_and_frame_scores(study):
    prediction = tiny_predictor("esed_detector").predict(study)
    events = prediction.events
    assert prediction.task == "events" and prediction.segmentation is None
    scores = np.asarray(events["frame_scores"])
    assert scores.shape == (study.n_frames, 3) and events["classes"] == ["ES", "ED", "other"]
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    central = detect_events(scores.T, "central", events["threshold"])
    assert (events["es_frame"], events["ed_frame"]) == (central["ES"], central["ED"])
    assert events["naive"] == {"es_frame": int(scores[:, 0].argmax()), "ed_frame": int(scores[:, 1].argmax())}


def test_lvquan_indices_per_frame_on_the_mid_ventricular_slice(study):
    prediction = tiny_predictor("stcnn_lvquan").predict(study)
    indices = prediction.indices
    assert prediction.task == "regression"
    assert set(LVQUAN_INDEX_UNITS.values()) | {"phase", "systole_probability"} == set(indices)
    for name in LVQUAN_INDEX_UNITS.values():
        assert np.asarray(indices[name]).shape == (study.n_frames,) and np.isfinite(indices[name]).all()
    assert set(indices["phase"]) <= {"systole", "diastole"} and len(indices["phase"]) == study.n_frames
    cavity_slices = [z for z in range(study.n_slices) if (study.labels[study.ed_frame][z] == LV_CAVITY).any()]
    assert prediction.details["slice"] == cavity_slices[len(cavity_slices) // 2]
    assert prediction.details["lv_crop_from"] == "study labels"


def test_lvquan_crop_maps_back_around_the_lv(study):
    chosen = tiny_predictor("stcnn_lvquan")
    crop = lvquan_crop(chosen, study, "cpu")
    footprint = crop_to_study(np.ones((80, 80)), crop, study)[crop.slice_index] > 0.5  # the crop's square
    rows, cols = np.nonzero(footprint)
    pixel_mm = study.spacing[1]
    lv = np.isin(np.stack([study.labels[t][crop.slice_index] for t in range(study.n_frames)]), (1, 2)).any(axis=0)
    lv_rows, lv_cols = np.nonzero(lv)
    # centred on the LV's bounding box, side = field_of_view_factor (2) x its larger extent, within a pixel
    assert abs((rows.min() + rows.max()) / 2 - (lv_rows.min() + lv_rows.max()) / 2) <= 1
    assert abs((cols.min() + cols.max()) / 2 - (lv_cols.min() + lv_cols.max()) / 2) <= 1
    lv_extent_mm = max(np.ptp(lv_rows) + 1, np.ptp(lv_cols) + 1) * pixel_mm
    assert abs((np.ptp(rows) + 1) * pixel_mm - 2 * lv_extent_mm) <= 2 * pixel_mm


def test_lvquan_crop_from_a_segmentation(study):
    from_labels = tiny_predictor("stcnn_lvquan")
    from_segmentation = tiny_predictor("stcnn_lvquan")
    from_segmentation.lv_crop_from = "segmentation"
    from_segmentation.locator = lambda s: np.stack([study.labels[t] for t in range(s.n_frames)])  # a perfect segmenter
    expected = from_labels.predict(study).indices
    located = from_segmentation.predict(dataclasses.replace(study, labels={}))
    assert located.details["lv_crop_from"] == "<lambda>"
    for name in LVQUAN_INDEX_UNITS.values():
        np.testing.assert_allclose(located.indices[name], expected[name], rtol=1e-5)
    from_labels.lv_crop_from = "labels"
    with pytest.raises(ValueError, match="no labels"):
        from_labels.predict(dataclasses.replace(study, labels={}))


def test_weak_volume_model_gives_a_volume_per_frame(study):
    prediction = tiny_predictor("lv_volume_weak", preprocessing={**COARSE, "crop_size_yx": (32, 32)}).predict(study)
    volumes = prediction.indices["lv_volume_ml"]
    assert prediction.task == "volume" and volumes.shape == (study.n_frames,)
    assert np.all(volumes > 0) and np.isfinite(volumes).all()  # a sigmoid map has positive area everywhere


# --- progress, loading, the zoo ------------------------------------------------------------
def test_progress_callable_is_called_up_to_the_total(study):
    chosen = tiny_predictor("fcslstm", preprocessing={**COARSE, "crop_size_yx": (32, 32)})
    chosen.batch_size = 2
    calls = []
    chosen.predict(study, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]  # 4 slices, 2 per pass
    with pytest.raises(TypeError, match="progress"):
        chosen.predict(study, progress="yes")


def test_load_predictor_reads_an_exported_checkpoint(tmp_path, study):
    from cardiolab.zoo import export_model

    original = tiny_predictor("esed_detector")
    metadata = default_metadata("esed_detector", original.model)
    path = export_model(tmp_path / "my_detector.pt", original.model, task="events",
                        preprocessing=metadata["preprocessing"], metrics={"val_afd": 1.5}, training={},
                        extra=metadata["extra"])
    loaded = load_predictor(path)
    assert (loaded.name, loaded.task, loaded.model_name) == ("my_detector", "events", "esed_detector")
    assert loaded.metadata["metrics"] == {"val_afd": 1.5}
    np.testing.assert_allclose(loaded.predict(study).events["frame_scores"],  # float16 weights on disk
                               original.predict(study).events["frame_scores"], atol=2e-2)


def test_a_recipe_checkpoint_loads_and_predicts(tmp_path, study):
    from cardiolab.train.recipes import train_esed_phantom

    result = train_esed_phantom(out_dir=tmp_path, epochs=1, n_train=1, n_val=1, batch_size=1, device="cpu",
                                phantom={"n_frames": 6, "n_slices": 4, "size": (64, 64)})
    prediction = predict(result["bundle"], study)  # a path
    assert prediction.model == "esed_phantom" and 0 <= prediction.events["es_frame"] < study.n_frames


def test_available_models_lists_the_zoo():
    from cardiolab import zoo

    entries = available_models()
    assert [entry["name"] for entry in entries] == zoo.available()
    for entry in entries:
        assert {"name", "model_name", "task", "metrics", "card"} <= set(entry)
        assert entry["task"] in ("segmentation", "events", "regression", "volume")
        assert entry["model_name"] in models.available() and isinstance(entry["card"], str)


def test_bad_arguments_are_named(study):
    with pytest.raises(TypeError, match="model"):
        predict(42, study)
    with pytest.raises(KeyError, match="no bundled model"):
        load_predictor("no_such_model")
    with pytest.raises(TypeError, match="study"):
        tiny_predictor("esed_detector").predict(study.image)
    with pytest.raises(ValueError, match="frame"):
        tiny_predictor("esed_detector").model_inputs(study, frame=-1)


def test_metrics_are_called_held_out_only_when_a_test_split_apart_from_selection_scored_them():
    from cardiolab import zoo

    assert zoo.metrics_kind({"selected_on": "cv0_val", "evaluated_on": "holdout20"}).startswith("held-out test")
    for training in ({}, {"selected_on": "holdout20", "evaluated_on": "holdout20"}, {"evaluated_on": "holdout20"}):
        assert zoo.metrics_kind(training).startswith("validation")
