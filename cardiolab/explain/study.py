"""Explain a model's prediction on a whole study: one frame's map in the study's own grid.

`explain` asks the predictor (`cardiolab.predict`) for the exact tensor its prediction
feeds the model, runs Grad-CAM (Selvaraju et al., ICCV 2017) on it, or lv_volume_weak's
own map (thesis Ch. 6), and maps the result back onto the study's ``(Z, Y, X)`` grid
through the model's preprocessing (crop, resampling) in reverse.

What is explained, per task
---------------------------
* segmentation: ``structure`` 1/2/3 or "lv"/"myo"/"rv": that class's logits summed over
  the pixels of ``frame`` predicted as the class (all pixels where none is).
* events: "es" or "ed": that class's logit at ``frame`` (the detector's per-frame score).
* regression (stcnn_lvquan): an index name (``"lv_cavity_area_mm2"`` or the model's
  ``"area_cavity"``, or its position 0..10 in the model's ``INDEX_NAMES``; "lv" and
  "myo" mean the two areas) or "systole"/"diastole" (the phase logit), for the window
  centred on ``frame``.
* volume (lv_volume_weak): its own LV map ("model map", the default), or Grad-CAM of the
  volume.

Choices: the map is normalised once for the whole frame (its maximum over the volume
is 1), so slices stay comparable (Grad-CAM runs with ``normalise="none"`` and every
slice's own channel weights). Models whose input has no Z axis put their map on the
slices their input came from: the detector's median projection on the inner slices,
the LVQuan crop on its one slice; other slices are 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cardiolab import LABEL_NAMES
from cardiolab.devices import resolve_device
from cardiolab.events import EVENT_CLASSES
from cardiolab.explain.gradcam import grad_cam, layer_name
from cardiolab.explain.model_map import model_map, model_map_trust
from cardiolab.predict import LVQUAN_INDEX_UNITS, ModelInputs, Predictor, as_predictor

METHODS = ("auto", "grad-cam", "model map")
STRUCTURES = {"lv": 1, "lv cavity": 1, "myo": 2, "myocardium": 2, "lv myocardium": 2, "rv": 3, "rv cavity": 3}
REGRESSION_ALIASES = {"lv": "area_cavity", "myo": "area_myocardium"}


@dataclass
class Explanation:
    cam: np.ndarray     # (Z, Y, X) float32 in [0, 1], in the study's grid, for `frame`
    method: str         # "grad-cam" or "model map"
    layer: str          # the explained layer (qualified module name)
    target: str         # what score was explained
    frame: int          # study frame
    model: str = ""     # predictor name
    details: dict = field(default_factory=dict)  # what the model's input was; for the model map, its map_trust


def segmentation_target(structure, inputs: ModelInputs):
    from cardiolab.explain.gradcam import class_target

    key = structure.lower() if isinstance(structure, str) else structure
    class_index = STRUCTURES.get(key, key)
    if isinstance(class_index, bool) or class_index not in (1, 2, 3):
        raise ValueError(f"structure must be 1, 2, 3 or one of {sorted(STRUCTURES)} for a segmentation model, "
                         f"got {structure!r}")
    score = class_target(class_index)
    description = (f"{LABEL_NAMES[class_index]} logits summed over its predicted pixels "
                   f"(all pixels where none is), frame {inputs.frame}")
    return (lambda outputs: score(inputs.frame_outputs(outputs))), description


def events_target(structure, inputs: ModelInputs, classes: list):
    names = [name.lower() for name in classes]
    key = structure.lower() if isinstance(structure, str) else structure
    if key not in ("es", "ed"):
        raise ValueError(f"structure must be 'es' or 'ed' for an event detector, got {structure!r}")
    class_index, frame = names.index(key), inputs.frame
    return (lambda logits: logits[:, class_index, frame].sum()), f"{key.upper()} logit of frame {frame}"


def regression_target(structure, inputs: ModelInputs):
    from cardiolab.models.stcnn_lvquan import INDEX_NAMES, PHASE_NAMES

    is_position = isinstance(structure, (int, np.integer)) and not isinstance(structure, bool)
    if is_position and 0 <= structure < len(INDEX_NAMES):
        structure = INDEX_NAMES[structure]  # a position in the model's INDEX_NAMES
    key = REGRESSION_ALIASES.get(structure, structure) if isinstance(structure, str) else structure
    by_unit_name = {unit_name: name for name, unit_name in LVQUAN_INDEX_UNITS.items()}
    key = by_unit_name.get(key, key)
    if key in PHASE_NAMES:
        phase = PHASE_NAMES.index(key)
        return (lambda outputs: outputs["phase_logits"][:, phase].sum()), f"{key} logit, frame {inputs.frame}"
    if key not in INDEX_NAMES:
        raise ValueError(f"structure must be an index ({sorted(by_unit_name)} or {list(INDEX_NAMES)}), "
                         f"'lv', 'myo', 'systole' or 'diastole' for stcnn_lvquan, got {structure!r}")
    index = INDEX_NAMES.index(key)
    return (lambda outputs: outputs["indices"][:, index].sum()), f"{LVQUAN_INDEX_UNITS[key]}, frame {inputs.frame}"


def volume_target(structure, inputs: ModelInputs):
    if structure not in ("lv", "volume", "lv_volume_ml", 1):
        raise ValueError(f"structure must be 'lv' (the LV volume) for lv_volume_weak, got {structure!r}")
    return (lambda outputs: outputs["volume_ml"].sum()), f"LV volume (ml), frame {inputs.frame}"


def explanation_target(predictor: Predictor, inputs: ModelInputs, structure):
    """``(callable(outputs) -> score, description)`` for the predictor's task."""
    if predictor.task == "segmentation":
        return segmentation_target(structure, inputs)
    if predictor.task == "events":
        classes = predictor.metadata.get("extra", {}).get("classes", EVENT_CLASSES)
        return events_target(structure, inputs, list(classes))
    if predictor.task == "regression":
        return regression_target(structure, inputs)
    return volume_target(structure, inputs)


