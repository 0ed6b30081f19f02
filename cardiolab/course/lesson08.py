"""Checks of lesson 8, "Explanations": the scanning module's pi, the thesis' mask, Grad-CAM."""
from __future__ import annotations

import numpy as np

from cardiolab.course.core import Wrong, as_array, close, exercise, matches_one_of
from cardiolab.metrics.segmentation import largest_region

THESIS_MASK_THRESHOLD = 0.9  # [thesis] Ch. 6 evaluation: mask = map > 0.9, largest connected object


@exercise("8.1", "pi_hat", "the scanning module's estimate of pi")
def check_pi_hat(answer, scan):
    """``answer`` = pi_hat = 4 sum_s A_s / sum_s D_s^2 per volume, from a `ScanningModule` output ``scan``."""
    area = as_array(scan["slice_area_px"], "slice_area_px").astype(float)          # (B, Z)
    diameter = as_array(scan["slice_diameter_px"], "slice_diameter_px").astype(float)  # (B, Z)
    expected = as_array(scan["pi_hat"], "pi_hat").astype(float)                   # (B,): the module's own value
    value = as_array(answer, "your pi_hat").astype(float).reshape(-1)
    if value.shape != expected.shape:
        raise Wrong(f"one value per volume of the batch: shape {expected.shape}, got {value.shape}.")
    if close(value, expected, rtol=1e-4):
        return f"pi_hat = {np.round(value, 3).tolist()}: the loss pulls it towards 3.14159 (a round LV)."
    with np.errstate(divide="ignore", invalid="ignore"):
        per_slice = np.where(diameter > 0, 4 * area / diameter**2, np.nan)
    hint = matches_one_of(value, [
        (np.nanmean(per_slice, axis=1), "that is the mean of the per-slice ratios; the module divides the SUMS: "
                                        "4 sum(A) / sum(D^2), so small apical slices weigh less."),
        (4 * area.sum(1) / diameter.sum(1), "square each diameter before summing: a disk has A = pi D^2 / 4."),
        (area.sum(1) / (diameter**2).sum(1), "the factor 4 is missing: A = pi D^2 / 4 gives pi = 4 A / D^2."),
    ], rtol=1e-4)
    raise Wrong(hint or "pi_hat = 4 x sum over slices of A / sum over slices of D^2.")


def thesis_mask(lv_map: np.ndarray) -> np.ndarray:
    """[thesis] Ch. 6: voxels with map > 0.9, then the largest 3D connected object (face neighbours)."""
    return largest_region(np.asarray(lv_map) > THESIS_MASK_THRESHOLD)


@exercise("8.2", "map_to_mask", "from the model's map to the thesis' LV mask")
def check_map_to_mask(answer, lv_map):
    """``answer`` = a bool mask ``(Z, Y, X)``: map > 0.9, only the largest connected object kept."""
    lv_map = np.asarray(lv_map, dtype=float)
    expected = thesis_mask(lv_map)
    value = as_array(answer, "your mask")
    if value.shape != expected.shape:
        raise Wrong(f"shape {value.shape}: the mask has the map's shape {expected.shape}.")
    if value.dtype.kind == "f" and not np.isin(np.unique(value), (0.0, 1.0)).all():
        raise Wrong("a mask holds True/False (or 0/1) only: threshold the map.")
    value = value.astype(bool)
    if np.array_equal(value, expected):
        return f"{int(value.sum())} voxels in one connected object."
    hint = matches_one_of(value.astype(float), [
        ((lv_map > THESIS_MASK_THRESHOLD).astype(float), "keep only the LARGEST connected object "
                                                          "(scipy.ndimage.label, then the biggest label)."),
        (thesis_mask(np.where(lv_map > 0.5, 1.0, 0.0)).astype(float), "the thesis thresholds at 0.9, not 0.5."),
        ((lv_map > 0.5).astype(float), "threshold at 0.9 (not 0.5), then keep the largest connected object."),
    ])
    raise Wrong(hint or "map > 0.9, then scipy.ndimage.label and keep the biggest component.")


def grad_cam_from_parts(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) of (C, ...) activations and their gradients: (...) in [0, 1]."""
    spatial_axes = tuple(range(1, activations.ndim))
    weights = gradients.mean(axis=spatial_axes)  # alpha_c: global-average-pooled gradient of channel c
    cam = np.maximum(np.tensordot(weights, activations, axes=1), 0.0)  # ReLU(sum_c alpha_c A_c)
    peak = cam.max()
    return cam / peak if peak > 0 else cam


@exercise("8.3", "grad_cam", "Grad-CAM from activations and gradients")
def check_grad_cam(answer, activations, gradients):
    """``answer`` = the Grad-CAM map of ``activations`` and ``gradients`` (both (C, ...)), scaled to [0, 1]."""
    activations = as_array(activations, "activations").astype(float)
    gradients = as_array(gradients, "gradients").astype(float)
    expected = grad_cam_from_parts(activations, gradients)
    value = as_array(answer, "your map").astype(float)
    if value.shape != expected.shape:
        raise Wrong(f"shape {value.shape}: the map has the activations' spatial shape {expected.shape} "
                    f"(the sum runs over channels).")
    raw = np.maximum(np.tensordot(gradients.mean(axis=tuple(range(1, gradients.ndim))), activations, axes=1), 0.0)
    min_max = (raw - raw.min()) / (raw.max() - raw.min()) if raw.max() > raw.min() else raw
    if close(value, expected, rtol=1e-4, atol=1e-5) or close(value, min_max, rtol=1e-4, atol=1e-5):
        return f"{100 * (value > 0.5).mean():.1f} % of the map above 0.5: where the score is most sensitive."
    weights = gradients.mean(axis=tuple(range(1, gradients.ndim)))
    signed = np.tensordot(weights, activations, axes=1)
    elementwise = np.maximum((gradients * activations).sum(axis=0), 0)
    hint = matches_one_of(value, [
        (raw, "scale the map to [0, 1]: divide by its maximum."),
        (signed / np.abs(signed).max() if np.abs(signed).max() > 0 else None,
         "the ReLU is missing: Grad-CAM keeps only what INCREASES the score (np.maximum(cam, 0))."),
        (elementwise / elementwise.max() if elementwise.max() > 0 else None,
         "that multiplies gradients and activations pixel by pixel; Grad-CAM first AVERAGES each channel's "
         "gradient over the image into one weight per channel."),
    ], rtol=1e-4, atol=1e-5)
    raise Wrong(hint or "weights = mean gradient per channel; map = ReLU(sum_c weight_c x activation_c) / max.")
