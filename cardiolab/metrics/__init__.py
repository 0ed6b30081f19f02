"""Evaluation metrics of the five papers: numpy in, numbers out.

One module per kind of question, as MONAI's ``metrics``:

* `segmentation`: Dice, hd95, assd (mm), relative volume error, mean pixel accuracy, the
  Dice of an explanation map with a drawn structure (`map_dice`), and
  per-structure, per-frame tables of a whole sequence (`segmentation_scores`).
  Its docstring states the surface definition and the empty-mask rules.
* `temporal`: smoothness of a segmented sequence ([seed 000] Table 2).
* `events`: ES/ED frame distance aFD and aFD/T ([thesis] Ch. 7).
* `regression`: MAE, Pearson r, phase error rate ([seed 001] Eq. 2-4).
* `agreement`: Bland-Altman, linear fit, reduced-EF detection.

This package never imports `cardiolab.models`: metrics judge models, not the reverse.
"""
from cardiolab.metrics.agreement import bland_altman, linear_fit, reduced_ef_detection
from cardiolab.metrics.events import afd_summary, frame_distance
from cardiolab.metrics.regression import mae, pearson, phase_error_rate
from cardiolab.metrics.segmentation import (assd, dice, hausdorff_distance, hd95, largest_region, map_dice,
                                            mean_pixel_accuracy, relative_volume_error, segmentation_scores,
                                            structure_scores, summarise_scores, surface, surface_distances)
from cardiolab.metrics.temporal import consecutive_frame_assd, temporal_derivative_l2

__all__ = [
    "assd", "dice", "hausdorff_distance", "hd95", "largest_region", "map_dice", "mean_pixel_accuracy",
    "relative_volume_error",
    "segmentation_scores", "structure_scores", "summarise_scores", "surface", "surface_distances",
    "consecutive_frame_assd", "temporal_derivative_l2",
    "afd_summary", "frame_distance",
    "mae", "pearson", "phase_error_rate",
    "bland_altman", "linear_fit", "reduced_ef_detection",
]
