"""Cross-entropy weighted by inverse class frequency ([seed 004] Sec. 2.3).

In a cardiac or brain image most pixels are background, so a plain cross-entropy learns to
say "background". [seed 004] trains FCSLSTM with "the weighted cross-entropy loss ... the
weights are inverted proportionally to the number of pixels in each class in the training
dataset":

    w_c = N / (C n_c),   L = sum_i w_{y_i} (-log p_{i, y_i}) / sum_i w_{y_i}

with n_c the pixel count of class c, N the total and C the number of classes (the
factor N / C only sets the scale: w_c = 1 for every class when the classes are balanced,
and the weighted mean divides it out anyway).

Give the training set's ``class_counts`` (the paper's choice) or leave them out to count
each batch's target instead. A class with no pixels gets weight 0: it never occurs as a
target, so its weight is never used.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


def inverse_frequency_weights(class_counts) -> torch.Tensor:
    """w_c = N / (C n_c) from the pixel counts n_c (0 for an absent class)."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    if counts.ndim != 1 or bool(torch.any(counts < 0)) or float(counts.sum()) <= 0:
        raise ValueError(f"class_counts must be non-negative pixel counts, one per class, not all 0, got {class_counts}")
    weights = counts.sum() / (len(counts) * counts)
    return torch.where(counts > 0, weights, torch.zeros_like(weights)).float()


def class_counts_of(target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Pixel count of each class in a class-index tensor."""
    return torch.bincount(target.reshape(-1).long(), minlength=n_classes)[:n_classes]


class ClassWeightedCrossEntropy(nn.Module):
    """Cross-entropy with weights inverse to class frequency, [seed 004] Sec. 2.3.

    Args:
        n_classes: number of classes C.
        class_counts: pixel count per class in the training set; None = count each batch.

    Shapes: ``pred`` (B, C, ...) logits; ``target`` (B, ...) class indices.
    """

    def __init__(self, n_classes: int, class_counts: Sequence[float] | None = None):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        self.n_classes = n_classes
        weights = None if class_counts is None else inverse_frequency_weights(class_counts)
        if weights is not None and len(weights) != n_classes:
            raise ValueError(f"class_counts must hold {n_classes} counts, got {len(weights)}")
        self.register_buffer("class_weights", weights, persistent=False)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.ndim < 2 or pred.shape[1] != self.n_classes:
            raise ValueError(f"pred must be (B, {self.n_classes}, ...) logits, got shape {tuple(pred.shape)}")
        target = target.long()
        if target.numel() and (target.min() < 0 or target.max() >= self.n_classes):
            raise ValueError(f"target class indices must lie in 0..{self.n_classes - 1}")
        weights = self.class_weights
        if weights is None:  # the batch's own class frequencies
            weights = inverse_frequency_weights(class_counts_of(target, self.n_classes))
        return F.cross_entropy(pred, target, weight=weights.to(device=pred.device, dtype=pred.dtype))
