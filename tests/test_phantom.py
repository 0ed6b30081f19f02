"""The synthetic cine phantom: determinism, geometry, truth vs labels, MRI-like contrast.

The truth of a phantom comes from its analytic shapes; every check here measures the
labels or the image instead (voxel counts x voxel volume, intensities), so a wrong
formula, a wrong label or a wrong frame shows up as a mismatch.
"""
import functools
import math

import numpy as np
import pytest
from scipy import ndimage, special

from cardiolab import LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY
from cardiolab.data import load_cine, save_study
from cardiolab.data.phantom import (TISSUES, add_rician_noise, anatomical_angle_deg, ejected_fraction,
                                    half_superellipsoid_ml, make_phantom, sample_phantom, tissue_map)

SMALL = dict(n_frames=6, n_slices=5, size=(48, 48))


@functools.lru_cache(maxsize=None)
def cached_phantom(seed, **options):
    return make_phantom(seed, **options)


@functools.lru_cache(maxsize=None)
def ef_phantom(seed, ef):
    # 8 frames hold ED and ES as well as 25 do; the default grid sets the accuracy.
    return make_phantom(seed, lv_ef_pct=ef, n_frames=8, noise_sigma=0.0)  # labels do not depend on the noise


def label_volumes_ml(study, label):
    """Volume of ``label`` in every frame from voxel counts, ml."""
    return np.array([(study.labels[t] == label).sum() * study.voxel_volume_ml for t in range(study.n_frames)])


def ejection_fraction_pct(volumes, ed, es):
    return 100.0 * (volumes[ed] - volumes[es]) / volumes[ed]


# --- determinism and shape ------------------------------------------------------------------
def test_same_seed_gives_the_same_study():
    first, second = make_phantom(3, **SMALL), make_phantom(3, **SMALL)
    np.testing.assert_array_equal(first.image, second.image)
    for t in range(first.n_frames):
        np.testing.assert_array_equal(first.labels[t], second.labels[t])
    assert first.truth == second.truth
    np.testing.assert_array_equal(first.affine, second.affine)


def test_different_seeds_give_different_hearts():
    first, second = make_phantom(1, **SMALL), make_phantom(2, **SMALL)
    assert not np.array_equal(first.image, second.image)
    assert first.truth["lv_edv_ml"] != second.truth["lv_edv_ml"]
    assert first.truth["heart_rate_bpm"] != second.truth["heart_rate_bpm"]


def test_a_given_option_replaces_one_draw_and_leaves_the_rest():
    drawn, given = make_phantom(4, **SMALL).truth, make_phantom(4, lv_ef_pct=40, **SMALL).truth
    assert given["lv_ef_pct"] == pytest.approx(40)
    assert given["heart_rate_bpm"] == drawn["heart_rate_bpm"]
    assert given["rv_ef_pct"] == drawn["rv_ef_pct"]


def test_default_study_shapes_types_spacing_and_timing():
    study = cached_phantom(0)
    assert study.shape == (25, 12, 128, 128)
    assert study.image.dtype == np.float32 and np.isfinite(study.image).all()
    assert study.labelled_frames == list(range(25))
    assert all(lab.dtype == np.uint8 and lab.shape == (12, 128, 128) for lab in study.labels.values())
    z_mm, y_mm, x_mm = study.spacing
    assert z_mm == 8.0 and y_mm == x_mm and 1.4 <= x_mm <= 1.6
    assert study.info["source"] == "phantom"
    truth = study.truth
    for key in ("lv_edv_ml", "lv_esv_ml", "lv_ef_pct", "rv_edv_ml", "rv_esv_ml", "rv_ef_pct", "lv_mass_g",
                "ed_frame", "es_frame", "heart_rate_bpm", "seed", "options"):
        assert key in truth, key
    assert (study.ed_frame, study.es_frame) == (truth["ed_frame"], truth["es_frame"]) == (0, truth["es_frame"])
    assert 55 <= truth["heart_rate_bpm"] <= 95
    # Frames span one R-R interval; ES falls at 30-45 % of it.
    np.testing.assert_allclose(np.diff(study.frame_times_ms), 60000 / truth["heart_rate_bpm"] / 25)
    assert 0.30 <= study.frame_times_ms[study.es_frame] / (60000 / truth["heart_rate_bpm"]) <= 0.45
    # The affine's columns are the voxel axes: lengths equal the spacing, mutually orthogonal.
    columns = study.affine[:3, :3]
    np.testing.assert_allclose(np.linalg.norm(columns, axis=0), [x_mm, y_mm, z_mm])
    np.testing.assert_allclose(columns.T @ columns, np.diag([x_mm, y_mm, z_mm]) ** 2, atol=1e-9)


