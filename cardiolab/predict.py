"""Run any cardiolab model on a whole cine study: one call, one `Prediction` in the study's own grid.

The papers' models answer different questions from different inputs: a 2.5D segmenter
sees three slices of one frame, the 4D U-net the whole cycle, FCSLSTM one slice over
time, the ES/ED detector one median image per frame, the LVQuan network a crop around
the LV. This file hides that behind one interface, so the app, ``cardiolab analyze``
and the notebooks can treat every zoo checkpoint alike::

    from cardiolab.predict import load_predictor, predict
    predictor = load_predictor("default")          # a zoo name or a .pt path (weights_only)
    prediction = predictor.predict(study, device="auto", progress=True)
    prediction.segmentation                        # (T, Z, Y, X) uint8, canonical labels

Each model's input is built from the study exactly as its training pipeline built it
(`cardiolab.train.pipelines`, with the preprocessing stored in the checkpoint), and
every output is mapped back onto the study's grid:

==================  ==============================================================  ======================
model               input built from the study                                      `Prediction`
==================  ==============================================================  ======================
2.5D slice bundle   `cardiolab.inference.segment_study` (each slice with its        segmentation
(pspunet, "default")  neighbours as channels, the heart located by a first pass)
unet3d_thesis       each frame's stack ``(1, 1, Z, Y, X)``                          segmentation
unet3d_ccta         each frame's stack, Z, Y, X padded to its multiples             segmentation
unet4d              the whole prepared cycle ``(1, 1, T, Z, Y, X)``, padded; in     segmentation
                    circular time windows when it exceeds ``max_voxels``
fcslstm             each slice's whole sequence ``(1, 1, T, Y, X)``                 segmentation
deunet              each slice and frame with its r neighbours in time              segmentation
esed_detector       median projections of the inner slices ``(1, 1, T, Y, X)``     events (ED, ES, scores)
stcnn_lvquan        the mid-ventricular slice's LV crop, every kappa-frame window   regression (indices)
lv_volume_weak      each frame's stack ``(1, 1, Z, Y, X)``                          volume (ml per frame)
==================  ==============================================================  ======================

Choices made here (the papers describe training, not whole-study inference)
--------------------------------------------------------------------------
* The model never sees the study's labels: they are dropped before preprocessing, and
  the crop is centred by the image-based `heart_centre_yx` (the slice bundle: by
  `locate_heart`, as `segment_study` does). The one exception is the LVQuan crop below.
* Segmentation: class probabilities go back to the study grid with
  `Preprocessor.inverse_argmax` (linear interpolation, background 1 outside the crop
  window), the arg-max is taken there, and each structure keeps its largest connected component per
  frame (`keep_largest_components`, as the slice inference; ``Predictor.postprocess``).
* unet4d: time is padded circularly (a cine is one beat, as the training crops wrap),
  space with the image minimum (as `Crop4dDataset` pads). A cycle larger than
  ``max_voxels`` runs in windows of frames, half-overlapping and wrapping round the
  cycle; overlapping probabilities are averaged.
* esed_detector: ED and ES by the thesis' "central" post-processing with the
  checkpoint's threshold (``extra["central_threshold"]``, 0.9); the "naive" arg-max
  answer is kept in ``details``.
* stcnn_lvquan: the LVQuan 2018 images come already cropped around the LV ("roughly
  aligned", [seed 001] Sec. 2.2): the crop is an input of the method, not a prediction.
  `LVQuanDataset` builds it from an LV mask: the study's labels when it has any
  (``lv_crop_from="auto"`` or ``"labels"``), otherwise (or with ``"segmentation"``) a
  segmentation of every frame by ``Predictor.locator`` (the zoo's ``default`` model, or
  any bundle, predictor or callable). One slice: the mid-ventricular one, the middle of
  the slices showing LV cavity at ED (`LVQuanSamplingConfig` ``slices="mid"``'s rule;
  LVQuan gives one mid-cavity slice per subject); ``Predictor.lvquan_slice`` picks another.
* lv_volume_weak: every frame is measured (the thesis trains on ED), giving a volume curve.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
from scipy import ndimage
from tqdm.auto import tqdm

from cardiolab import LV_CAVITY, LV_MYOCARDIUM, models
from cardiolab.data.preprocess import (Preprocessor, circular_window, median_projection, stack_slice_context,
                                       temporal_windows)
from cardiolab.data.study import CineStudy
from cardiolab.devices import resolve_device
from cardiolab.events import EVENT_CLASSES, THESIS_THRESHOLD, detect_events
from cardiolab.inference import SliceModelBundle, keep_largest_components, locate_heart, pad_to_multiple, segment_study

TASKS = ("segmentation", "events", "regression", "volume")
# the registry's task names -> what a Prediction holds
REGISTRY_TASKS = {"segmentation": "segmentation", "events": "events", "lv_quantification": "regression",
                  "volume": "volume"}
# stcnn_lvquan's INDEX_NAMES -> names with units (areas mm^2, lengths mm)
LVQUAN_INDEX_UNITS = {
    "area_cavity": "lv_cavity_area_mm2", "area_myocardium": "lv_myocardium_area_mm2",
    "dim_1": "lv_dimension_0deg_mm", "dim_2": "lv_dimension_60deg_mm", "dim_3": "lv_dimension_120deg_mm",
    "rwt_IS": "wall_thickness_IS_mm", "rwt_I": "wall_thickness_I_mm", "rwt_IL": "wall_thickness_IL_mm",
    "rwt_AL": "wall_thickness_AL_mm", "rwt_A": "wall_thickness_A_mm", "rwt_AS": "wall_thickness_AS_mm",
}
LV_CROP_SOURCES = ("auto", "labels", "segmentation")


# =====================================================================================
# What comes back
# =====================================================================================
@dataclass
class Prediction:
    model: str                          # zoo name or checkpoint stem
    task: str                           # "segmentation" | "events" | "regression" | "volume"
    segmentation: np.ndarray | None     # (T, Z, Y, X) uint8 canonical labels in the study's grid
    events: dict | None                 # ed_frame, es_frame, frame_scores (T, 3), classes, method
    indices: dict | None                # regression: per-frame values with units; volume: lv_volume_ml
    runtime_s: float                    # wall-clock seconds of the prediction
    details: dict = field(default_factory=dict)  # model-specific facts (label map, slice used, device)


@dataclass
class ModelInputs:
    """What an explanation needs: the exact tensor fed to the model and the way back to the study.

    ``forward(model, tensor)`` runs the model as the prediction does; ``frame_outputs``
    picks, from its outputs, those that belong to ``frame`` (segmentation: logits
    ``(N, C, *spatial)`` without padding); ``to_study`` maps an array laid out like the
    tensor without its channel axis, ``(B, *spatial)``, to ``(Z, Y, X)`` float32 in the
    study's grid at ``frame``.
    """
    tensor: torch.Tensor
    frame: int
    forward: Callable[[nn.Module, torch.Tensor], Any]
    frame_outputs: Callable[[Any], Any]
    to_study: Callable[[np.ndarray], np.ndarray]
    description: str


def call_model(model: nn.Module, tensor: torch.Tensor):
    return model(tensor)


def same_outputs(outputs):
    return outputs


# =====================================================================================
# Small shared steps
# =====================================================================================
class Progress:
    """``progress``: None or False (silent), True (a tqdm bar) or a callable ``progress(done, total)``."""

    def __init__(self, progress, total: int, description: str):
        check_progress(progress)
        self.callback = progress if callable(progress) else None
        self.bar = tqdm(total=total, desc=description, leave=False) if progress is True else None
        self.done, self.total = 0, total

    def step(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def check_progress(progress) -> None:
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise TypeError(f"progress must be None, True/False or a callable progress(done, total), got {progress!r}")


def preprocessor_from(preprocessing: dict) -> Preprocessor:
    """A `Preprocessor` from a checkpoint's plain dict (extra keys, e.g. esed's "projection", are ignored)."""
    known = {f.name for f in fields(Preprocessor)}
    values = {key: tuple(value) if isinstance(value, list) else value
              for key, value in preprocessing.items() if key in known}
    return Preprocessor(**values)


def prepare(preprocessor: Preprocessor, study: CineStudy, centre_yx=None):
    """The study as the model was trained on it, its labels withheld: ``(image (T, Z, Y', X'), record)``."""
    image, _, record = preprocessor(dataclasses.replace(study, labels={}), centre_yx=centre_yx)
    return image.astype(np.float32), record


def pad_end(array: np.ndarray, multiples, fill: float) -> tuple[np.ndarray, tuple]:
    """Pad the last ``len(multiples)`` axes at their end up to multiples; returns the array and the old sizes."""
    sizes = array.shape[-len(multiples):]
    pads = [(0, 0)] * (array.ndim - len(multiples)) + [(0, (-n) % m) for n, m in zip(sizes, multiples)]
    return np.pad(array, pads, constant_values=fill), tuple(sizes)


def map_to_study(preprocessor: Preprocessor, record, maps: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """A float map ``(..., Y', X')`` of the prepared grid -> the study grid (linear), ``fill`` outside the crop."""
    return preprocessor.inverse_probabilities(maps, record, fill=fill)


def labels_from_probabilities(probabilities: np.ndarray, preprocessor: Preprocessor, record,
                              postprocess: bool) -> np.ndarray:
    """``(T, C, Z, Y', X')`` probabilities on the prepared grid -> ``(T, Z, Y, X)`` uint8 labels on the study's."""
    clean = keep_largest_components if postprocess else None
    # one frame at a time keeps the memory to one volume; inverse_argmax takes (Z, C, Y', X')
    return np.stack([preprocessor.inverse_argmax(frame_probabilities.swapaxes(0, 1), record, clean=clean)
                     for frame_probabilities in probabilities])


