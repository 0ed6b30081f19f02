"""Temporal smoothness of a segmented sequence ([seed 000] Sec. 4, Table 2).

A frame-by-frame Dice says nothing about whether the labels flicker from one frame to the
next. [seed 000] adds two smoothness measures, "the L2 norm of the first-order time
derivative of segmentation labels, as well as the average surface distance between the
consecutive frames"; lower is smoother. The paper gives no normalisation, so:

* `temporal_derivative_l2` = (1 / P) sum_t (1 / N) sum_v ||p_v(t+1) - p_v(t)||^2, over the
  P frame pairs and N voxels, ``p_v`` being the class-probability (or one-hot) vector of
  voxel v. For label maps it is twice the fraction of voxels that change label per frame
  step. Averaging over pairs and voxels makes sequences of different length comparable;
  it still depends on the field of view (more background, smaller value), so compare
  methods on the same crops.
* `consecutive_frame_assd` = the mean over frame pairs of the average symmetric surface
  distance (mm) of one structure between frame t and frame t + 1, the `assd` of
  `cardiolab.metrics.segmentation` with its empty-mask rules (absent in both -> 0,
  appears or vanishes -> inf, which makes the mean inf: a structure that blinks is not
  smooth).

``cyclic=True`` also compares the last frame with the first (a whole heart beat).
"""
from __future__ import annotations

import numpy as np

from cardiolab.metrics.segmentation import assd


def _frame_pairs(n_frames: int, cyclic: bool) -> list[tuple[int, int]]:
    if n_frames < 2:
        raise ValueError(f"a temporal metric needs at least 2 frames, got {n_frames}")
    last = n_frames if cyclic else n_frames - 1
    return [(t, (t + 1) % n_frames) for t in range(last)]


def temporal_derivative_l2(sequence, n_classes: int | None = None, cyclic: bool = False) -> float:
    """Mean squared L2 norm of the first-order time derivative (module docstring).

    Args:
        sequence: integer label maps ``(T, ...)`` (one-hot encoded over ``n_classes``,
            default ``max label + 1``) or float probabilities ``(T, C, ...)`` with the
            classes on axis 1 (use ``(T, 1, ...)`` for a single structure's probability).
        cyclic: also count the pair (last frame, first frame).
    """
    sequence = np.asarray(sequence)
    if np.issubdtype(sequence.dtype, np.integer) or sequence.dtype == bool:
        n_classes = int(sequence.max()) + 1 if n_classes is None else n_classes
        if sequence.min() < 0 or sequence.max() >= n_classes:
            raise ValueError(f"sequence labels must lie in 0..{n_classes - 1}, got {sequence.min()}..{sequence.max()}")
        # A label change flips two one-hot entries: squared norm 2. Comparing labels avoids
        # building the (T, C, ...) one-hot array.
        squared_norms = [2.0 * np.mean(sequence[t] != sequence[u]) for t, u in _frame_pairs(len(sequence), cyclic)]
    elif np.issubdtype(sequence.dtype, np.floating):
        if sequence.ndim < 2:
            raise ValueError(f"probabilities must be (T, C, ...), got shape {sequence.shape}")
        pairs = _frame_pairs(len(sequence), cyclic)
        # sum over classes (axis 0 of a frame), mean over voxels
        squared_norms = [np.mean(np.sum((sequence[u] - sequence[t]) ** 2, axis=0)) for t, u in pairs]
    else:
        raise ValueError(f"sequence must hold integer labels or float probabilities, got dtype {sequence.dtype}")
    return float(np.mean(squared_norms))


def consecutive_frame_assd(sequence, label: int, spacing, cyclic: bool = False) -> float:
    """Mean over frame pairs of the assd (mm) of structure ``label`` between consecutive frames.

    ``sequence`` is ``(T, Z, Y, X)`` (or ``(T, Y, X)``) integer labels, ``spacing`` the
    spatial pitch in mm of one frame, ``(z, y, x)`` (or ``(y, x)``).
    """
    sequence = np.asarray(sequence)
    distances_mm = [assd(sequence[u], sequence[t], label, spacing) for t, u in _frame_pairs(len(sequence), cyclic)]
    return float(np.mean(distances_mm))
