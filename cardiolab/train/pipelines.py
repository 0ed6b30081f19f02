"""Data pipelines: from labelled `CineStudy` objects to the tensors each model trains on.

Every pipeline takes studies from any labelled source (the phantom, a pseudo-cine,
ACDC, a user's folder), prepares them once with a `Preprocessor` (resample in-plane,
crop around the heart, normalise) and serves samples as dicts of tensors.

=========================  ==========================================================  =================================
pipeline                   one sample                                                  used by (task)
=========================  ==========================================================  =================================
`SliceDataset`             ``image (C=context, 1, Y, X)``, ``labels (1, Y, X)``        2D / 2.5D segmenters
                                                                                       (`SegmentationTask`)
`Crop4dDataset`            ``image (1, T, Z, Y, X)``, ``labels (T, Z, Y, X)``,         unet4d, [seed 000]
                           ``labelled (T,)``                                           (`SparseSegmentation4dTask`)
`Crop3dDataset`            ``image (1, Z, Y, X)``, ``labels (Z, Y, X)``                unet3d_ccta, [seed 000] Sec. 4
                                                                                       (`SparseSegmentation4dTask`)
`LVQuanDataset`            ``image (1, kappa, 80, 80)``, ``indices (11,)``,            stcnn_lvquan, [seed 001]
                           ``phase ()``                                                (`LVQuanTask`)
`EventSequenceDataset`     ``image (1, T, Y, X)`` median projections,                 esed_detector, [thesis] Ch. 7
                           ``target (3, T)`` one-hot (ES, ED, other)                   (`EventDetectionTask`)
`VolumeDataset`            ``image (1, Z, Y, X)`` ED stack, ``spacing_mm (3,)``,       lv_volume_weak, [thesis] Ch. 6
                           ``lv_edv_ml ()``                                            (`WeakVolumeTask`)
`SequenceSliceDataset`     ``image (1, T, Y, X)``, ``labels (T, Y, X)``,               fcslstm, [seed 004]
                           ``labelled (T,)``                                           (`SequenceSegmentationTask`)
`FrameNeighboursDataset`   ``image (1, 2r+1, Y, X)``, ``labels (Y, X)``                deunet, [seed 002]
                                                                                       (`SegmentationTask`)
=========================  ==========================================================  =================================

2.5D (thesis Ch. 5 uses 3-slice stacks): the ``context`` neighbouring slices of the
target slice are stacked as input channels (edges repeat the end slice), and the model
predicts the centre slice. ``context=1`` is plain 2D.

Targets that are not label maps (LVQuan indices, phases, events, volumes) are measured
from the labels by `cardiolab.targets`. Randomness: each sample draws its own
``torch.Generator`` seed from torch's global RNG, which the engine seeds and stores in
every checkpoint, so a resumed run serves exactly the samples of an uninterrupted one.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from cardiolab import LV_CAVITY, LV_MYOCARDIUM
from cardiolab import targets
# Re-exported from here too: the sampling settings, the LVQuan dataset and the neighbourhood
# helpers moved out of cardiolab.train so that inference can use them without it.
from cardiolab.data.lvquan import LVQuanDataset  # noqa: F401
from cardiolab.data.preprocess import (Preprocessor, circular_window, median_projection,  # noqa: F401
                                       normalize_intensity, slice_context_indices, stack_slice_context,
                                       temporal_windows)
from cardiolab.data.sampling import (CropSamplingConfig, EventSamplingConfig, LVQuanSamplingConfig,  # noqa: F401
                                     NeighbourSamplingConfig, SequenceSamplingConfig, SliceSamplingConfig,
                                     VolumeSamplingConfig, require_labels)
from cardiolab.train.augment import (AffineAugment, IntensityAugment, circular_time_shift,  # noqa: F401
                                     random_affine, random_intensity)


def sample_generator() -> torch.Generator:
    """A fresh generator seeded from torch's global RNG, which the engine seeds and checkpoints.

    Every random choice of a sample comes from it, so a resumed run draws the same samples.
    """
    return torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, ()).item()))



def has_small_cavity(label_slice: np.ndarray, ratio: float) -> bool:
    """True where a slice shows LV myocardium around a cavity smaller than ``ratio`` x its area."""
    myocardium_px = int((label_slice == LV_MYOCARDIUM).sum())
    cavity_px = int((label_slice == LV_CAVITY).sum())
    return myocardium_px > 0 and cavity_px < ratio * myocardium_px


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
                    repeats = (self.config.small_cavity_repeats
                               if self.config.small_cavity_repeats > 1
                               and has_small_cavity(label_volume[z], self.config.small_cavity_ratio) else 1)
                    self.items.extend([(index, z)] * repeats)
        self.augment = self.config.augment

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item: int) -> dict:
        volume_index, z = self.items[item]
        image = torch.from_numpy(self.images[volume_index][z])           # (context, Y, X)
        labels = torch.from_numpy(self.labels[volume_index][z]).long()   # (Y, X)
        if self.augment:
            generator = sample_generator()
            image, labels = random_affine(image, labels, self.config.affine, generator)
            image = random_intensity(image, self.config.intensity, generator)
        return {"image": image[:, None].float(), "labels": labels[None]}


# =========================================================================================
# Temporal and non-segmentation pipelines
# =========================================================================================
def random_int(generator: torch.Generator, high: int) -> int:
    """Uniform integer in 0 .. high - 1."""
    return int(torch.randint(0, high, (), generator=generator).item())


def dense_labels(labels: dict, shape_tzyx) -> tuple[np.ndarray, np.ndarray]:
    """Sparse ``{frame: (Z, Y, X)}`` labels -> ``(T, Z, Y, X)`` uint8 (0 on unlabelled frames), ``(T,)`` bool."""
    dense = np.zeros(shape_tzyx, dtype=np.uint8)
    labelled = np.zeros(shape_tzyx[0], dtype=bool)
    for frame, label_volume in labels.items():
        dense[frame], labelled[frame] = label_volume, True
    return dense, labelled


# --- 1. 4D crops for unet4d, 3D crops for unet3d_ccta ([seed 000]) --------------------------

class Crop4dDataset(Dataset):
    """Random 4D crops of sparsely labelled sequences, [seed 000] Sec. 3.3.

    Each item::

        image                  (1, T', Z', Y', X') float32   (model layout once batched)
        labels                 (T', Z', Y', X') int64        0 on unlabelled frames (never read by the loss)
        labelled               (T',) bool                    which frames of the crop carry labels
        crop_start             (4,) int64                    (t, z, y, x) of the crop's first voxel in the
                                                             prepared study (spatial values may be < 0: padding)
        centred_on_foreground  () bool                       the crop centre was drawn on a foreground voxel

    A crop is centred, with probability ``foreground_probability``, on a random
    foreground voxel (label > 0) of a labelled frame, otherwise on a random background
    voxel of a labelled frame ([seed 000]: "otherwise centered on a background voxel"),
    so every crop holds at least one labelled frame. Choices where the paper is silent:
    the crop is shifted to lie inside the volume where the volume is large enough
    (the drawn voxel stays inside it, not always at its centre); axes shorter than the
    crop are padded (image with its minimum, labels with background); the time window
    is centred on the drawn voxel's frame and wraps round the cycle (a window longer
    than the cycle repeats it, as the heart does).
    """

    def __init__(self, studies, config: CropSamplingConfig | None = None, seed: int = 0):
        self.config = config or CropSamplingConfig()
        studies = list(studies)
        require_labels(studies, type(self).__name__)
        crop_size = tuple(int(n) for n in self.config.crop_size)
        if len(crop_size) != 4 or min(crop_size) < 1:
            raise ValueError(f"crop_size must be four positive sizes (T, Z, Y, X), got {self.config.crop_size}")
        if not 0.0 <= self.config.foreground_probability <= 1.0:
            raise ValueError(f"foreground_probability must lie in [0, 1], got {self.config.foreground_probability}")
        self.crop_size = crop_size
        rng = np.random.default_rng(seed)
        self.images, self.labels, self.labelled, self.pads, self.foreground = [], [], [], [], []
        for index, study in enumerate(studies):
            image, labels, _ = self.config.preprocessor(study)
            if not self.config.circular_time and image.shape[0] < crop_size[0]:
                raise ValueError(f"study {index} has {image.shape[0]} frames, fewer than crop_size T = {crop_size[0]}; "
                                 f"set circular_time=True or a shorter crop")
            dense, labelled = dense_labels(labels, image.shape)
            # Pad every spatial axis to at least the crop size, once, so crops are plain slices.
            missing = [max(c - n, 0) for n, c in zip(image.shape[1:], crop_size[1:])]
            pads = [(0, 0)] + [(m // 2, m - m // 2) for m in missing]  # time is never padded
            self.images.append(np.pad(image, pads, constant_values=float(image.min())))
            self.labels.append(np.pad(dense, pads, constant_values=0))
            self.labelled.append(labelled)
            self.pads.append(np.array([p[0] for p in pads]))
            foreground = np.argwhere(self.labels[-1] * labelled[:, None, None, None] > 0)  # (N, 4): t, z, y, x
            if len(foreground) > 200_000:  # a fair subsample is enough to draw centres from
                foreground = foreground[np.sort(rng.choice(len(foreground), 200_000, replace=False))]
            self.foreground.append(foreground)
        if self.config.deterministic:
            self.items = [(s, int(t)) for s, labelled in enumerate(self.labelled) for t in np.nonzero(labelled)[0]]
        else:
            self.items = [(s, None) for s in range(len(studies)) for _ in range(self.config.crops_per_study)]

    def __len__(self) -> int:
        return len(self.items)

    def _random_centre(self, study: int, generator) -> tuple[np.ndarray, bool]:
        """A (t, z, y, x) voxel of a labelled frame: foreground with the configured probability."""
        foreground = self.foreground[study]
        wants_foreground = torch.rand((), generator=generator).item() < self.config.foreground_probability
        if wants_foreground and len(foreground):
            return foreground[random_int(generator, len(foreground))], True
        labels, frames = self.labels[study], np.nonzero(self.labelled[study])[0]
        for _ in range(100):  # background is most of a volume: a few draws find it
            frame = frames[random_int(generator, len(frames))]
            voxel = np.array([frame] + [random_int(generator, n) for n in labels.shape[1:]])  # (t, z, y, x)
            if labels[tuple(voxel)] == 0:
                return voxel, False
        return voxel, False

    def _centroid_centre(self, study: int, frame: int) -> tuple[np.ndarray, bool]:
        """Validation: the foreground centroid of one labelled frame (the volume centre if it has none)."""
        points = self.foreground[study][self.foreground[study][:, 0] == frame]
        spatial = points[:, 1:].mean(axis=0) if len(points) else (np.array(self.labels[study].shape[1:]) - 1) / 2
        return np.array([frame, *np.round(spatial).astype(int)]), len(points) > 0

    def _crop(self, study: int, centre: np.ndarray):
        image, labels, labelled = self.images[study], self.labels[study], self.labelled[study]
        n_frames = image.shape[0]
        size_t = self.crop_size[0]
        start_t = int(centre[0]) - size_t // 2
        if not self.config.circular_time:
            start_t = min(max(start_t, 0), n_frames - size_t)
        frames = circular_window(n_frames, start_t, size_t)  # (T',)
        starts = [min(max(int(c) - n // 2, 0), full - n)  # keep the crop inside the (padded) volume
                  for c, n, full in zip(centre[1:], self.crop_size[1:], image.shape[1:])]
        box = tuple(slice(s, s + n) for s, n in zip(starts, self.crop_size[1:]))
        crop_image = image[(frames, *box)]                                    # (T', Z', Y', X')
        crop_labels = labels[(frames, *box)]
        start = np.array([start_t % n_frames, *starts]) - self.pads[study]  # in the unpadded prepared study
        return crop_image, crop_labels, labelled[frames], start

    def __getitem__(self, item: int) -> dict:
        study, frame = self.items[item]
        if frame is None:
            centre, on_foreground = self._random_centre(study, sample_generator())
        else:
            centre, on_foreground = self._centroid_centre(study, frame)
        image, labels, labelled, start = self._crop(study, centre)
        return {"image": torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None],
                "labels": torch.from_numpy(np.ascontiguousarray(labels)).long(),
                "labelled": torch.from_numpy(labelled.copy()),
                "crop_start": torch.from_numpy(start.astype(np.int64)),
                "centred_on_foreground": torch.tensor(bool(on_foreground))}


class Crop3dDataset(Crop4dDataset):
    """3D crops of labelled frames for the 3D baseline ``unet3d_ccta`` ([seed 000] Sec. 4).

    "For the 3D network, we use a crop of size 96x96x64 and train it only on labeled 3D
    frames": the crops of `Crop4dDataset` with one frame, always a labelled one. Give
    ``crop_size`` as (Z, Y, X). Each item: ``image (1, Z', Y', X')``, ``labels (Z', Y', X')``
    int64, ``labelled (1,)`` (always True), ``crop_start (4,)``, ``centred_on_foreground``.
    """

    def __init__(self, studies, config: CropSamplingConfig | None = None, seed: int = 0):
        config = config or CropSamplingConfig(crop_size=(8, 96, 96))
        if len(config.crop_size) != 3:
            raise ValueError(f"crop_size must be (Z, Y, X) for 3D crops, got {config.crop_size}")
        super().__init__(studies, replace(config, crop_size=(1, *config.crop_size)), seed)

    def __getitem__(self, item: int) -> dict:
        sample = super().__getitem__(item)
        sample["image"] = sample["image"][:, 0]    # (1, Z', Y', X')
        sample["labels"] = sample["labels"][0]     # (Z', Y', X')
        return sample


# --- 2. LV quantification windows for stcnn_lvquan ([seed 001]): in `cardiolab.data.lvquan` --

# --- 3. ES/ED event sequences for esed_detector ([thesis] Ch. 7) ------------------------------

class EventSequenceDataset(Dataset):
    """Whole cycles reduced to one image per frame, with one-hot ES/ED targets, [thesis] Ch. 7.

    Each item::

        image     (1, T, Y, X) float32   median projections of the per-frame normalised stack
        target    (3, T) float32         one-hot over (ES, ED, other): exactly one ES and one ED
        es_frame  () int64, ed_frame () int64   (after the shift)
        shift     () int64               the circular shift applied (0 without augmentation)

    Augmentation ([thesis] Sec. 7.3.3), drawn per sample: one in-plane affine for every
    frame, then a circular shift of 0 .. floor(max_shift_fraction x T) frames, frames and
    targets rolled together. The thesis built 7 augmented copies per case offline; drawing
    a fresh augmentation per sample is the online equivalent. Sequences of different
    length cannot share a batch (the thesis grouped cases by T): use ``batch_size=1`` or
    studies of one length.
    """

    def __init__(self, studies, config: EventSamplingConfig | None = None):
        self.config = config or EventSamplingConfig()
        if not 0.0 <= self.config.max_shift_fraction < 1.0:
            raise ValueError(f"max_shift_fraction must lie in [0, 1), got {self.config.max_shift_fraction}")
        self.sequences, self.events = [], []
        for index, study in enumerate(studies):
            try:
                ed, es = targets.ed_es_frames(study)
            except ValueError as error:
                raise ValueError(f"study {index}: {error}") from None
            image, _, _ = self.config.preprocessor(study)
            self.sequences.append(median_projection(image))  # (T, Y, X)
            self.events.append(targets.event_targets(study.n_frames, ed, es))  # (3, T)
        if not self.sequences:
            raise ValueError("EventSequenceDataset needs at least one study")

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, item: int) -> dict:
        image = torch.from_numpy(self.sequences[item])  # (T, Y, X)
        target = torch.from_numpy(self.events[item])  # (3, T)
        shift = 0
        if self.config.augment:
            generator = sample_generator()
            if self.config.affine is not None:
                image, _ = random_affine(image, None, self.config.affine, generator)  # the frames are channels
            shift = random_int(generator, int(self.config.max_shift_fraction * image.shape[0]) + 1)
            image, target = circular_time_shift(image, target, shift, time_axis=0)
        classes = target.argmax(dim=0)
        return {"image": image[None].float(), "target": target,
                "es_frame": (classes == 0).nonzero()[0, 0], "ed_frame": (classes == 1).nonzero()[0, 0],
                "shift": torch.tensor(shift)}


# --- 4. ED volumes for lv_volume_weak ([thesis] Ch. 6) ------------------------------------------

class VolumeDataset(Dataset):
    """The ED stack and its LV volume, the only target of the weakly supervised model, [thesis] Ch. 6.

    Each item::

        image       (1, Z, Y, X) float32   the prepared ED frame
        spacing_mm  (3,) float32           (z, y, x) of the prepared grid, for the scanning module
        lv_edv_ml   () float32             LV cavity volume at ED, counted on the study's own labels

    The volume is counted on the original label grid (before resampling), so it is the
    study's volume, not the resampled one. ED is the study's ED frame, or the labelled
    frame with the largest LV. The thesis batches studies of equal slice count; set
    ``pad_slices_to`` (empty slices are appended after the last one) or ``batch_size=1``
    for mixed stacks.
    """

    def __init__(self, studies, config: VolumeSamplingConfig | None = None):
        self.config = config or VolumeSamplingConfig()
        self.images, self.spacings, self.volumes_ml = [], [], []
        for index, study in enumerate(studies):
            ed = study.ed_frame if study.ed_frame is not None else targets.ed_es_frames(study)[0]
            if ed not in study.labels:
                raise ValueError(f"study {index}: its ED frame {ed} has no labels to count the LV volume on")
            image, _, record = self.config.preprocessor(study.frames([ed]))
            volume = image[0]  # (Z, Y, X)
            padding = self.config.pad_slices_to
            if padding is not None:
                if padding < volume.shape[0]:
                    raise ValueError(f"study {index} has {volume.shape[0]} slices, more than pad_slices_to={padding}")
                volume = np.pad(volume, ((0, padding - volume.shape[0]), (0, 0), (0, 0)))
            self.images.append(volume.astype(np.float32))
            self.spacings.append(np.asarray(record.spacing_mm, dtype=np.float32))
            self.volumes_ml.append(targets.lv_cavity_volume_ml(study.labels[ed], study.spacing))
        if not self.images:
            raise ValueError("VolumeDataset needs at least one study")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: int) -> dict:
        image = torch.from_numpy(self.images[item])  # (Z, Y, X)
        if self.config.augment:
            generator = sample_generator()
            if torch.rand((), generator=generator).item() < self.config.augment_probability:
                image, _ = random_affine(image, None, self.config.affine, generator)  # one warp for every slice
                noise = self.config.noise_mean + self.config.noise_sd * torch.randn(image.shape, generator=generator)
                image = image + noise
        return {"image": image[None].float(), "spacing_mm": torch.from_numpy(self.spacings[item]),
                "lv_edv_ml": torch.tensor(self.volumes_ml[item], dtype=torch.float32)}


# --- 5a. One slice over time for fcslstm ([seed 004]) -----------------------------------------

class SequenceSliceDataset(Dataset):
    """One short-axis slice over the cycle, labels on its labelled frames, for [seed 004]'s FCSLSTM.

    Each item::

        image     (1, T', Y, X) float32   T' = n_frames (or the whole cycle)
        labels    (T', Y, X) int64        0 on unlabelled frames (not read by the loss)
        labelled  (T',) bool

    With ``n_frames`` set, the window wraps round the cycle and always holds a labelled
    frame: with augmentation, a random labelled frame at a random place in the window;
    without, the first labelled frame in the middle. The same affine warps every frame.
    """

    def __init__(self, studies, config: SequenceSamplingConfig | None = None, seed: int = 0):
        self.config = config or SequenceSamplingConfig()
        studies = list(studies)
        require_labels(studies, type(self).__name__)
        rng = np.random.default_rng(seed)
        self.images, self.labels, self.labelled, self.items = [], [], [], []
        for study in studies:
            image, labels, _ = self.config.preprocessor(study)
            dense, labelled = dense_labels(labels, image.shape)
            index = len(self.images)
            self.images.append(image.astype(np.float32))
            self.labels.append(dense)
            self.labelled.append(labelled)
            for z in range(image.shape[1]):
                if not dense[:, z].any() and rng.random() < self.config.skip_empty_slices:
                    continue
                self.items.append((index, z))

    def __len__(self) -> int:
        return len(self.items)

    def class_counts(self, n_classes: int = 4) -> np.ndarray:
        """Pixel count of each class over the labelled frames of every served slice ([seed 004] weights)."""
        counts = np.zeros(n_classes, dtype=np.int64)
        for index, z in self.items:
            frames = self.labels[index][self.labelled[index], z]
            counts += np.bincount(frames.ravel(), minlength=n_classes)[:n_classes]
        return counts

    def _frames(self, index: int, generator) -> np.ndarray:
        n_frames, length = self.images[index].shape[0], self.config.n_frames
        if length is None:
            return np.arange(n_frames)
        labelled_frames = np.nonzero(self.labelled[index])[0]
        if generator is None:
            return circular_window(n_frames, int(labelled_frames[0]) - length // 2, length)
        anchor = labelled_frames[random_int(generator, len(labelled_frames))]
        return circular_window(n_frames, int(anchor) - random_int(generator, length), length)

    def __getitem__(self, item: int) -> dict:
        index, z = self.items[item]
        generator = sample_generator() if self.config.augment else None
        frames = self._frames(index, generator)
        image = torch.from_numpy(self.images[index][frames, z])       # (T', Y, X)
        labels = torch.from_numpy(self.labels[index][frames, z]).long()  # (T', Y, X)
        if generator is not None:
            image, labels = random_affine(image, labels, self.config.affine, generator)
        return {"image": image[None].float(), "labels": labels,
                "labelled": torch.from_numpy(self.labelled[index][frames].copy())}


# --- 5b. A labelled frame and its neighbours for deunet ([seed 002]) --------------------------

class FrameNeighboursDataset(Dataset):
    """A labelled frame of one slice with its r neighbours on each side, [seed 002] DeU-Net.

    Each item::

        image   (1, 2r+1, Y, X) float32   frames t-r .. t+r of slice z (circular: the cine is one beat)
        labels  (Y, X) int64              labels of the centre frame t

    The layout is deunet's input and its (B, 4, Y, X) output matches ``labels`` once
    batched, so `cardiolab.train.tasks.SegmentationTask` trains it as it is.
    """

    def __init__(self, studies, config: NeighbourSamplingConfig | None = None, seed: int = 0):
        self.config = config or NeighbourSamplingConfig()
        if self.config.radius < 0:
            raise ValueError(f"radius must be >= 0, got {self.config.radius}")
        studies = list(studies)
        require_labels(studies, type(self).__name__)
        rng = np.random.default_rng(seed)
        self.images, self.labels, self.items = [], [], []
        for study in studies:
            image, labels, _ = self.config.preprocessor(study)
            index = len(self.images)
            self.images.append(image.astype(np.float32))
            self.labels.append({t: volume.astype(np.uint8) for t, volume in labels.items()})
            for frame, volume in sorted(labels.items()):
                for z in range(volume.shape[0]):
                    if not volume[z].any() and rng.random() < self.config.skip_empty_slices:
                        continue
                    self.items.append((index, frame, z))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item: int) -> dict:
        index, frame, z = self.items[item]
        radius = self.config.radius
        frames = circular_window(self.images[index].shape[0], frame - radius, 2 * radius + 1)
        image = torch.from_numpy(self.images[index][frames, z])          # (2r+1, Y, X)
        labels = torch.from_numpy(self.labels[index][frame][z]).long()   # (Y, X)
        if self.config.augment:
            image, labels = random_affine(image, labels, self.config.affine, sample_generator())
        return {"image": image[None].float(), "labels": labels}
