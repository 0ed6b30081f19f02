"""Tasks: how a batch becomes a loss, and how a model is scored during training.

The engine (`cardiolab.train.engine.fit`) calls ``task.loss(model, batch)`` on every
training batch and ``task.validate(model, loader, device)`` after every epoch.
Losses come from `cardiolab.losses`, scores from `cardiolab.metrics` ideas: nothing
is re-implemented here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cardiolab.losses import GeneralisedDiceLoss
from cardiolab.train.engine import to_device

STRUCTURES = {1: "lv", 2: "myo", 3: "rv"}


@dataclass
class SegmentationTask:
    """Slice segmentation: generalised Dice (thesis Ch. 5 weights) + cross-entropy.

    The thesis trains with the generalised Dice alone; adding cross-entropy (weight
    ``ce_weight``) is the common practice that makes early training stable.
    """
    ce_weight: float = 1.0

    def __post_init__(self):
        self.dice = GeneralisedDiceLoss()

    def loss(self, model, batch) -> torch.Tensor:
        logits = model(batch["image"])                      # (B, 4, 1, Y, X)
        labels = batch["labels"]                            # (B, 1, Y, X)
        return self.dice(logits, labels) + self.ce_weight * F.cross_entropy(logits, labels)

    def validate(self, model, loader, device) -> dict:
        """Dice per structure pooled over every validation slice, and the loss."""
        overlap, total, losses = torch.zeros(4), torch.zeros(4), []
        for batch in loader:
            batch = to_device(batch, device)
            logits = model(batch["image"])
            losses.append((self.dice(logits, batch["labels"]) + self.ce_weight * F.cross_entropy(logits, batch["labels"])).item())
            predicted = logits.argmax(dim=1).cpu()
            reference = batch["labels"].cpu()
            for value in STRUCTURES:
                overlap[value] += ((predicted == value) & (reference == value)).sum()
                total[value] += (predicted == value).sum() + (reference == value).sum()
        scores = {f"dice_{name}": float(2 * overlap[v] / total[v]) if total[v] else 1.0 for v, name in STRUCTURES.items()}
        scores["dice"] = sum(scores.values()) / len(STRUCTURES)
        scores["loss"] = sum(losses) / max(len(losses), 1)
        return scores
