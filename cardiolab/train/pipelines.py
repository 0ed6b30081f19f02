"""Data pipelines: from labelled `CineStudy` objects to the tensors each model trains on.

Every pipeline takes studies from any labelled source (the phantom, a pseudo-cine,
ACDC, a user's folder), prepares them once with a `Preprocessor` (resample in-plane,
crop around the heart, normalise) and serves samples as dicts of tensors.

=====================  ===============================================  ======================
pipeline               one sample                                       used by
=====================  ===============================================  ======================
`SliceDataset`         ``image (C=context, 1, Y, X)``, ``labels (1, Y, X)``  2D / 2.5D segmenters
=====================  ===============================================  ======================

2.5D (thesis Ch. 5 uses 3-slice stacks): the ``context`` neighbouring slices of the
target slice are stacked as input channels (edges repeat the end slice), and the model
predicts the centre slice. ``context=1`` is plain 2D.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from cardiolab.data.preprocess import Preprocessor
from cardiolab.train.augment import AffineAugment, IntensityAugment, random_affine, random_intensity


def slice_context_indices(n_slices: int, context: int) -> np.ndarray:
    """For each slice z, the ``context`` slice indices centred on it, clamped at the ends: (Z, context)."""
    if context < 1 or context % 2 == 0:
        raise ValueError(f"context must be a positive odd number of slices, got {context}")
    half = context // 2
    offsets = np.arange(-half, half + 1)
    return np.clip(np.arange(n_slices)[:, None] + offsets[None, :], 0, n_slices - 1)


def stack_slice_context(volume: np.ndarray, context: int) -> np.ndarray:
    """``(Z, Y, X)`` -> ``(Z, context, Y, X)``: every slice with its neighbours as channels."""
    return volume[slice_context_indices(volume.shape[0], context)]


@dataclass
class SliceSamplingConfig:
    context: int = 3                      # slices stacked as channels (1 = 2D, 3 = 2.5D)
    preprocessor: Preprocessor = field(default_factory=lambda: Preprocessor(
        target_spacing_yx_mm=(1.5, 1.5), crop_size_yx=(128, 128), normalisation="percentile", normalise_per="volume"))
    augment: bool = True
    affine: AffineAugment = field(default_factory=lambda: AffineAugment(rotation_deg=30, zoom=(0.85, 1.15), shear_deg=10,
                                                                        translation_px=12))
    intensity: IntensityAugment = field(default_factory=IntensityAugment)
    skip_empty_slices: float = 0.8        # drop this share of slices without any label (less background)


class SliceDataset(Dataset):
    """Labelled slices of labelled frames, 2D or 2.5D, with the papers' augmentations.

    Each item: ``{"image": (context, 1, Y, X) float32, "labels": (1, Y, X) int64}`` in the
    model layout (B, C, Z, Y, X) once batched, with Z = 1.
    """

    def __init__(self, studies, config: SliceSamplingConfig | None = None, seed: int = 0):
        self.config = config or SliceSamplingConfig()
        self.images, self.labels, self.items = [], [], []
        rng = np.random.default_rng(seed)
        for study in studies:
            image, labels, _ = self.config.preprocessor(study)
            for frame, label_volume in labels.items():
                index = len(self.images)
                self.images.append(stack_slice_context(image[frame], self.config.context).astype(np.float32))
                self.labels.append(label_volume.astype(np.uint8))
                for z in range(label_volume.shape[0]):
                    if not label_volume[z].any() and rng.random() < self.config.skip_empty_slices:
                        continue
                    self.items.append((index, z))
        self.augment = self.config.augment
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item: int) -> dict:
        volume_index, z = self.items[item]
        image = torch.from_numpy(self.images[volume_index][z])           # (context, Y, X)
        labels = torch.from_numpy(self.labels[volume_index][z]).long()   # (Y, X)
        if self.augment:
            # Draw from torch's global RNG, which the engine seeds and checkpoints.
            seed = int(torch.randint(0, 2**31 - 1, ()).item())
            generator = torch.Generator().manual_seed(seed)
            image, labels = random_affine(image, labels, self.config.affine, generator)
            image = random_intensity(image, self.config.intensity, generator)
        return {"image": image[:, None].float(), "labels": labels[None]}
