"""Clinical measures on real ACDC patients (skipped where the data is absent)."""
import math

import numpy as np
import pytest

from cardiolab.clinical import aha_bullseye_figure, cardiac_function
from cardiolab.data import load_cine

pytestmark = pytest.mark.acdc


def test_patient001_dcm_has_a_low_lvef(acdc_training):
    study = load_cine(acdc_training / "patient001")
    report = cardiac_function(study)
    # ACDC patient001 is dilated cardiomyopathy; its reference EF is about 23.7 %.
    assert 20.0 < report.lv_ef_pct < 28.0
    assert report.reduced_lvef is True and report.interpretation["lv_ef_pct"]["status"] == "low"
    assert report.ed_es_source == "given" and (report.ed_frame, report.es_frame) == (study.ed_frame, study.es_frame)
    assert report.lv_edv_ml > 250.0  # dilated: above every normal EDV
    assert report.bsa_m2 == pytest.approx(math.sqrt(184.0 * 95.0 / 3600.0))  # Info.cfg: 184 cm, 95 kg
    assert report.heart_rate_bpm is None and report.lv_co_l_min is None  # ACDC gives no heart rate
    assert report.qc_flags == []
    thickness = np.array([report.wall_thickness_ed_mm[s] for s in range(1, 17)])
    assert report.wall_thickness_orientation.startswith("rv_insertion")
    assert np.all((thickness > 4.0) & (thickness < 15.0))  # a plausible myocardial wall everywhere
    assert len(aha_bullseye_figure(report.wall_thickness_ed_mm).data) >= 2


def test_a_normal_patient_has_a_normal_lvef(acdc_training):
    study = load_cine(acdc_training / "patient061")  # group NOR
    assert study.info["group"] == "NOR"
    report = cardiac_function(study)
    assert report.lv_ef_pct > 55.0 and report.reduced_lvef is False
