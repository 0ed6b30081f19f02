"""Generalised Dice loss with fixed class weights ([thesis] Ch. 5, Sec. 5.3.3).

The generalised Dice score (Crum et al. 2006; as a loss, Sudre et al. 2017) pools the
classes into one overlap ratio, each class weighted by w_c:

    GDL = 1 - 2 sum_c w_c sum_i r_ic p_ic / sum_c w_c sum_i (r_ic + p_ic)

Sudre et al. set w_c = 1 / (sum_i r_ic)^2 from the label volumes; the thesis trains its
PSPU-net and 3D U-net with fixed weights instead, "0.1 for the background and 0.3 for the
different tissues", so that the three structures count equally and the background less.

Choices where the thesis is silent: the sums run over the voxels of one sample and the
loss is averaged over the batch; eps is added to numerator and denominator so that an
all-background sample predicted as such scores 0.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from cardiolab.losses.utils import class_probabilities, one_hot_target

THESIS_CLASS_WEIGHTS = (0.1, 0.3, 0.3, 0.3)  # [thesis] Sec. 5.3.3: background, LV cavity, myocardium, RV cavity


class GeneralisedDiceLoss(nn.Module):
    """Generalised Dice loss with fixed class weights, [thesis] Ch. 5 (Sudre et al. 2017 form).

    Args:
        class_weights: w_c per class (default 0.1 background, 0.3 per tissue, as the thesis).
        from_logits: ``pred`` holds logits (softmax over C) rather than probabilities.
        eps: smoothing added to numerator and denominator.

    Shapes: ``pred`` (B, C, ...) with C = len(class_weights); ``target`` (B, ...) class
    indices or (B, C, ...) one-hot. Works for 2D, 3D or 4D images alike.
    """

    def __init__(self, class_weights: Sequence[float] = THESIS_CLASS_WEIGHTS, from_logits: bool = True, eps: float = 1e-5):
        super().__init__()
        weights = torch.as_tensor(class_weights, dtype=torch.float32)
        if weights.ndim != 1 or len(weights) < 1 or bool(torch.any(weights < 0)) or float(weights.sum()) <= 0:
            raise ValueError(f"class_weights must be non-negative, not all 0, one per class, got {class_weights}")
        self.register_buffer("class_weights", weights, persistent=False)
        self.from_logits = from_logits
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n_classes = len(self.class_weights)
        if pred.ndim < 3 or pred.shape[1] != n_classes:
            raise ValueError(f"pred must be (B, {n_classes}, ...) for {n_classes} class weights, got {tuple(pred.shape)}")
        prob = class_probabilities(pred, self.from_logits)
        reference = one_hot_target(target, n_classes, prob)
        voxel_axes = tuple(range(2, prob.ndim))
        weights = self.class_weights.to(prob.dtype)  # (C,)
        overlap = ((reference * prob).sum(voxel_axes) * weights).sum(dim=1)  # (B,)
        total = ((reference + prob).sum(voxel_axes) * weights).sum(dim=1)  # (B,)
        return (1.0 - (2.0 * overlap + self.eps) / (total + self.eps)).mean()


class MeanDiceLoss(nn.Module):
    """1 - the mean over structures of their soft Dice, pooled over the batch.

    Where the generalised Dice pools every class into one ratio (a class counts by its
    size, so a thin myocardial ring weighs little next to two cavities), here each
    structure's Dice counts the same, the "mean Dice" most ACDC work trains with. The
    background is left out (``include_background=False``, as MONAI's ``DiceLoss``), and
    the sums run over the whole batch, so a structure absent from one slice does not
    make that slice's ratio 0/0.

    Shapes: ``pred`` (B, C, ...) logits (or probabilities with ``from_logits=False``),
    ``target`` (B, ...) class indices or (B, C, ...) one-hot.
    """

    def __init__(self, n_classes: int = 4, include_background: bool = False, from_logits: bool = True,
                 eps: float = 1e-5):
        super().__init__()
        self.n_classes, self.first_class = n_classes, 0 if include_background else 1
        self.from_logits, self.eps = from_logits, eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.ndim < 3 or pred.shape[1] != self.n_classes:
            raise ValueError(f"pred must be (B, {self.n_classes}, ...), got {tuple(pred.shape)}")
        prob = class_probabilities(pred, self.from_logits)
        reference = one_hot_target(target, self.n_classes, prob)
        sum_axes = (0,) + tuple(range(2, prob.ndim))  # batch and voxels: one ratio per class
        overlap = (reference * prob).sum(sum_axes)[self.first_class:]
        total = (reference + prob).sum(sum_axes)[self.first_class:]
        return 1.0 - ((2.0 * overlap + self.eps) / (total + self.eps)).mean()
