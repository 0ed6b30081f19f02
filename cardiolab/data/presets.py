"""The preprocessing each recipe trains with, and the label names its checkpoints store.

Kept apart from `cardiolab.train.recipes` (which re-exports them) because inference
builds a predictor's default metadata from the same settings without importing training.
"""
from __future__ import annotations

# default_acdc: the reduced-width PSPU-net on 128 x 128 crops at 1.5 mm
DEFAULT_PREPROCESSOR = dict(target_spacing_yx_mm=(1.5, 1.5), crop_size_yx=(128, 128),
                            normalisation="percentile", normalise_per="volume")
LABEL_MAP = {0: "background", 1: "LV cavity", 2: "LV myocardium", 3: "RV cavity"}
# small esed_detector: 64 px images; 3 mm pixels keep the thesis' ~180 mm field of view (176 px at 1 mm)
ESED_PREPROCESSOR = dict(target_spacing_yx_mm=(3.0, 3.0), crop_size_yx=(64, 64), normalisation="minmax",
                         normalise_per="frame")
# 2.5 mm pixels and a 64 px plane (160 mm) around the heart; random 4D crops are taken inside it
UNET4D_PREPROCESSOR = dict(target_spacing_yx_mm=(2.5, 2.5), crop_size_yx=(64, 64), normalisation="percentile",
                           normalise_per="volume")
# fcslstm needs Y and X divisible by 32: a 64 px plane at 3 mm (192 mm)
FCSLSTM_PREPROCESSOR = dict(target_spacing_yx_mm=(3.0, 3.0), crop_size_yx=(64, 64), normalisation="percentile",
                            normalise_per="volume")
