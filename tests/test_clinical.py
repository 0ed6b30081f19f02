"""Clinical volumes, global function, normal ranges and export, against analytic values."""
import csv
import io
import json
import math

import numpy as np
import pytest

from cardiolab.clinical import (
    CardiacFunction, cardiac_function, ejection_filling_rates_ml_s, from_json, interpret, mosteller_bsa_m2,
    normal_range, read_measures_csv, reduced_lvef, structure_volumes_ml, to_csv, to_json, volume_curves_ml,
    volumes_csv,
)
from cardiolab.data import CineStudy

FINE = (1.0, 0.5, 0.4)  # (z, y, x) mm, anisotropic and fine enough for < 1 % discretisation


def ellipsoid_volume_ml(a, b, c):
    return 4.0 / 3.0 * math.pi * a * b * c / 1000.0


def ellipsoid_heart(shape, spacing, lv_axes, wall_mm, rv_axes=None):
    """(Z, Y, X) labels: an LV ellipsoid (semi-axes in mm, z y x), a myocardial shell of
    ``wall_mm`` around it (the ellipsoid with every semi-axis + wall_mm, minus the LV), and an
    RV ellipsoid beside it along x."""
    z, y, x = (np.arange(n) - (n - 1) / 2 for n in shape)
    z, y, x = np.meshgrid(z * spacing[0], y * spacing[1], x * spacing[2], indexing="ij")

    def inside(axes, shift_x=0.0):
        return (z / axes[0]) ** 2 + (y / axes[1]) ** 2 + ((x - shift_x) / axes[2]) ** 2 <= 1.0

    labels = np.zeros(shape, np.uint8)
    outer = tuple(a + wall_mm for a in lv_axes)
    labels[inside(outer)] = 2
    labels[inside(lv_axes)] = 1
    if rv_axes is not None:
        shift = outer[2] + rv_axes[2] + 2.0
        labels[inside(rv_axes, shift)] = 3
    return labels


SHAPE = (66, 116, 230)  # covers the LV (+-31 z, +-27 y, +-22 x mm with its wall) and the RV (to x = 44 mm)
LV_ED, LV_ES, WALL, RV_ED, RV_ES = (26.0, 22.0, 17.0), (22.0, 16.0, 12.0), 5.0, (24.0, 20.0, 10.0), (20.0, 16.0, 7.0)


@pytest.fixture(scope="module")
def ed_es_labels():
    ed = ellipsoid_heart(SHAPE, FINE, LV_ED, WALL, RV_ED)
    es = ellipsoid_heart(SHAPE, FINE, LV_ES, WALL, RV_ES)
    return np.stack([ed, es])  # (2, Z, Y, X)


# --- volumes -----------------------------------------------------------------------------------
def test_ellipsoid_volumes_within_one_percent(ed_es_labels):
    volumes = structure_volumes_ml(ed_es_labels[0], FINE)
    lv_true = ellipsoid_volume_ml(*LV_ED)
    myo_true = ellipsoid_volume_ml(*(a + WALL for a in LV_ED)) - lv_true
    assert volumes["lv"] == pytest.approx(lv_true, rel=0.01)
    assert volumes["myo"] == pytest.approx(myo_true, rel=0.01)
    assert volumes["rv"] == pytest.approx(ellipsoid_volume_ml(*RV_ED), rel=0.01)


def test_sequence_volumes_match_frame_volumes(ed_es_labels):
    per_sequence = structure_volumes_ml(ed_es_labels, FINE)
    assert per_sequence["lv"].shape == (2,)
    assert per_sequence["rv"][1] == structure_volumes_ml(ed_es_labels[1], FINE)["rv"]


