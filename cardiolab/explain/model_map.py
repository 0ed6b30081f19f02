"""lv_volume_weak's own explanation: the LV map it measures its volume on ([thesis] Ch. 6).

The weakly supervised volume network (thesis Ch. 6.3.2) is trained on one number per
patient, the ED LV volume, yet it explains itself: its last layer is a voxel-wise
sigmoid map, and a fixed scanning module measures the volume on that map (the largest
25 x 25 window sum per slice, times the voxel volume). The thesis calls the map a "CAM":
it is not CAM (Zhou et al., CVPR 2016) nor Grad-CAM (Selvaraju et al., ICCV 2017),
which are computed after the fact from features and gradients, but an output of the
model itself. To predict the right volume the network must paint the LV into it, which
is why it can be read as an explanation, and even as a segmentation.

That reading holds only once the map has become the LV. Volume targets alone do not
guarantee it (a faint haze over the whole plane can also give the right millilitres), so
`model_map_trust` says, from what a checkpoint measured, whether a trained model's map
may be shown as its explanation: its Dice with drawn LV masks (the recipe stores it as
``metrics["map_dice_lv"]``, the map cut at ``extra["map_threshold"]``, [thesis] Sec. 6.3.4)
must reach `TRUSTED_MAP_DICE`. The thesis reports 0.720 (0.791 dilated).

    from cardiolab import zoo
    trust = model_map_trust(zoo.metadata("lv_volume_weak"))
    trust.trustworthy, trust.reason
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

UNIT_SPACING_ZYX = (1.0, 1.0, 1.0)  # mm; the map does not depend on the spacing (only the volume does)
MAP_DICE_METRIC = "map_dice_lv"  # the checkpoint metric: Dice of the thresholded map with the manual LV cavity
THESIS_MAP_DICE = 0.720  # [thesis] Sec. 6.3.4, map > 0.9, largest connected object
THESIS_MAP_DICE_DILATED = 0.791  # [thesis] Sec. 6.3.4, the same mask dilated 5 x 5 x 1
THESIS_MAP_THRESHOLD = 0.9  # [thesis] Sec. 6.3.4: mask = map > 0.9
# [AMB] The thesis gives no pass mark. 0.5: below it the map misses at least as much of the LV as it
# covers, so reading it as "where the model sees the LV" would mislead.
TRUSTED_MAP_DICE = 0.5


def model_map(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The pre-volume LV map of ``lv_volume_weak`` for ``inputs (B, 1, Z, Y, X)``: ``(B, Z, Y, X)`` in [0, 1].

    Runs the model in eval mode without gradients; its mode is restored afterwards.
    """
    if getattr(model, "model_name", None) != "lv_volume_weak":
        name = getattr(model, "model_name", type(model).__name__)
        raise ValueError(f"model_map explains lv_volume_weak only, got {name!r}; use grad_cam for other models")
    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 5:
        raise ValueError("inputs must be a tensor (B, 1, Z, Y, X)")
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            lv_map = model(inputs, UNIT_SPACING_ZYX)["map"]  # (B, 1, Z, Y, X): [thesis] sigmoid "CAM"
    finally:
        for module, training in modes:
            module.training = training
    return lv_map[:, 0].float().clamp(0.0, 1.0)


@dataclass(frozen=True)
class MapTrust:
    """Whether a trained lv_volume_weak's own map may be read as its explanation, and why."""

    trustworthy: bool
    reason: str                    # one sentence for a user: the measured Dice, on which data, vs the thesis
    map_dice: float | None = None  # the checkpoint's measured map Dice (None: never measured)
    threshold: float = THESIS_MAP_THRESHOLD  # where the map was cut to measure it
    min_dice: float = TRUSTED_MAP_DICE


def model_map_trust(metadata, min_dice: float = TRUSTED_MAP_DICE) -> MapTrust:
    """Is this lv_volume_weak checkpoint's own map meaningful? Read from its measured map Dice.

    ``metadata``: a checkpoint's metadata (`cardiolab.zoo.metadata`, the second value of
    `cardiolab.zoo.load_model`, or ``Predictor.metadata``) or a bundled model's name. The
    map is trusted when ``metrics["map_dice_lv"]`` (Dice of the map cut at
    ``extra["map_threshold"]`` with the manual LV cavity) is at least ``min_dice``; a
    checkpoint that never measured it is not trusted. A retrained checkpoint whose map
    reaches the mark is trusted without any change here.
    """
    if isinstance(metadata, str):
        from cardiolab import zoo

        metadata = zoo.metadata(metadata)
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a checkpoint's metadata dict or a zoo name, got {type(metadata).__name__}")
    model_name = metadata.get("model_name")
    if model_name != "lv_volume_weak":
        raise ValueError(f"only lv_volume_weak explains itself with its own map, got {model_name!r}")
    from cardiolab.zoo import metrics_kind

    threshold = float((metadata.get("extra") or {}).get("map_threshold", THESIS_MAP_THRESHOLD))
    value = (metadata.get("metrics") or {}).get(MAP_DICE_METRIC)
    dice = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    thesis = f"thesis: {THESIS_MAP_DICE:.2f}, {THESIS_MAP_DICE_DILATED:.2f} dilated"
    needed = f"a Dice of at least {min_dice:g} is needed to read the map as where the model sees the LV"
    if dice is None or math.isnan(dice):
        return MapTrust(False, "not known to be meaningful: this checkpoint never measured its map against drawn LV "
                               f"masks ({thesis}); {needed}", None, threshold, min_dice)
    kind = metrics_kind(metadata.get("training") or {}).split(" (")[0]  # "held-out test" or "validation"
    measured = (f"cut at {threshold:g}, its map overlaps the manual LV cavity with a Dice of {dice:.2f} on {kind} "
                f"data ({thesis})")
    if dice < min_dice:
        return MapTrust(False, f"not yet meaningful: {measured}; {needed}", dice, threshold, min_dice)
    return MapTrust(True, f"meaningful: {measured}, at least the {min_dice:g} needed", dice, threshold, min_dice)
