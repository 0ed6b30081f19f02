"""Clinical measures of cardiac function from label maps.

From a label sequence (a `CineStudy`, a ``(T, Z, Y, X)`` array or ``{frame: (Z, Y, X)}``)
this package measures what a cardiologist reads off a cine MRI or 4D CT:

* `volumes`: LV cavity, myocardium and RV volume of every labelled frame;
* `function`: ED/ES, EDV, ESV, SV, EF, LV mass, BSA-indexed values, cardiac output and
  peak ejection/filling rates (`cardiac_function` -> `CardiacFunction`);
* `reference`: the normal ranges quoted by the thesis and the reduced-EF cut-off of
  seed 000;
* `wall_thickness`: AHA 16-segment wall thickness and its bull's-eye plot;
* `qc`: flags for segmentations that should not be trusted;
* `export`: JSON and CSV reports.
"""
from cardiolab.clinical.volumes import VolumeCurves, basal_end, structure_volumes_ml, volume_curves_ml
from cardiolab.clinical.reference import NORMAL_RANGES, REDUCED_LVEF_PCT, interpret, normal_range, reduced_lvef
from cardiolab.clinical.wall_thickness import (
    SEGMENT_NAMES,
    WallThickness,
    WallThicknessConfig,
    aha_bullseye_figure,
    measure_wall_thickness,
    systolic_thickening,
    wall_thickness,
)
from cardiolab.clinical.qc import QCConfig, function_qc, segmentation_qc
from cardiolab.clinical.function import (
    CardiacFunction,
    cardiac_function,
    curve_ejection_fraction_pct,
    ejection_filling_rates_ml_s,
    ejection_fraction_pct,
    mosteller_bsa_m2,
    qc_flags,
    rr_interval_ms,
)
from cardiolab.clinical.export import from_json, read_measures_csv, to_csv, to_json, volumes_csv

__all__ = [
    "VolumeCurves", "basal_end", "structure_volumes_ml", "volume_curves_ml",
    "NORMAL_RANGES", "REDUCED_LVEF_PCT", "interpret", "normal_range", "reduced_lvef",
    "SEGMENT_NAMES", "WallThickness", "WallThicknessConfig", "aha_bullseye_figure", "measure_wall_thickness",
    "systolic_thickening", "wall_thickness",
    "QCConfig", "function_qc", "qc_flags", "segmentation_qc",
    "CardiacFunction", "cardiac_function", "curve_ejection_fraction_pct", "ejection_filling_rates_ml_s",
    "ejection_fraction_pct",
    "mosteller_bsa_m2", "rr_interval_ms",
    "from_json", "read_measures_csv", "to_csv", "to_json", "volumes_csv",
]