def test_volume_curves_of_a_sparse_study_and_of_an_array():
    labels = np.zeros((2, 2, 4, 4), np.uint8)
    labels[0, :, :2, :2] = 1  # 8 voxels
    labels[1, 0, :1, :1] = 1  # 1 voxel
    study = CineStudy(image=np.zeros((6, 2, 4, 4)), spacing=(2.0, 1.0, 1.0), labels={1: labels[0], 4: labels[1]})
    curves = volume_curves_ml(study)
    assert curves.frames == [1, 4] and curves.n_frames == 6 and not curves.is_full_sequence
    np.testing.assert_allclose(curves.lv_ml, [8 * 2e-3, 1 * 2e-3])
    # A dense array with unlabelled (255) frames, as `CineStudy.label_sequence` makes it:
    dense = volume_curves_ml(study.label_sequence(), spacing=study.spacing)
    assert dense.frames == [1, 4]
    np.testing.assert_allclose(dense.lv_ml, curves.lv_ml)


def test_volume_arguments_are_checked():
    with pytest.raises(ValueError, match="spacing"):
        structure_volumes_ml(np.zeros((2, 2, 2), np.uint8), (1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match="label 7"):
        structure_volumes_ml(np.full((2, 2, 2), 7, np.uint8), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        volume_curves_ml(np.zeros((2, 2, 2, 2), np.uint8))


# --- EF, SV, mass --------------------------------------------------------------------------------
def test_ef_sv_and_mass_from_ellipsoids(ed_es_labels):
    report = cardiac_function(ed_es_labels, FINE, regional=False)
    edv, esv = ellipsoid_volume_ml(*LV_ED), ellipsoid_volume_ml(*LV_ES)
    assert (report.ed_frame, report.es_frame, report.ed_es_source) == (0, 1, "volume_curve")
    assert report.lv_edv_ml == pytest.approx(edv, rel=0.01)
    assert report.lv_sv_ml == pytest.approx(edv - esv, rel=0.02)
    assert report.lv_ef_pct == pytest.approx(100.0 * (edv - esv) / edv, abs=1.0)
    rv_edv, rv_esv = ellipsoid_volume_ml(*RV_ED), ellipsoid_volume_ml(*RV_ES)
    assert report.rv_ef_pct == pytest.approx(100.0 * (rv_edv - rv_esv) / rv_edv, abs=1.0)
    myo_ml = ellipsoid_volume_ml(*(a + WALL for a in LV_ED)) - edv
    assert report.lv_mass_g == pytest.approx(myo_ml * 1.05, rel=0.01)
    thesis = cardiac_function({0: ed_es_labels[0], 1: ed_es_labels[1]}, FINE, myocardial_density_g_per_ml=1.055,
                              regional=False)
    assert thesis.lv_mass_g == pytest.approx(myo_ml * 1.055, rel=0.01)
    assert thesis.lv_mass_g / report.lv_mass_g == pytest.approx(1.055 / 1.05, rel=1e-9)
    assert report.reduced_lvef is (report.lv_ef_pct < 55.0)


def spheres(radii_vox, size=24):
    """(T, Z, Y, X) LV spheres of the given voxel radii (1 mm voxels)."""
    grid = np.indices((size, size, size)) - (size - 1) / 2
    distance = np.sqrt((grid ** 2).sum(axis=0))
    return np.stack([(distance <= r).astype(np.uint8) for r in radii_vox])


def test_ed_es_from_the_volume_curve():
    radii = [7, 8, 10, 9, 7, 5, 4, 6]  # largest at frame 2, smallest at frame 6
    report = cardiac_function(spheres(radii), (1.0, 1.0, 1.0), regional=False)
    assert (report.ed_frame, report.es_frame, report.ed_es_source) == (2, 6, "volume_curve")
    assert report.volume_curve_frames == list(range(8))
    assert np.argmax(report.volume_curve_ml["lv"]) == 2


def test_given_ed_es_take_precedence():
    labels = spheres([7, 8, 10, 9, 7, 5, 4, 6])
    study = CineStudy(image=np.zeros(labels.shape), spacing=(1.0, 1.0, 1.0),
                      labels={t: labels[t] for t in range(8)}, ed_frame=1, es_frame=5)
    from_study = cardiac_function(study, regional=False)
    assert (from_study.ed_frame, from_study.es_frame, from_study.ed_es_source) == (1, 5, "given")
    from_argument = cardiac_function(study, ed_frame=3, regional=False)
    assert (from_argument.ed_frame, from_argument.es_frame) == (3, 5)
    mixed = cardiac_function(labels, (1.0, 1.0, 1.0), es_frame=4, regional=False)
    assert (mixed.ed_frame, mixed.es_frame, mixed.ed_es_source) == (2, 4, "volume_curve ED, given ES")
    with pytest.raises(ValueError, match="ed_frame"):
        cardiac_function({0: labels[0], 3: labels[3]}, (1.0, 1.0, 1.0), ed_frame=1)


# --- rates, heart rate, output, BSA -------------------------------------------------------------
def test_rates_of_a_sinusoid_match_its_derivative():
    rr_ms, n = 900.0, 36  # the peak slope falls on a frame (t = RR/4 = frame 9)
    times = np.arange(n) * rr_ms / n
    volume = 100.0 + 40.0 * np.cos(2.0 * np.pi * times / rr_ms)
    peak_slope_ml_s = 40.0 * 2.0 * np.pi / (rr_ms / 1000.0)  # |dV/dt| max of the cosine
    ejection, filling = ejection_filling_rates_ml_s(volume, times)
    assert ejection == pytest.approx(peak_slope_ml_s, rel=0.01)
    assert filling == pytest.approx(peak_slope_ml_s, rel=0.01)
    # A curve that empties twice as fast as it fills.
    fast_out = 100.0 - 40.0 * np.sin(2.0 * np.pi * times / rr_ms) - 10.0 * np.sin(4.0 * np.pi * times / rr_ms)
    ejection, filling = ejection_filling_rates_ml_s(fast_out, times)
    fine_t = np.linspace(0.0, rr_ms, 100001)  # the exact derivative, on a fine grid (ml/ms)
    exact = -(40.0 * 2 * np.pi / rr_ms) * np.cos(2 * np.pi * fine_t / rr_ms) \
        - (10.0 * 4 * np.pi / rr_ms) * np.cos(4 * np.pi * fine_t / rr_ms)
    assert ejection == pytest.approx(-exact.min() * 1000.0, rel=0.02)
    assert filling == pytest.approx(exact.max() * 1000.0, rel=0.02)
    assert ejection > 1.3 * filling
    with pytest.raises(ValueError, match="volume_ml"):
        ejection_filling_rates_ml_s(volume[:3], times[:3])


def test_rates_and_heart_rate_need_a_full_timed_cycle():
    labels = spheres([10, 9, 8, 6, 5, 5, 6, 7, 8, 9])
    times = np.arange(10) * 80.0  # R-R = 800 ms -> 75 bpm
    timed = cardiac_function(labels, (1.0, 1.0, 1.0), frame_times_ms=times, regional=False)
    assert timed.heart_rate_bpm == pytest.approx(75.0) and timed.heart_rate_source == "frame_times"
    assert timed.lv_peak_ejection_rate_ml_s > 0 and timed.lv_peak_filling_rate_ml_s > 0
    assert timed.lv_co_l_min == pytest.approx(timed.lv_sv_ml * 75.0 / 1000.0)
    untimed = cardiac_function(labels, (1.0, 1.0, 1.0), regional=False)
    assert untimed.heart_rate_bpm is None and untimed.lv_co_l_min is None
    assert untimed.lv_peak_ejection_rate_ml_s is None
    sparse = cardiac_function({0: labels[0], 4: labels[4]}, (1.0, 1.0, 1.0), frame_times_ms=times, regional=False)
    assert sparse.lv_peak_filling_rate_ml_s is None and sparse.volume_curve_frames == [0, 4]
    # Times a loader assumed give neither heart rate nor rates.
    assumed = CineStudy(image=np.zeros(labels.shape), spacing=(1.0, 1.0, 1.0), labels=dict(enumerate(labels)))
    report = cardiac_function(assumed, regional=False)
    assert report.frame_times_assumed and report.heart_rate_bpm is None
    assert report.lv_peak_ejection_rate_ml_s is None


def test_mosteller_bsa_and_indexed_values():
    assert mosteller_bsa_m2(180.0, 80.0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="weight_kg"):
        mosteller_bsa_m2(180.0, 0.0)
    labels = spheres([10, 6])
    report = cardiac_function(labels, (1.0, 1.0, 1.0), height_cm=180, weight_kg=80, heart_rate_bpm=60,
                              regional=False)
    assert report.bsa_m2 == pytest.approx(2.0)
    assert report.lv_edvi_ml_m2 == pytest.approx(report.lv_edv_ml / 2.0)
    assert report.lv_co_l_min == pytest.approx(report.lv_sv_ml * 60 / 1000.0)
    assert report.lv_ci_l_min_m2 == pytest.approx(report.lv_co_l_min / 2.0)
    assert report.heart_rate_source == "argument"
    study = CineStudy(image=np.zeros(labels.shape), spacing=(1.0, 1.0, 1.0), labels=dict(enumerate(labels)),
                      info={"height_cm": 180.0, "weight_kg": 80.0, "heart_rate_bpm": 70.0, "sex": "F"})
    from_info = cardiac_function(study, regional=False)
    assert from_info.bsa_m2 == pytest.approx(2.0) and from_info.heart_rate_source == "study.info"
    assert from_info.sex == "female"


# --- normal ranges -------------------------------------------------------------------------------
def test_normal_ranges_by_sex():
    assert normal_range("lv_edv_ml", "F") == (86.0, 178.0)
    assert normal_range("lv_edv_ml", "male") == (106.0, 214.0)
    assert normal_range("lv_esv_ml", "m") == (26.0, 86.0)
    assert interpret("lv_edv_ml", 200.0, "male")["status"] == "normal"
    assert interpret("lv_edv_ml", 200.0, "female")["status"] == "high"
    assert interpret("lv_edv_ml", 80.0, "female")["status"] == "low"
    assert interpret("lv_esv_ml", 70.0, None)["status"] == "unknown sex"
    assert interpret("lv_ef_pct", 56.0, None)["status"] == "low"  # the EF range is the same for both
    assert reduced_lvef(56.0) is False and reduced_lvef(54.9) is True and reduced_lvef(None) is None
    with pytest.raises(ValueError, match="sex"):
        normal_range("lv_edv_ml", "x")


def test_report_interpretation_follows_the_sex():
    labels = spheres([10, 6])  # 4.2 ml: far below every normal EDV
    male = cardiac_function(labels, (1.0, 1.0, 1.0), sex="male", regional=False)
    assert male.interpretation["lv_edv_ml"]["status"] == "low"
    assert male.interpretation["lv_edv_ml"]["low"] == 106.0
    unknown = cardiac_function(labels, (1.0, 1.0, 1.0), regional=False)
    assert unknown.interpretation["lv_edv_ml"]["status"] == "unknown sex"


# --- export ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def timed_report():
    labels = spheres([10, 9, 8, 6, 5, 5, 6, 7, 8, 9])
    return cardiac_function(labels, (1.0, 1.0, 1.0), frame_times_ms=np.arange(10) * 80.0, height_cm=170,
                            weight_kg=70, sex="M", regional=False)


def test_json_round_trip(timed_report, tmp_path):
    text = to_json(timed_report, tmp_path / "report.json")
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(text)
    back = from_json(tmp_path / "report.json")
    assert isinstance(back, CardiacFunction)
    assert back.to_dict() == timed_report.to_dict()
    assert from_json(text).lv_ef_pct == timed_report.lv_ef_pct


def test_csv_round_trip_and_units(timed_report, tmp_path):
    text = to_csv(timed_report, tmp_path / "report.csv")
    rows = {row["measure"]: row for row in csv.DictReader(io.StringIO(text))}
    assert rows["lv_edv_ml"]["unit"] == "ml" and rows["lv_ef_pct"]["unit"] == "%"
    assert rows["lv_edvi_ml_m2"]["unit"] == "ml/m^2" and rows["lv_co_l_min"]["unit"] == "l/min"
    assert rows["lv_peak_filling_rate_ml_s"]["unit"] == "ml/s" and rows["bsa_m2"]["unit"] == "m^2"
    values = read_measures_csv(tmp_path / "report.csv")
    for name, value in timed_report.to_dict().items():
        if isinstance(value, float):
            assert values[name] == pytest.approx(value, rel=1e-12), name
    assert values["lv_ef_pct_status"] == timed_report.interpretation["lv_ef_pct"]["status"]
    assert values["ed_frame"] == timed_report.ed_frame


def test_volumes_csv(timed_report):
    rows = list(csv.DictReader(io.StringIO(volumes_csv(timed_report))))
    assert [int(r["frame"]) for r in rows] == list(range(10))
    assert [float(r["time_ms"]) for r in rows] == [80.0 * t for t in range(10)]
    np.testing.assert_allclose([float(r["lv_ml"]) for r in rows], timed_report.volume_curve_ml["lv"])


def test_segment_values_survive_json(tmp_path):
    report = CardiacFunction(wall_thickness_ed_mm={1: 8.5, 2: float("nan")})
    back = from_json(to_json(report))
    assert back.wall_thickness_ed_mm[1] == 8.5 and math.isnan(back.wall_thickness_ed_mm[2])


# --- the phantom, where it exists ----------------------------------------------------------------
def _make_phantom():
    phantom = pytest.importorskip("cardiolab.data.phantom", reason="cardiolab.data.phantom is not available")
    if not hasattr(phantom, "make_phantom"):
        pytest.skip("cardiolab.data.phantom has no make_phantom")
    return phantom.make_phantom


def test_function_of_the_phantom_matches_its_truth():
    study = _make_phantom()(seed=3, n_frames=10)  # truth is analytic, not counted from the labels
    report = cardiac_function(study).to_dict()
    for key in ("lv_edv_ml", "lv_esv_ml", "lv_sv_ml", "rv_edv_ml", "rv_esv_ml", "lv_mass_g"):
        assert report[key] == pytest.approx(study.truth[key], rel=0.03), key
    for key in ("lv_ef_pct", "rv_ef_pct"):
        assert report[key] == pytest.approx(study.truth[key], abs=1.5), key
    assert (report["ed_frame"], report["es_frame"]) == (study.truth["ed_frame"], study.truth["es_frame"])
    assert report["heart_rate_bpm"] == pytest.approx(study.truth["heart_rate_bpm"])
    assert report["qc_flags"] == []


@pytest.mark.parametrize("sector_deg, rotation_deg, weakest", [((210, 270), 25.0, (5, 11)),
                                                               ((90, 150), -20.0, (3, 9))])
def test_phantom_hypokinesis_shows_in_its_aha_segments(sector_deg, rotation_deg, weakest):
    # The phantom's angles: 0 anterior, 90 septal, 180 inferior, 270 lateral, so 210-270 is
    # inferolateral (AHA 5 / 11) and 90-150 inferoseptal (3 / 9), whatever the rotation.
    study = _make_phantom()(seed=3, n_frames=10, rotation_deg=rotation_deg,
                            hypokinesis={"sector_deg": sector_deg, "severity": 0.9})
    thickening = cardiac_function(study).systolic_thickening_mm
    basal = {s: thickening[s] for s in range(1, 7)}
    mid = {s: thickening[s] for s in range(7, 13)}
    assert (min(basal, key=basal.get), min(mid, key=mid.get)) == weakest
