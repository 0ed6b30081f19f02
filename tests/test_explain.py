"""Grad-CAM (Selvaraju et al., ICCV 2017) and the study-level explanations.

Known answers come from hand-built networks whose Grad-CAM can be written down: a
layer of two channels, "bright" = ReLU(x) and "dark" = ReLU(-x), and a class score that
counts bright evidence for and dark evidence against. The channel weights are then
+c and -c, and Grad-CAM = ReLU(c bright - c dark) = c ReLU(x): the bright structure only.
(Grad-CAM localises through the activations; the gradient only weighs the channels, so
the tests put the bright structure where the class evidence is.)
"""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cardiolab import models
from cardiolab.data.phantom import make_phantom
from cardiolab.explain import InputOf, default_layer, explain, grad_cam, model_map, model_map_trust, resize_linear
from cardiolab.models.layers import Conv4d
from cardiolab.predict import predictor_from_model


# --- hand-built networks with a known Grad-CAM ---------------------------------------------
class BrightDarkNet2d(nn.Module):
    """features = (ReLU(x), ReLU(-x)), optionally average-pooled; class 1 = mean bright - mean dark."""

    def __init__(self, pool: int = 1):
        super().__init__()
        self.features = nn.Conv2d(1, 2, 1, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        self.relu = nn.ReLU()
        self.pool = nn.AvgPool2d(pool) if pool > 1 else nn.Identity()

    def forward(self, x):
        maps = self.pool(self.relu(self.features(x)))  # (B, 2, Y', X')
        bright_minus_dark = maps[:, 0].mean(dim=(1, 2)) - maps[:, 1].mean(dim=(1, 2))
        return torch.stack([-bright_minus_dark, bright_minus_dark], dim=1)  # (B, 2) class scores


class BrightDarkNet4d(nn.Module):
    """Conv4d features (ReLU(x), ReLU(-x)) (stride 2: of the 2^4-voxel mean); per-voxel class maps."""

    def __init__(self, stride: int = 1):
        super().__init__()
        self.features = Conv4d(1, 2, kernel_size=stride, stride=stride, padding=0, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1, 1, 1) / stride ** 4)
        self.relu = nn.ReLU()
        self.head = Conv4d(2, 2, kernel_size=1, padding=0, bias=False)
        with torch.no_grad():  # class 0 = dark - bright, class 1 = bright - dark, voxel by voxel
            self.head.weight.copy_(torch.tensor([[-1.0, 1.0], [1.0, -1.0]]).view(2, 2, 1, 1, 1, 1))

    def forward(self, x):
        return self.head(self.relu(self.features(x)))  # (B, 2, T', Z', Y', X')


