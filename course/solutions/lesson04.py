"""Reference solutions of lesson 4, "A first segmentation network" (loaded only with ``use_solutions=True``)."""
import numpy as np

from cardiolab.metrics import hd95


def dice_by_hand(pred, ref, label):
    p, r = np.asarray(pred) == label, np.asarray(ref) == label
    total = p.sum() + r.sum()
    return 1.0 if total == 0 else 2.0 * np.logical_and(p, r).sum() / total


def logits_to_labels(logits):
    return logits.argmax(dim=1)[:, 0]  # class axis 1; then drop the slice axis of size 1


def hd95_mm(pred, ref, spacing):
    return hd95(pred, ref, 1, spacing)
