"""Pseudo-cine: a labelled full cycle synthesised from an ED/ES pair."""
import importlib
import time

import numpy as np
import pytest
from scipy import ndimage

import cardiolab.data
from cardiolab import LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY
from cardiolab.data import CineStudy
from cardiolab.data.acdc import load_acdc_patient

# `cardiolab.data.pseudo_cine` is also the package-level function's name; fetch the module.
pc = importlib.import_module("cardiolab.data.pseudo_cine")


def dice(a, b):
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def phase_labels(shape_yx, lv_radius_px, wall_px, rv_radius_px, centre=(32.0, 36.0)):
    yy, xx = np.mgrid[: shape_yx[0], : shape_yx[1]]
    radius = np.hypot(yy - centre[0], xx - centre[1])
    labels = np.zeros(shape_yx, dtype=np.uint8)
    rv_centre_x = centre[1] - lv_radius_px - wall_px
    labels[(np.hypot(yy - centre[0], xx - rv_centre_x) < rv_radius_px)] = RV_CAVITY
    labels[radius < lv_radius_px + wall_px] = LV_MYOCARDIUM
    labels[radius < lv_radius_px] = LV_CAVITY
    return labels


def synthetic_pair(frame_times_ms=(0.0, 400.0), n_slices=2):
    """ED: LV cavity radius 12 px; ES: radius 8 px, thicker wall, smaller RV; textured images."""
    shape = (64, 72)
    ed = phase_labels(shape, 12, 4, 10)
    es = phase_labels(shape, 8, 6, 7)
    rng = np.random.default_rng(0)
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), 1.5).astype(np.float32)
    levels = np.array([0.15, 1.0, 0.35, 0.8], dtype=np.float32)
    image = np.stack([np.stack([levels[lab] + 0.1 * texture] * n_slices) for lab in (ed, es)])
    labels = {0: np.stack([ed] * n_slices), 1: np.stack([es] * n_slices)}
    return CineStudy(image=image, spacing=(8.0, 1.5, 1.5), frame_times_ms=np.array(frame_times_ms), labels=labels,
                     ed_frame=0, es_frame=1)


@pytest.fixture(scope="module")
def pair():
    return synthetic_pair()


@pytest.fixture(scope="module")
def cycle(pair):
    return pc.pseudo_cine(pair, n_frames=20)


def lv_voxels(study):
    return np.array([(study.labels[t] == LV_CAVITY).sum() for t in range(study.n_frames)])


# --- the volume curve ------------------------------------------------------------------------
def test_cardiac_cycle_curve_phases():
    curve = pc.CardiacCycle(es_fraction=0.4, rapid_filling_end=0.3, atrial_kick_start=0.8,
                            rapid_filling_share=0.7, diastasis_share=0.1)
    assert curve.alpha(0.0) == 0 and curve.alpha(0.4) == pytest.approx(1.0)
    systole = curve.alpha(np.linspace(0, 0.4, 50))
    diastole = curve.alpha(np.linspace(0.4, 0.999, 50))
    assert np.all(np.diff(systole) >= 0) and np.all(np.diff(diastole) <= 0)
    # After rapid filling 70 % of the stroke volume is back, after diastasis 80 %.
    assert curve.alpha(0.4 + 0.3 * 0.6) == pytest.approx(1 - 0.7)
    assert curve.alpha(0.4 + 0.8 * 0.6) == pytest.approx(1 - 0.8)
    assert curve.alpha(0.9999) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="es_fraction"):
        pc.CardiacCycle(es_fraction=1.2)


def test_es_index_follows_the_source_timing():
    # ES 400 ms after ED in a 1000 ms beat -> 40 % of 20 frames.
    _, es_index = pc.contraction_curve(20, pc.source_es_fraction(synthetic_pair((0.0, 400.0))))
    assert es_index == 8
    # 900 ms is not a plausible ES: the default 37.5 % is used instead.
    assert pc.source_es_fraction(synthetic_pair((0.0, 900.0))) is None
    _, es_index = pc.contraction_curve(24, pc.DEFAULT_ES_FRACTION)
    assert es_index == 9


# --- the synthetic pair ----------------------------------------------------------------------
def test_labels_on_every_frame_and_real_frames_kept(pair, cycle):
    assert cycle.n_frames == 20 and cycle.image.shape == (20,) + pair.image.shape[1:]
    assert sorted(cycle.labels) == list(range(20))
    assert all(lab.dtype == np.uint8 and lab.max() <= 3 for lab in cycle.labels.values())
    assert cycle.ed_frame == 0 and cycle.es_frame == 8
    np.testing.assert_array_equal(cycle.image[0], pair.image[0])
    np.testing.assert_array_equal(cycle.image[cycle.es_frame], pair.image[1])
    np.testing.assert_array_equal(cycle.labels[0], pair.labels[0])
    np.testing.assert_array_equal(cycle.labels[cycle.es_frame], pair.labels[1])
    np.testing.assert_allclose(cycle.frame_times_ms, np.arange(20) * 50.0)  # one 1000 ms beat
    assert cycle.info["pseudo_cine"] is True and cycle.info["pseudo_cine_method"] == "demons"
    assert any("pseudo-cine" in note and "demons" in note for note in cycle.info["notes"])
    assert pair.n_frames == 2 and pair.image.shape[0] == 2  # the input is untouched