def test_every_frame_holds_the_three_structures():
    study = cached_phantom(0)
    for t in range(study.n_frames):
        values = set(np.unique(study.labels[t]))
        assert values == {0, LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY}, (t, values)


# --- truth vs labels --------------------------------------------------------------------------
@pytest.mark.parametrize("ef", [15, 35, 60, 80])
def test_label_ejection_fraction_matches_truth(ef):
    for seed in (0, 1, 2):
        study = ef_phantom(seed, ef)
        truth = study.truth
        assert truth["lv_ef_pct"] == pytest.approx(ef, abs=1e-6)  # no hypokinesis: the EF asked for
        lv = label_volumes_ml(study, LV_CAVITY)
        ed, es = truth["ed_frame"], truth["es_frame"]
        assert abs(ejection_fraction_pct(lv, ed, es) - truth["lv_ef_pct"]) < 1.0, seed
        assert lv[ed] == pytest.approx(truth["lv_edv_ml"], rel=0.03)
        assert lv[es] == pytest.approx(truth["lv_esv_ml"], rel=0.03)


@pytest.mark.parametrize("ef", [15, 80])
def test_label_rv_volumes_and_ejection_fraction_match_truth(ef):
    for seed in (0, 1, 2):
        study = ef_phantom(seed, ef)
        truth = study.truth
        rv = label_volumes_ml(study, RV_CAVITY)
        assert abs(ejection_fraction_pct(rv, truth["ed_frame"], truth["es_frame"]) - truth["rv_ef_pct"]) < 3.0
        assert rv[truth["ed_frame"]] == pytest.approx(truth["rv_edv_ml"], rel=0.05)


def test_myocardial_volume_is_conserved_and_matches_the_mass():
    for seed, ef in ((0, 15), (1, 60), (2, 80)):
        study = ef_phantom(seed, ef)
        myocardium = label_volumes_ml(study, LV_MYOCARDIUM)
        assert (myocardium.max() - myocardium.min()) / myocardium.mean() < 0.03
        assert 1.05 * myocardium.mean() == pytest.approx(study.truth["lv_mass_g"], rel=0.05)


def test_ed_and_es_are_the_largest_and_smallest_label_volumes():
    for seed in (0, 5):
        study = cached_phantom(seed)
        lv = label_volumes_ml(study, LV_CAVITY)
        assert int(np.argmax(lv)) == study.truth["ed_frame"]
        assert int(np.argmin(lv)) == study.truth["es_frame"]
        # The volume curve of the labels follows the truth's curve at every frame.
        np.testing.assert_allclose(lv, study.truth["lv_volume_ml"], rtol=0.03)


def test_volume_formula_against_independent_references():
    # p = 2 is half a prolate ellipsoid: 2/3 pi a^2 c.
    assert half_superellipsoid_ml(30.0, 80.0, 2.0) == pytest.approx(2 / 3 * math.pi * 30**2 * 80 / 1000)
    # Other p: fine midpoint integration of pi r(h)^2.
    heights = (np.arange(200000) + 0.5) * (80.0 / 200000)
    radius = 30.0 * (1 - (heights / 80.0) ** 3) ** (1 / 3)
    assert half_superellipsoid_ml(30.0, 80.0, 3.0) == pytest.approx(np.sum(np.pi * radius**2) * 80.0 / 200000 / 1000, rel=1e-5)


def test_volume_curve_has_unique_extremes_at_ed_and_es():
    phases = np.arange(1000) / 1000
    ejected = ejected_fraction(phases, 0.36)
    assert ejected[0] == 0 and ejected[360] == pytest.approx(1)
    others = np.delete(ejected, [0, 360])
    assert others.min() > 0 and others.max() < 1
    # Rapid filling: most of the stroke volume is back within 25 % of the cycle after ES.
    assert ejected[360 + 250] < 0.35


