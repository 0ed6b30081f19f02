"""lv_volume_weak's own explanation: the LV map it measures its volume on ([thesis] Ch. 6).

The weakly supervised volume network (thesis Ch. 6.3.2) is trained on one number per
patient, the ED LV volume, yet it explains itself: its last layer is a voxel-wise
sigmoid map, and a fixed scanning module measures the volume on that map (the largest
25 x 25 window sum per slice, times the voxel volume). The thesis calls the map a "CAM":
it is not CAM (Zhou et al., CVPR 2016) nor Grad-CAM (Selvaraju et al., ICCV 2017),
which are computed after the fact from features and gradients, but an output of the
model itself. To predict the right volume the network must paint the LV into it, which
is why it can be read as an explanation, and even as a segmentation.
"""
from __future__ import annotations

import torch
import torch.nn as nn

UNIT_SPACING_ZYX = (1.0, 1.0, 1.0)  # mm; the map does not depend on the spacing (only the volume does)


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
