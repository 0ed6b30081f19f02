"""Checks of lesson 6, "Learning from sparse labels": the two terms of [seed 000] Eq. 1-2."""
from __future__ import annotations

import numpy as np
import torch

from cardiolab.course.core import Wrong, as_array, close, exercise, matches_one_of
from cardiolab.losses import SparseDiceTemporalLoss
from cardiolab.losses.sparse_dice import soft_dice_loss_per_class


@exercise("6.1", "soft_dice_loss", "the soft Dice loss of Eq. 2, per class")
def check_soft_dice_loss(answer, prob, target_one_hot):
    """``answer`` = D for each class, shape (C,), of one frame: ``prob`` and ``target_one_hot`` are (C, Z, Y, X)."""
    prob, target = torch.as_tensor(prob, dtype=torch.float64), torch.as_tensor(target_one_hot, dtype=torch.float64)
    eps = SparseDiceTemporalLoss().eps
    expected = soft_dice_loss_per_class(prob[None], target[None], eps)[0].numpy()  # (C,)
    value = as_array(answer, "your per-class loss").astype(float)
    if value.shape == expected.shape and close(value, expected, rtol=1e-4, atol=1e-6):
        return f"D per class = {np.round(value, 3).tolist()}: 0 is a perfect match, 1 no overlap at all."
    if value.size == 1:
        raise Wrong(f"one value per class: shape ({len(expected)},), sum over the voxels only (axes 1, 2, 3).")
    if value.shape != expected.shape:
        raise Wrong(f"shape {value.shape}: one loss per class, shape {expected.shape}.")
    axes = (1, 2, 3)
    overlap = (prob * target).sum(axes).numpy()
    plain_sums = prob.sum(axes).numpy() + target.sum(axes).numpy()
    hint = matches_one_of(value, [
        (1 - expected, "that is the Dice coefficient itself: the LOSS is 1 - Dice, small when the match is good."),
        (1 - (2 * overlap + eps) / (plain_sums + eps), "Eq. 2 squares p and p_true in the denominator: "
                                                       "sum p^2 + sum p_true^2."),
    ], rtol=1e-4, atol=1e-6)
    raise Wrong(hint or "D = 1 - 2 sum(p x p_true) / (sum p^2 + sum p_true^2 + eps), per class.")


@exercise("6.2", "smoothness_term", "the temporal smoothness term of Eq. 1")
def check_smoothness_term(answer, prob):
    """``answer`` = the smoothness term of ``prob`` (B, C, T, Z, Y, X): the library's "mean_squared" norm."""
    prob = torch.as_tensor(prob, dtype=torch.float64)
    expected = float(SparseDiceTemporalLoss(smoothness_norm="mean_squared").smoothness_term(prob))
    value = as_array(answer, "the smoothness term").astype(float)
    if value.size != 1:
        raise Wrong(f"the term is one number (a loss), got shape {value.shape}.")
    value = float(value.reshape(()))
    if close(value, expected, rtol=1e-5, atol=1e-9):
        return f"smoothness = {value:.5f}: zero only if no pixel's probabilities change from frame to frame."
    difference = prob[:, :, 1:] - prob[:, :, :-1]  # (B, C, T-1, Z, Y, X)
    per_pair = difference.pow(2).movedim(2, 1).flatten(2).mean(2)  # (B, T-1)
    hint = matches_one_of(value, [
        (float(per_pair.mean()), "you averaged over the frame pairs: Eq. 1 SUMS over consecutive pairs "
                                 "(mean over classes and voxels, sum over pairs, mean over the batch)."),
        (float(difference.abs().movedim(2, 1).flatten(2).mean(2).sum(1).mean()),
         "square the differences (the mean_squared norm), do not take their absolute value."),
        (float(per_pair.sum(1).sum()), "average over the batch, do not add the sequences up."),
        (float(difference.pow(2).sum(dim=(1, 3, 4, 5)).sum(1).mean()),
         "that is the 'squared' norm (a sum over classes and voxels); this exercise uses the mean over them."),
    ], rtol=1e-5, atol=1e-9)
    raise Wrong(hint or "mean over classes and voxels of (p[t+1] - p[t])^2, summed over t, averaged over the batch.")


@exercise("6.3", "labelled_mask", "the mask of labelled frames from 1-based frame numbers")
def check_labelled_mask(answer, n_frames, ed_frame_1based, es_frame_1based):
    """``answer`` = a (1, T) bool tensor, True at ED and ES, from ACDC-style 1-based frame numbers."""
    expected = torch.zeros(1, int(n_frames), dtype=torch.bool)
    expected[0, [ed_frame_1based - 1, es_frame_1based - 1]] = True
    if not torch.is_tensor(answer):
        raise Wrong(f"the loss takes a torch tensor, got {type(answer).__name__}: "
                    "use torch.zeros(..., dtype=torch.bool).")
    if answer.dtype != torch.bool:
        raise Wrong(f"dtype {answer.dtype}: the loss indexes frames with it, so it must be torch.bool.")
    if tuple(answer.shape) == (int(n_frames),):
        raise Wrong(f"shape ({n_frames},): the loss wants (B, T) = (1, {n_frames}), one row per sequence in the batch.")
    if tuple(answer.shape) != tuple(expected.shape):
        raise Wrong(f"shape {tuple(answer.shape)}: expected (B, T) = {tuple(expected.shape)}.")
    if torch.equal(answer, expected):
        return f"labelled frames {torch.nonzero(answer[0]).flatten().tolist()} (0-based)."
    one_based = torch.zeros_like(expected)
    for frame in (ed_frame_1based, es_frame_1based):
        if frame < n_frames:
            one_based[0, frame] = True
    if torch.equal(answer, one_based):
        raise Wrong("Info.cfg counts frames from 1, Python from 0: subtract 1 from each.")
    if int(answer.sum()) != 2:
        raise Wrong(f"{int(answer.sum())} frames are True: exactly two (ED and ES) are labelled.")
    raise Wrong("True at ED - 1 and ES - 1 (0-based), False everywhere else.")
