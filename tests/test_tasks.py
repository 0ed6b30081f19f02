"""Tasks of the temporal and non-segmentation models: scores on known answers, and short training runs."""
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cardiolab import models
from cardiolab.data.phantom import make_phantom
from cardiolab.data.preprocess import Preprocessor
from cardiolab.train import TrainConfig, fit, load_checkpoint
from cardiolab.train.augment import AffineAugment
from cardiolab.train.pipelines import (Crop3dDataset, Crop4dDataset, CropSamplingConfig, EventSamplingConfig,
                                       EventSequenceDataset, FrameNeighboursDataset, LVQuanDataset, LVQuanSamplingConfig,
                                       NeighbourSamplingConfig, SequenceSamplingConfig, SequenceSliceDataset,
                                       VolumeDataset, VolumeSamplingConfig)
from cardiolab.train.tasks import (EventDetectionTask, LVQuanTask, SegmentationTask, SequenceSegmentationTask,
                                   SparseSegmentation4dTask, WeakVolumeTask)

SMALL_CROP = Preprocessor(target_spacing_yx_mm=None, crop_size_yx=(32, 32), normalisation="percentile")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny convolutions run fastest on one thread; on a busy machine, several threads wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def phantoms():
    return [make_phantom(seed, n_frames=8, n_slices=4, size=(64, 64)) for seed in range(3)]


class Replay(nn.Module):
    """A 'model' that returns prepared outputs in turn: scores of known predictions."""

    def __init__(self, outputs):
        super().__init__()
        self.outputs = iter(outputs)

    def forward(self, *inputs):
        return next(self.outputs)


def batches(dataset, size=2):
    return [torch.utils.data.default_collate([dataset[i] for i in range(start, min(start + size, len(dataset)))])
            for start in range(0, len(dataset), size)]


# --- validation scores on known predictions ----------------------------------------------------
def test_4d_dice_reads_only_the_labelled_frames(phantoms):
    sparse = replace(phantoms[0], labels={0: phantoms[0].labels[0], 3: phantoms[0].labels[3]})
    config = CropSamplingConfig(crop_size=(4, 4, 32, 32), deterministic=True, preprocessor=SMALL_CROP)
    loader = batches(Crop4dDataset([sparse], config))
    outputs = []
    for batch in loader:
        truth = F.one_hot(batch["labels"], 4).movedim(-1, 1).float() * 20  # (B, 4, T, Z, Y, X)
        truth[:, 3][~batch["labelled"]] = 40.0  # unlabelled frames predicted all RV: must not count
        outputs.append(truth)
    scores = SparseSegmentation4dTask().validate(Replay(outputs), loader, torch.device("cpu"))
    assert scores["dice_lv"] == scores["dice_myo"] == scores["dice_rv"] == 1.0
    wrong = [torch.roll(output, 1, dims=1) for output in outputs]  # every class shifted: nothing right
    assert SparseSegmentation4dTask().validate(Replay(wrong), loader, torch.device("cpu"))["dice"] == 0.0


def test_lvquan_scores_are_zero_for_the_true_indices_and_in_mm_for_an_offset(phantoms):
    loader = batches(LVQuanDataset(phantoms[:1], LVQuanSamplingConfig(kappa=3)), size=4)
    exact = [{"indices": b["indices"], "phase_logits": F.one_hot(b["phase"], 2).float() * 10} for b in loader]
    scores = LVQuanTask().validate(Replay(exact), loader, torch.device("cpu"))
    assert scores["mae_areas_mm2"] < 1e-2 and scores["mae_dims_mm"] < 1e-4 and scores["mae_rwt_mm"] < 1e-4
    assert scores["phase_error_pct"] == 0.0
    # 0.01 of the crop side too long everywhere: a length error of side / 100 mm
    offset = [{"indices": b["indices"] + 0.01, "phase_logits": -F.one_hot(b["phase"], 2).float()} for b in loader]
    scores = LVQuanTask().validate(Replay(offset), loader, torch.device("cpu"))
    side_mm = float(loader[0]["side_mm"][0])
    assert scores["mae_dims_mm"] == pytest.approx(side_mm / 100, rel=1e-4)
    assert scores["mae_areas_mm2"] == pytest.approx(side_mm**2 / 100, rel=1e-4)
    assert scores["phase_error_pct"] == 100.0


def test_event_scores_count_frame_distances(phantoms):
    preprocessor = Preprocessor(target_spacing_yx_mm=None, crop_size_yx=(32, 32), normalise_per="frame")
    loader = batches(EventSequenceDataset(phantoms, EventSamplingConfig(preprocessor=preprocessor, augment=False)))
    exact = [batch["target"] * 10 for batch in loader]
    scores = EventDetectionTask().validate(Replay(exact), loader, torch.device("cpu"))
    assert all(scores[f"afd_{e}_{m}"] == 0.0 for e in ("es", "ed") for m in ("naive", "central"))
    late = [torch.roll(batch["target"], 2, dims=-1) * 10 for batch in loader]  # every event 2 frames late
    scores = EventDetectionTask(loss_name="ce").validate(Replay(late), loader, torch.device("cpu"))
    assert scores["afd_es_naive"] == scores["afd_ed_central"] == 2.0


# --- short training runs: the loss falls, validation returns its scores --------------------------
def tiny_model(name, **options):
    torch.manual_seed(0)  # the same initial weights whatever ran before
    return models.create(name, size="small", **options)


