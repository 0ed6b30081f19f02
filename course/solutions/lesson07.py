"""Reference solutions of lesson 7, "Finding ED and ES" (loaded only with ``use_solutions=True``)."""
import numpy as np


def median_projection(image_tzyx):
    return np.median(image_tzyx[:, 1:-1], axis=1)  # slices 1 .. Z-2


def receptive_fields(model):
    return [(path.conv.kernel_size[0] - 1) * path.conv.dilation[0] + 1 for path in model.temporal_paths]


def afd(pred_frames, true_frames, n_frames):
    distance = np.abs(np.asarray(pred_frames) - np.asarray(true_frames))
    return distance.mean(), (distance / np.asarray(n_frames)).mean()


def central_frame(probabilities, threshold=0.9):
    es = np.asarray(probabilities)[0]
    n_frames = len(es)
    peak = int(np.argmax(es))
    if es[peak] <= threshold:
        return peak
    start = peak
    while es[(start - 1) % n_frames] > threshold and (peak - start) < n_frames - 1:
        start -= 1  # walk back, round the cycle, to the first frame of the run
    length = 1
    while es[(start + length) % n_frames] > threshold and length < n_frames:
        length += 1
    return (start + (length - 1) // 2) % n_frames