def test_lv_volume_falls_to_es_then_refills(cycle):
    lv = lv_voxels(cycle)
    es = cycle.es_frame
    assert np.all(np.diff(lv[: es + 1]) <= 0) and np.all(np.diff(lv[es:]) >= 0)
    assert lv[es] < lv[1: es].min() and lv[-1] > lv[es + 1]
    # The normalised volume drop follows the requested contraction curve.
    drop = (lv[0] - lv) / (lv[0] - lv[es])
    alpha = np.array(cycle.info["pseudo_cine_alpha"])
    assert np.abs(drop - alpha).max() < 0.15


@pytest.mark.parametrize("method", ["demons", "bspline"])
def test_full_warp_matches_the_es_labels(pair, method):
    # Frames 2 and 3 both at alpha = 1: frame 2 is the real ES, frame 3 is ED warped all the way.
    alpha = [0.0, 0.5, 1.0, 1.0, 0.6, 0.2]
    cycle = pc.pseudo_cine(pair, n_frames=6, method=method, volume_curve=alpha)
    assert cycle.es_frame == 2
    warped, es = cycle.labels[3], pair.labels[1]
    assert dice(warped == LV_CAVITY, es == LV_CAVITY) > 0.85
    assert dice(warped == LV_MYOCARDIUM, es == LV_MYOCARDIUM) > 0.7
    # Half way, the cavity lies between the two phases.
    assert (es == LV_CAVITY).sum() < (cycle.labels[1] == LV_CAVITY).sum() < (pair.labels[0] == LV_CAVITY).sum()


def test_full_cine_source_uses_its_ed_and_es_frames():
    base = synthetic_pair(n_slices=1)
    image = np.concatenate([base.image[:1] * 0.5, base.image[:1], base.image[:1] * 0.9, base.image[1:], base.image[1:]])
    study = CineStudy(image=image, spacing=base.spacing, labels={1: base.labels[0], 3: base.labels[1]},
                      ed_frame=1, es_frame=3)  # 5 frames over 1000 ms: ES 400 ms after ED
    cycle = pc.pseudo_cine(study, n_frames=10)
    assert cycle.es_frame == 4
    np.testing.assert_array_equal(cycle.image[0], image[1])
    np.testing.assert_array_equal(cycle.image[4], image[3])
    assert cycle.info["pseudo_cine_source_frames"] == {"ed": 1, "es": 3}


def test_without_labels_registers_intensities():
    base = synthetic_pair(n_slices=1)
    study = CineStudy(image=base.image, spacing=base.spacing, frame_times_ms=base.frame_times_ms, ed_frame=0, es_frame=1)
    cycle = pc.pseudo_cine(study, n_frames=8)
    assert cycle.labels == {} and cycle.info["pseudo_cine_guide"] == "intensity"
    np.testing.assert_array_equal(cycle.image[0], base.image[0])
    assert np.isfinite(cycle.image).all()


def test_seed_gives_reproducible_varied_cycles(pair):
    a = pc.contraction_curve(20, 0.4, seed=3)[0]
    assert np.array_equal(a, pc.contraction_curve(20, 0.4, seed=3)[0])
    assert not np.allclose(a, pc.contraction_curve(20, 0.4, seed=4)[0])


def test_rejects_bad_arguments(pair):
    with pytest.raises(ValueError, match="n_frames"):
        pc.pseudo_cine(pair, n_frames=2)
    with pytest.raises(ValueError, match="method"):
        pc.pseudo_cine(pair, method="optical-flow")
    with pytest.raises(ValueError, match="ed_frame"):
        pc.pseudo_cine(CineStudy(image=pair.image, spacing=pair.spacing), n_frames=5)
    with pytest.raises(ValueError, match="volume_curve"):
        pc.pseudo_cine(pair, n_frames=4, volume_curve=[0, 1.5, 0.5, 0])


def test_package_level_function(pair):
    cycle = cardiolab.data.pseudo_cine(pair, n_frames=6)
    assert cycle.n_frames == 6 and cycle.info["pseudo_cine"] is True


# --- real data ---------------------------------------------------------------------------------
@pytest.mark.acdc
def test_acdc_patient001_volumes(acdc_training):
    study = load_acdc_patient(acdc_training / "patient001")  # ED frame 1, ES frame 12 of 30
    start = time.perf_counter()
    cycle = pc.pseudo_cine(study, n_frames=25)
    seconds = time.perf_counter() - start
    voxel_ml = study.voxel_volume_ml
    edv_ml = (study.labels[study.ed_frame] == LV_CAVITY).sum() * voxel_ml
    esv_ml = (study.labels[study.es_frame] == LV_CAVITY).sum() * voxel_ml
    lv_ml = lv_voxels(cycle) * voxel_ml
    assert cycle.es_frame == round(11 / 30 * 25)
    assert lv_ml[cycle.es_frame] == pytest.approx(esv_ml) and lv_ml[0] == pytest.approx(edv_ml)
    assert np.all(lv_ml >= esv_ml - 1e-9) and np.all(lv_ml <= edv_ml + 1e-9)
    assert np.all(np.diff(lv_ml[: cycle.es_frame + 1]) <= 0)
    assert seconds < 60, f"pseudo-cine took {seconds:.1f} s"