def train(tmp_path, model, task, train_set, val_set, **overrides):
    values = dict(epochs=3, batch_size=2, lr=3e-3, seed=0, out_dir=str(tmp_path), progress=False, device="cpu")
    history = fit(model, task, train_set, TrainConfig(**{**values, **overrides}), val_set=val_set).history
    losses = [record["train_loss"] for record in history]
    assert losses[-1] < 0.95 * losses[0], losses
    return history[-1]


def test_unet4d_learns_from_sparse_4d_crops(tmp_path, phantoms):
    config = CropSamplingConfig(crop_size=(4, 4, 32, 32), crops_per_study=4, preprocessor=SMALL_CROP)
    last = train(tmp_path, tiny_model("unet4d"), SparseSegmentation4dTask(),
                 Crop4dDataset(phantoms[:2], config), Crop4dDataset(phantoms[2:], replace(config, deterministic=True)))
    assert {"val_dice_lv", "val_dice_myo", "val_dice_rv", "val_dice", "val_loss"} <= set(last)


def test_unet3d_ccta_learns_from_labelled_frames(tmp_path, phantoms):
    config = CropSamplingConfig(crop_size=(8, 32, 32), crops_per_study=4, preprocessor=SMALL_CROP)
    last = train(tmp_path, tiny_model("unet3d_ccta"), SparseSegmentation4dTask(),
                 Crop3dDataset(phantoms[:2], config), Crop3dDataset(phantoms[2:], replace(config, deterministic=True)))
    assert 0.0 <= last["val_dice"] <= 1.0


def test_stcnn_lvquan_learns_the_indices(tmp_path, phantoms):
    config = LVQuanSamplingConfig(kappa=3)
    last = train(tmp_path, tiny_model("stcnn_lvquan", kappa=3), LVQuanTask(),
                 LVQuanDataset(phantoms[:2], config), LVQuanDataset(phantoms[2:], config), batch_size=4, lr=1e-3)
    assert {"val_mae_areas_mm2", "val_mae_dims_mm", "val_mae_rwt_mm", "val_phase_error_pct", "val_loss"} <= set(last)


def test_esed_detector_learns_the_events(tmp_path, phantoms):
    preprocessor = Preprocessor(target_spacing_yx_mm=None, crop_size_yx=(32, 32), normalise_per="frame")
    config = EventSamplingConfig(preprocessor=preprocessor, affine=None)
    last = train(tmp_path, tiny_model("esed_detector", image_size=32, depth=3), EventDetectionTask(),
                 EventSequenceDataset(phantoms[:2], config),
                 EventSequenceDataset(phantoms[2:], replace(config, augment=False)), batch_size=1)
    assert {"val_afd_es_naive", "val_afd_ed_naive", "val_afd_es_central", "val_afd_ed_central", "val_afd"} <= set(last)


def test_lv_volume_weak_learns_from_volumes(tmp_path, phantoms):
    config = VolumeSamplingConfig(preprocessor=Preprocessor(target_spacing_yx_mm=None, crop_size_yx=(32, 32)), augment=False)
    last = train(tmp_path, tiny_model("lv_volume_weak", base_filters=4, scan_window=12), WeakVolumeTask(),
                 VolumeDataset(phantoms[:2], config), VolumeDataset(phantoms, config), batch_size=1)
    assert last["val_volume_mae_ml"] >= 0 and -1.0 <= last["val_volume_pearson_r"] <= 1.0


def test_fcslstm_learns_from_labelled_frames(tmp_path, phantoms):
    config = SequenceSamplingConfig(preprocessor=SMALL_CROP, n_frames=4, skip_empty_slices=1.0)
    train_set = SequenceSliceDataset(phantoms[:2], config)
    task = SequenceSegmentationTask(class_counts=tuple(train_set.class_counts()))
    last = train(tmp_path, tiny_model("fcslstm"), task, train_set,
                 SequenceSliceDataset(phantoms[2:], config), lr=1e-2)
    assert {"val_dice_lv", "val_dice_myo", "val_dice_rv", "val_dice", "val_loss"} <= set(last)


def test_deunet_learns_with_the_slice_segmentation_task(tmp_path, phantoms):
    config = NeighbourSamplingConfig(preprocessor=SMALL_CROP, augment=False, skip_empty_slices=1.0)
    last = train(tmp_path, tiny_model("deunet"), SegmentationTask(),
                 FrameNeighboursDataset(phantoms[:1], config), FrameNeighboursDataset(phantoms[2:], config), batch_size=8)
    assert {"val_dice", "val_loss"} <= set(last)


def test_a_resumed_run_sees_the_same_augmented_samples(tmp_path, phantoms):
    """Every random choice of a sample comes from torch's global RNG, which checkpoints restore."""
    preprocessor = Preprocessor(target_spacing_yx_mm=None, crop_size_yx=(32, 32), normalise_per="frame")
    affine = AffineAugment(rotation_deg=20, zoom=(1.0, 1.0), shear_deg=10, translation_px=4)
    config = EventSamplingConfig(preprocessor=preprocessor, affine=affine)
    dataset = EventSequenceDataset(phantoms, config)

    def run(name, **options):
        values = dict(epochs=3, batch_size=1, lr=3e-3, seed=5, out_dir=str(tmp_path / name), progress=False, device="cpu")
        model = tiny_model("esed_detector", image_size=32, depth=3)
        fit(model, EventDetectionTask(), dataset, TrainConfig(**values), **options)
        return load_checkpoint(tmp_path / name / "last.pt")["model"]

    straight = run("straight")
    run("killed", stop_after_epochs=1)
    resumed = run("killed", resume=True)
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=0)