def softmax_numpy(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.float(), dim=1).cpu().numpy()


def batches(n_items: int, batch_size: int) -> list[range]:
    return [range(start, min(start + batch_size, n_items)) for start in range(0, n_items, batch_size)]


def default_frame(study: CineStudy) -> int:
    return study.ed_frame if study.ed_frame is not None else 0


# =====================================================================================
# The predictor
# =====================================================================================
@dataclass
class Predictor:
    """A loaded model with its metadata, ready for whole studies; cheap to keep in a cache."""
    name: str                               # zoo name or checkpoint stem
    task: str                               # one of TASKS
    model: nn.Module                        # from cardiolab.models.create, in eval mode
    metadata: dict                          # model_name, preprocessing, extra, metrics, training, ...
    bundle: SliceModelBundle | None = None  # set for 2.5D slice segmenters (they run through segment_study)
    postprocess: bool = True                # keep each structure's largest connected component per frame
    batch_size: int = 8                     # model inputs per forward pass (frames, slices, windows)
    max_voxels: int = 2 ** 23               # unet4d: larger cycles run in windows of frames
    lv_crop_from: str = "auto"              # stcnn: "auto" | "labels" | "segmentation"
    locator: Any = "default"                # stcnn: what segments the LV when labels are not used
    lvquan_slice: int | None = None         # stcnn: slice to quantify; None = the mid-ventricular one

    @property
    def model_name(self) -> str:
        return self.metadata["model_name"]

    def predict(self, study: CineStudy, device="cpu", progress=None) -> Prediction:
        """Run the model on the whole study; every output is in the study's grid and frames."""
        check_study(study)
        check_progress(progress)
        device = resolve_device(device) if isinstance(device, str) else device
        started = time.perf_counter()
        fields_of_prediction = runner(self).predict(self, study, device, progress)
        return Prediction(model=self.name, task=self.task, runtime_s=time.perf_counter() - started,
                          **{"segmentation": None, "events": None, "indices": None, **fields_of_prediction})

    def model_inputs(self, study: CineStudy, frame: int | None = None, device="cpu") -> ModelInputs:
        """The exact tensor fed to the model for ``frame`` (default: ED, else 0) and how to map outputs back.

        ``device`` is used only where building the inputs needs a model pass (the slice
        bundle's heart location, the LVQuan crop's segmentation).
        """
        check_study(study)
        frame = default_frame(study) if frame is None else frame
        if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)) or not 0 <= frame < study.n_frames:
            raise ValueError(f"frame must be an int in 0..{study.n_frames - 1}, got {frame!r}")
        device = resolve_device(device) if isinstance(device, str) else device
        return runner(self).inputs(self, study, int(frame), device)


