"""Checks of lesson 5, "Using time": 4D convolution shapes and arithmetic, ConvLSTM memory,
deformable offsets. The expected answers come from running the library's layers."""
from __future__ import annotations

import numpy as np
import torch

from cardiolab.course.core import Wrong, as_array, close, exercise, matches_one_of
from cardiolab.models.layers import Conv4d


def _four(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * 4


@exercise("5.2", "conv4d_output_shape", "the output shape of a strided 4D convolution")
def check_conv4d_output_shape(answer, input_shape, out_channels, kernel_size, stride, padding):
    """``answer`` = the shape ``(B, C, T, Z, Y, X)`` of ``Conv4d(C_in, out_channels, ...)`` on ``input_shape``."""
    shape = tuple(int(n) for n in input_shape)
    layer = Conv4d(shape[1], int(out_channels), kernel_size, stride, padding)
    with torch.no_grad():
        expected = tuple(layer(torch.zeros(shape)).shape)  # the library decides, not a formula typed here
    try:
        value = tuple(int(n) for n in answer)
    except (TypeError, ValueError):
        raise Wrong(f"give the shape as a tuple of six ints, got {answer!r}") from None
    if value == expected:
        return f"{shape} -> {expected}: each axis n becomes floor((n + 2p - k) / s) + 1."
    if len(value) == 4:
        raise Wrong("give all six axes (B, C, T, Z, Y, X): the batch and channel axes too.")
    if len(value) != 6:
        raise Wrong(f"a 4D convolution's output has six axes (B, C, T, Z, Y, X), you gave {len(value)}.")
    if value[:2] != expected[:2]:
        raise Wrong(f"batch and channels: the batch size is unchanged and the channels become out_channels "
                    f"({out_channels}).")
    k, s, p = _four(kernel_size), _four(stride), _four(padding)
    no_stride = tuple(n + 2 * pp - kk + 1 for n, kk, pp in zip(shape[2:], k, p))
    if value[2:] == no_stride:
        raise Wrong("the stride is ignored: with stride s an axis shrinks to about n / s.")
    wrong_axes = [name for name, mine, right in zip("TZYX", value[2:], expected[2:]) if mine != right]
    hint = " (time is strided like space here)" if "T" in wrong_axes and s[0] > 1 else ""
    raise Wrong(f"axes {', '.join(wrong_axes)} are off{hint}: n_out = floor((n + 2 padding - kernel) / stride) + 1.")


@exercise("5.3", "conv4d_by_hand", "one output frame of a 4D convolution as a sum of 3D convolutions")
def check_conv4d_by_hand(answer, layer, x, frame):
    """``answer`` = ``layer(x)[:, :, frame]`` computed with ``F.conv3d`` over the frames (stride 1)."""
    with torch.no_grad():
        expected = layer(x)[:, :, frame]  # (B, out, Z, Y, X)
        value = torch.as_tensor(as_array(answer, "your output frame"), dtype=expected.dtype)
        if value.shape != expected.shape:
            raise Wrong(f"shape {tuple(value.shape)}: one output frame is (B, out_channels, Z, Y, X) = "
                        f"{tuple(expected.shape)}.")
        if close(value.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5):
            return "A 4D convolution is a sum of 3D convolutions, one per time tap."
        kernel_t, pad_t = layer.kernel_size[0], layer.padding[0]
        n_frames = x.shape[2]
        stride3d, padding3d = layer.stride[1:], layer.padding[1:]

        def taps(order, only_centre=False):
            total = 0
            for k in range(kernel_t):
                if only_centre and k != kernel_t // 2:
                    continue
                source = frame + k - pad_t
                if 0 <= source < n_frames:
                    w = layer.weight[:, :, order(k)]
                    total = total + torch.nn.functional.conv3d(x[:, :, source], w, None, stride3d, padding3d)
            return total

        bias = layer.bias.view(1, -1, 1, 1, 1) if layer.bias is not None else 0
        hint = matches_one_of(value.numpy(), [
            ((taps(lambda k: k)).numpy() if layer.bias is not None else None, "the bias is missing: add layer.bias "
                                                                               "once (not once per tap)."),
            ((taps(lambda k: k) + kernel_t * bias).numpy() if layer.bias is not None else None,
             "the bias is added once per tap: add it only once."),
            ((taps(lambda k: kernel_t - 1 - k) + bias).numpy(), "the taps are reversed: tap k reads frame "
                                                                 "frame + k - padding (k = 0 is the earliest)."),
            ((taps(lambda k: k, only_centre=True) + bias).numpy(), "only the centre tap: that is a 3D convolution of "
                                                                    "one frame. Sum over all kernel_size[0] taps."),
        ], rtol=1e-4, atol=1e-5)
        raise Wrong(hint or "not layer(x)[:, :, frame]: output frame t = sum over k of "
                            "conv3d(x[:, :, t + k - 1], weight[:, :, k]) + bias.")


@exercise("5.1", "convlstm_memory", "which output frames a ConvLSTM changes")
def check_convlstm_memory(answer, model, sequence, changed_frame):
    """``answer`` = the sorted frames whose output changes when input frame ``changed_frame`` changes."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            changed = sequence.clone()
            changed[:, :, changed_frame] += 1.0  # any change to that frame's pixels
            difference = (model(changed) - model(sequence)).abs().amax(dim=(0, 1, 3, 4))  # (T,)
    finally:
        model.train(was_training)
    expected = [int(t) for t in torch.nonzero(difference > 1e-6).flatten()]
    try:
        value = sorted(int(t) for t in answer)
    except (TypeError, ValueError):
        raise Wrong(f"give a list of frame indices, got {answer!r}") from None
    if value == expected:
        direction = "from that frame on" if expected and expected[0] == changed_frame else "everywhere"
        return f"frames {expected[0]}..{expected[-1]} change ({direction}): the memory carries it forward in time."
    n_frames = sequence.shape[2]
    hint = matches_one_of(np.asarray(value), [
        (np.arange(n_frames), "every frame? A forward LSTM only reads frames in order: frame t has seen 0..t."),
        (np.asarray([changed_frame]), "not only that frame: the LSTM's memory carries the change to later frames."),
        (np.arange(changed_frame + 1), "the memory runs forward in time, not backward."),
    ])
    raise Wrong(hint or "run the model on the sequence and on a copy with that frame changed, and list the frames "
                        "whose outputs differ.")


@exercise("5.4", "deform_offsets", "an offset field that shifts a deformable convolution")
def check_deform_offsets(answer, layer, x, shift_px):
    """``answer`` = offsets for ``layer`` (a DeformConv2d) on ``x`` that move every tap ``shift_px`` pixels in +x."""
    batch = x.shape[0]
    out_h, out_w = layer.output_size(*x.shape[-2:])
    shape = (batch, 2 * layer.offset_groups * layer.taps, out_h, out_w)
    value = torch.as_tensor(as_array(answer, "the offsets"), dtype=x.dtype)
    expected = torch.zeros(shape, dtype=x.dtype)
    expected[:, 1::2] = float(shift_px)  # channel 2k holds dy of tap k, channel 2k + 1 its dx
    if value.shape == expected.shape and torch.allclose(value, expected):
        return f"Every tap now reads the input {shift_px} pixels to the right of its usual place."
    if value.shape != expected.shape:
        if value.shape == (batch, 2, out_h, out_w):
            raise Wrong(f"one (dy, dx) pair per kernel TAP: {layer.taps} taps give {2 * layer.taps} channels, "
                        f"shape {shape}.")
        raise Wrong(f"shape {tuple(value.shape)}: offsets are (B, 2 x taps, H_out, W_out) = {shape}.")
    swapped = torch.zeros(shape, dtype=x.dtype)
    swapped[:, 0::2] = float(shift_px)
    hint = matches_one_of(value.numpy(), [
        (swapped.numpy(), "that moves the taps in y: channel 2k is dy and channel 2k + 1 is dx."),
        ((-expected).numpy(), "wrong direction: +dx samples to the right."),
    ])
    raise Wrong(hint or "every tap needs dy = 0 and dx = shift_px: the odd channels 1, 3, 5, ... hold dx.")