def explain(predictor_or_name, study, frame: int, structure: int | str = "lv", device="cpu", method: str = "auto",
            layer=None) -> Explanation:
    """Explain ``frame`` of ``study``: a ``(Z, Y, X)`` map in [0, 1] in the study's grid.

    predictor_or_name: a `Predictor`, a zoo name, a checkpoint path or a SliceModelBundle.
    structure: see the module docstring (per task). method: "grad-cam", "model map"
    (lv_volume_weak only) or "auto" (the model map for lv_volume_weak, Grad-CAM otherwise).
    layer: as `grad_cam` (None: `default_layer`).
    """
    predictor = as_predictor(predictor_or_name)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        method = "model map" if predictor.model_name == "lv_volume_weak" else "grad-cam"
    device = resolve_device(device) if isinstance(device, str) else device
    inputs = predictor.model_inputs(study, frame, device=device)  # validates study and frame
    model = predictor.model.to(device)
    tensor = inputs.tensor.to(device)
    details = {}
    if method == "model map":
        raw = model_map(model, tensor)  # validates the model
        explained_layer, description = "sigmoid LV map (the model's head)", f"P(LV cavity) per voxel, frame {frame}"
        details["map_trust"] = model_map_trust(predictor.metadata)  # is the map meaningful yet (its measured Dice)?
    else:
        score, description = explanation_target(predictor, inputs, structure)
        raw = grad_cam(model, tensor, score, layer, forward=inputs.forward, normalise="none")
        explained_layer = layer_name(model, layer)
    cam = np.clip(inputs.to_study(raw.cpu().numpy()), 0.0, None)
    peak = float(cam.max())
    cam = (cam / peak if peak > 0 else cam).astype(np.float32)
    details.update(input=inputs.description, input_shape=tuple(inputs.tensor.shape))
    return Explanation(cam=cam, method=method, layer=explained_layer, target=description, frame=int(frame),
                       model=predictor.name, details=details)
