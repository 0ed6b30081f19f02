"""AHA wall thickness, bull's-eye and segmentation QC on synthetic hearts of known shape.

The synthetic heart is drawn in mm: an LV cavity disc of radius ``lv_mm`` per slice, a
myocardial ring of ``wall_mm`` around it (thicker by ``extra_mm`` in one angular
sector), and an RV crescent hugging the ring over +-60 degrees around the septum
direction, so the RV insertion points are known. Angles: 0 = image right, 90 = image up.
"""
import numpy as np
import pytest

from cardiolab.clinical import (
    SEGMENT_NAMES, aha_bullseye_figure, cardiac_function, measure_wall_thickness, qc_flags, segmentation_qc,
    wall_thickness,
)
from cardiolab.clinical.qc import function_qc

SPACING = (8.0, 1.0, 1.25)  # anisotropic in-plane on purpose
SHAPE_YX = (96, 80)


def _wrap(angle):
    return (angle + 180.0) % 360.0 - 180.0


def heart_slice(lv_mm, wall_mm, *, septum_deg=180.0, rv=True, extra=None, spacing_yx=SPACING[1:]):
    """One (Y, X) slice; ``extra`` = (centre_deg, half_width_deg, extra_mm) thickens a sector."""
    rows, cols = np.indices(SHAPE_YX)
    up = -(rows - (SHAPE_YX[0] - 1) / 2) * spacing_yx[0]
    right = (cols - (SHAPE_YX[1] - 1) / 2) * spacing_yx[1]
    radius, theta = np.hypot(up, right), np.degrees(np.arctan2(up, right))
    wall = np.full(SHAPE_YX, float(wall_mm))
    if extra is not None:
        centre, half_width, extra_mm = extra
        wall[np.abs(_wrap(theta - centre)) < half_width] += extra_mm
    labels = np.zeros(SHAPE_YX, np.uint8)
    epicardium = lv_mm + wall
    labels[radius <= epicardium] = 2
    labels[radius < lv_mm] = 1
    if rv:
        crescent = (radius > epicardium) & (radius < epicardium + 10) & (np.abs(_wrap(theta - septum_deg)) < 60)
        labels[crescent] = 3
    return labels


def heart(n_slices=9, lv_mm=20.0, wall_mm=10.0, taper=False, rv_slices=None, **slice_options):
    """(Z, Y, X) heart, base at slice 0; ``taper`` narrows the cavity towards the apex."""
    rv_slices = n_slices if rv_slices is None else rv_slices
    slices = []
    for z in range(n_slices):
        radius = lv_mm * (1.0 - 0.5 * z / (n_slices - 1)) if taper else lv_mm
        slices.append(heart_slice(radius, wall_mm, rv=z < rv_slices, **slice_options))
    return np.stack(slices)


# --- wall thickness ---------------------------------------------------------------------------
def test_ring_of_known_thickness_is_10_mm_in_every_segment():
    thickness = wall_thickness(heart(lv_mm=20.0, wall_mm=10.0), SPACING)
    assert sorted(thickness) == list(range(1, 17))
    for segment, mm in thickness.items():
        assert abs(mm - 10.0) <= max(SPACING[1:]), (segment, mm)


def test_thicker_sector_shows_in_its_segment():
    # 20 mm wall (10 + 10) centred on the basal inferolateral direction: with the septum at
    # 180 deg and anterior up, phi = 210 deg from the septum is screen angle 180 - 210 = -30.
    result = measure_wall_thickness(heart(extra=(-30.0, 25.0, 10.0)), SPACING)
    basal = {s: result.segments_mm[s] for s in range(1, 7)}
    mid = {s: result.segments_mm[s] for s in range(7, 13)}
    assert max(basal, key=basal.get) == 5 and max(mid, key=mid.get) == 11
    assert basal[5] > basal[2] + 5.0  # about 10 mm more than the septum
    assert result.orientation == "rv_insertion"


