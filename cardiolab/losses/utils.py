"""Small helpers shared by the losses: probabilities from predictions, one-hot targets."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def class_probabilities(pred: torch.Tensor, from_logits: bool) -> torch.Tensor:
    """Softmax over the class axis (1) of logits, or ``pred`` itself when it already holds probabilities."""
    if pred.ndim < 2:
        raise ValueError(f"pred must be (B, C, ...), got shape {tuple(pred.shape)}")
    return torch.softmax(pred, dim=1) if from_logits else pred


def one_hot_target(target: torch.Tensor, n_classes: int, like: torch.Tensor) -> torch.Tensor:
    """A (B, C, ...) one-hot float target shaped like ``like``.

    ``target`` is either class indices (B, ...) or already (B, C, ...) one-hot / soft.
    """
    if target.shape == like.shape:
        return target.to(like.dtype)
    if target.shape != like.shape[:1] + like.shape[2:]:
        raise ValueError(f"target must be (B, ...) class indices or (B, C, ...) like pred {tuple(like.shape)}, "
                         f"got {tuple(target.shape)}")
    target = target.long()
    if target.numel() and (target.min() < 0 or target.max() >= n_classes):
        raise ValueError(f"target class indices must lie in 0..{n_classes - 1}, got {int(target.min())}..{int(target.max())}")
    one_hot = F.one_hot(target, n_classes)  # (B, ..., C)
    return one_hot.movedim(-1, 1).to(like.dtype)  # (B, C, ...)
