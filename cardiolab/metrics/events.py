"""Frame-detection error of cardiac events (ES, ED) ([thesis] Ch. 7, Sec. 7.3.6).

The thesis scores an ES or ED detector by the absolute frame distance aFD = |predicted
frame - true frame|, also divided by the number of frames T of the sequence (aFD/T, so
sequences of different length compare), and reports the mean +- SD over cases.

A cine covers one heart beat, so frame 0 follows frame T - 1; with ``cyclic=True`` the
distance is the shorter way round the cycle, min(|d|, T - |d|). The thesis uses the plain
|d| (its default here); the cyclic one is offered for sequences whose events may sit near
the wrap (a circularly shifted sequence, [thesis] Ch. 7 augmentation).
SD is the sample standard deviation (ddof=1).
"""
from __future__ import annotations

import numpy as np


def frame_distance(pred, true, n_frames=None, cyclic: bool = False) -> np.ndarray:
    """Absolute frame distance |pred - true| per case (frames as 0-based indices).

    Args:
        pred, true: predicted and true frame indices, a number or one per case.
        n_frames: frames per sequence, a number or one per case; needed for ``cyclic``.
        cyclic: take the shorter way round the cycle, min(|d|, T - |d|).
    """
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    if pred.shape != true.shape:
        raise ValueError(f"pred and true must have the same shape, got {pred.shape} and {true.shape}")
    distance = np.abs(pred - true)
    if cyclic:
        if n_frames is None:
            raise ValueError("n_frames is required when cyclic=True")
        n_frames = np.broadcast_to(np.asarray(n_frames, dtype=float), distance.shape)
        if np.any(distance >= n_frames):
            raise ValueError("a frame index lies outside 0..n_frames-1")
        distance = np.minimum(distance, n_frames - distance)
    return distance


def afd_summary(pred, true, n_frames, cyclic: bool = False) -> dict:
    """aFD and aFD/T over cases: mean and SD ([thesis] Ch. 7 reports mean +- SD).

    Returns ``afd_mean``, ``afd_sd``, ``afd_over_t_mean``, ``afd_over_t_sd``, ``n``.
    """
    distance = frame_distance(pred, true, n_frames, cyclic).reshape(-1)
    n_frames = np.broadcast_to(np.asarray(n_frames, dtype=float), distance.shape)
    if np.any(n_frames < 1):
        raise ValueError(f"n_frames must be >= 1, got {np.min(n_frames)}")
    relative = distance / n_frames

    def sd(values):
        return float(values.std(ddof=1)) if values.size > 1 else float("nan")

    return {"afd_mean": float(distance.mean()), "afd_sd": sd(distance),
            "afd_over_t_mean": float(relative.mean()), "afd_over_t_sd": sd(relative), "n": int(distance.size)}