@pytest.mark.parametrize("turn_deg", [40.0, -35.0])
def test_segments_rotate_with_the_heart(turn_deg):
    # Rotate septum and the thick sector together: the thick segment must stay 5 / 11.
    rotated = heart(septum_deg=180.0 + turn_deg, extra=(-30.0 + turn_deg, 25.0, 10.0))
    result = measure_wall_thickness(rotated, SPACING)
    basal = {s: result.segments_mm[s] for s in range(1, 7)}
    mid = {s: result.segments_mm[s] for s in range(7, 13)}
    assert max(basal, key=basal.get) == 5 and max(mid, key=mid.get) == 11
    for z, septum in result.septum_deg.items():
        assert abs(_wrap(septum - (180.0 + turn_deg))) < 5.0, (z, septum)
    # A fixed orientation would have put the thick wall elsewhere:
    fixed = measure_wall_thickness(np.where(rotated == 3, 0, rotated).astype(np.uint8), SPACING)
    assert fixed.orientation.startswith("fixed")
    fixed_basal = {s: fixed.segments_mm[s] for s in range(1, 7)}
    assert max(fixed_basal, key=fixed_basal.get) != 5


def test_left_right_mirror_keeps_the_anatomy():
    labels = heart(extra=(-30.0, 25.0, 10.0))
    mirrored = labels[:, :, ::-1]  # RV now on the image right, thick wall on the left
    a, b = wall_thickness(labels, SPACING), wall_thickness(mirrored, SPACING)
    for segment in range(1, 13):
        assert abs(a[segment] - b[segment]) < 1.0, segment


def test_apical_slices_without_rv_borrow_the_orientation():
    result = measure_wall_thickness(heart(taper=True, rv_slices=6), SPACING)
    assert result.orientation == "rv_insertion, borrowed"
    assert all(np.isfinite(v) for v in result.segments_mm.values())


def test_no_rv_falls_back_and_flags():
    result = measure_wall_thickness(heart(rv_slices=0), SPACING)
    assert result.orientation.startswith("fixed")
    assert any("no RV insertion" in flag for flag in result.flags)
    assert all(abs(v - 10.0) <= 1.25 for v in result.segments_mm.values())


def test_base_is_the_wider_end_whichever_way_the_slices_run():
    labels = heart(taper=True)
    assert measure_wall_thickness(labels, SPACING).levels["basal"] == [0, 1, 2]
    flipped = measure_wall_thickness(labels[::-1], SPACING)
    assert flipped.levels["basal"] == [8, 7, 6] and flipped.levels["apical"] == [2, 1, 0]


def test_wall_thickness_rejects_a_sequence():
    with pytest.raises(ValueError, match="labels_zyx"):
        wall_thickness(np.zeros((2, 3, 8, 8), np.uint8), SPACING)


def test_bullseye_places_segments_in_the_standard_layout():
    values = {s: float(s) for s in SEGMENT_NAMES}
    values[16] = float("nan")
    figure = aha_bullseye_figure(values, title="wall thickness", unit="mm")
    sectors = [trace for trace in figure.data if trace.type == "barpolar"]
    assert sum(len(trace.theta) for trace in sectors) == 16
    where = {}
    for trace in sectors:
        for custom, theta, base in zip(trace.customdata, trace.theta, trace.base):
            where[custom[0]] = (theta % 360.0, base)
    assert where[1] == (90.0, 2.0)  # basal anterior: top, outer ring
    assert 90.0 < where[2][0] < 270.0 and 90.0 < where[3][0] < 270.0  # septum on the left
    assert where[14] == (180.0, 0.0) and where[13][0] == 90.0  # apex in the centre
    grey = [trace for trace in sectors if trace.marker.color == "lightgrey"]
    assert len(grey) == 1 and list(grey[0].customdata[0])[0] == 16
    assert '"barpolar"' in figure.to_json()  # a valid, serialisable plotly figure
    with pytest.raises(ValueError, match="values_by_segment"):
        aha_bullseye_figure({17: 1.0})


# --- QC ----------------------------------------------------------------------------------------
def clean_pair():
    """ED and ES frames of a clean tapered heart (EF about 50 %)."""
    ed = heart(taper=True, lv_mm=20.0, wall_mm=8.0)
    es = heart(taper=True, lv_mm=14.0, wall_mm=12.0)
    return {0: ed, 1: es}


def codes(flags):
    return sorted(flag["code"] for flag in flags)


