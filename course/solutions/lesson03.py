"""Reference solutions of lesson 3, "Measuring by hand" (loaded only with ``use_solutions=True``)."""
import numpy as np


def lv_volume_ml(labels_zyx, spacing_zyx):
    voxel_ml = np.prod(spacing_zyx) / 1000.0
    return float((np.asarray(labels_zyx) == 1).sum() * voxel_ml)


def lv_volume_function():
    return lv_volume_ml


def lv_ef_from_labels(study):
    edv = lv_volume_ml(study.labels[study.ed_frame], study.spacing)
    esv = lv_volume_ml(study.labels[study.es_frame], study.spacing)
    return (edv - esv) / edv * 100.0


def lv_mass(study):
    voxel_ml = np.prod(study.spacing) / 1000.0
    myocardium_ml = (study.labels[study.ed_frame] == 2).sum() * voxel_ml
    return float(myocardium_ml * 1.05)  # g/ml


def lv_volume_curve(study):
    return np.array([lv_volume_ml(study.labels[t], study.spacing) for t in study.labelled_frames])


def wrong_spacing(study):
    edv = lv_volume_ml(study.labels[study.ed_frame], (1.0, 1.0, 1.0))
    esv = lv_volume_ml(study.labels[study.es_frame], (1.0, 1.0, 1.0))
    return edv, (edv - esv) / edv * 100.0
