"""The analysis path: zoo bundles (safe loading), slice inference, analyze_study, evaluate.

These tests use a tiny, untrained PSPU-net exported as a zoo bundle, so they check the
plumbing (shapes, grids, files, safety), not accuracy: the bundled model's accuracy is
measured by `cardiolab evaluate` and reported in its model card.
"""
import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import torch

from cardiolab import models
from cardiolab.analyze import analyze_study
from cardiolab.data import save_study
from cardiolab.data.phantom import make_phantom
from cardiolab.data.preprocess import Preprocessor
from cardiolab.evaluate import evaluate_segmentation, results_table
from cardiolab.inference import keep_largest_components, pad_to_multiple
from cardiolab.zoo import export_bundle, load_bundle_file


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    torch.manual_seed(0)
    model = models.create("pspunet", size="small", in_channels=3, base_filters=4, psp_branch_filters=4, psp_output_factor=1)
    preprocessor = Preprocessor(target_spacing_yx_mm=(3.0, 3.0), crop_size_yx=(48, 48), normalisation="percentile")
    path = tmp_path_factory.mktemp("zoo") / "tiny.pt"
    export_bundle(path, model, preprocessor, context=3, metrics={"note": "untrained"}, training={"epochs": 0})
    return path


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(seed=4, n_frames=6, n_slices=5, size=(96, 96))


def test_bundle_loads_with_weights_only_and_keeps_its_preprocessing(tiny_bundle):
    raw = torch.load(tiny_bundle, weights_only=True)  # would raise on any pickled object
    assert raw["model_name"] == "pspunet" and raw["context"] == 3
    bundle = load_bundle_file(tiny_bundle)
    assert bundle.preprocessor.crop_size_yx == (48, 48)
    assert bundle.model.config.base_filters == 4


def test_a_non_zoo_file_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a cardiolab zoo checkpoint"):
        load_bundle_file(path)


def test_analyze_study_returns_labels_on_the_study_grid_and_writes_its_report(tiny_bundle, phantom, tmp_path):
    result = analyze_study(phantom, model=str(tiny_bundle))
    assert result.segmentation.shape == phantom.image.shape and result.segmentation.dtype == np.uint8
    assert len(result.function.volume_curve_ml["lv"]) == phantom.n_frames
    paths = result.write(tmp_path / "out")
    report = json.loads(paths["report"].read_text())
    assert {"lv_ef_pct", "volume_curve_ml", "model", "runtime_s", "qc_flags"} <= set(report)
    written = nib.load(str(paths["segmentation"]))
    np.testing.assert_allclose(written.affine, phantom.affine, atol=1e-4)
    assert written.shape == phantom.image.shape[::-1]
    assert paths["volumes"].read_text().splitlines()[0].startswith("frame")


