"""Training losses of the five papers (torch), one file per paper's loss.

| loss | paper | input |
|---|---|---|
| `SparseDiceTemporalLoss` | [seed 000] Eq. 1-2 | (B, C, T, Z, Y, X) logits, labels on some frames |
| `GeneralisedDiceLoss` | [thesis] Ch. 5 | (B, C, ...) logits, weights 0.1 / 0.3 |
| `MeanDiceLoss` | mean Dice over structures (where a paper names no loss) | (B, C, ...) logits |
| `WeakVolumeLoss` | [thesis] Ch. 6, Eq. 6.1 | `ScanningModule` outputs, sigmoid map, bottleneck |
| `WeightedEventDiceLoss`, `WeightedEventCrossEntropy` | [thesis] Ch. 7, Eq. 7.1-7.2 | (B, 3, T) logits over (ES, ED, other) |
| `LVQuanLoss` | [seed 001] Eq. 1 | (B, 11) indices + (B, 2) phase logits |
| `ClassWeightedCrossEntropy` | [seed 004] Sec. 2.3 | (B, C, ...) logits |

Every loss takes logits unless its docstring says otherwise (the Dice-type losses accept
probabilities with ``from_logits=False``; `WeakVolumeLoss` takes the sigmoid map itself).
"""
from cardiolab.losses.class_weighted_ce import ClassWeightedCrossEntropy, inverse_frequency_weights
from cardiolab.losses.event_losses import EVENT_CLASSES, WeightedEventCrossEntropy, WeightedEventDiceLoss
from cardiolab.losses.generalised_dice import GeneralisedDiceLoss, MeanDiceLoss
from cardiolab.losses.lvquan import INDEX_GROUPS, LVQuanLoss
from cardiolab.losses.sparse_dice import SparseDiceTemporalLoss
from cardiolab.losses.weak_volume import WeakVolumeLoss

__all__ = [
    "ClassWeightedCrossEntropy", "inverse_frequency_weights",
    "EVENT_CLASSES", "WeightedEventCrossEntropy", "WeightedEventDiceLoss",
    "GeneralisedDiceLoss", "MeanDiceLoss",
    "INDEX_GROUPS", "LVQuanLoss",
    "SparseDiceTemporalLoss",
    "WeakVolumeLoss",
]
