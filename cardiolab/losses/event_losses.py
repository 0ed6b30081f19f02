"""Losses of ES/ED frame detection ([thesis] Ch. 7, Sec. 7.3.4, Eq. 7.1-7.2).

The detector gives each of the N_F frames of a cine a probability vector over three
classes: ES, ED and "other" (every remaining frame). Only two frames of a sequence are
events, so a plain loss is dominated by "other". The thesis compares two remedies:

    WCE = - sum_i w_i sum_c y_ic log p_ic,   w_i = 100 on the ES and ED frames, 1 elsewhere     (Eq. 7.1)
    WDL = 1 - 2 sum_c w_c sum_i y_ic p_ic / sum_i (y_ic + p_ic),  w = 0.45 ES, 0.45 ED, 0.1 other (Eq. 7.2)

and finds the weighted Dice loss better (ES aFD 1.24 vs 2.51 frames).

Class order (axis 1 of the predictions): 0 = ES, 1 = ED, 2 = other (`EVENT_CLASSES`), the
order in which the thesis lists them. Inputs are (B, 3, T) logits (softmax over the 3
classes per frame, as the thesis' per-frame softmax) or probabilities with
``from_logits=False``; targets are (B, T) class indices or (B, 3, T) one-hot.

Choices where the thesis is silent: both losses are computed per sequence (sums over its
frames, as the equations) and averaged over the batch; in the Dice loss eps is added to
each class ratio's numerator and denominator, so a perfect prediction scores
1 - sum_c w_c = 0 with the thesis weights.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from cardiolab.losses.utils import class_probabilities, one_hot_target

EVENT_CLASSES = ("ES", "ED", "other")  # class index -> meaning, [thesis] Sec. 7.3.4 order
ES_CLASS, ED_CLASS, OTHER_CLASS = 0, 1, 2
THESIS_DICE_WEIGHTS = (0.45, 0.45, 0.1)  # [thesis] Sec. 7.3.4: ES, ED, other
THESIS_EVENT_FRAME_WEIGHT = 100.0  # [thesis] Sec. 7.3.4: weight of the ES and ED frames in the WCE (1 elsewhere)


def _check_events(pred: torch.Tensor) -> None:
    if pred.ndim != 3 or pred.shape[1] != len(EVENT_CLASSES):
        raise ValueError(f"pred must be (B, 3, T) over the classes {EVENT_CLASSES}, got shape {tuple(pred.shape)}")


class WeightedEventDiceLoss(nn.Module):
    """Weighted Dice loss over frames, [thesis] Eq. (7.2).

    Args:
        class_weights: w_c for (ES, ED, other); thesis 0.45, 0.45, 0.1.
        from_logits: ``pred`` holds logits rather than probabilities.
        eps: smoothing of each class ratio.

    Example::

        >>> loss = WeightedEventDiceLoss()
        >>> target = torch.full((1, 20), 2); target[0, 3] = 0; target[0, 12] = 1
        >>> loss(torch.randn(1, 3, 20), target)
    """

    def __init__(self, class_weights: Sequence[float] = THESIS_DICE_WEIGHTS, from_logits: bool = True, eps: float = 1e-5):
        super().__init__()
        weights = torch.as_tensor(class_weights, dtype=torch.float32)
        if weights.shape != (len(EVENT_CLASSES),) or bool(torch.any(weights < 0)):
            raise ValueError(f"class_weights must be 3 non-negative values for {EVENT_CLASSES}, got {class_weights}")
        self.register_buffer("class_weights", weights, persistent=False)
        self.from_logits = from_logits
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_events(pred)
        prob = class_probabilities(pred, self.from_logits)  # (B, 3, T)
        truth = one_hot_target(target, len(EVENT_CLASSES), prob)  # (B, 3, T)
        overlap = (truth * prob).sum(dim=2)  # (B, 3): sum over frames i
        total = (truth + prob).sum(dim=2)  # (B, 3)
        class_dice = (2.0 * overlap + self.eps) / (total + self.eps)  # (B, 3)
        weighted = (class_dice * self.class_weights.to(prob.dtype)).sum(dim=1)  # [thesis] Eq. (7.2): sum_c w_c ...
        return (1.0 - weighted).mean()


class WeightedEventCrossEntropy(nn.Module):
    """Frame-weighted cross-entropy, [thesis] Eq. (7.1): weight 100 on the ES and ED frames.

    Args:
        event_weight: w_i of the frames whose true class is ES or ED (thesis 100).
        other_weight: w_i of every other frame (thesis 1).
        from_logits: ``pred`` holds logits rather than probabilities.
    """

    def __init__(self, event_weight: float = THESIS_EVENT_FRAME_WEIGHT, other_weight: float = 1.0, from_logits: bool = True):
        super().__init__()
        if event_weight < 0 or other_weight < 0:
            raise ValueError(f"event_weight and other_weight must be >= 0, got {event_weight} and {other_weight}")
        self.event_weight = event_weight
        self.other_weight = other_weight
        self.from_logits = from_logits

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_events(pred)
        if self.from_logits:
            log_prob = torch.log_softmax(pred, dim=1)  # (B, 3, T), stable log p
        else:
            log_prob = torch.log(pred.clamp_min(torch.finfo(pred.dtype).tiny))
        truth = one_hot_target(target, len(EVENT_CLASSES), pred)  # (B, 3, T)
        frame_ce = -(truth * log_prob).sum(dim=1)  # (B, T): - sum_c y_ic log p_ic
        is_event = truth[:, ES_CLASS] + truth[:, ED_CLASS]  # (B, T): 1 on ES and ED frames
        frame_weight = self.other_weight + (self.event_weight - self.other_weight) * is_event
        return (frame_weight * frame_ce).sum(dim=1).mean()  # [thesis] Eq. (7.1), sum over frames i