# --- anatomy ----------------------------------------------------------------------------------
def test_lv_tapers_from_base_to_an_apex_of_myocardium_only():
    study = cached_phantom(0)
    ed, es = study.labels[study.ed_frame], study.labels[study.es_frame]
    cavity_area = (ed == LV_CAVITY).sum(axis=(1, 2))
    assert cavity_area[1] > cavity_area[6] > cavity_area[8] > 0
    # With no rotation the RV lies on the image's left (the septal side) of the LV.
    posed = make_phantom(0, rotation_deg=0.0, n_frames=2)
    _, lv_columns = np.nonzero(posed.labels[0][4] == LV_CAVITY)
    _, rv_columns = np.nonzero(posed.labels[0][4] == RV_CAVITY)
    assert rv_columns.mean() < lv_columns.mean() - 10
    # ...and the anatomical angle map agrees: the RV wraps the septum (90 degrees).
    angles = anatomical_angle_deg(sample_phantom(0, rotation_deg=0.0, n_frames=2))
    assert 60 < np.median(angles[posed.labels[0] == RV_CAVITY]) < 120
    # At ES the apical cavity has closed while its wall is still there.
    cavity_es, wall_es = (es == LV_CAVITY).sum(axis=(1, 2)), (es == LV_MYOCARDIUM).sum(axis=(1, 2))
    assert np.any((wall_es > 0) & (cavity_es == 0))


def wedge_thickness_mm(labels, centres, angles_deg, low, high, pixel_mm):
    """Mean wall thickness in the wedge low..high degrees over the given slices, from the
    cavity and wall areas: r_in = sqrt(2 A_cavity / dphi), r_out = sqrt(2 (A_cavity + A_wall) / dphi)."""
    thickness = []
    for z, _ in centres.items():
        wedge = (angles_deg[z] >= low) & (angles_deg[z] < high)
        dphi = math.radians(high - low)
        cavity = ((labels[z] == LV_CAVITY) & wedge).sum() * pixel_mm**2
        wall = ((labels[z] == LV_MYOCARDIUM) & wedge).sum() * pixel_mm**2
        thickness.append(math.sqrt(2 * (cavity + wall) / dphi) - math.sqrt(2 * cavity / dphi))
    return float(np.mean(thickness))


def thickening(study, low, high):
    """Relative ED -> ES wall thickening in a wedge, about the ED centre of each mid slice."""
    ed = study.labels[study.ed_frame]
    centres, angles = {}, {}
    for z in (3, 4, 5, 6):
        rows, columns = np.nonzero((ed[z] == LV_CAVITY) | (ed[z] == LV_MYOCARDIUM))
        centres[z] = (rows.mean(), columns.mean())
        y, x = np.mgrid[: ed.shape[1], : ed.shape[2]]
        # Anatomical angle with no rotation: 0 up (anterior), 90 left (septum), 180 down.
        angles[z] = np.degrees(np.arctan2(-(x - centres[z][1]), -(y - centres[z][0]))) % 360
    pixel = study.spacing[1]
    before = wedge_thickness_mm(ed, centres, angles, low, high, pixel)
    after = wedge_thickness_mm(study.labels[study.es_frame], centres, angles, low, high, pixel)
    return after / before - 1


def test_hypokinesis_removes_thickening_in_its_sector_only():
    pose = dict(rotation_deg=0.0, n_frames=8)
    normal = make_phantom(6, **pose)
    sick = make_phantom(6, hypokinesis={"sector_deg": (60, 150), "severity": 1.0}, **pose)
    remote_normal, sector_normal = thickening(normal, 240, 300), thickening(normal, 80, 130)
    remote_sick, sector_sick = thickening(sick, 240, 300), thickening(sick, 80, 130)
    assert remote_normal > 0.15 and sector_normal > 0.6 * remote_normal  # a normal heart thickens all round
    assert sector_sick < 0.3 * remote_sick  # the hypokinetic sector barely thickens
    assert remote_sick == pytest.approx(remote_normal, rel=0.2)
    # The sector costs ejection fraction; the truth says by how much and the labels agree.
    assert sick.truth["lv_ef_pct"] < normal.truth["lv_ef_pct"] - 3
    lv = label_volumes_ml(sick, LV_CAVITY)
    assert abs(ejection_fraction_pct(lv, sick.ed_frame, sick.es_frame) - sick.truth["lv_ef_pct"]) < 1.0
    assert int(np.argmin(lv)) == sick.es_frame


# --- image contrast and noise --------------------------------------------------------------------
def test_contrast_is_that_of_a_bright_blood_cine():
    study = cached_phantom(0)
    image, labels = study.image[0], study.labels[0]
    tissues = tissue_map(sample_phantom(0), frame=0)
    blood = image[labels == LV_CAVITY].mean()
    myocardium = image[labels == LV_MYOCARDIUM].mean()
    lung = image[tissues == TISSUES["lung"]].mean()
    fat = image[tissues == TISSUES["pericardial_fat"]].mean()
    assert blood > 2 * myocardium
    assert image[labels == RV_CAVITY].mean() > 2 * myocardium
    assert lung < 0.5 * myocardium
    assert fat > myocardium


