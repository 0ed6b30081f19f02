"""Checks of lesson 7, "Finding ED and ES": the thesis' Ch. 7 pipeline, piece by piece."""
from __future__ import annotations

import numpy as np

from cardiolab.course.core import Wrong, as_array, as_number, as_pair, close, exercise, how_far, matches_one_of
from cardiolab.events import THESIS_THRESHOLD, detect_events
from cardiolab.metrics import afd_summary


@exercise("7.1", "median_projection", "one image per frame: the median over the inner slices")
def check_median_projection(answer, image_tzyx):
    """``answer`` = ``(T, Y, X)``: per frame, the median over slices 1 .. Z-2 (the thesis' Sec. 7.3.1)."""
    from cardiolab.data.preprocess import median_projection  # here: keeps SimpleITK out of `import cardiolab.course`

    image = np.asarray(image_tzyx, dtype=np.float32)
    expected = median_projection(image)
    value = as_array(answer, "your projection").astype(np.float32)
    if value.shape == expected.shape and close(value, expected, rtol=1e-5, atol=1e-6):
        return f"{value.shape[0]} frames of {value.shape[1]} x {value.shape[2]} pixels."
    if value.shape == image.shape[1:]:
        raise Wrong("that is (Z, Y, X): the median ran over TIME. "
                    "Take it over the slice axis (axis 1 of (T, Z, Y, X)).")
    if value.shape != expected.shape:
        raise Wrong(f"shape {value.shape}: one image per frame, (T, Y, X) = {expected.shape}.")
    hint = matches_one_of(value, [
        (np.median(image, axis=1), "that uses every slice: the thesis leaves out the first and the last slice "
                                   "(image[:, 1:-1]), which often hold only atria or only apex."),
        (image[:, 1:-1].mean(axis=1), "that is the mean: use the median, which ignores a few outlying slices."),
        (image.mean(axis=1), "that is the mean over every slice: the median over slices 1 .. Z-2."),
    ], rtol=1e-5, atol=1e-6)
    raise Wrong(hint or "np.median over axis 1 of image[:, 1:-1].")


@exercise("7.2", "receptive_fields", "how many frames each dilated temporal path sees")
def check_receptive_fields(answer, model):
    """``answer`` = the temporal receptive field (frames) of each of ``model.temporal_paths``, in order."""
    convs = [path.conv for path in model.temporal_paths]
    kernels = [conv.kernel_size[0] for conv in convs]
    dilations = [conv.dilation[0] for conv in convs]
    expected = np.asarray([(k - 1) * d + 1 for k, d in zip(kernels, dilations)])  # taps k, d frames apart
    value = as_array(answer, "your receptive fields").astype(float).ravel()
    if value.shape == expected.shape and np.array_equal(value, expected):
        return f"from {expected.min()} to {expected.max()} frames: the widest path spans about a whole cardiac cycle."
    if value.shape != expected.shape:
        raise Wrong(f"give one number per path: {len(expected)} paths, you gave {value.size}.")
    hint = matches_one_of(value, [
        (np.asarray(kernels, float), "that ignores the dilation: d spreads the k taps d frames apart."),
        (np.asarray([k * d for k, d in zip(kernels, dilations)], float),
         "k x d counts one gap too many: k taps d frames apart span (k - 1) x d + 1 frames."),
        (np.sort(expected).astype(float), "right numbers, wrong order: follow model.temporal_paths."),
    ])
    raise Wrong(hint or "a kernel of k frames with dilation d spans (k - 1) x d + 1 frames.")


@exercise("7.4", "afd", "the average absolute frame distance aFD")
def check_afd(answer, pred_frames, true_frames, n_frames):
    """``answer = (afd_mean, afd_over_t_mean)`` over the cases, as the thesis reports them."""
    afd, over_t = (as_number(v, name) for v, name in zip(as_pair(answer, "(afd, afd_over_t)"), ("aFD", "aFD/T")))
    summary = afd_summary(pred_frames, true_frames, n_frames)
    pred, true = np.asarray(pred_frames, float), np.asarray(true_frames, float)
    frames = np.broadcast_to(np.asarray(n_frames, float), pred.shape)  # T of each case
    if not close(afd, summary["afd_mean"], rtol=1e-6, atol=1e-9):
        hint = matches_one_of(afd, [
            (float(np.mean(pred - true)), "that is the mean SIGNED difference: errors of opposite sign cancel. "
                                         "Take the absolute value first."),
            (float(np.mean(afd_summary(pred_frames, true_frames, n_frames, cyclic=True)["afd_mean"])),
             "that is the cyclic distance; the thesis uses the plain |predicted - true|."),
            (float(np.median(np.abs(pred - true))), "the thesis reports the mean, not the median."),
        ], rtol=1e-6, atol=1e-9)
        raise Wrong(hint or f"aFD = mean over cases of |predicted - true|: {how_far(afd, summary['afd_mean'])}.")
    if close(over_t, summary["afd_over_t_mean"], rtol=1e-6, atol=1e-9):
        return f"aFD = {afd:.2f} frames, aFD/T = {over_t:.3f} (thesis, Dice loss: ES 1.24, ED 0 frames)."
    hint = matches_one_of(over_t, [
        (float(np.mean(np.abs(pred - true) / (frames - 1))), "divide by T (the number of frames), not T - 1."),
        (afd / float(np.mean(frames)), "divide each case by ITS number of frames, then average."),
        (100 * summary["afd_over_t_mean"], "give aFD/T as a fraction, not a percentage."),
    ], rtol=1e-6, atol=1e-9)
    raise Wrong(hint or "aFD/T = mean over cases of |predicted - true| / T.")


@exercise("7.3", "central_frame", "the central method of the thesis")
def check_central_frame(answer, probabilities):
    """``answer`` = the ES frame from ``probabilities`` (3, T) over (ES, ED, other) by the central method."""
    value = int(round(as_number(answer, "the ES frame")))
    probabilities = np.asarray(probabilities, dtype=float)
    expected = detect_events(probabilities, "central", THESIS_THRESHOLD)["ES"]
    if value == expected:
        return f"ES = frame {value}: the middle of the run of confident frames."
    es = probabilities[0]
    above = np.nonzero(es > THESIS_THRESHOLD)[0]
    naive = int(np.argmax(es))
    if value == naive:
        raise Wrong(f"that is the naive arg-max; the central method takes the frames with p > {THESIS_THRESHOLD} "
                    f"and returns the one in the middle of their run.")
    if len(above) and value == int(above[(len(above) - 1) // 2]):
        raise Wrong("the run wraps round the end of the cycle (frame T-1 is followed by frame 0): "
                    "walk the run circularly and take its centre.")
    if len(above) and value == int(round(above.mean())):
        raise Wrong("the mean of the frame numbers fails when the run wraps round the cycle: "
                    "find the run circularly and take its centre.")
    raise Wrong(f"frames with P(ES) > {THESIS_THRESHOLD}, as one circular run; its centre frame "
                f"(the earlier middle one for an even run).")
