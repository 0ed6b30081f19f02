"""Temporal and non-segmentation pipelines, their targets, and event post-processing."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from cardiolab.data.phantom import make_phantom
from cardiolab.data.preprocess import Preprocessor
from cardiolab.events import detect_events
from cardiolab.train import targets
from cardiolab.train.augment import AffineAugment
from cardiolab.train.pipelines import (Crop3dDataset, Crop4dDataset, CropSamplingConfig, EventSamplingConfig,
                                       EventSequenceDataset, FrameNeighboursDataset, LVQuanDataset, LVQuanSamplingConfig,
                                       NeighbourSamplingConfig, SequenceSamplingConfig, SequenceSliceDataset,
                                       VolumeDataset, VolumeSamplingConfig)

WHOLE_PLANE = Preprocessor(target_spacing_yx_mm=None, crop_size_yx=None, normalisation="percentile")
SMALL_CROP = Preprocessor(target_spacing_yx_mm=None, crop_size_yx=(32, 32), normalisation="percentile")


@pytest.fixture(scope="module")
def phantoms():
    return [make_phantom(seed, n_frames=8, n_slices=4, size=(64, 64)) for seed in range(2)]


@pytest.fixture(scope="module")
def sparse_phantom(phantoms):
    """Labels at ED and ES only, as ACDC."""
    study = phantoms[0]
    return replace(study, labels={t: study.labels[t] for t in (study.ed_frame, study.es_frame)})


# --- targets against analytic shapes ----------------------------------------------------------
def shapes_on_grid(pixel_mm, cavity_semi_axes_mm, epicardium_radius_mm, epicardium_offset_mm, cavity_tilt_deg=0.0,
                   size=320):
    """Labels of an elliptic cavity inside a circular epicardium, RV on the image left.

    The cavity's semi-axes lie along x and up, turned counter-clockwise by cavity_tilt_deg.
    Coordinates in mm: x to the image right, "up" to the image top; the cavity centre sits
    off the pixel grid so no symmetry of the grid helps.
    """
    rows, cols = np.mgrid[:size, :size]
    centre_row, centre_col = size / 2 + 0.37, size / 2 - 0.21
    x, up = (cols - centre_col) * pixel_mm, -(rows - centre_row) * pixel_mm
    semi_x, semi_up = cavity_semi_axes_mm
    tilt = np.radians(cavity_tilt_deg)
    along, across = x * np.cos(tilt) + up * np.sin(tilt), -x * np.sin(tilt) + up * np.cos(tilt)
    epi_x, epi_up = epicardium_offset_mm
    labels = np.zeros((size, size), np.uint8)
    epicardium = np.hypot(x - epi_x, up - epi_up) < epicardium_radius_mm
    labels[epicardium] = 2
    labels[(along / semi_x) ** 2 + (across / semi_up) ** 2 < 1] = 1
    angle = np.degrees(np.arctan2(up - epi_up, x - epi_x)) % 360
    radius = np.hypot(x - epi_x, up - epi_up)
    labels[~epicardium & (radius < epicardium_radius_mm + 8) & (angle > 120) & (angle < 240)] = 3  # RV crescent
    return labels


def test_ring_indices_match_the_analytic_areas_dimensions_and_thicknesses():
    r, big_r, pixel = 10.0, 16.0, 0.2
    labels = shapes_on_grid(pixel, (r, r), big_r, (0.0, 0.0))
    indices = targets.lvquan_indices(labels, (pixel, pixel))
    np.testing.assert_allclose(indices[0], np.pi * r**2, rtol=0.01)                  # cavity area
    np.testing.assert_allclose(indices[1], np.pi * (big_r**2 - r**2), rtol=0.01)     # myocardium area
    np.testing.assert_allclose(indices[2:5], 2 * r, atol=0.2)                        # three diameters
    np.testing.assert_allclose(indices[5:], big_r - r, atol=0.15)                    # six wall thicknesses


def chord_from_centre(angle_deg, offset, radius):
    """Distance from the origin to a circle of ``radius`` centred at ``offset``, along the ray at angle_deg."""
    direction = np.stack([np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))], axis=-1)
    along = direction @ np.asarray(offset)
    return along + np.sqrt(along**2 - np.dot(offset, offset) + radius**2)


def ellipse_radius(angle_deg, semi_x, semi_up):
    theta = np.radians(angle_deg)
    return 1.0 / np.sqrt((np.cos(theta) / semi_x) ** 2 + (np.sin(theta) / semi_up) ** 2)


def test_sectors_and_axes_follow_the_conventional_orientation():
    """Tilted elliptic cavity, epicardium shifted towards the septum (image left): a thick septum, a thin lateral wall.

    Conventional display (RV on the image left, anterior up): screen angles (0 = right,
    counter-clockwise) of the sectors are A 60-120, AS 120-180, IS 180-240, I 240-300,
    IL 300-360, AL 0-60, and the axes A-I = 90, AS-IL = 150, IS-AL = 30 degrees.
    """
    semi_x, semi_up, big_r, offset, tilt, pixel = 12.0, 8.0, 20.0, (-3.0, 0.0), 25.0, 0.2
    labels = shapes_on_grid(pixel, (semi_x, semi_up), big_r, offset, tilt)
    indices = targets.lvquan_indices(labels, (pixel, pixel))
    sectors = {"IS": 180, "I": 240, "IL": 300, "AL": 0, "A": 60, "AS": 120}  # start of each 60-degree sector
    expected_thickness = []
    for start in sectors.values():
        angles = start + np.linspace(0.25, 59.75, 120)
        cavity_radius = ellipse_radius(angles - tilt, semi_x, semi_up)
        expected_thickness.append(np.mean(chord_from_centre(angles, offset, big_r) - cavity_radius))
    np.testing.assert_allclose(indices[5:], expected_thickness, atol=0.15)
    assert indices[5] > indices[8] + 4  # inferoseptal much thicker than anterolateral: the sectors are not swapped
    expected_dimensions = [2 * ellipse_radius(a - tilt, semi_x, semi_up) for a in (90, 150, 30)]
    np.testing.assert_allclose(indices[2:5], expected_dimensions, atol=0.2)
    np.testing.assert_allclose(indices[:2], [np.pi * semi_x * semi_up, np.pi * (big_r**2 - semi_x * semi_up)], rtol=0.01)


def test_a_slice_without_cavity_has_no_indices():
    labels = np.zeros((20, 20), np.uint8)
    labels[5:10, 5:10] = 2
    assert np.isnan(targets.lvquan_indices(labels, (1.0, 1.0))).all()


def test_phase_events_and_ed_es_from_labels(sparse_phantom):
    assert targets.cardiac_phase(8, 0, 3).tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert targets.cardiac_phase(8, 6, 2).tolist() == [1, 1, 0, 0, 0, 0, 1, 1]  # systole wraps round the cycle
    events = targets.event_targets(6, ed_frame=4, es_frame=1)
    assert events.shape == (3, 6) and events.sum(axis=0).tolist() == [1] * 6
    assert events[0].argmax() == 1 and events[1].argmax() == 4 and events[:2].sum() == 2
    unknown = replace(sparse_phantom, ed_frame=None, es_frame=None)
    assert targets.ed_es_frames(unknown) == (sparse_phantom.ed_frame, sparse_phantom.es_frame)
    with pytest.raises(ValueError, match="different frames"):
        targets.event_targets(6, 2, 2)


# --- detect_events ---------------------------------------------------------------------------
def test_naive_takes_the_peak_and_central_the_middle_of_the_confident_run():
    probabilities = np.full((3, 10), 0.02)
    probabilities[0, [3, 4, 5, 6]] = [0.93, 0.97, 0.95, 0.91]  # ES plateau, peak at 4, centre 4 or 5
    probabilities[0, 9] = 0.92                                  # a lone confident frame elsewhere (not the peak's run)
    probabilities[1, [8, 9, 0]] = [0.95, 0.96, 0.99]            # ED run wrapping the end of the cycle, peak at 0
    assert detect_events(probabilities, "naive") == {"ES": 4, "ED": 0}
    assert detect_events(probabilities, "central") == {"ES": 4, "ED": 9}
    probabilities[0, 7] = 0.94                                  # run 3..7: centre 5
    assert detect_events(probabilities, "central")["ES"] == 5


def test_central_falls_back_to_naive_and_accepts_tensors():
    probabilities = torch.full((3, 5), 0.1)
    probabilities[0, 2], probabilities[1, 4] = 0.6, 0.8  # nothing above 0.9
    assert detect_events(probabilities, "central") == detect_events(probabilities, "naive") == {"ES": 2, "ED": 4}
    with pytest.raises(ValueError, match="method"):
        detect_events(probabilities, "middle")
    with pytest.raises(ValueError, match=r"\(3, T\)"):
        detect_events(probabilities.T, "naive")


# --- Crop4dDataset / Crop3dDataset -------------------------------------------------------------
def test_4d_crops_keep_the_sparse_labels_and_cut_the_prepared_study(sparse_phantom):
    dataset = Crop4dDataset([sparse_phantom], CropSamplingConfig(crop_size=(4, 4, 32, 32), preprocessor=WHOLE_PLANE))
    image, labels, _ = WHOLE_PLANE(sparse_phantom)
    torch.manual_seed(0)
    for _ in range(10):
        sample = dataset[0]
        assert sample["image"].shape == (1, 4, 4, 32, 32) and sample["image"].dtype == torch.float32
        assert sample["labels"].shape == (4, 4, 32, 32) and sample["labels"].dtype == torch.int64
        t0, z0, y0, x0 = sample["crop_start"].tolist()
        frames = (t0 + np.arange(4)) % 8
        assert sample["labelled"].tolist() == [int(t) in labels for t in frames]
        assert sample["labelled"].any()  # centred on a voxel of a labelled frame
        np.testing.assert_array_equal(sample["image"][0].numpy(), image[frames, z0:z0 + 4, y0:y0 + 32, x0:x0 + 32])
        for index, t in enumerate(frames):
            reference = labels[int(t)][z0:z0 + 4, y0:y0 + 32, x0:x0 + 32] if int(t) in labels else 0
            np.testing.assert_array_equal(sample["labels"][index].numpy(), reference)


def test_crops_are_centred_on_foreground_with_probability_0_6(phantoms):
    dataset = Crop4dDataset(phantoms[:1], CropSamplingConfig(crop_size=(2, 4, 16, 16), preprocessor=WHOLE_PLANE))
    torch.manual_seed(1)
    samples = [dataset[0] for _ in range(400)]
    flags = np.array([bool(s["centred_on_foreground"]) for s in samples])
    assert abs(flags.mean() - 0.6) < 0.075  # binomial SD 0.025 at n = 400
    # A crop centred on the foreground holds foreground; 16 x 16 background crops often do not.
    holds_foreground = np.array([bool((s["labels"] > 0).any()) for s in samples])
    assert holds_foreground[flags].all() and not holds_foreground[~flags].all()


def test_3d_crops_come_from_labelled_frames_and_pad_short_axes(sparse_phantom):
    dataset = Crop3dDataset([sparse_phantom], CropSamplingConfig(crop_size=(8, 32, 32), preprocessor=WHOLE_PLANE))
    torch.manual_seed(0)
    for _ in range(5):
        sample = dataset[0]
        assert sample["image"].shape == (1, 8, 32, 32) and sample["labels"].shape == (8, 32, 32)
        assert sample["labelled"].tolist() == [True]
        assert int(sample["crop_start"][0]) in (sparse_phantom.ed_frame, sparse_phantom.es_frame)
        assert int(sample["crop_start"][1]) == -2  # 4 slices padded to 8: two before, two after


def test_samples_follow_the_global_torch_seed(phantoms):
    dataset = Crop4dDataset(phantoms[:1], CropSamplingConfig(crop_size=(2, 4, 16, 16), preprocessor=WHOLE_PLANE))
    torch.manual_seed(3)
    first = [dataset[0]["crop_start"] for _ in range(3)]
    torch.manual_seed(3)
    again = [dataset[0]["crop_start"] for _ in range(3)]
    torch.manual_seed(4)
    other = [dataset[0]["crop_start"] for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


# --- LVQuanDataset -----------------------------------------------------------------------------
def test_lvquan_windows_wrap_and_targets_are_normalised_by_the_crop(phantoms):
    study = phantoms[1]
    dataset = LVQuanDataset([study], LVQuanSamplingConfig(kappa=3, image_size=80))
    assert len(dataset) == study.n_frames  # the mid slice at every (labelled) frame
    items = [dataset[i] for i in range(len(dataset))]
    sample = items[0]
    assert sample["image"].shape == (1, 3, 80, 80) and sample["indices"].shape == (11,)
    assert sample["phase"].dtype == torch.int64 and sample["indices"].dtype == torch.float32
    # consecutive windows share frames; the first window starts with the last frame (circular hypothesis)
    for t in range(len(items)):
        torch.testing.assert_close(items[t]["image"][0, 1], items[(t + 1) % len(items)]["image"][0, 0])
    side = float(sample["side_mm"])
    scale = torch.tensor([side**2] * 2 + [side] * 9)
    for item in items:
        torch.testing.assert_close(item["indices"] * scale, item["indices_mm"], rtol=1e-5, atol=1e-3)
    assert [int(item["phase"]) for item in items] == targets.cardiac_phase(8, study.ed_frame, study.es_frame).tolist()
    # The mid-ventricular wall of the phantom is 8.5-10.5 mm thick at ED and thickens in systole.
    assert 7.0 < float(items[study.ed_frame]["indices_mm"][5:].mean()) < 12.0
    assert items[study.es_frame]["indices_mm"][5:].mean() > items[study.ed_frame]["indices_mm"][5:].mean()
    assert items[study.es_frame]["indices_mm"][0] < items[study.ed_frame]["indices_mm"][0]  # the cavity shrinks


# --- EventSequenceDataset ----------------------------------------------------------------------
def event_preprocessor():
    return Preprocessor(target_spacing_yx_mm=None, crop_size_yx=(32, 32), normalisation="minmax", normalise_per="frame")


def test_event_sequences_are_median_projections_with_one_es_and_one_ed(phantoms):
    dataset = EventSequenceDataset(phantoms, EventSamplingConfig(preprocessor=event_preprocessor(), augment=False))
    sample = dataset[0]
    assert sample["image"].shape == (1, 8, 32, 32) and sample["target"].shape == (3, 8)
    image, _, _ = event_preprocessor()(phantoms[0])
    np.testing.assert_allclose(sample["image"][0].numpy(), np.median(image[:, 1:3], axis=1), atol=1e-6)  # slices 2..n-1
    assert sample["target"].sum(dim=0).tolist() == [1.0] * 8 and sample["target"][:2].sum() == 2
    assert int(sample["es_frame"]) == phantoms[0].es_frame and int(sample["ed_frame"]) == phantoms[0].ed_frame


def test_circular_shift_moves_targets_with_frames(phantoms):
    plain = EventSequenceDataset(phantoms[:1], EventSamplingConfig(preprocessor=event_preprocessor(), augment=False))
    shifted = EventSequenceDataset(phantoms[:1], EventSamplingConfig(preprocessor=event_preprocessor(), affine=None))
    reference = plain[0]
    torch.manual_seed(0)
    shifts = set()
    for _ in range(30):
        sample = shifted[0]
        shift = int(sample["shift"])
        shifts.add(shift)
        frames = (np.arange(8) - shift) % 8  # shifted frame t shows original frame t - shift
        torch.testing.assert_close(sample["image"], reference["image"][:, frames])
        torch.testing.assert_close(sample["target"], reference["target"][:, frames])
        assert int(sample["es_frame"]) == (phantoms[0].es_frame + shift) % 8
    assert shifts == {0, 1, 2, 3}  # 0 .. floor(0.4 x 8)


# --- VolumeDataset -----------------------------------------------------------------------------
def test_volume_samples_hold_the_ed_stack_and_the_true_lv_volume(phantoms):
    config = VolumeSamplingConfig(preprocessor=Preprocessor(target_spacing_yx_mm=(2.0, 2.0), crop_size_yx=(48, 48)),
                                  augment=False, pad_slices_to=6)
    dataset = VolumeDataset(phantoms, config)
    sample = dataset[0]
    assert sample["image"].shape == (1, 6, 48, 48) and float(sample["image"][0, 4:].abs().max()) == 0.0
    assert 0.0 <= float(sample["image"].min()) and float(sample["image"].max()) <= 1.0
    np.testing.assert_allclose(sample["spacing_mm"].numpy(), [phantoms[0].spacing[0], 2.0, 2.0], rtol=1e-6)
    for item, study in zip(dataset, phantoms):  # counted labels vs the phantom's analytic volume
        np.testing.assert_allclose(float(item["lv_edv_ml"]), study.truth["lv_edv_ml"], rtol=0.06)


def test_volume_augmentation_adds_the_thesis_noise_and_warps(phantoms):
    prepare = Preprocessor(target_spacing_yx_mm=(2.0, 2.0), crop_size_yx=(48, 48))
    still = AffineAugment(rotation_deg=0, zoom=(1.0, 1.0), shear_deg=0, translation_px=0)
    noisy = VolumeDataset(phantoms[:1], VolumeSamplingConfig(preprocessor=prepare, augment_probability=1.0, affine=still))
    plain = torch.from_numpy(noisy.images[0])[None]
    torch.manual_seed(0)
    noise = noisy[0]["image"] - plain  # an identity warp leaves the noise alone
    assert abs(float(noise.mean()) - 0.035) < 0.002 and abs(float(noise.std()) - 0.01) < 0.002
    warped = VolumeDataset(phantoms[:1], VolumeSamplingConfig(preprocessor=prepare, augment_probability=1.0))
    assert float((warped[0]["image"] - plain - 0.035).abs().mean()) > 0.03  # the default affine moves the image


# --- SequenceSliceDataset and FrameNeighboursDataset -------------------------------------------
def test_sequence_windows_always_hold_a_labelled_frame(sparse_phantom):
    config = SequenceSamplingConfig(preprocessor=SMALL_CROP, n_frames=3, augment=True, skip_empty_slices=1.0)
    dataset = SequenceSliceDataset([sparse_phantom], config)
    torch.manual_seed(0)
    for _ in range(20):
        sample = dataset[0]
        assert sample["image"].shape == (1, 3, 32, 32) and sample["labels"].shape == (3, 32, 32)
        assert sample["labelled"].any()
        assert (sample["labels"][~sample["labelled"]] == 0).all()
    whole = SequenceSliceDataset([sparse_phantom], SequenceSamplingConfig(preprocessor=SMALL_CROP, skip_empty_slices=1.0))
    assert whole[0]["labelled"].tolist() == [t in (sparse_phantom.ed_frame, sparse_phantom.es_frame) for t in range(8)]
    _, labels, _ = SMALL_CROP(sparse_phantom)
    served = [z for _, z in whole.items]
    expected = sum(np.bincount(labels[t][z].ravel(), minlength=4) for t in labels for z in served)
    assert whole.class_counts().tolist() == expected.tolist()


def test_neighbour_clips_centre_the_labelled_frame_and_wrap_round_the_cycle(sparse_phantom):
    config = NeighbourSamplingConfig(radius=1, preprocessor=SMALL_CROP, augment=False, skip_empty_slices=1.0)
    dataset = FrameNeighboursDataset([sparse_phantom], config)
    image, labels, _ = SMALL_CROP(sparse_phantom)
    assert len(dataset) == sum(int(labels[t][z].any()) for t in labels for z in range(4))
    for item in range(len(dataset)):
        _, frame, z = dataset.items[item]
        sample = dataset[item]
        assert sample["image"].shape == (1, 3, 32, 32) and sample["labels"].shape == (32, 32)
        np.testing.assert_array_equal(sample["image"][0].numpy(), image[[(frame - 1) % 8, frame, (frame + 1) % 8], z])
        np.testing.assert_array_equal(sample["labels"].numpy(), labels[frame][z])
