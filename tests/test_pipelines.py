"""Training pipelines and augmentation."""
import numpy as np
import torch

from cardiolab.data.phantom import make_phantom
from cardiolab.data.preprocess import Preprocessor
from cardiolab.train.augment import AffineAugment, apply_affine, circular_time_shift, random_affine
from cardiolab.train.pipelines import SliceDataset, SliceSamplingConfig, has_small_cavity, stack_slice_context


def test_slice_context_repeats_the_end_slices():
    volume = np.arange(4)[:, None, None] * np.ones((4, 2, 2))
    stacked = stack_slice_context(volume, 3)
    assert stacked.shape == (4, 3, 2, 2)
    assert stacked[0, :, 0, 0].tolist() == [0, 0, 1] and stacked[3, :, 0, 0].tolist() == [2, 3, 3]


def test_identity_affine_changes_nothing_and_a_rotation_moves_labels_with_the_image():
    image = torch.zeros(3, 32, 32)
    image[:, 4:10, 20:26] = 1.0
    labels = (image[0] > 0.5).long()
    identity = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    same_image, same_labels = apply_affine(image, labels, identity)
    torch.testing.assert_close(same_image, image)
    assert torch.equal(same_labels, labels)
    generator = torch.Generator().manual_seed(0)
    moved_image, moved_labels = random_affine(image, labels, AffineAugment(rotation_deg=90, zoom=(1, 1), shear_deg=0), generator)
    assert moved_labels.dtype == labels.dtype and set(moved_labels.unique().tolist()) <= {0, 1}
    # The warped labels still sit on the warped bright square.
    assert moved_image[0][moved_labels == 1].mean() > 0.9


def test_circular_shift_moves_frames_and_targets_together():
    sequence = torch.arange(5.0)[None, :, None]
    targets = torch.arange(5)
    shifted_sequence, shifted_targets = circular_time_shift(sequence, targets, 2)
    assert shifted_sequence[0, :, 0].tolist() == shifted_targets.float().tolist()


def test_slice_dataset_serves_context_stacks_with_centre_labels():
    study = make_phantom(seed=1, n_frames=4, n_slices=5, size=(80, 80))
    config = SliceSamplingConfig(context=3, preprocessor=Preprocessor(target_spacing_yx_mm=(2.0, 2.0), crop_size_yx=(48, 48)),
                                 skip_empty_slices=0.0)
    dataset = SliceDataset([study], config, seed=0)
    assert len(dataset) == 4 * 5
    item = dataset[0]
    assert item["image"].shape == (3, 1, 48, 48) and item["labels"].shape == (1, 48, 48)
    assert item["labels"].dtype == torch.int64 and item["labels"].max() <= 3


def test_slices_with_a_small_cavity_in_a_thick_wall_are_repeated():
    thick_wall = np.zeros((20, 20), dtype=np.uint8)
    thick_wall[4:16, 4:16] = 2                             # myocardium, 144 px ...
    thick_wall[9:11, 9:11] = 1                             # ... around a 4 px cavity (end-systole, hypertrophy)
    normal = np.zeros((20, 20), dtype=np.uint8)
    normal[4:16, 4:16] = 2
    normal[6:14, 6:14] = 1                                 # 64 px cavity in an 80 px wall
    assert has_small_cavity(thick_wall, 0.25) and not has_small_cavity(normal, 0.25)
    assert not has_small_cavity(np.zeros((20, 20), np.uint8), 0.25)  # no myocardium: not a small cavity

    study = make_phantom(seed=1, n_frames=4, n_slices=5, size=(80, 80))
    preprocessor = Preprocessor(target_spacing_yx_mm=(2.0, 2.0), crop_size_yx=(48, 48))
    plain = SliceDataset([study], SliceSamplingConfig(preprocessor=preprocessor, skip_empty_slices=0.0), seed=0)
    repeated = SliceDataset([study], SliceSamplingConfig(preprocessor=preprocessor, skip_empty_slices=0.0,
                                                         small_cavity_repeats=3, small_cavity_ratio=0.5), seed=0)
    small = [item for item in plain.items if has_small_cavity(plain.labels[item[0]][item[1]], 0.5)]
    assert small, "the phantom should have slices with a small cavity at this ratio"
    assert len(repeated) == len(plain) + 2 * len(small)
    assert all(repeated.items.count(item) == 3 for item in small)
