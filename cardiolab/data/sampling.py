"""How each training pipeline cuts samples from a study: its settings, apart from the pipelines.

Inference rebuilds a model's input with the settings it was trained with (the same
`Preprocessor`, the same LVQuan crop), so these dataclasses live outside `cardiolab.train`:
serving a model never imports the training code. `cardiolab.train.pipelines` and
`cardiolab.train.augment` re-export them, and hold the datasets and the random draws.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cardiolab.data.preprocess import Preprocessor


@dataclass
class AffineAugment:
    rotation_deg: float = 30.0       # uniform in [-r, r]
    zoom: tuple = (0.9, 1.1)         # uniform scale factor
    shear_deg: float = 20.0          # uniform in [-s, s], along x
    translation_px: float = 0.0      # uniform in [-t, t] per axis
    flip_probability: float = 0.0    # left-right flip (off by default: it swaps anatomy sides)


@dataclass
class IntensityAugment:
    gamma: tuple = (0.7, 1.5)        # image ** gamma on a [0, 1] image
    contrast: tuple = (0.9, 1.1)     # multiplicative
    noise_sd: float = 0.02           # additive Gaussian noise


def require_labels(studies: list, name: str) -> None:
    if not studies:
        raise ValueError(f"{name} needs at least one study")
    for index, study in enumerate(studies):
        if not study.labels:
            raise ValueError(f"study {index} has no labelled frame: {name} trains on labelled studies only")


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
    # Hypertrophied hearts at end-systole: a cavity squeezed to a sliver inside a thick wall is
    # rare in training data and the usual failure of 2D models (they draw a normal-sized cavity).
    # Slices whose LV cavity is under `small_cavity_ratio` x the myocardium's area appear
    # `small_cavity_repeats` times per epoch (1 = plain sampling).
    small_cavity_repeats: int = 1
    small_cavity_ratio: float = 0.25


@dataclass
class CropSamplingConfig:
    # [seed 000] Sec. 3.3: 96 x 96 x 64 voxels x 16 frames of CT at 1 mm, i.e. (16, 64, 96, 96) here.
    # Cine MRI has ~10 slices; the default keeps 8. Each axis must suit the model (unet4d small: multiples of 4).
    crop_size: tuple = (16, 8, 96, 96)        # (T, Z, Y, X) frames and voxels; Crop3dDataset: (Z, Y, X)
    foreground_probability: float = 0.6       # [seed 000] Sec. 3.3: centred on a foreground voxel with p = 0.6
    crops_per_study: int = 1                  # [seed 000] Sec. 3.3: "each training sequence is drawn once per epoch"
    circular_time: bool = True                # time windows wrap round the cycle (frame T-1 is followed by 0)
    deterministic: bool = False               # validation: one crop per labelled frame, centred on its foreground
    preprocessor: Preprocessor = field(default_factory=lambda: Preprocessor(
        target_spacing_yx_mm=(1.5, 1.5), crop_size_yx=None, normalisation="percentile", normalise_per="volume"))


@dataclass
class LVQuanSamplingConfig:
    kappa: int = 5                       # [seed 001] Sec. 2.1: frames per window (1, 3, 5, 7; best 5)
    image_size: int = 80                 # [seed 001] Sec. 2.2: 80 x 80 images
    field_of_view_factor: float = 2.0    # crop side = this x the largest LV (epicardial) extent of the slice
    slices: str = "mid"                  # "mid": the mid-ventricular slice; "all": every slice with LV cavity
    normalisation: str = "minmax"        # intensity scaling of each slice sequence (Preprocessor methods)
    rays_per_degree: int = 1             # rays of the wall-thickness measurement (cardiolab.targets)


@dataclass
class EventSamplingConfig:
    # [thesis] Sec. 7.3.1: 1 x 1 mm in-plane, 176 x 176, min-max per frame (before the median projection)
    preprocessor: Preprocessor = field(default_factory=lambda: Preprocessor(
        target_spacing_yx_mm=(1.0, 1.0), crop_size_yx=(176, 176), normalisation="minmax", normalise_per="frame"))
    augment: bool = True
    max_shift_fraction: float = 0.4     # [thesis] Sec. 7.3.3: circular delay of 0-40 % of T
    # [thesis] Sec. 7.3.3: rotation +-20 deg, shear +-10 deg, translation +-44 px (of 176); None = no affine
    affine: AffineAugment | None = field(default_factory=lambda: AffineAugment(
        rotation_deg=20, zoom=(1.0, 1.0), shear_deg=10, translation_px=44))


@dataclass
class VolumeSamplingConfig:
    # [thesis] Sec. 6.3.1: 2 x 2 mm in-plane, 88 x 88, min-max 0-1; z untouched
    preprocessor: Preprocessor = field(default_factory=lambda: Preprocessor(
        target_spacing_yx_mm=(2.0, 2.0), crop_size_yx=(88, 88), normalisation="minmax", normalise_per="volume"))
    augment: bool = True
    augment_probability: float = 0.5   # the thesis pairs each raw batch with an augmented one: half are augmented
    # [thesis] Sec. 6.3.3: rotation +-30 deg, shear +-20 deg, translation +-15 px (none changes the LV volume)
    affine: AffineAugment = field(default_factory=lambda: AffineAugment(
        rotation_deg=30, zoom=(1.0, 1.0), shear_deg=20, translation_px=15))
    noise_mean: float = 0.035          # [thesis] Sec. 6.3.3: additive Gaussian noise, mean 0.035 ...
    noise_sd: float = 0.01             # ... and SD 0.01
    pad_slices_to: int | None = None   # pad the stack with empty slices to this count, so studies share a batch


@dataclass
class SequenceSamplingConfig:
    # fcslstm needs Y and X divisible by 32 (five poolings)
    preprocessor: Preprocessor = field(default_factory=lambda: Preprocessor(
        target_spacing_yx_mm=(1.5, 1.5), crop_size_yx=(128, 128), normalisation="percentile", normalise_per="volume"))
    n_frames: int | None = None        # frames per sample (a circular window); None = the whole cycle
    augment: bool = False              # [seed 004] names no augmentation
    affine: AffineAugment = field(default_factory=lambda: AffineAugment(rotation_deg=15, zoom=(0.9, 1.1), shear_deg=5))
    skip_empty_slices: float = 0.8     # drop this share of slices without any label


@dataclass
class NeighbourSamplingConfig:
    radius: int = 1                    # r: 2r + 1 frames per sample; [seed 002] Sec. 3.1: r = 1
    # [seed 002] resizes frames to 256 x 256; deunet small needs multiples of 4
    preprocessor: Preprocessor = field(default_factory=lambda: Preprocessor(
        target_spacing_yx_mm=(1.5, 1.5), crop_size_yx=(128, 128), normalisation="percentile", normalise_per="volume"))
    augment: bool = True               # [seed 002] Sec. 3.1: "mirror, axial flip or rotation"
    affine: AffineAugment = field(default_factory=lambda: AffineAugment(
        rotation_deg=30, zoom=(1.0, 1.0), shear_deg=0, flip_probability=0.5))
    skip_empty_slices: float = 0.8     # drop this share of slices without any label
