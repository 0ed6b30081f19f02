"""Data augmentation named by the papers, as small torch functions on one sample.

* Random in-plane affine: rotation, zoom, shear, translation, applied identically to
  every channel / slice / frame of a sample and to its labels (thesis Ch. 5: rotation
  +-30 deg, zoom 0.9-1.1, shear +-20 deg; Ch. 6: translation +-15 px; Ch. 7: rotation
  +-20, shear +-10, translation +-44 px).
* Intensity: gamma, contrast and additive Gaussian noise (thesis Ch. 6: noise with mean
  0.035, SD 0.01), for robustness to scanners.
* Circular temporal shift (thesis Ch. 7): roll the frames and their targets together.

Images are bilinear-resampled, label maps nearest. All randomness comes from a
``torch.Generator`` passed in, so a seeded run is repeatable.
"""
from __future__ import annotations

import math
import torch
import torch.nn.functional as F

from cardiolab.data.sampling import AffineAugment, IntensityAugment  # noqa: F401  the settings; here the draws


def uniform(generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def affine_matrix(augment: AffineAugment, size_yx, generator) -> torch.Tensor:
    """A random 2x3 matrix for `F.affine_grid` (normalised coordinates, x first)."""
    angle = math.radians(uniform(generator, -augment.rotation_deg, augment.rotation_deg))
    scale = uniform(generator, *augment.zoom)
    shear = math.radians(uniform(generator, -augment.shear_deg, augment.shear_deg))
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    shearing = torch.tensor([[1.0, math.tan(shear)], [0.0, 1.0]])
    linear = rotation @ shearing / scale  # the grid samples the input: divide to zoom in
    if augment.flip_probability and torch.rand((), generator=generator).item() < augment.flip_probability:
        linear = linear @ torch.tensor([[-1.0, 0.0], [0.0, 1.0]])
    height, width = size_yx
    shift = torch.tensor([uniform(generator, -augment.translation_px, augment.translation_px) * 2 / width,
                          uniform(generator, -augment.translation_px, augment.translation_px) * 2 / height])
    return torch.cat([linear, shift[:, None]], dim=1)


def apply_affine(image: torch.Tensor, labels: torch.Tensor | None, matrix: torch.Tensor):
    """Warp ``image (C, Y, X)`` bilinearly and ``labels (..., Y, X)`` by nearest neighbour."""
    size = image.shape[-2:]
    grid = F.affine_grid(matrix[None], (1, 1, *size), align_corners=False)
    image_out = F.grid_sample(image[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    if labels is None:
        return image_out, None
    flat = labels.reshape(1, -1, *size).float()
    labels_out = F.grid_sample(flat, grid, mode="nearest", padding_mode="zeros", align_corners=False)[0]
    return image_out, labels_out.reshape(labels.shape).to(labels.dtype)


def random_affine(image, labels, augment: AffineAugment, generator):
    return apply_affine(image, labels, affine_matrix(augment, image.shape[-2:], generator))


def random_intensity(image: torch.Tensor, augment: IntensityAugment, generator) -> torch.Tensor:
    low, high = image.min(), image.max()
    unit = (image - low) / (high - low + 1e-8)
    unit = unit.clamp(0, 1) ** uniform(generator, *augment.gamma)
    unit = unit * uniform(generator, *augment.contrast)
    unit = unit + augment.noise_sd * torch.randn(image.shape, generator=generator)
    return unit * (high - low) + low


def circular_time_shift(sequence: torch.Tensor, targets: torch.Tensor, shift: int, time_axis: int = 1):
    """[thesis Ch. 7] Roll frames and their per-frame targets by the same ``shift``."""
    return torch.roll(sequence, shift, dims=time_axis), torch.roll(targets, shift, dims=-1)
