"""Multitask loss of direct LV quantification ([seed 001] Sec. 2.1, Eq. 1).

The spatio-temporal CNN of [seed 001] regresses 11 LV indices of the central frame of a
window of kappa frames and classifies its cardiac phase (systole / diastole). Its loss:

    L = Lmse(areas) + Lmse(dims) + Lmse(rwt) + Lce(phase) + lambda Lreg               (Eq. 1)

* areas: 2 (cavity and myocardium area), dims: 3 (cavity dimensions), rwt: 6 (regional
  wall thicknesses), each an MSE averaged over its indices and the batch; the paper
  normalises the targets (dimensions and thicknesses by the image size, areas by the
  pixel count 6400), so the three terms share a scale;
* Lce: cross-entropy of the 2 phase logits;
* Lreg: "L2 norm of the network weights", lambda = 0.005.

Index order of the (B, 11) tensors: the paper's Eq. (3) order A1, A2, D1-D3, RWT1-RWT6
(`INDEX_GROUPS`).

Choice where the paper is silent: Lreg = 1/2 sum w^2 over the parameters the caller
passes. Its gradient is lambda w, which is exactly SGD's ``weight_decay=lambda``, as in the
authors' public code (SGD, weight_decay=0.005). Pass ``parameters=None`` (the default) and
set the optimiser's ``weight_decay`` instead to get the same training without the term.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

INDEX_GROUPS = {"areas": slice(0, 2), "dims": slice(2, 5), "rwt": slice(5, 11)}  # [seed 001] Eq. (3) order
N_INDICES = 11
THESIS_REG_WEIGHT = 0.005  # [seed 001] Sec. 2.2: lambda = 0.005, by grid search


def l2_regulariser(parameters: Iterable[torch.Tensor]) -> torch.Tensor:
    """1/2 sum of squared weights (gradient = the weights themselves)."""
    squares = [0.5 * p.pow(2).sum() for p in parameters]
    if not squares:
        raise ValueError("parameters is empty: pass the weights to regularise, or None")
    return torch.stack(squares).sum()


class LVQuanLoss(nn.Module):
    """MSE on areas, dimensions and wall thicknesses + phase CE + lambda L2, [seed 001] Eq. (1).

    Args:
        reg_weight: lambda (paper 0.005); used only when `forward` gets ``parameters``.

    `forward` inputs: ``indices_pred`` and ``indices_true`` (..., 11) in `INDEX_GROUPS`
    order; ``phase_logits`` (..., 2) logits; ``phase_true`` (...) class indices, where
    ``...`` is (B,) or (B, T) (the model's per-frame outputs: every frame is one sample);
    optionally ``parameters``, the weights to regularise, e.g.
    ``[p for name, p in model.named_parameters() if name.endswith("weight")]``.
    """

    def __init__(self, reg_weight: float = THESIS_REG_WEIGHT):
        super().__init__()
        if reg_weight < 0:
            raise ValueError(f"reg_weight must be >= 0, got {reg_weight}")
        self.reg_weight = reg_weight

    def forward(self, indices_pred: torch.Tensor, phase_logits: torch.Tensor, indices_true: torch.Tensor,
                phase_true: torch.Tensor, parameters: Iterable[torch.Tensor] | None = None) -> torch.Tensor:
        if indices_pred.shape[-1:] != (N_INDICES,) or indices_true.shape != indices_pred.shape:
            raise ValueError(f"indices_pred and indices_true must be (..., {N_INDICES}) of one shape, "
                             f"got {tuple(indices_pred.shape)} and {tuple(indices_true.shape)}")
        if phase_logits.shape[:-1] != indices_pred.shape[:-1] or phase_true.shape != indices_pred.shape[:-1]:
            raise ValueError(f"phase_logits must be (..., n_phases) and phase_true (...) with ... = "
                             f"{tuple(indices_pred.shape[:-1])}, got {tuple(phase_logits.shape)} and {tuple(phase_true.shape)}")
        indices_pred = indices_pred.reshape(-1, N_INDICES)  # (N, 11): every frame of every sequence is a sample
        indices_true = indices_true.reshape(-1, N_INDICES).to(indices_pred.dtype)
        phase_logits = phase_logits.reshape(-1, phase_logits.shape[-1])  # (N, n_phases)
        loss = sum(F.mse_loss(indices_pred[:, group], indices_true[:, group])  # [seed 001] Eq. (1): three Lmse
                   for group in INDEX_GROUPS.values())
        loss = loss + F.cross_entropy(phase_logits, phase_true.reshape(-1).long())  # [seed 001] Eq. (1): Lce
        if parameters is not None:
            loss = loss + self.reg_weight * l2_regulariser(parameters)  # [seed 001] Eq. (1): lambda Lreg
        return loss
