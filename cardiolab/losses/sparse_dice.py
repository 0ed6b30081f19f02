"""Sparse Dice loss with a temporal smoothness term ([seed 000] Sec. 3.2, Eq. 1-2).

[seed 000] segments a whole 4D sequence at once, but only a few frames of each training
sequence are labelled (2 to 9 of 20). Its loss therefore has two terms:

    L = sum_{i in labelled} D(p_true^i, p_pred^i) + sum_{i=0}^{K-2} ||p_pred^{i+1} - p_pred^i||    (Eq. 1)
    D(p_true, p_pred) = 1 - 2 sum p_true p_pred / (sum p_true^2 + sum p_pred^2 + eps)              (Eq. 2)

The soft Dice D is applied to each labelled frame (a 3D image) only; the first-order time
derivative penalises label changes between consecutive frames, labelled or not, so the
unlabelled frames are trained through it. "Re-weighting the contributions between the loss
terms did not show consistent difference, so we kept the equal contributions": weight 1.

Choices where the paper is silent:

* Multi-class D: Eq. 2 for each class channel, then the mean over classes
  (``include_background=False`` drops channel 0).
* eps is also added to the numerator (as MONAI's ``smooth_nr``), so that a class absent
  from both the labels and the prediction scores D = 0, not 1.
* The norm of the smoothness term (the extracted text does not show whether it is squared
  or normalised): ``smoothness_norm="mean_squared"`` (default) = the mean over classes
  and voxels of (p^{i+1} - p^i)^2, which keeps the term on the scale of one Dice loss;
  ``"squared"`` = the sum of squares; ``"l2"`` = its square root, the literal ||.||_2.
* Sums over frames as in Eq. 1; the mean over the batch.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from cardiolab.losses.utils import class_probabilities, one_hot_target

SMOOTHNESS_NORMS = ("mean_squared", "squared", "l2")


def soft_dice_loss_per_class(prob: torch.Tensor, target_one_hot: torch.Tensor, eps: float) -> torch.Tensor:
    """[seed 000] Eq. (2) for each sample and class: (N, C, ...) -> (N, C)."""
    spatial_axes = tuple(range(2, prob.ndim))
    overlap = (target_one_hot * prob).sum(spatial_axes)
    squares = (target_one_hot**2).sum(spatial_axes) + (prob**2).sum(spatial_axes)
    return 1.0 - (2.0 * overlap + eps) / (squares + eps)


class SparseDiceTemporalLoss(nn.Module):
    """Soft Dice on labelled frames + lambda x temporal smoothness on all frames, [seed 000] Eq. (1).

    Args:
        smoothness_weight: lambda, the weight of the smoothness term (paper: 1, "equal contributions").
        smoothness_norm: "mean_squared" (default), "squared" or "l2" (module docstring).
        include_background: keep class 0 in the Dice mean.
        from_logits: ``pred`` holds logits (softmax over C is applied) rather than probabilities.
        eps: the epsilon of Eq. (2).

    Shapes: ``pred`` (B, C, T, Z, Y, X); ``target`` (B, T, Z, Y, X) class indices or
    (B, C, T, Z, Y, X) one-hot, whose values on unlabelled frames are never read;
    ``labelled`` (B, T) bool, True where frame t of sequence b has labels.

    Example::

        >>> loss = SparseDiceTemporalLoss(smoothness_weight=1.0)
        >>> pred = torch.randn(1, 4, 6, 2, 8, 8, requires_grad=True)
        >>> target = torch.randint(0, 4, (1, 6, 2, 8, 8))
        >>> labelled = torch.tensor([[True, False, False, True, False, False]])
        >>> loss(pred, target, labelled).backward()
    """

    def __init__(self, smoothness_weight: float = 1.0, smoothness_norm: str = "mean_squared",
                 include_background: bool = True, from_logits: bool = True, eps: float = 1e-5):
        super().__init__()
        if smoothness_weight < 0:
            raise ValueError(f"smoothness_weight must be >= 0, got {smoothness_weight}")
        if smoothness_norm not in SMOOTHNESS_NORMS:
            raise ValueError(f"smoothness_norm must be one of {SMOOTHNESS_NORMS}, got {smoothness_norm!r}")
        self.smoothness_weight = smoothness_weight
        self.smoothness_norm = smoothness_norm
        self.include_background = include_background
        self.from_logits = from_logits
        self.eps = eps

    def dice_term(self, prob: torch.Tensor, target: torch.Tensor, labelled: torch.Tensor) -> torch.Tensor:
        """sum over labelled frames of D, mean over the batch: the first term of Eq. (1)."""
        batch, n_classes = prob.shape[:2]
        frames_prob = prob.movedim(2, 1)[labelled]  # (N_labelled, C, Z, Y, X)
        if frames_prob.shape[0] == 0:
            return prob.sum() * 0.0  # no labelled frame in the batch: keep the graph, add nothing
        if target.shape == prob.shape:  # one-hot (B, C, T, ...)
            frames_target = target.movedim(2, 1)[labelled]
        else:  # class indices (B, T, ...): only labelled frames are one-hot encoded (others may hold a fill value)
            frames_target = one_hot_target(target[labelled], n_classes, frames_prob)
        dice_loss = soft_dice_loss_per_class(frames_prob, frames_target.to(prob.dtype), self.eps)  # (N_labelled, C)
        if not self.include_background:
            dice_loss = dice_loss[:, 1:]
        return dice_loss.mean(dim=1).sum() / batch

    def smoothness_term(self, prob: torch.Tensor) -> torch.Tensor:
        """sum over consecutive frame pairs of ||p^{i+1} - p^i||, mean over the batch: Eq. (1), second term."""
        derivative = prob[:, :, 1:] - prob[:, :, :-1]  # (B, C, T-1, Z, Y, X)
        squared = derivative.pow(2).movedim(2, 1).flatten(2)  # (B, T-1, C*Z*Y*X)
        if self.smoothness_norm == "mean_squared":
            per_pair = squared.mean(dim=2)
        elif self.smoothness_norm == "squared":
            per_pair = squared.sum(dim=2)
        else:  # "l2"; the small constant keeps the gradient of sqrt finite at 0
            per_pair = torch.sqrt(squared.sum(dim=2) + 1e-12)
        return per_pair.sum(dim=1).mean()  # (B, T-1) -> scalar

    def forward(self, pred: torch.Tensor, target: torch.Tensor, labelled: torch.Tensor) -> torch.Tensor:
        if pred.ndim != 6:
            raise ValueError(f"pred must be (B, C, T, Z, Y, X), got shape {tuple(pred.shape)}")
        batch, _, n_frames = pred.shape[:3]
        labelled = torch.as_tensor(labelled, dtype=torch.bool, device=pred.device)
        if labelled.shape != (batch, n_frames):
            raise ValueError(f"labelled must be (B, T) = {(batch, n_frames)}, got {tuple(labelled.shape)}")
        prob = class_probabilities(pred, self.from_logits)
        loss = self.dice_term(prob, target, labelled)  # [seed 000] Eq. (1), first term
        if self.smoothness_weight > 0 and n_frames > 1:
            loss = loss + self.smoothness_weight * self.smoothness_term(prob)  # [seed 000] Eq. (1), second term
        return loss