def test_clean_heart_raises_no_flag():
    frames = clean_pair()
    assert segmentation_qc(frames) == []
    report = cardiac_function(frames, SPACING)
    assert report.qc_flags == [] and 40.0 < report.lv_ef_pct < 60.0
    assert qc_flags(frames, SPACING) == []


def test_gap_slice_is_flagged():
    frames = clean_pair()
    frames[0][4][frames[0][4] == 1] = 2  # slice 4 of ED: cavity filled with myocardium
    gaps = [f for f in segmentation_qc(frames) if f["code"] == "lv_gap"]
    assert len(gaps) == 1 and gaps[0]["slices"] == [4] and gaps[0]["frames"] == [0]
    # (the gap also splits the cavity in two pieces, which `lv_components` reports too)


def test_two_lv_blobs_are_flagged():
    frames = clean_pair()
    frames[1][3, 2:6, 2:6] = 1  # a stray blob in a corner of ES
    flags = segmentation_qc(frames)
    assert "lv_components" in codes(flags)
    assert [f["frames"] for f in flags if f["code"] == "lv_components"] == [[1]]


def test_lv_not_enclosed_is_flagged_on_its_slice_only():
    frames = clean_pair()
    slice_ = frames[0][5]
    rows, cols = np.indices(slice_.shape)
    slice_[(slice_ == 2) & (cols > SHAPE_YX[1] / 2 + 5)] = 0  # lateral wall removed
    flags = [f for f in segmentation_qc(frames) if f["code"] == "lv_not_enclosed"]
    assert len(flags) == 1 and flags[0]["slices"] == [5]


def test_basal_slice_may_be_open():
    frames = clean_pair()
    frames[0][0][frames[0][0] == 2] = 0  # no myocardium at all on the basal slice
    assert "lv_not_enclosed" not in codes(segmentation_qc(frames))


def test_empty_structure_and_implausible_ef():
    frames = clean_pair()
    frames[1][frames[1] == 3] = 0  # no RV at ES
    assert [f["frames"] for f in segmentation_qc(frames) if f["code"] == "empty_structure"] == [[1]]
    assert codes(function_qc(100.0, 5.0, 95.0)) == ["implausible_ef"]
    assert codes(function_qc(100.0, 110.0, -10.0)) == ["implausible_ef"]
    assert function_qc(100.0, 40.0, 60.0) == []


def test_ef_of_95_from_labels_is_flagged():
    frames = clean_pair()
    es = frames[1]
    es[es == 1] = 2  # ES cavity almost gone ...
    es[4, SHAPE_YX[0] // 2, SHAPE_YX[1] // 2] = 1  # ... but for a single voxel
    report = cardiac_function(frames, SPACING, ed_frame=0, es_frame=1)
    assert report.lv_ef_pct > 90.0
    assert "implausible_ef" in codes(report.qc_flags)


def test_esv_above_edv_with_given_frames_is_flagged():
    frames = clean_pair()
    report = cardiac_function(frames, SPACING, ed_frame=1, es_frame=0)  # swapped on purpose
    assert report.lv_esv_ml > report.lv_edv_ml
    assert "implausible_ef" in codes(report.qc_flags)


def test_thickening_of_the_synthetic_pair_and_es_without_myocardium():
    frames = clean_pair()  # ED wall 8 mm, ES wall 12 mm: +4 mm (+50 %) everywhere
    report = cardiac_function(frames, SPACING)
    for segment in range(1, 17):
        assert abs(report.systolic_thickening_mm[segment] - 4.0) < 1.0, segment
        assert abs(report.systolic_thickening_pct[segment] - 50.0) < 15.0, segment
    assert report.affected_segments == []
    # The thesis' ES labels have no myocardium: no ES thickness, but ED mass and thickness.
    frames[1][frames[1] == 2] = 0
    thesis_style = cardiac_function(frames, SPACING)
    assert thesis_style.wall_thickness_es_mm is None and thesis_style.systolic_thickening_mm is None
    assert thesis_style.lv_mass_g == pytest.approx(report.lv_mass_g)
    assert any("no myocardium label" in note for note in thesis_style.notes)