def test_noise_is_rician_not_gaussian():
    sigma = 0.05
    noisy_zero = add_rician_noise(np.zeros((4, 50, 50), np.float32), sigma, np.random.default_rng(0))
    # Zero signal gives a Rayleigh distribution: never negative, mean sigma sqrt(pi/2).
    assert noisy_zero.min() >= 0
    assert noisy_zero.mean() == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.03)
    # A constant signal A gives the Rice mean sigma sqrt(pi/2) L_1/2(-A^2 / 2 sigma^2).
    amplitude = 0.1
    x = -(amplitude**2) / (2 * sigma**2)
    laguerre_half = (1 - x) * special.i0e(-x / 2) + (-x) * special.i1e(-x / 2)  # e^(x/2) folded into i0e, i1e
    noisy_constant = add_rician_noise(np.full((4, 50, 50), amplitude, np.float32), sigma, np.random.default_rng(1))
    assert noisy_constant.mean() == pytest.approx(sigma * math.sqrt(math.pi / 2) * laguerre_half, rel=0.01)
    # On the phantom: air outside the body is Rayleigh too, and the dark lungs are biased up
    # (a Gaussian model would leave their mean unchanged and make some voxels negative).
    noisy, clean = cached_phantom(0), make_phantom(0, noise_sigma=0.0, n_frames=2)  # frame 0 (ED) is the same
    tissues = tissue_map(sample_phantom(0), frame=0)
    # Air away from the body's partial-volume edge (2 voxels in-plane).
    air = ndimage.binary_erosion(tissues == TISSUES["air"], structure=np.ones((1, 5, 5)))
    assert air.sum() > 500
    assert noisy.image.min() >= 0
    assert noisy.image[:, air].mean() == pytest.approx(0.035 * math.sqrt(math.pi / 2), rel=0.05)
    lung = tissues == TISSUES["lung"]
    assert (noisy.image[0, lung] - clean.image[0, lung]).mean() > 0.3 * 0.035


def test_partial_volume_makes_intermediate_edge_values():
    clean = make_phantom(0, noise_sigma=0.0, bias_strength=0.0, n_frames=2)
    labels, image = clean.labels[0][5], clean.image[0, 5]
    # Between blood (1.0) and myocardium (~0.27) the ring boundary holds mixed voxels.
    boundary = (labels == LV_CAVITY) & (np.roll(labels, 1, axis=1) == LV_MYOCARDIUM)
    assert np.any((image[boundary] > 0.4) & (image[boundary] < 0.9))


# --- files and options ---------------------------------------------------------------------------
def test_phantom_round_trips_through_nifti_with_labels_and_truth(tmp_path):
    study = make_phantom(2, hypokinesis={"sector_deg": (0, 60), "severity": 0.5}, **SMALL)
    save_study(study, tmp_path / "phantom.nii.gz")
    loaded = load_cine(tmp_path / "phantom.nii.gz")
    assert loaded.labelled_frames == list(range(study.n_frames))
    np.testing.assert_array_equal(loaded.labels[study.es_frame], study.labels[study.es_frame])
    assert loaded.es_frame == study.es_frame and loaded.ed_frame == 0
    assert loaded.truth["lv_ef_pct"] == pytest.approx(study.truth["lv_ef_pct"])
    assert loaded.truth["options"]["hypokinesis"]["severity"] == 0.5


@pytest.mark.parametrize("options, name", [
    (dict(lv_ef_pct=95), "lv_ef_pct"),
    (dict(lv_ef_pct=10), "lv_ef_pct"),
    (dict(rv_ef_pct=90), "rv_ef_pct"),
    (dict(size=(-5, 128)), "size"),
    (dict(size=(64,)), "size"),
    (dict(n_frames=1), "n_frames"),
    (dict(n_slices=-2), "n_slices"),
    (dict(pixel_mm=-1.0), "pixel_mm"),
    (dict(slice_mm=0.0), "slice_mm"),
    (dict(lv_edv_ml=5000), "lv_edv_ml"),
    (dict(heart_rate_bpm=300), "heart_rate_bpm"),
    (dict(noise_sigma=-0.1), "noise_sigma"),
    (dict(hypokinesis={"sector_deg": (0, 90), "severity": 2}), "hypokinesis"),
    (dict(hypokinesis={"sector": (0, 90), "severity": 0.5}), "hypokinesis"),
    (dict(pixel_mm=0.5), "pixel_mm"),  # the heart does not fit a 64 mm field of view
    (dict(ef=50), "ef"),
])
def test_invalid_options_raise_naming_the_option(options, name):
    with pytest.raises(ValueError, match=name):
        make_phantom(0, **options)