def left_bright_right_dark(size: int = 16, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    image = torch.zeros(1, 1, size, size)
    image[..., 4:9, 1:6] = 0.5 + torch.rand(5, 5, generator=generator)      # bright, left half
    image[..., 7:12, 10:15] = -(0.5 + torch.rand(5, 5, generator=generator))  # dark, right half
    return image


def hooks_left(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def test_grad_cam_2d_is_the_class_evidence_map():
    model = BrightDarkNet2d()
    image = left_bright_right_dark()
    cam_for = grad_cam(model, image, lambda scores: scores[:, 1].sum(), layer=model.relu)  # (1, 16, 16)
    cam_against = grad_cam(model, image, 0, layer="relu")  # class 0 by index (the region is the sample)
    expected_for = image.clamp(min=0)[:, 0] / image.clamp(min=0).max()   # ReLU(x), normalised
    expected_against = (-image).clamp(min=0)[:, 0] / (-image).clamp(min=0).max()
    assert cam_for.shape == (1, 16, 16)
    torch.testing.assert_close(cam_for, expected_for)
    torch.testing.assert_close(cam_against, expected_against)
    assert cam_for[..., :8].sum() / cam_for.sum() > 0.999    # all of class 1's map lies in the left half
    assert cam_against[..., 8:].sum() / cam_against.sum() > 0.999


def test_grad_cam_upsamples_a_coarse_layer_bilinearly():
    model = BrightDarkNet2d(pool=2)
    image = left_bright_right_dark()
    cam = grad_cam(model, image, lambda scores: scores[:, 1].sum(), layer=model.pool)
    pooled_bright = F.avg_pool2d(image.clamp(min=0), 2)  # (1, 1, 8, 8): the layer's grid
    expected = F.interpolate(pooled_bright, size=(16, 16), mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(cam, expected / expected.max())


def test_grad_cam_4d_concentrates_on_the_explained_frame():
    model = BrightDarkNet4d()
    image = torch.zeros(1, 1, 6, 3, 8, 8)  # (B, C, T, Z, Y, X)
    image[:, :, 2, 1, 2:6, 1:5] = 1.0      # bright structure in frame 2
    image[:, :, 4, 1, 3:7, 3:7] = -1.0     # dark structure in frame 4
    cam = grad_cam(model, image, lambda maps: maps[:, 1, 2].sum(), layer=model.relu)  # only frame 2 matters
    assert cam.shape == (1, 6, 3, 8, 8)
    assert cam[:, 2].sum() / cam.sum() > 0.999
    torch.testing.assert_close(cam, image.clamp(min=0)[:, 0])


def test_grad_cam_4d_upsampling_is_multilinear():
    model = BrightDarkNet4d(stride=2)
    generator = torch.Generator().manual_seed(1)
    image = torch.randn(1, 1, 8, 4, 8, 8, generator=generator)
    cam = grad_cam(model, image, lambda maps: maps[:, 1, 1].sum(), layer=model.relu)  # coarse frame 1
    coarse = F.avg_pool3d(image[0, 0].reshape(4, 2, 4, 8, 8).mean(dim=1)[None], 2)[0]  # 2^4 means: (4, 2, 4, 4)
    bright = coarse.clamp(min=0)
    # independent reference: trilinear over (Z, Y, X) per frame, then linear over T
    spatial = F.interpolate(bright[None], size=(4, 8, 8), mode="trilinear", align_corners=False)[0]  # (4, 4, 8, 8)
    lines = spatial.permute(1, 2, 3, 0).reshape(-1, 1, 4)
    expected = F.interpolate(lines, size=8, mode="linear", align_corners=False).reshape(4, 8, 8, 8).permute(3, 0, 1, 2)
    torch.testing.assert_close(cam[0], expected / expected.max())


@pytest.mark.parametrize("size_in, size_out", [((5, 7), (16, 9)), ((4, 6, 3), (9, 12, 8)), ((6, 6, 6), (3, 4, 5))])
def test_resize_linear_matches_torch_where_torch_has_it(size_in, size_out):
    maps = torch.rand(2, *size_in)
    mode = "bilinear" if len(size_in) == 2 else "trilinear"
    expected = F.interpolate(maps[:, None], size=size_out, mode=mode, align_corners=False)[:, 0]
    torch.testing.assert_close(resize_linear(maps, size_out), expected)


def test_resize_linear_4d_reproduces_a_ramp_and_a_constant_axis():
    volume = torch.rand(1, 3, 4, 5)
    constant_in_time = volume[:, None].expand(1, 3, 3, 4, 5)  # (B, T, Z, Y, X)
    resized = resize_linear(constant_in_time, (7, 6, 8, 10))
    expected = F.interpolate(volume[:, None], size=(6, 8, 10), mode="trilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(resized, expected[:, None].expand(1, 7, 6, 8, 10))
    ramp = torch.arange(4.0).view(1, 4, 1, 1, 1).expand(1, 4, 2, 2, 2)  # value = frame index
    doubled = resize_linear(ramp, (8, 2, 2, 2))[0, :, 0, 0, 0]
    # half-pixel centres: new frame j sits at old (j + 0.5) / 2 - 0.5, exact for a ramp inside [0, 3]
    torch.testing.assert_close(doubled[1:-1], (torch.arange(1.0, 7.0) + 0.5) / 2 - 0.5)


# --- every registered model ------------------------------------------------------------------
TINY = {  # model -> (input shape (B, C, *spatial), target, forward)
    "deunet": ((2, 1, 3, 16, 16), 1, None),
    "esed_detector": ((1, 1, 6, 64, 64), lambda logits: logits[:, 0, 2].sum(), None),
    "fcslstm": ((2, 1, 3, 32, 32), 1, None),
    "lv_volume_weak": ((1, 1, 2, 16, 16), lambda out: out["volume_ml"].sum(),
                       lambda model, x: model(x, (8.0, 2.0, 2.0))),
    "pspunet": ((2, 1, 2, 16, 16), 1, None),
    "stcnn_lvquan": ((2, 1, 5, 80, 80), lambda out: out["indices"][:, 0].sum(), None),
    "unet3d_ccta": ((1, 1, 8, 8, 8), 1, None),
    "unet3d_thesis": ((1, 1, 2, 16, 16), 1, None),
    "unet4d": ((1, 1, 4, 4, 8, 8), 2, None),
}


def test_every_registered_model_has_a_tiny_input_here():
    assert set(models.available()) <= set(TINY), "add the new model to TINY"


@pytest.mark.parametrize("name", sorted(TINY))
def test_grad_cam_of_every_model_has_the_input_shape_and_leaves_it_as_found(name):
    torch.manual_seed(0)
    model = models.create(name, size="small")
    shape, target, forward = TINY[name]
    model.train()
    frozen = next(model.parameters())
    frozen.requires_grad_(False)
    state_before = {key: value.clone() for key, value in model.state_dict().items()}
    cam = grad_cam(model, torch.rand(shape), target, forward=forward)
    assert cam.shape == (shape[0], *shape[2:])
    assert torch.isfinite(cam).all() and cam.min() >= 0 and cam.max() <= 1
    assert not cam.requires_grad
    assert hooks_left(model) == 0
    assert all(module.training for module in model.modules())
    assert not frozen.requires_grad and all(p.requires_grad for p in model.parameters() if p is not frozen)
    assert all(p.grad is None for p in model.parameters())
    for key, value in model.state_dict().items():  # eval mode inside: BatchNorm statistics untouched
        assert torch.equal(value, state_before[key]), key
    layer = default_layer(model)
    module = layer.target_module if isinstance(layer, InputOf) else layer
    assert any(module is candidate for candidate in model.modules())


def test_layer_names_and_input_of_give_the_same_map():
    torch.manual_seed(0)
    model = models.create("esed_detector", size="small")
    frames = torch.rand(1, 1, 6, 64, 64)
    target = lambda logits: logits[:, 1, 3].sum()  # noqa: E731  ED score of frame 3
    by_default = grad_cam(model, frames, target)
    by_name = grad_cam(model, frames, target, layer="classify:input")
    by_module = grad_cam(model, frames, target, layer=InputOf(model.classify))
    torch.testing.assert_close(by_default, by_name)
    torch.testing.assert_close(by_default, by_module)


def test_grad_cam_rejects_bad_arguments_and_still_removes_its_hooks():
    model = BrightDarkNet2d()
    image = left_bright_right_dark()
    with pytest.raises(ValueError, match="inputs"):
        grad_cam(model, torch.rand(4, 4), 1, layer=model.relu)
    with pytest.raises(ValueError, match="not a module"):
        grad_cam(model, image, 1, layer=nn.ReLU())
    with pytest.raises(ValueError, match="class 5"):
        grad_cam(model, image, 5, layer=model.relu)
    assert hooks_left(model) == 0

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x):
            return self.conv(self.conv(x))

    twice = Twice()
    with pytest.raises(ValueError, match="ran 2 times"):
        grad_cam(twice, image, lambda out: out.sum(), layer=twice.conv)
    assert hooks_left(twice) == 0


def test_model_map_is_lv_volume_weaks_own_map():
    torch.manual_seed(0)
    model = models.create("lv_volume_weak", size="small").train()
    image = torch.rand(1, 1, 2, 16, 16)
    lv_map = model_map(model, image)
    assert model.training
    with torch.no_grad():
        expected = model.eval()(image, (5.0, 2.0, 2.0))["map"][:, 0]
    torch.testing.assert_close(lv_map, expected)
    with pytest.raises(ValueError, match="lv_volume_weak"):
        model_map(models.create("unet3d_thesis", size="small"), image)


def weak_volume_metadata(**metrics):
    held_out = {"selected_on": "cv0_val", "evaluated_on": "holdout20"}
    return {"model_name": "lv_volume_weak", "metrics": metrics, "training": held_out, "extra": {"map_threshold": 0.9}}


def test_model_map_trust_follows_the_measured_map_dice():
    bundled = model_map_trust("lv_volume_weak")  # the zoo's checkpoint: map Dice 0.00 (thesis 0.72)
    assert not bundled.trustworthy and bundled.map_dice < 0.05 and bundled.threshold == 0.9
    assert bundled.reason.startswith("not yet meaningful") and "0.00" in bundled.reason and "0.72" in bundled.reason
    assert "validation" in bundled.reason  # its figures picked its epoch: not called held-out
    retrained = model_map_trust(weak_volume_metadata(map_dice_lv=0.74, volume_mae_ml=9.0))
    assert retrained.trustworthy and retrained.map_dice == pytest.approx(0.74)
    assert "0.74" in retrained.reason and "held-out test" in retrained.reason
    assert not model_map_trust(weak_volume_metadata(map_dice_lv=0.49)).trustworthy  # the mark is 0.5
    assert model_map_trust(weak_volume_metadata(map_dice_lv=0.5)).trustworthy
    assert not model_map_trust(weak_volume_metadata(map_dice_lv=0.6), min_dice=0.7).trustworthy
    unmeasured_ones = (weak_volume_metadata(), weak_volume_metadata(map_dice_lv=float("nan")),
                       {"model_name": "lv_volume_weak"})
    for unmeasured in unmeasured_ones:
        verdict = model_map_trust(unmeasured)
        assert not verdict.trustworthy and verdict.map_dice is None and "never measured" in verdict.reason
    with pytest.raises(ValueError, match="lv_volume_weak"):
        model_map_trust({"model_name": "pspunet", "metrics": {"map_dice_lv": 0.9}})
    with pytest.raises(TypeError):
        model_map_trust(None)


# --- explain(): a whole study ----------------------------------------------------------------
@pytest.fixture(scope="module")
def study():
    return make_phantom(2, n_frames=6, n_slices=4, size=(64, 64))


COARSE = dict(target_spacing_yx_mm=(6.0, 6.0), normalisation="percentile", normalise_per="volume")


def predictor(name, **metadata):
    torch.manual_seed(0)
    options = {"in_channels": 3, "base_filters": 4, "psp_branch_filters": 4, "depth": 2} if name == "pspunet" else {}
    return predictor_from_model(models.create(name, size="small", **options), metadata or None)


@pytest.mark.parametrize("name, structure, metadata", [
    ("pspunet", "lv", {"preprocessing": {**COARSE, "crop_size_yx": (24, 24)}, "context": 3}),
    ("unet4d", "myo", {}),
    ("fcslstm", 3, {"preprocessing": {**COARSE, "crop_size_yx": (32, 32)}}),
    ("esed_detector", "es", {}),
    ("stcnn_lvquan", "lv_cavity_area_mm2", {}),
    ("lv_volume_weak", "lv", {}),
])
def test_explain_returns_a_map_in_the_study_grid(study, name, structure, metadata):
    chosen = predictor(name, **metadata)
    explanation = explain(chosen, study, frame=2, structure=structure)
    cam = explanation.cam
    assert cam.shape == study.image.shape[1:] and cam.dtype == np.float32
    assert cam.min() >= 0 and cam.max() <= 1
    assert explanation.frame == 2 and explanation.layer and explanation.target
    assert explanation.method == ("model map" if name == "lv_volume_weak" else "grad-cam")
    if name == "lv_volume_weak":  # an untrained model: its map was never measured, so it is not trusted
        assert not explanation.details["map_trust"].trustworthy
    else:
        assert "map_trust" not in explanation.details
    assert hooks_left(chosen.model) == 0
    if name == "pspunet":  # a 24 px window at 6 mm (144 mm) around the heart: the image corners lie outside it
        assert cam[:, :4, :4].max() == 0 and cam[:, -4:, -4:].max() == 0
    if name == "esed_detector":  # the median projection reads the inner slices only
        assert cam[0].max() == 0 and cam[-1].max() == 0
    if name == "stcnn_lvquan":  # one slice's crop
        assert np.count_nonzero(cam.reshape(len(cam), -1).max(axis=1)) <= 1


def test_explain_checks_structure_and_frame(study):
    detector = predictor("esed_detector")
    with pytest.raises(ValueError, match="'es' or 'ed'"):
        explain(detector, study, frame=1, structure="lv")
    with pytest.raises(ValueError, match="frame"):
        explain(detector, study, frame=study.n_frames, structure="es")
    with pytest.raises(ValueError, match="structure"):
        explain(predictor("unet4d"), study, frame=0, structure="aorta")