def test_analyze_command_on_a_phantom_nifti(tiny_bundle, phantom, tmp_path):
    save_study(phantom, tmp_path / "ph.nii.gz")
    result = subprocess.run([sys.executable, "-m", "cardiolab", "analyze", str(tmp_path / "ph.nii.gz"), "--model",
                             str(tiny_bundle), "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "LVEF" in result.stdout and (tmp_path / "out" / "report.json").is_file()


def test_evaluate_reports_scores_per_structure_and_phase(tiny_bundle, phantom):
    results = evaluate_segmentation(load_bundle_file(tiny_bundle), [phantom], progress=False)
    summary = results["summary"]
    assert {"dice_lv_ed", "dice_rv_es", "hd95_mm_myo_ed", "assd_mm_lv_es", "lv_ef_pct"} <= set(summary)
    assert "cardiolab (this run)" in results_table(summary)


def test_evaluate_command_can_average_over_flipped_copies(tiny_bundle, phantom, tmp_path, monkeypatch):
    """``cardiolab evaluate --test-time-flips``: README's flip experiment, reproducible by a command."""
    from cardiolab import evaluate as evaluate_module
    from cardiolab.cli import main as cli_main
    from cardiolab.data import datasets

    seen = []
    real_evaluate = evaluate_module.evaluate_segmentation

    def recording_evaluate(bundle, studies, device="cpu"):
        seen.append(bundle.test_time_flips)
        return real_evaluate(bundle, studies, device=device, progress=False)

    monkeypatch.setattr(datasets, "load", lambda name, root=None, split="train": iter([phantom]))
    monkeypatch.setattr(evaluate_module, "evaluate_segmentation", recording_evaluate)
    for flags in ([], ["--test-time-flips"]):
        out = tmp_path / f"results{len(flags)}.json"
        code = cli_main(["evaluate", "--checkpoint", str(tiny_bundle), "--data", "phantom", "--split", "test",
                         "--out", str(out), *flags])
        assert code == 0 and json.loads(out.read_text())["n_cases"] == 1
    assert seen == [False, True]


def test_keep_largest_components_drops_islands():
    labels = np.zeros((1, 10, 10), np.uint8)
    labels[0, 1:5, 1:5] = 1
    labels[0, 8, 8] = 1
    cleaned = keep_largest_components(labels)
    assert cleaned[0, 8, 8] == 0 and cleaned[0, 2, 2] == 1


def test_pad_to_multiple():
    padded, size = pad_to_multiple(torch.zeros(2, 3, 30, 17), 16)
    assert padded.shape == (2, 3, 32, 32) and size == (30, 17)


def test_a_2d_slice_model_runs_through_the_same_inference(phantom):
    """Inference must not assume 3D convolutions (channels-last applies to 5D weights only)."""
    from cardiolab.inference import SliceModelBundle, segment_study

    class Slice2d(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):  # (B, 3, 1, Y, X) -> (B, 4, 1, Y, X)
            return self.conv(x[:, :, 0])[:, :, None]

    bundle = SliceModelBundle(Slice2d(), Preprocessor(target_spacing_yx_mm=(3.0, 3.0), crop_size_yx=(48, 48)), 3, False)
    labels = segment_study(bundle, phantom, locate=False)
    assert labels.shape == phantom.image.shape


@pytest.fixture(scope="module")
def tiny_event_checkpoint(tmp_path_factory):
    """An untrained esed_detector stored as the esed recipe stores it (plumbing, not accuracy)."""
    from dataclasses import asdict

    from cardiolab.losses.event_losses import EVENT_CLASSES
    from cardiolab.train.recipes import ESED_PREPROCESSOR
    from cardiolab.zoo import export_model

    torch.manual_seed(0)
    model = models.create("esed_detector", size="small")
    path = tmp_path_factory.mktemp("zoo") / "tiny_esed.pt"
    preprocessing = {**asdict(Preprocessor(**ESED_PREPROCESSOR)), "projection": "median over inner slices"}
    export_model(path, model, task="events", preprocessing=preprocessing, metrics={}, training={},
                 extra={"classes": list(EVENT_CLASSES), "central_threshold": 0.9})
    return path


def test_analyze_takes_ed_and_es_from_an_events_model_when_asked(tiny_bundle, tiny_event_checkpoint, phantom):
    from cardiolab.predict import predict

    events = predict(str(tiny_event_checkpoint), phantom).events
    result = analyze_study(phantom, model=str(tiny_bundle), events_model=str(tiny_event_checkpoint))
    assert (result.function.ed_frame, result.function.es_frame) == (events["ed_frame"], events["es_frame"])
    assert "tiny_esed" in result.function.ed_es_source and "events" in result.timings_s
    plain = analyze_study(phantom, model=str(tiny_bundle))
    assert (plain.function.ed_frame, plain.function.es_frame) == (phantom.ed_frame, phantom.es_frame)


def test_analyze_refuses_a_model_of_another_task_as_segmenter(tiny_event_checkpoint, phantom):
    with pytest.raises(ValueError, match="events model"):
        analyze_study(phantom, model=str(tiny_event_checkpoint))


def test_folding_batch_norm_keeps_the_outputs_and_leaves_the_model_alone():
    from cardiolab.inference import fold_batch_norm

    torch.manual_seed(0)
    model = models.create("pspunet", size="small", in_channels=3, base_filters=4, psp_branch_filters=4)
    model.train()
    model(torch.randn(4, 3, 1, 32, 32))  # give the running statistics non-trivial values
    model.eval()
    folded = fold_batch_norm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm3d) for m in model.modules())
    image = torch.randn(2, 3, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(folded(image), model(image), rtol=1e-4, atol=1e-4)
