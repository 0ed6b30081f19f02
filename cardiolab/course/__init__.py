"""The guided course's exercise checks (the lessons themselves are the notebooks in ``course/``).

In a lesson::

    from cardiolab.course import check
    answer = ...                      # your code
    check("3.1", answer, labels_zyx=labels, spacing=spacing)

or the same check by name, ``check_lv_volume_function(answer, labels, spacing)``. A right
answer prints a tick; a wrong one raises `ExerciseFailed` whose message
says what is wrong (units, axis order, a missing factor ...); ``answer = None`` prints a
reminder. Every check computes the expected answer from the inputs it is given, with
the library or analytically, when it runs.

`load_solutions(lesson)` imports ``course/solutions/lessonNN.py`` (the reference answers
the lessons use when run with ``use_solutions=True``); `exercises()` lists every exercise;
`acdc_root_or_none(data_root)` says whether a lesson finds ACDC or falls back to phantoms.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from cardiolab.course.core import ExerciseFailed, Exercise, check, exercises, get_exercise
from cardiolab.course.lesson01 import (check_ed_es_frames, check_ef_categories, check_ejection_fraction,
                                       check_stroke_volume_output)
from cardiolab.course.lesson02 import (check_nifti_to_tzyx, check_slice_spacing_dicom, check_spacing_from_header,
                                       check_voxel_volume)
from cardiolab.course.lesson03 import (check_lv_ef_from_labels, check_lv_mass, check_lv_volume_curve,
                                       check_lv_volume_function, check_wrong_spacing)
from cardiolab.course.lesson04 import check_dice_by_hand, check_hd95_mm, check_logits_to_labels
from cardiolab.course.lesson05 import (check_conv4d_by_hand, check_conv4d_output_shape, check_convlstm_memory,
                                       check_deform_offsets)
from cardiolab.course.lesson06 import check_labelled_mask, check_smoothness_term, check_soft_dice_loss
from cardiolab.course.lesson07 import check_afd, check_central_frame, check_median_projection, check_receptive_fields
from cardiolab.course.lesson08 import check_grad_cam, check_map_to_mask, check_pi_hat
from cardiolab.course.lesson09 import check_bland_altman, check_loa_ratio, check_reduced_ef_detection, check_worst_case

SOLUTIONS_FOLDER = Path("course") / "solutions"
PHANTOMS_ONLY = "phantom"  # data_root value that makes a lesson use phantoms even where ACDC is found


def acdc_root_or_none(data_root=None):
    """The ACDC folder a lesson uses, or None when it should use phantoms.

    ``data_root``: an ACDC folder, None (look where `cardiolab.data.datasets.find_acdc_root`
    looks) or ``"phantom"`` (phantoms even where ACDC is available).
    """
    from cardiolab.data import datasets

    if data_root == PHANTOMS_ONLY:
        return None
    try:
        return datasets.find_acdc_root(data_root)
    except datasets.DatasetNotFound:
        return None


def solutions_path(lesson: int, search_from=None) -> Path:
    """``course/solutions/lessonNN.py``, looked for from ``search_from`` (default: the working
    folder, which is ``course/`` when Jupyter or papermill runs a lesson) and its parents, then
    beside the installed package (an editable install of the repository)."""
    name = f"lesson{int(lesson):02d}.py"
    start = Path(search_from or Path.cwd()).resolve()
    candidates = [folder / SOLUTIONS_FOLDER / name for folder in (start, *start.parents)]
    candidates.insert(0, start / "solutions" / name)
    candidates.append(Path(__file__).resolve().parents[2] / SOLUTIONS_FOLDER / name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no solutions for lesson {lesson}: looked for {name} in course/solutions/ "
                            f"from {start} upwards")


def load_solutions(lesson: int, search_from=None):
    """Import the reference solutions of a lesson as a module (see `solutions_path`)."""
    path = solutions_path(lesson, search_from)
    spec = importlib.util.spec_from_file_location(f"course_solutions_lesson{int(lesson):02d}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


__all__ = [
    "ExerciseFailed", "Exercise", "acdc_root_or_none", "check", "exercises", "get_exercise", "load_solutions",
    "solutions_path",
    "check_ed_es_frames", "check_ejection_fraction", "check_ef_categories", "check_stroke_volume_output",
    "check_nifti_to_tzyx", "check_spacing_from_header", "check_voxel_volume", "check_slice_spacing_dicom",
    "check_lv_volume_function", "check_lv_ef_from_labels", "check_lv_mass", "check_lv_volume_curve",
    "check_wrong_spacing",
    "check_dice_by_hand", "check_logits_to_labels", "check_hd95_mm",
    "check_conv4d_output_shape", "check_conv4d_by_hand", "check_convlstm_memory", "check_deform_offsets",
    "check_soft_dice_loss", "check_smoothness_term", "check_labelled_mask",
    "check_median_projection", "check_receptive_fields", "check_afd", "check_central_frame",
    "check_pi_hat", "check_map_to_mask", "check_grad_cam",
    "check_bland_altman", "check_reduced_ef_detection", "check_loa_ratio", "check_worst_case",
]
