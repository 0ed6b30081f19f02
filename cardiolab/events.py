"""From per-frame event probabilities to one ES and one ED frame ([thesis] Ch. 7, Sec. 7.3.5).

The ES/ED detector (``esed_detector``) gives every frame of a cine a probability for
each class (ES, ED, other). A sequence has exactly one ES and one ED frame, so the
probabilities must be reduced to one frame per event. The thesis compares two
post-processings:

* ``naive``: the frame with the highest probability of the class (argmax over frames);
* ``central``: the frames whose probability exceeds 0.9, and the central one of them,
  which is steadier when the network is confident over a plateau of several frames.

Choices where the thesis is silent (``central``):

* The frames above the threshold are grouped into runs of consecutive frames, read
  circularly (frame T-1 is followed by frame 0: a cine covers one beat, and the training
  shifts sequences circularly). The run holding the most probable frame is kept and its
  central frame returned; for a run of even length, the earlier of its two middle frames.
* No frame above the threshold: fall back to ``naive``.

Used by the training task (`cardiolab.train.tasks.EventDetectionTask`) and by analyses.
"""
from __future__ import annotations

import numpy as np

EVENT_CLASSES = ("ES", "ED", "other")  # class order on axis 0 of the probabilities
METHODS = ("naive", "central")
THESIS_THRESHOLD = 0.9  # [thesis] Sec. 7.3.5: "frames with a probability above 0.9"


def _central_frame(probability: np.ndarray, threshold: float) -> int:
    """Centre of the circular run of frames above ``threshold`` that holds the peak."""
    n_frames = len(probability)
    peak = int(np.argmax(probability))
    if probability[peak] <= threshold:
        return peak  # nothing confident: the naive answer
    above = probability > threshold
    if above.all():
        return peak  # one run covering the whole cycle has no centre: keep the peak
    start = peak
    while above[(start - 1) % n_frames]:  # walk back to the first frame of the run
        start -= 1
    length = 1
    while above[(start + length) % n_frames]:
        length += 1
    return int((start + (length - 1) // 2) % n_frames)


def detect_events(probabilities, method: str = "naive", threshold: float = THESIS_THRESHOLD) -> dict[str, int]:
    """One frame per event from ``probabilities`` ``(3, T)`` over (ES, ED, other).

    Returns ``{"ES": frame, "ED": frame}`` (0-based). ``probabilities`` may be a numpy
    array or a torch tensor (softmax of the detector's logits for one sequence).

    Example::

        >>> p = np.full((3, 6), 0.05); p[0, 2:5] = 0.95; p[1, 0] = 0.6
        >>> detect_events(p, "central")
        {'ES': 3, 'ED': 0}
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must lie in [0, 1), got {threshold}")
    if hasattr(probabilities, "detach"):
        probabilities = probabilities.detach().cpu().numpy()
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[0] != len(EVENT_CLASSES) or probabilities.shape[1] < 1:
        raise ValueError(f"probabilities must be (3, T) over {EVENT_CLASSES}, got shape {probabilities.shape}")
    frames = {}
    for index, name in enumerate(EVENT_CLASSES[:2]):  # ES, ED
        row = probabilities[index]
        frames[name] = int(np.argmax(row)) if method == "naive" else _central_frame(row, threshold)
    return frames