def check_study(study) -> None:
    if not isinstance(study, CineStudy):
        raise TypeError(f"study must be a cardiolab.data.CineStudy, got {type(study).__name__}")


# =====================================================================================
# One runner per kind of model: predict(...) -> Prediction fields, inputs(...) -> ModelInputs
# =====================================================================================
@dataclass(frozen=True)
class Runner:
    predict: Callable
    inputs: Callable


# --- 2.5D slice bundles: the path of cardiolab.inference ------------------------------------
def predict_slice_bundle(predictor: Predictor, study, device, progress) -> dict:
    bundle = predictor.bundle
    labels = segment_study(bundle, study, device=device, progress=progress if progress is not None else False,
                           postprocess=predictor.postprocess)
    return {"segmentation": labels, "details": {"context": bundle.context, "device": str(device)}}


def inputs_slice_bundle(predictor: Predictor, study, frame: int, device) -> ModelInputs:
    bundle = predictor.bundle
    study = dataclasses.replace(study, labels={})
    centre = locate_heart(bundle, study, device)  # as segment_study: the crop follows a first, wide pass
    image, record = prepare(bundle.preprocessor, study, centre)
    stacks = torch.from_numpy(stack_slice_context(image[frame], bundle.context))  # (Z, context, Y', X')
    padded, (height, width) = pad_to_multiple(stacks, 16)

    def to_study(maps):  # (Z, 1, Y'p, X'p) -> (Z, Y, X)
        return map_to_study(bundle.preprocessor, record, maps[:, 0, :height, :width])

    return ModelInputs(tensor=padded[:, :, None].float(), frame=frame, forward=call_model,  # (Z, context, 1, Y, X)
                       frame_outputs=lambda logits: logits[:, :, 0, :height, :width], to_study=to_study,
                       description=f"frame {frame}: every slice with its {bundle.context - 1} neighbours as channels")


# --- one 3D stack per frame: unet3d_thesis, unet3d_ccta, lv_volume_weak ---------------------
def volume_multiples(model: nn.Module) -> tuple[int, int, int]:
    """(Z, Y, X) multiples an input stack needs."""
    if hasattr(model, "size_divisors"):                 # unet3d_ccta halves Z too
        return tuple(model.size_divisors)
    return (1, model.unet.plane_multiple, model.unet.plane_multiple)  # in-plane pooling only


def prepared_stacks(predictor: Predictor, study):
    preprocessor = preprocessor_from(predictor.metadata["preprocessing"])
    image, record = prepare(preprocessor, study)
    padded, sizes = pad_end(image, volume_multiples(predictor.model), fill=float(image.min()))  # (T, Zp, Yp, Xp)
    return preprocessor, record, padded, sizes


def predict_volume_stacks(predictor: Predictor, study, device, progress) -> dict:
    preprocessor, record, padded, (n_z, n_y, n_x) = prepared_stacks(predictor, study)
    model = predictor.model.to(device).eval()
    is_volume_model = predictor.task == "volume"
    outputs, volumes_ml = [], []
    groups = batches(len(padded), predictor.batch_size)
    bar = Progress(progress, len(groups), f"predicting ({predictor.name})")
    with torch.no_grad():
        for group in groups:
            stacks = torch.from_numpy(padded[list(group)])[:, None].to(device)  # (b, 1, Zp, Yp, Xp)
            if is_volume_model:
                volumes_ml.append(model(stacks, record.spacing_mm)["volume_ml"].cpu().numpy())
            else:
                outputs.append(softmax_numpy(model(stacks))[:, :, :n_z, :n_y, :n_x])  # (b, C, Z, Y', X')
            bar.step()
    bar.close()
    if is_volume_model:
        return {"indices": {"lv_volume_ml": np.concatenate(volumes_ml).astype(np.float64)},
                "details": {"device": str(device), "spacing_mm": record.spacing_mm}}
    labels = labels_from_probabilities(np.concatenate(outputs), preprocessor, record, predictor.postprocess)
    return {"segmentation": labels, "details": {"device": str(device)}}


