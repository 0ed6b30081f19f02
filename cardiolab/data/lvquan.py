"""The LVQuan sample of a slice: an LV crop over the cycle, with its indices, [seed 001].

Used for training (`cardiolab.train.pipelines` re-exports `LVQuanDataset`) and by
inference, which places the crop of a new study exactly as training did; so it lives
outside `cardiolab.train`.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from cardiolab import LV_CAVITY, LV_MYOCARDIUM, targets
from cardiolab.data.preprocess import normalize_intensity, temporal_windows
from cardiolab.data.sampling import LVQuanSamplingConfig, require_labels


class LVQuanDataset(Dataset):
    """kappa-frame windows of one short-axis slice with the 11 LVQuan indices and the phase, [seed 001].

    The LVQuan 2018 images ([seed 001] Sec. 2.2) are "roughly aligned" 80 x 80 crops
    around the LV whose indices are "normalized by the dimension of the image" (lengths)
    and "by the pixel number (6400)" (areas). Here, per slice: the crop is a square
    centred on the bounding box of the LV (cavity + myocardium) over all labelled frames,
    ``field_of_view_factor`` times its larger side (so the LV spans about half the image
    with the default 2.0, and the scale differs between studies, as in LVQuan), resampled
    bilinearly to ``image_size`` pixels, min-max normalised over the sequence. Indices are
    measured on the study's own label grid (`cardiolab.targets.lvquan_indices`),
    then normalised: lengths / crop side, areas / crop side^2 (= pixels / 80, pixels / 6400).

    Each item (one labelled centre frame; the window wraps round the cycle, Sec. 2.1)::

        image        (1, kappa, S, S) float32
        indices      (11,) float32    normalised, the regression target
        indices_mm   (11,) float32    mm^2 (areas) and mm (the rest)
        phase        () int64         1 systole, 0 diastole (`targets.cardiac_phase`)
        side_mm      () float32       side of the crop in mm (pixel size = side_mm / S)

    No augmentation: the paper names none, and a rotation or zoom would change the targets.
    """

    def __init__(self, studies, config: LVQuanSamplingConfig | None = None):
        self.config = config or LVQuanSamplingConfig()
        if self.config.slices not in ("mid", "all"):
            raise ValueError(f"slices must be 'mid' or 'all', got {self.config.slices!r}")
        if self.config.field_of_view_factor <= 1.0:
            raise ValueError(f"field_of_view_factor must be > 1 (the crop must hold the LV), "
                             f"got {self.config.field_of_view_factor}")
        studies = list(studies)
        require_labels(studies, type(self).__name__)
        self.sequences, self.items = [], []
        for index, study in enumerate(studies):
            ed, es = targets.ed_es_frames(study)
            phase = targets.cardiac_phase(study.n_frames, ed, es)
            windows = temporal_windows(np.arange(study.n_frames), self.config.kappa)  # (T, kappa), circular
            reference = ed if ed in study.labels else study.labelled_frames[0]
            spacing_yx = study.spacing[1:]
            items_before = len(self.items)
            for z in self._chosen_slices(study, reference):
                frames = [t for t in study.labelled_frames if (study.labels[t][z] == LV_CAVITY).any()]
                orientation = targets.slice_orientation(study.labels[reference][z], spacing_yx)  # one per slice
                crop, side_mm = self._crop_slice(study, z, frames)
                sequence = len(self.sequences)
                self.sequences.append({"image": normalize_intensity(crop, self.config.normalisation),
                                       "side_mm": side_mm, "windows": windows, "phase": phase})
                for t in frames:
                    indices_mm = targets.lvquan_indices(study.labels[t][z], spacing_yx, orientation,
                                                        self.config.rays_per_degree)
                    self.items.append((sequence, t, indices_mm))
            if len(self.items) == items_before:
                raise ValueError(f"study {index} has no LV cavity on its frame {reference}: nothing to quantify")

    def _chosen_slices(self, study, reference: int) -> list[int]:
        with_cavity = [z for z in range(study.n_slices) if (study.labels[reference][z] == LV_CAVITY).any()]
        if self.config.slices == "all" or not with_cavity:
            return with_cavity
        return [with_cavity[len(with_cavity) // 2]]  # the mid-ventricular slice of the LV's extent

    def _crop_slice(self, study, z: int, frames: list[int]) -> tuple[np.ndarray, float]:
        """The (T, S, S) square around the slice's LV over the cycle, and its side in mm."""
        ventricle = np.any([np.isin(study.labels[t][z], (LV_CAVITY, LV_MYOCARDIUM)) for t in frames], axis=0)  # (Y, X)
        rows, cols = np.nonzero(ventricle)
        spacing_y, spacing_x = study.spacing[1:]
        centre = ((rows.min() + rows.max()) / 2.0, (cols.min() + cols.max()) / 2.0)  # pixel-centre coordinates
        extent_mm = max((rows.max() - rows.min() + 1) * spacing_y, (cols.max() - cols.min() + 1) * spacing_x)
        side_mm = self.config.field_of_view_factor * extent_mm
        size = self.config.image_size
        offsets_mm = (np.arange(size) + 0.5 - size / 2.0) * (side_mm / size)  # target pixel centres from the centre
        grid_rows, grid_cols = np.meshgrid(centre[0] + offsets_mm / spacing_y, centre[1] + offsets_mm / spacing_x,
                                           indexing="ij")  # (S, S) source coordinates of every target pixel
        crop = np.stack([ndimage.map_coordinates(frame[z], [grid_rows, grid_cols], order=1, mode="nearest")
                         for frame in study.image]).astype(np.float32)  # (T, S, S)
        return crop, float(side_mm)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item: int) -> dict:
        sequence_index, frame, indices_mm = self.items[item]
        sequence = self.sequences[sequence_index]
        side_mm = sequence["side_mm"]
        scale = np.array([side_mm**2] * 2 + [side_mm] * 9)  # areas / side^2, lengths / side
        window = sequence["image"][sequence["windows"][frame]]  # (kappa, S, S), centre frame in the middle
        return {"image": torch.from_numpy(window)[None],
                "indices": torch.from_numpy((indices_mm / scale).astype(np.float32)),
                "indices_mm": torch.from_numpy(indices_mm.astype(np.float32)),
                "phase": torch.tensor(int(sequence["phase"][frame])),
                "side_mm": torch.tensor(side_mm, dtype=torch.float32)}
