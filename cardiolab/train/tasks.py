"""Tasks: how a batch becomes a loss, and how a model is scored during training.

The engine (`cardiolab.train.engine.fit`) calls ``task.loss(model, batch)`` on every
training batch and ``task.validate(model, loader, device)`` after every epoch.
Losses come from `cardiolab.losses`, scores from `cardiolab.metrics` ideas: nothing
is re-implemented here.

============================  =========================================  ===========================================
task                          models (dataset)                           loss; validation scores
============================  =========================================  ===========================================
`SegmentationTask`            2D / 2.5D segmenters, deunet                generalised or mean Dice + CE; Dice per structure
                              (SliceDataset, FrameNeighboursDataset)
`SparseSegmentation4dTask`    unet4d, unet3d_ccta (Crop4d/Crop3dDataset)  [seed 000] Eq. 1-2; Dice on labelled frames
`LVQuanTask`                  stcnn_lvquan (LVQuanDataset)                [seed 001] Eq. 1; MAE (mm), phase error %
`EventDetectionTask`          esed_detector (EventSequenceDataset)        [thesis] Eq. 7.1/7.2; aFD naive and central
`WeakVolumeTask`              lv_volume_weak (VolumeDataset)              [thesis] Eq. 6.1; volume MAE (ml), Pearson r
`SequenceSegmentationTask`    fcslstm (SequenceSliceDataset)              [seed 004] weighted CE; Dice on labelled frames
============================  =========================================  ===========================================
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cardiolab.events import detect_events
from cardiolab.losses import (INDEX_GROUPS, ClassWeightedCrossEntropy, GeneralisedDiceLoss, LVQuanLoss, MeanDiceLoss,
                              SparseDiceTemporalLoss, WeakVolumeLoss, WeightedEventCrossEntropy, WeightedEventDiceLoss)
from cardiolab.metrics import frame_distance, mae, pearson, phase_error_rate
from cardiolab.train.engine import to_device

STRUCTURES = {1: "lv", 2: "myo", 3: "rv"}


@dataclass
class SegmentationTask:
    """Slice segmentation: a Dice loss + cross-entropy.

    ``dice``: "generalised" (thesis Ch. 5, fixed weights 0.1/0.3: what the thesis trains
    with) or "mean" (`MeanDiceLoss`: every structure counts the same, for models whose
    paper names no loss; a small model learns the thin myocardium from it sooner).
    The thesis trains with the Dice loss alone; adding cross-entropy (weight
    ``ce_weight``) is the common practice that makes early training stable.
    """
    ce_weight: float = 1.0
    dice: str = "generalised"

    def __post_init__(self):
        losses = {"generalised": GeneralisedDiceLoss, "mean": MeanDiceLoss}
        if self.dice not in losses:
            raise ValueError(f"dice must be one of {sorted(losses)}, got {self.dice!r}")
        self.dice_loss = losses[self.dice]()

    def loss(self, model, batch) -> torch.Tensor:
        return self.loss_of_logits(model(batch["image"]), batch["labels"])

    def loss_of_logits(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``logits (B, 4, 1, Y, X)``, ``labels (B, 1, Y, X)`` -> Dice loss + weighted cross-entropy."""
        return self.dice_loss(logits, labels) + self.ce_weight * F.cross_entropy(logits, labels)

    def validate(self, model, loader, device) -> dict:
        """Dice per structure pooled over every validation slice, and the loss."""
        overlap, total, losses = torch.zeros(4), torch.zeros(4), []
        for batch in loader:
            batch = to_device(batch, device)
            logits = model(batch["image"])
            losses.append(self.loss_of_logits(logits, batch["labels"]).item())
            predicted = logits.argmax(dim=1).cpu()
            reference = batch["labels"].cpu()
            for value in STRUCTURES:
                overlap[value] += ((predicted == value) & (reference == value)).sum()
                total[value] += (predicted == value).sum() + (reference == value).sum()
        scores = {f"dice_{name}": float(2 * overlap[v] / total[v]) if total[v] else 1.0 for v, name in STRUCTURES.items()}
        scores["dice"] = sum(scores.values()) / len(STRUCTURES)
        scores["loss"] = sum(losses) / max(len(losses), 1)
        return scores


# =========================================================================================
# Tasks of the temporal and non-segmentation models (datasets in cardiolab.train.pipelines)
# =========================================================================================
class DiceCounter:
    """Dice per structure pooled over every voxel seen: 2 |P & R| / (|P| + |R|).

    A structure absent from both prediction and reference scores 1 (nothing to miss).
    """

    def __init__(self):
        self.overlap, self.total = torch.zeros(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)

    def add(self, predicted: torch.Tensor, reference: torch.Tensor) -> None:
        predicted, reference = predicted.detach().cpu(), reference.detach().cpu()
        for value in STRUCTURES:
            self.overlap[value] += ((predicted == value) & (reference == value)).sum()
            self.total[value] += (predicted == value).sum() + (reference == value).sum()

    def scores(self) -> dict:
        scores = {f"dice_{name}": float(2 * self.overlap[v] / self.total[v]) if self.total[v] else 1.0
                  for v, name in STRUCTURES.items()}
        scores["dice"] = sum(scores.values()) / len(STRUCTURES)
        return scores


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


