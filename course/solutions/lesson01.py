"""Reference solutions of lesson 1, "The heart in cine MRI".

Try the exercises yourself first: the lesson only loads this file when it is run with
``use_solutions=True`` (as the course's automatic test does).
"""
import numpy as np


def ed_es_frames(lv_volume_ml):
    # ED: the LV holds the most blood; ES: the least. argmax/argmin give 0-based frames.
    return int(np.argmax(lv_volume_ml)), int(np.argmin(lv_volume_ml))


def ejection_fraction(edv_ml, esv_ml):
    return (edv_ml - esv_ml) / edv_ml * 100.0


def ef_categories(ef_values_pct):
    words = []
    for ef in ef_values_pct:
        if ef < 55:          # seed 000: reduced below 55 %
            words.append("reduced")
        elif ef < 57:        # between the cut-off and the normal range
            words.append("low-normal")
        elif ef <= 77:       # thesis: normal 57-77 %
            words.append("normal")
        else:
            words.append("high")
    return words


def stroke_volume_output(edv_ml, esv_ml, heart_rate_bpm):
    stroke_volume_ml = edv_ml - esv_ml
    cardiac_output_l_min = stroke_volume_ml * heart_rate_bpm / 1000.0  # ml/min -> l/min
    return stroke_volume_ml, cardiac_output_l_min
