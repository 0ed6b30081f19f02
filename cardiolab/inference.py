"""Segment a whole cine study with a trained slice model: the path every prediction takes.

1. Prepare the study as the model was trained (the `Preprocessor` stored with it):
   resample in-plane, crop around the heart, normalise.
2. Stack each slice with its neighbours (2.5D context) and run the model over all
   T x Z slices in batches, optionally averaging left-right / up-down flipped copies
   (test-time augmentation). Off by default: flipping a short-axis image swaps the
   sides of the LV and RV, so it only helps a model trained with flips (measured on
   the ACDC hold-out: RV Dice at ES fell from 0.82 to 0.79 with flips for a model
   trained without them).
3. Arg-max, keep the largest connected component of each structure per frame (a
   heart has one LV, one myocardium, one RV), and map the labels back onto the
   study's own grid.

The result is a ``(T, Z, Y, X)`` uint8 label map in the canonical label map.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from tqdm.auto import tqdm

from cardiolab.data.preprocess import Preprocessor, stack_slice_context
from cardiolab.data.study import CineStudy
from cardiolab.devices import channels_last_3d, resolve_device
from cardiolab.metrics.segmentation import largest_region


@dataclass
class SliceModelBundle:
    """A trained slice segmenter with everything needed to use it."""
    model: torch.nn.Module
    preprocessor: Preprocessor
    context: int = 3              # neighbouring slices stacked as channels
    test_time_flips: bool = False  # average over flipped copies (only for models trained with flips)
    name: str = "model"
    _inference_model: nn.Module | None = field(default=None, repr=False, compare=False)

    def inference_model(self) -> nn.Module:
        """`model` with batch norm folded into its convolutions, made once and kept.

        Same outputs as ``model.eval()``, about 10 % faster on a CPU. Replace the bundle
        (not its ``model``'s weights) to use other weights.
        """
        if self._inference_model is None:
            self._inference_model = fold_batch_norm(self.model)
        return self._inference_model


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` in which every Conv -> BatchNorm pair of a Sequential
    is one convolution: at inference batch norm is a fixed per-channel scale and shift,
    which the convolution's weights and bias can absorb (the layers' outputs are equal)."""
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for index in range(len(module) - 1):
            conv, norm = module[index], module[index + 1]
            if isinstance(conv, (nn.Conv2d, nn.Conv3d)) and isinstance(norm, (nn.BatchNorm2d, nn.BatchNorm3d)):
                module[index], module[index + 1] = fuse_conv_bn_eval(conv, norm), nn.Identity()
    return folded


def pad_to_multiple(tensor: torch.Tensor, multiple: int):
    """Zero-pad the last two axes up to a multiple of ``multiple``; returns the tensor and the pads."""
    height, width = tensor.shape[-2:]
    pad_y, pad_x = (-height) % multiple, (-width) % multiple
    return torch.nn.functional.pad(tensor, (0, pad_x, 0, pad_y)), (height, width)


def _flip_variants(test_time_flips: bool):
    return [(), (-1,), (-2,)] if test_time_flips else [()]


def report_progress(progress, done: int, total: int) -> None:
    """Tell a caller's ``progress(done, total)`` callable how far a job is (bool or None: nothing)."""
    if callable(progress):
        progress(done, total)


@torch.no_grad()
def slice_probabilities(bundle: SliceModelBundle, slices: torch.Tensor, device, batch_size: int = 32,
                        progress=False) -> torch.Tensor:
    """``slices (N, context, Y, X)`` -> class probabilities ``(N, C, Y, X)`` on the CPU.

    ``progress``: False (silent), True (a tqdm bar) or a callable ``progress(done, total)``
    called after each batch (an app's progress bar).
    """
    device = resolve_device(device) if isinstance(device, str) else device
    # Channels-last memory makes CPU conv3d about 1.6x faster; harmless elsewhere.
    model = channels_last_3d(bundle.inference_model().to(device)).eval()
    padded, (height, width) = pad_to_multiple(slices, 16)
    outputs = []
    batches = range(0, len(padded), batch_size)
    show_bar = bool(progress) and not callable(progress)
    for done, start in enumerate(tqdm(batches, desc=f"segmenting ({bundle.name})", disable=not show_bar, leave=False)):
        batch = padded[start:start + batch_size].to(device)[:, :, None]  # (b, context, 1, Y, X)
        batch = batch.contiguous(memory_format=torch.channels_last_3d)
        probability = 0
        variants = _flip_variants(bundle.test_time_flips)
        for dims in variants:
            flipped = batch.flip(dims) if dims else batch
            logits = model(flipped)
            logits = logits.flip(dims) if dims else logits
            probability = probability + torch.softmax(logits.float(), dim=1)
        outputs.append((probability / len(variants))[:, :, 0, :height, :width].cpu())
        report_progress(progress, done + 1, len(batches))
    return torch.cat(outputs)


def keep_largest_components(labels: np.ndarray) -> np.ndarray:
    """Per structure, keep only its largest 3D connected component (``labels`` is (Z, Y, X))."""
    cleaned = np.zeros_like(labels)
    for value in np.unique(labels):
        if value != 0:
            cleaned[largest_region(labels == value)] = value
    return cleaned


def _segment_prepared(bundle, study, preprocessor, device, batch_size, progress, postprocess, centre_yx=None):
    image, _, record = preprocessor(study, centre_yx=centre_yx)
    n_frames, n_slices = image.shape[:2]
    stacks = np.concatenate([stack_slice_context(image[t], bundle.context) for t in range(n_frames)])  # (T*Z, ctx, Y, X)
    probabilities = slice_probabilities(bundle, torch.from_numpy(stacks), device, batch_size, progress).numpy()
    probabilities = probabilities.reshape(n_frames, n_slices, *probabilities.shape[1:])  # (T, Z, C, Y', X')
    # The argmax is taken on the study's own grid, after interpolating the probabilities.
    return preprocessor.inverse_argmax(probabilities, record, clean=keep_largest_components if postprocess else None)


def locate_heart(bundle: SliceModelBundle, study: CineStudy, device="cpu", passes: int = 2):
    """Centre of the heart ``(y, x)`` in the study's pixels, from the model's own segmentation.

    The image-based estimate (`heart_centre_yx`: what moves over the cycle) can be 30 mm
    off. So one frame (ED where known) is segmented in the model's usual window around
    that estimate, and the centroid of what the model calls heart becomes the new centre;
    a second pass repeats this around the new centre, so a heart cut by the first window
    is seen whole. The window is the one the model was trained on: a wider one shows it
    chest wall, liver and stomach it never learned to ignore, and its centroid can land
    there (two of 20 held-out ACDC patients with a 320 mm window). Returns None where
    the model finds nothing.
    """
    frame = study.ed_frame if study.ed_frame is not None else 0
    one_frame = study.frames([frame])
    centre = None  # first pass: the image-based estimate
    for _ in range(passes):
        labels = _segment_prepared(bundle, one_frame, bundle.preprocessor, device, 32, False, postprocess=True,
                                   centre_yx=centre)
        foreground = np.argwhere(labels[0] > 0)  # (n, 3) of (z, y, x)
        if len(foreground) == 0:
            return centre
        centre = tuple(foreground[:, 1:].mean(axis=0))
    return centre


def segment_study(bundle: SliceModelBundle, study: CineStudy, device="cpu", frames=None, batch_size: int = 32,
                  progress=False, postprocess: bool = True, locate: bool = True) -> np.ndarray:
    """Segment ``frames`` (default: all) of a study; returns ``(len(frames), Z, Y, X)`` uint8.

    ``progress``: False, True (tqdm) or a callable ``progress(done, total)`` (batches).

    The model never sees the study's labels: the crop is centred by `locate_heart`
    (``locate=True``) or by the image-based estimate of `heart_centre_yx`.
    """
    study = dataclasses.replace(study, labels={})
    centre = locate_heart(bundle, study, device) if locate else None
    frames = list(range(study.n_frames)) if frames is None else list(frames)
    selected = study.frames(frames) if frames != list(range(study.n_frames)) else study
    return _segment_prepared(bundle, selected, bundle.preprocessor, device, batch_size, progress, postprocess, centre)