@dataclass
class SparseSegmentation4dTask:
    """[seed 000] Eq. (1)-(2): soft Dice on the labelled frames + temporal smoothness on all frames.

    For ``unet4d`` on `Crop4dDataset` batches (logits (B, C, T, Z, Y, X)) and for the 3D
    baseline ``unet3d_ccta`` on `Crop3dDataset` batches (logits (B, C, Z, Y, X): one
    labelled frame, so the loss is the soft Dice alone). Validation: Dice per structure
    over the labelled frames, and the loss.
    """
    smoothness_weight: float = 1.0        # [seed 000] "we kept the equal contributions"
    smoothness_norm: str = "mean_squared"  # see cardiolab.losses.sparse_dice
    include_background: bool = True

    def __post_init__(self):
        self.criterion = SparseDiceTemporalLoss(self.smoothness_weight, self.smoothness_norm, self.include_background)

    @staticmethod
    def as_sequence(logits: torch.Tensor, batch: dict):
        """3D logits (B, C, Z, Y, X) become one-frame sequences (B, C, 1, Z, Y, X)."""
        labels, labelled = batch["labels"], batch["labelled"]
        if logits.ndim == 5:
            return logits[:, :, None], labels[:, None], labelled.reshape(-1, 1)
        return logits, labels, labelled

    def loss(self, model, batch) -> torch.Tensor:
        logits, labels, labelled = self.as_sequence(model(batch["image"]), batch)
        return self.criterion(logits, labels, labelled)

    def validate(self, model, loader, device) -> dict:
        counter, losses = DiceCounter(), []
        for batch in loader:
            batch = to_device(batch, device)
            logits, labels, labelled = self.as_sequence(model(batch["image"]), batch)
            losses.append(self.criterion(logits, labels, labelled).item())
            predicted = logits.argmax(dim=1)  # (B, T, Z, Y, X)
            counter.add(predicted[labelled], labels[labelled])  # labelled frames only
        return {**counter.scores(), "loss": _mean(losses)}


@dataclass
class LVQuanTask:
    """[seed 001] Eq. (1) on `LVQuanDataset` batches; validation in mm as the paper's Table 1.

    ``reg_weight`` > 0 adds lambda x 1/2 sum w^2 over every parameter named ``weight``
    (the paper's lambda = 0.005); with 0 (default) the regulariser is left to the
    optimiser's ``weight_decay``, which has the same gradient (cardiolab.losses.lvquan).
    Validation: MAE per index group (areas in mm^2, dimensions and wall thicknesses in mm,
    [seed 001] Eq. 3), the phase error rate in % (Eq. 4), and the loss.
    """
    reg_weight: float = 0.0

    def __post_init__(self):
        self.criterion = LVQuanLoss(self.reg_weight)

    def _loss(self, model, outputs, batch) -> torch.Tensor:
        parameters = None
        if self.reg_weight > 0:
            parameters = [p for name, p in model.named_parameters() if name.endswith("weight")]
        return self.criterion(outputs["indices"], outputs["phase_logits"], batch["indices"], batch["phase"], parameters)

    def loss(self, model, batch) -> torch.Tensor:
        return self._loss(model, model(batch["image"]), batch)

    def validate(self, model, loader, device) -> dict:
        predicted_mm, true_mm, predicted_phase, true_phase, losses = [], [], [], [], []
        for batch in loader:
            batch = to_device(batch, device)
            outputs = model(batch["image"])
            losses.append(self._loss(model, outputs, batch).item())
            side_mm = batch["side_mm"][:, None]  # (B, 1): normalised -> mm
            scale = torch.cat([side_mm.expand(-1, 2) ** 2, side_mm.expand(-1, 9)], dim=1)  # areas, then lengths
            predicted_mm.append((outputs["indices"] * scale).cpu())
            true_mm.append(batch["indices_mm"].cpu())
            predicted_phase.append(outputs["phase_logits"].argmax(dim=1).cpu())
            true_phase.append(batch["phase"].cpu())
        errors = mae(torch.cat(predicted_mm).numpy(), torch.cat(true_mm).numpy())  # (11,)
        scores = {f"mae_{group}_{unit}": float(np.mean(errors[columns]))
                  for (group, columns), unit in zip(INDEX_GROUPS.items(), ("mm2", "mm", "mm"))}
        scores["phase_error_pct"] = phase_error_rate(torch.cat(predicted_phase).numpy(), torch.cat(true_phase).numpy())
        scores["loss"] = _mean(losses)
        return scores