def inputs_volume_stacks(predictor: Predictor, study, frame: int, device) -> ModelInputs:
    preprocessor, record, padded, (n_z, n_y, n_x) = prepared_stacks(predictor, study)

    def to_study(maps):  # (1, Zp, Yp, Xp) -> (Z, Y, X)
        return map_to_study(preprocessor, record, maps[0, :n_z, :n_y, :n_x])

    forward = call_model
    if predictor.task == "volume":  # lv_volume_weak also takes the spacing (its scanning module's ml)
        def forward(model, tensor):
            return model(tensor, record.spacing_mm)
    return ModelInputs(tensor=torch.from_numpy(padded[frame])[None, None], frame=frame, forward=forward,
                       frame_outputs=lambda logits: logits if isinstance(logits, dict)
                       else logits[:, :, :n_z, :n_y, :n_x],
                       to_study=to_study, description=f"frame {frame}: the stack of {n_z} slices")


# --- unet4d: the whole cycle at once, [seed 000] -----------------------------------------
def cycle_probabilities(model: nn.Module, image: np.ndarray, divisors, max_voxels: int, device,
                        progress=None, description: str = "unet4d") -> np.ndarray:
    """Class probabilities ``(C, T, Z, Y, X)`` of a 4D net on a whole prepared cycle ``(T, Z, Y, X)``.

    Space is padded with the image minimum up to the ``divisors`` ``(t, z, y, x)``; time is
    read circularly. The cycle goes through in one pass when its padded size holds at most
    ``max_voxels`` voxels, otherwise in windows of frames (a multiple of the time divisor)
    starting every half window, wrapping round the cycle; overlaps are averaged.
    """
    n_frames = image.shape[0]
    padded, (n_z, n_y, n_x) = pad_end(image, divisors[1:], fill=float(image.min()))  # (T, Zp, Yp, Xp)
    frame_voxels = int(np.prod(padded.shape[1:]))
    time_multiple = int(divisors[0])
    whole_cycle = -(-n_frames // time_multiple) * time_multiple  # T rounded up to the time divisor
    fitting = max(time_multiple, max_voxels // frame_voxels // time_multiple * time_multiple)
    window = min(whole_cycle, fitting)
    step = window if window == whole_cycle else max(time_multiple, window // 2)
    starts = list(range(0, n_frames, step)) if window < whole_cycle else [0]
    total, counts = None, np.zeros(n_frames)
    bar = Progress(progress, len(starts), f"predicting ({description})")
    with torch.no_grad():
        for start in starts:
            frames = (start + np.arange(window)) % n_frames  # circular: frame T-1 is followed by 0
            clip = torch.from_numpy(padded[frames])[None, None].to(device)  # (1, 1, window, Zp, Yp, Xp)
            probabilities = softmax_numpy(model(clip))[0, :, :, :n_z, :n_y, :n_x]  # (C, window, Z, Y, X)
            if total is None:
                total = np.zeros((probabilities.shape[0], n_frames, n_z, n_y, n_x), dtype=np.float32)
            np.add.at(total, (slice(None), frames), probabilities)  # a frame may appear twice in a window
            np.add.at(counts, frames, 1)
            bar.step()
    bar.close()
    return total / counts[None, :, None, None, None]


def predict_unet4d(predictor: Predictor, study, device, progress) -> dict:
    preprocessor = preprocessor_from(predictor.metadata["preprocessing"])
    image, record = prepare(preprocessor, study)
    model = predictor.model.to(device).eval()
    probabilities = cycle_probabilities(model, image, model.size_divisors, predictor.max_voxels, device, progress,
                                        predictor.name)  # (C, T, Z, Y', X')
    labels = labels_from_probabilities(probabilities.swapaxes(0, 1), preprocessor, record, predictor.postprocess)
    return {"segmentation": labels, "details": {"device": str(device)}}


def inputs_unet4d(predictor: Predictor, study, frame: int, device) -> ModelInputs:
    """The whole cycle, padded as `cycle_probabilities` pads it in one pass."""
    preprocessor = preprocessor_from(predictor.metadata["preprocessing"])
    image, record = prepare(preprocessor, study)
    divisors = predictor.model.size_divisors
    padded, (n_z, n_y, n_x) = pad_end(image, divisors[1:], fill=float(image.min()))
    n_frames = image.shape[0]
    frames = np.arange(-(-n_frames // divisors[0]) * divisors[0]) % n_frames  # circular time padding
    tensor = torch.from_numpy(padded[frames])[None, None]  # (1, 1, Tp, Zp, Yp, Xp)

    def to_study(maps):  # (1, Tp, Zp, Yp, Xp) -> (Z, Y, X) at `frame`
        return map_to_study(preprocessor, record, maps[0, frame, :n_z, :n_y, :n_x])

    return ModelInputs(tensor=tensor, frame=frame, forward=call_model,
                       frame_outputs=lambda logits: logits[:, :, frame, :n_z, :n_y, :n_x], to_study=to_study,
                       description=f"the whole cycle ({n_frames} frames), frame {frame} explained")


# --- fcslstm: each slice over the whole cycle, [seed 004] ----------------------------------
def slice_sequences(predictor: Predictor, study):
    preprocessor = preprocessor_from(predictor.metadata["preprocessing"])
    image, record = prepare(preprocessor, study)
    multiple = 2 ** len(predictor.model.config.block_widths)
    padded, (n_y, n_x) = pad_end(image, (multiple, multiple), fill=float(image.min()))
    sequences = np.ascontiguousarray(padded.transpose(1, 0, 2, 3))[:, None]  # (Z, 1, T, Yp, Xp)
    return preprocessor, record, sequences, (n_y, n_x)


def predict_fcslstm(predictor: Predictor, study, device, progress) -> dict:
    preprocessor, record, sequences, (n_y, n_x) = slice_sequences(predictor, study)
    model = predictor.model.to(device).eval()
    outputs = []
    groups = batches(len(sequences), predictor.batch_size)
    bar = Progress(progress, len(groups), f"predicting ({predictor.name})")
    with torch.no_grad():
        for group in groups:
            logits = model(torch.from_numpy(sequences[list(group)]).to(device))  # (b, C, T, Yp, Xp)
            outputs.append(softmax_numpy(logits)[..., :n_y, :n_x])
            bar.step()
    bar.close()
    probabilities = np.concatenate(outputs).transpose(2, 1, 0, 3, 4)  # (Z, C, T, Y, X) -> (T, C, Z, Y, X)
    labels = labels_from_probabilities(probabilities, preprocessor, record, predictor.postprocess)
    return {"segmentation": labels, "details": {"device": str(device)}}


def inputs_fcslstm(predictor: Predictor, study, frame: int, device) -> ModelInputs:
    preprocessor, record, sequences, (n_y, n_x) = slice_sequences(predictor, study)

    def to_study(maps):  # (Z, T, Yp, Xp) -> (Z, Y, X) at `frame`
        return map_to_study(preprocessor, record, maps[:, frame, :n_y, :n_x])

    return ModelInputs(tensor=torch.from_numpy(sequences), frame=frame, forward=call_model,
                       frame_outputs=lambda logits: logits[:, :, frame, :n_y, :n_x], to_study=to_study,
                       description=f"every slice over the whole cycle, frame {frame} explained")


# --- deunet: a frame with its neighbours in time, [seed 002] -------------------------------
def neighbour_clips(predictor: Predictor, study):
    preprocessor = preprocessor_from(predictor.metadata["preprocessing"])
    image, record = prepare(preprocessor, study)
    config = predictor.model.config
    levels = max(len(config.widths), config.offset_net_levels if config.tdam else 1)
    padded, (n_y, n_x) = pad_end(image, (2 ** (levels - 1),) * 2, fill=float(image.min()))

    def clip(frame: int) -> np.ndarray:  # (Z, 1, 2r+1, Yp, Xp): frames t-r .. t+r, circular
        frames = circular_window(len(padded), frame - config.temporal_radius, config.n_frames)
        return np.ascontiguousarray(padded[frames].transpose(1, 0, 2, 3))[:, None]

    return preprocessor, record, clip, (n_y, n_x)


def predict_deunet(predictor: Predictor, study, device, progress) -> dict:
    preprocessor, record, clip, (n_y, n_x) = neighbour_clips(predictor, study)
    model = predictor.model.to(device).eval()
    outputs = []
    bar = Progress(progress, study.n_frames, f"predicting ({predictor.name})")
    with torch.no_grad():
        for frame in range(study.n_frames):
            logits = model(torch.from_numpy(clip(frame)).to(device))  # (Z, C, Yp, Xp)
            outputs.append(softmax_numpy(logits)[..., :n_y, :n_x].swapaxes(0, 1))  # (C, Z, Y', X')
            bar.step()
    bar.close()
    labels = labels_from_probabilities(np.stack(outputs), preprocessor, record, predictor.postprocess)
    return {"segmentation": labels, "details": {"device": str(device)}}


def inputs_deunet(predictor: Predictor, study, frame: int, device) -> ModelInputs:
    preprocessor, record, clip, (n_y, n_x) = neighbour_clips(predictor, study)
    radius = predictor.model.config.temporal_radius

    def to_study(maps):  # (Z, 2r+1, Yp, Xp) -> (Z, Y, X): the target (middle) frame
        return map_to_study(preprocessor, record, maps[:, radius, :n_y, :n_x])

    return ModelInputs(tensor=torch.from_numpy(clip(frame)), frame=frame, forward=call_model,
                       frame_outputs=lambda logits: logits[..., :n_y, :n_x], to_study=to_study,
                       description=f"every slice of frame {frame} with its {radius} neighbours on each side")


# --- esed_detector: ES/ED events, [thesis] Ch. 7 --------------------------------------------
def event_projections(predictor: Predictor, study):
    preprocessor = preprocessor_from(predictor.metadata["preprocessing"])
    image, record = prepare(preprocessor, study)
    projections = torch.from_numpy(median_projection(image))[None, None]  # (1, 1, T, Y', X')
    return preprocessor, record, projections


def event_classes(predictor: Predictor) -> list[str]:
    classes = list(predictor.metadata.get("extra", {}).get("classes", EVENT_CLASSES))
    if classes != list(EVENT_CLASSES):
        raise ValueError(f"{predictor.name}: event classes {classes} differ from cardiolab.events' {EVENT_CLASSES}")
    return classes


def predict_esed(predictor: Predictor, study, device, progress) -> dict:
    _, _, projections = event_projections(predictor, study)
    model = predictor.model.to(device).eval()
    bar = Progress(progress, 1, f"predicting ({predictor.name})")
    with torch.no_grad():
        probabilities = softmax_numpy(model(projections.to(device)))[0]  # (3, T) over (ES, ED, other)
    bar.step()
    bar.close()
    threshold = float(predictor.metadata.get("extra", {}).get("central_threshold", THESIS_THRESHOLD))
    central = detect_events(probabilities, "central", threshold)  # [thesis] Sec. 7.3.5
    naive = detect_events(probabilities, "naive")
    events = {"ed_frame": central["ED"], "es_frame": central["ES"], "frame_scores": probabilities.T.copy(),
              "classes": event_classes(predictor), "method": "central", "threshold": threshold,
              "naive": {"ed_frame": naive["ED"], "es_frame": naive["ES"]}}
    return {"events": events, "details": {"device": str(device)}}


def inputs_esed(predictor: Predictor, study, frame: int, device) -> ModelInputs:
    preprocessor, record, projections = event_projections(predictor, study)
    n_slices = study.n_slices

    def to_study(maps):  # (1, T, Y', X') -> (Z, Y, X): the projection's slices carry the map
        plane = map_to_study(preprocessor, record, maps[0, frame][None])[0]  # (Y, X)
        volume = np.zeros((n_slices, *plane.shape), dtype=np.float32)
        inner = slice(1, -1) if n_slices >= 3 else slice(None)  # median_projection's slices
        volume[inner] = plane
        return volume

    return ModelInputs(tensor=projections, frame=frame, forward=call_model, frame_outputs=same_outputs,
                       to_study=to_study, description="median projection of the inner slices, one image per frame")


# --- stcnn_lvquan: LV indices of one slice, [seed 001] ---------------------------------------
def lvquan_sampling(predictor: Predictor):
    from cardiolab.data.sampling import LVQuanSamplingConfig

    known = {f.name for f in fields(LVQuanSamplingConfig)}
    values = {key: value for key, value in predictor.metadata["preprocessing"].items() if key in known}
    return LVQuanSamplingConfig(**{**values, "slices": "all"})  # one slice is passed in at a time


def lv_mask_labels(predictor: Predictor, study, device) -> tuple[dict, str]:
    """``{frame: (Z, Y, X) labels}`` that place the LVQuan crop, and where they came from."""
    source = predictor.lv_crop_from
    if source not in LV_CROP_SOURCES:
        raise ValueError(f"lv_crop_from must be one of {LV_CROP_SOURCES}, got {source!r}")
    if source == "labels" or (source == "auto" and study.labels):
        if not study.labels:
            raise ValueError("lv_crop_from='labels' but the study has no labels")
        return dict(study.labels), "study labels"
    locator = predictor.locator
    if callable(locator) and not isinstance(locator, (Predictor, SliceModelBundle)):
        segmentation = np.asarray(locator(study))
        where = getattr(locator, "__name__", "locator")
    else:
        predictor.locator = locator = as_predictor(locator)  # loaded once, kept for the next study
        located = locator.predict(study, device=device)
        if located.segmentation is None:
            raise ValueError(f"locator {located.model!r} gives no segmentation")
        segmentation, where = located.segmentation, f"segmentation by {located.model}"
    if segmentation.shape != study.image.shape:
        raise ValueError(f"the locator's segmentation has shape {segmentation.shape}, the study {study.image.shape}")
    return {t: segmentation[t].astype(np.uint8) for t in range(study.n_frames)}, where


def mid_ventricular_slice(labels: dict, reference: int) -> int:
    """The middle of the slices with LV cavity at ``reference`` (`LVQuanSamplingConfig` ``slices="mid"``)."""
    with_cavity = [z for z in range(labels[reference].shape[0]) if (labels[reference][z] == LV_CAVITY).any()]
    if not with_cavity:
        raise ValueError(f"no LV cavity on frame {reference}: the LVQuan crop cannot be placed")
    return with_cavity[len(with_cavity) // 2]


def lvquan_crop_centre(labels: dict, z: int) -> tuple[float, float]:
    """Centre (rows, columns) of the LVQuan crop of slice ``z``: the LV's bounding box over its frames.

    The same rule as `LVQuanDataset` (its crop is centred on the bounding box of cavity and
    myocardium over every frame showing cavity on the slice); needed to map maps back.
    """
    frames = [t for t in sorted(labels) if (labels[t][z] == LV_CAVITY).any()]
    ventricle = np.any([np.isin(labels[t][z], (LV_CAVITY, LV_MYOCARDIUM)) for t in frames], axis=0)  # (Y, X)
    rows, cols = np.nonzero(ventricle)
    return (rows.min() + rows.max()) / 2.0, (cols.min() + cols.max()) / 2.0


@dataclass
class LVQuanCrop:
    sequence: np.ndarray      # (T, S, S) float32, normalised as in training
    side_mm: float            # side of the crop in mm
    slice_index: int          # z in the study
    centre_yx: tuple          # crop centre in the study's pixels
    source: str               # where the LV mask came from


def lvquan_crop(predictor: Predictor, study, device) -> LVQuanCrop:
    """The slice's LV crop over the cycle, built by `LVQuanDataset` (the training pipeline) itself."""
    from cardiolab import targets
    from cardiolab.data.lvquan import LVQuanDataset

    labels, source = lv_mask_labels(predictor, study, device)
    located = dataclasses.replace(study, labels=labels)
    ed, es = targets.ed_es_frames(located)
    reference = ed if ed in labels else min(labels)
    z = mid_ventricular_slice(labels, reference) if predictor.lvquan_slice is None else int(predictor.lvquan_slice)
    if not 0 <= z < study.n_slices:
        raise ValueError(f"lvquan_slice must be in 0..{study.n_slices - 1}, got {z}")
    one_slice = dataclasses.replace(located, ed_frame=ed, es_frame=es).slices(z)
    dataset = LVQuanDataset([one_slice], lvquan_sampling(predictor))
    sequence = dataset.sequences[0]
    return LVQuanCrop(sequence["image"].astype(np.float32), float(sequence["side_mm"]), z,
                      lvquan_crop_centre(labels, z), source)


def crop_to_study(plane: np.ndarray, crop: LVQuanCrop, study: CineStudy) -> np.ndarray:
    """A map on the ``(S, S)`` crop -> ``(Z, Y, X)`` in the study: on the crop's slice, 0 elsewhere.

    Inverse of the crop's sampling: crop pixel i sits at ``centre + (i + 0.5 - S/2) * side/S`` mm.
    """
    size = plane.shape[-1]
    pixel_mm = crop.side_mm / size
    spacing_y, spacing_x = study.spacing[1:]
    rows, cols = np.mgrid[:study.image.shape[2], :study.image.shape[3]].astype(np.float64)
    crop_rows = (rows - crop.centre_yx[0]) * spacing_y / pixel_mm + size / 2.0 - 0.5
    crop_cols = (cols - crop.centre_yx[1]) * spacing_x / pixel_mm + size / 2.0 - 0.5
    volume = np.zeros(study.image.shape[1:], dtype=np.float32)
    volume[crop.slice_index] = ndimage.map_coordinates(plane.astype(np.float64), [crop_rows, crop_cols], order=1,
                                                       mode="constant", cval=0.0)
    return volume


def predict_stcnn(predictor: Predictor, study, device, progress) -> dict:
    from cardiolab.models.stcnn_lvquan import INDEX_NAMES, PHASE_NAMES

    crop = lvquan_crop(predictor, study, device)
    model = predictor.model.to(device).eval()
    bar = Progress(progress, 1, f"predicting ({predictor.name})")
    with torch.no_grad():  # every frame's circular kappa-window in one batch, [seed 001] Sec. 2.1
        outputs = model.forward_sequence(torch.from_numpy(crop.sequence)[None, None].to(device))
    bar.step()
    bar.close()
    normalised = outputs["indices"][0].float().cpu().numpy()  # (T, 11): lengths / side, areas / side^2
    scale = np.array([crop.side_mm ** 2] * 2 + [crop.side_mm] * 9)  # back to mm^2 and mm
    values = normalised * scale
    systole = torch.softmax(outputs["phase_logits"][0].float(), dim=-1)[:, PHASE_NAMES.index("systole")].cpu().numpy()
    indices = {LVQUAN_INDEX_UNITS[name]: values[:, i].astype(np.float64) for i, name in enumerate(INDEX_NAMES)}
    indices["phase"] = [PHASE_NAMES[int(p > 0.5)] for p in systole]
    indices["systole_probability"] = systole.astype(np.float64)
    details = {"slice": crop.slice_index, "crop_side_mm": crop.side_mm, "crop_centre_yx": crop.centre_yx,
               "lv_crop_from": crop.source, "device": str(device)}
    return {"indices": indices, "details": details}


def inputs_stcnn(predictor: Predictor, study, frame: int, device) -> ModelInputs:
    crop = lvquan_crop(predictor, study, device)
    kappa = predictor.model.config.kappa
    window = temporal_windows(crop.sequence, kappa)[frame]  # (kappa, S, S), frame in the middle
    return ModelInputs(tensor=torch.from_numpy(np.ascontiguousarray(window))[None, None], frame=frame,
                       forward=call_model, frame_outputs=same_outputs,
                       to_study=lambda maps: crop_to_study(maps[0, kappa // 2], crop, study),
                       description=f"slice {crop.slice_index}: the LV crop, frames {frame}-{kappa // 2}.."
                                   f"{frame}+{kappa // 2} (circular)")


RUNNERS = {
    "slice_bundle": Runner(predict_slice_bundle, inputs_slice_bundle),
    "unet3d_thesis": Runner(predict_volume_stacks, inputs_volume_stacks),
    "unet3d_ccta": Runner(predict_volume_stacks, inputs_volume_stacks),
    "lv_volume_weak": Runner(predict_volume_stacks, inputs_volume_stacks),
    "unet4d": Runner(predict_unet4d, inputs_unet4d),
    "fcslstm": Runner(predict_fcslstm, inputs_fcslstm),
    "deunet": Runner(predict_deunet, inputs_deunet),
    "esed_detector": Runner(predict_esed, inputs_esed),
    "stcnn_lvquan": Runner(predict_stcnn, inputs_stcnn),
}


def runner(predictor: Predictor) -> Runner:
    key = "slice_bundle" if predictor.bundle is not None else predictor.model_name
    if key not in RUNNERS:
        raise ValueError(f"no whole-study prediction for model {key!r}; known: {sorted(RUNNERS)}")
    return RUNNERS[key]


# =====================================================================================
# Building predictors
# =====================================================================================
def default_metadata(model_name: str, model: nn.Module | None = None) -> dict:
    """Metadata shaped like what the recipes store, for a freshly trained or untrained model.

    Preprocessing: the phantom recipes' settings for the four temporal models, the
    default recipe's for the slice segmenters, the training pipelines' defaults otherwise.
    """
    from cardiolab.data import presets, sampling  # the settings the models were trained with

    spec = models.spec(model_name)
    extra: dict = {}
    if model_name in ("pspunet", "unet3d_thesis"):
        preprocessing = dict(presets.DEFAULT_PREPROCESSOR)
    elif model_name == "esed_detector":
        image_size = model.config.image_size if model is not None else presets.ESED_PREPROCESSOR["crop_size_yx"][0]
        field_of_view_mm = 64 * 3.0  # the esed_phantom recipe: 64 px at 3 mm
        preprocessing = {**presets.ESED_PREPROCESSOR, "crop_size_yx": (image_size, image_size),
                         "target_spacing_yx_mm": (field_of_view_mm / image_size,) * 2,
                         "projection": "median over inner slices"}
        extra = {"classes": list(EVENT_CLASSES), "central_threshold": THESIS_THRESHOLD}
    elif model_name == "unet4d":
        preprocessing = dict(presets.UNET4D_PREPROCESSOR)
        extra = {"label_map": dict(presets.LABEL_MAP)}
    elif model_name == "fcslstm":
        preprocessing = dict(presets.FCSLSTM_PREPROCESSOR)
        extra = {"label_map": dict(presets.LABEL_MAP)}
    elif model_name == "stcnn_lvquan":
        config = model.config if model is not None else spec.config("small")
        preprocessing = dataclasses.asdict(sampling.LVQuanSamplingConfig(kappa=config.kappa,
                                                                          image_size=config.image_size))
    else:
        sampling = {"unet3d_ccta": sampling.CropSamplingConfig, "deunet": sampling.NeighbourSamplingConfig,
                    "lv_volume_weak": sampling.VolumeSamplingConfig}[model_name]()
        preprocessing = dataclasses.asdict(sampling.preprocessor)
    return {"model_name": model_name, "task": spec.task, "preprocessing": preprocessing, "extra": extra,
            "metrics": {}, "training": {}}


def predictor_from_model(model: nn.Module, metadata: dict | None = None, name: str | None = None) -> Predictor:
    """A `Predictor` for a model of `cardiolab.models.create` and its checkpoint metadata.

    Keys missing from ``metadata`` come from `default_metadata`. A pspunet (always slice
    by slice) and any model whose metadata names a slice ``context`` run as 2.5D slice
    bundles through `cardiolab.inference`.
    """
    if not isinstance(model, nn.Module) or not hasattr(model, "model_name"):
        raise TypeError("model must come from cardiolab.models.create (it needs .model_name)")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    metadata = {**default_metadata(model.model_name, model), **(metadata or {})}
    if metadata["model_name"] != model.model_name:
        raise ValueError(f"metadata is for {metadata['model_name']!r}, the model is {model.model_name!r}")
    name = name or model.model_name
    task = REGISTRY_TASKS.get(metadata.get("task") or models.spec(model.model_name).task)
    if task is None:
        raise ValueError(f"unknown task {metadata.get('task')!r}; known: {sorted(REGISTRY_TASKS)}")
    bundle = None
    if "context" in metadata or model.model_name == "pspunet":
        context = int(metadata.get("context", getattr(model, "in_channels", 1)))
        bundle = SliceModelBundle(model=model, preprocessor=preprocessor_from(metadata["preprocessing"]),
                                  context=context, name=name)
    return Predictor(name=name, task=task, model=model.eval(), metadata=metadata, bundle=bundle)


def predictor_from_bundle(bundle: SliceModelBundle) -> Predictor:
    """A `Predictor` around a `SliceModelBundle` (its preprocessing, context and flips are kept)."""
    metadata = {"model_name": bundle.model.model_name, "task": "segmentation", "context": bundle.context,
                "preprocessing": dataclasses.asdict(bundle.preprocessor), "extra": {}, "metrics": {}, "training": {}}
    return Predictor(name=bundle.name, task="segmentation", model=bundle.model, metadata=metadata, bundle=bundle)


def load_predictor(name_or_path) -> Predictor:
    """A zoo name ("default", "esed_phantom", ...) or a checkpoint path -> `Predictor` (weights_only loading)."""
    from cardiolab import zoo

    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"name_or_path must be a zoo name or a path, got {type(name_or_path).__name__}")
    path = Path(name_or_path)
    name = path.stem if path.is_file() else str(name_or_path)
    model, metadata = zoo.load_model(name_or_path)  # KeyError naming the zoo's models; weights_only inside
    return predictor_from_model(model, metadata, name=name)


def as_predictor(model) -> Predictor:
    """A name, a path, a `Predictor` or a `SliceModelBundle` -> `Predictor`."""
    if isinstance(model, Predictor):
        return model
    if isinstance(model, SliceModelBundle):
        return predictor_from_bundle(model)
    if isinstance(model, (str, Path)):
        return load_predictor(model)
    raise TypeError(f"model must be a zoo name, a checkpoint path, a Predictor or a SliceModelBundle, "
                    f"got {type(model).__name__}")


def predict(model, study: CineStudy, device="cpu", progress=None) -> Prediction:
    """Run ``model`` (zoo name, path, `Predictor` or `SliceModelBundle`) on a whole study."""
    return as_predictor(model).predict(study, device=device, progress=progress)


def available_models() -> list[dict]:
    """One dict per bundled zoo checkpoint: name, model_name, task, registry_task, metrics, training, extra, card.

    ``task`` is a `Prediction` task (one of `TASKS`); ``registry_task`` the registry's
    name for it (``lv_quantification`` for "regression"); ``card`` the model card (Markdown).
    """
    from cardiolab import zoo

    entries = []
    for name in zoo.available():
        metadata = zoo.metadata(name)
        registry_task = metadata.get("task") or models.spec(metadata["model_name"]).task
        entries.append({"name": name, "model_name": metadata["model_name"],
                        "task": REGISTRY_TASKS.get(registry_task, registry_task), "registry_task": registry_task,
                        "metrics": metadata.get("metrics", {}), "training": metadata.get("training", {}),
                        "extra": metadata.get("extra", {}), "card": zoo.model_card(name)})
    return entries