@dataclass
class EventDetectionTask:
    """[thesis] Ch. 7: ES/ED frame detection on `EventSequenceDataset` batches.

    ``loss_name``: "dice" (Eq. 7.2, weights 0.45 / 0.45 / 0.1, the thesis' better loss) or
    "ce" (Eq. 7.1, weight 100 on the ES and ED frames). Validation: the mean absolute
    frame distance aFD of ES and ED ([thesis] Sec. 7.3.6) with both post-processings of
    `cardiolab.events.detect_events` (naive argmax and the central method), ``afd`` (the
    mean of ES and ED with the central method, a single number to monitor) and the loss.
    """
    loss_name: str = "dice"
    threshold: float = 0.9   # [thesis] Sec. 7.3.5: the central method keeps frames with p > 0.9

    def __post_init__(self):
        if self.loss_name not in ("dice", "ce"):
            raise ValueError(f"loss_name must be 'dice' or 'ce', got {self.loss_name!r}")
        self.criterion = WeightedEventDiceLoss() if self.loss_name == "dice" else WeightedEventCrossEntropy()

    def loss(self, model, batch) -> torch.Tensor:
        return self.criterion(model(batch["image"]), batch["target"])

    def validate(self, model, loader, device) -> dict:
        distances = {f"afd_{event.lower()}_{method}": [] for method in ("naive", "central") for event in ("ES", "ED")}
        losses = []
        for batch in loader:
            batch = to_device(batch, device)
            logits = model(batch["image"])  # (B, 3, T)
            losses.append(self.criterion(logits, batch["target"]).item())
            for probabilities, es, ed in zip(logits.softmax(dim=1), batch["es_frame"], batch["ed_frame"]):
                for method in ("naive", "central"):
                    found = detect_events(probabilities, method, self.threshold)
                    distances[f"afd_es_{method}"].append(float(frame_distance(found["ES"], int(es))))
                    distances[f"afd_ed_{method}"].append(float(frame_distance(found["ED"], int(ed))))
        scores = {name: _mean(values) for name, values in distances.items()}
        scores["afd"] = (scores["afd_es_central"] + scores["afd_ed_central"]) / 2
        scores["loss"] = _mean(losses)
        return scores


@dataclass
class WeakVolumeTask:
    """[thesis] Ch. 6, Eq. (6.1) on `VolumeDataset` batches: learn the LV map from the ED volume alone.

    Validation: volume MAE (ml), Pearson r between predicted and true volumes (NaN with
    fewer than 2 studies or a constant prediction), and the loss.
    """
    pi_weight: float = 100.0   # [thesis] Eq. (6.1)
    l1_weight: float = 1e-3    # [thesis] Eq. (6.1)

    def __post_init__(self):
        self.criterion = WeakVolumeLoss(self.pi_weight, self.l1_weight)

    def _loss(self, outputs, batch) -> torch.Tensor:
        return self.criterion(outputs, outputs["map"], outputs["bottleneck"], batch["lv_edv_ml"])

    def loss(self, model, batch) -> torch.Tensor:
        return self._loss(model(batch["image"], batch["spacing_mm"]), batch)

    def validate(self, model, loader, device) -> dict:
        predicted, true, losses = [], [], []
        for batch in loader:
            batch = to_device(batch, device)
            outputs = model(batch["image"], batch["spacing_mm"])
            losses.append(self._loss(outputs, batch).item())
            predicted.append(outputs["volume_ml"].cpu())
            true.append(batch["lv_edv_ml"].cpu())
        predicted, true = torch.cat(predicted).double().numpy(), torch.cat(true).double().numpy()
        return {"volume_mae_ml": mae(predicted, true),
                "volume_pearson_r": pearson(predicted, true) if len(true) > 1 else float("nan"),
                "loss": _mean(losses)}


@dataclass
class SequenceSegmentationTask:
    """[seed 004] Sec. 2.3: class-weighted cross-entropy over the labelled frames of a sequence.

    For ``fcslstm`` on `SequenceSliceDataset` batches (logits (B, C, T, Y, X)). Unlabelled
    frames take no part in the loss: they are trained through the recurrence only.
    ``class_counts``: pixel counts per class in the training set (the paper's weights,
    e.g. ``SequenceSliceDataset.class_counts()``); None weights each batch by its own
    counts. Validation: Dice per structure over the labelled frames, and the loss.
    """
    n_classes: int = 4
    class_counts: tuple | None = None

    def __post_init__(self):
        self.criterion = ClassWeightedCrossEntropy(self.n_classes, self.class_counts)

    def _labelled_frames(self, logits, batch):
        labelled = batch["labelled"]                                 # (B, T)
        return logits.movedim(2, 1)[labelled], batch["labels"][labelled]  # (N, C, Y, X), (N, Y, X)

    def loss(self, model, batch) -> torch.Tensor:
        frame_logits, frame_labels = self._labelled_frames(model(batch["image"]), batch)
        if frame_logits.shape[0] == 0:
            return frame_logits.sum() * 0.0  # no labelled frame in the batch: nothing to learn
        return self.criterion(frame_logits, frame_labels)

    def validate(self, model, loader, device) -> dict:
        counter, losses = DiceCounter(), []
        for batch in loader:
            batch = to_device(batch, device)
            frame_logits, frame_labels = self._labelled_frames(model(batch["image"]), batch)
            if frame_logits.shape[0]:
                losses.append(self.criterion(frame_logits, frame_labels).item())
                counter.add(frame_logits.argmax(dim=1), frame_labels)
        return {**counter.scores(), "loss": _mean(losses)}
