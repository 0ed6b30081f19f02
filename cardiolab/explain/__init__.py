"""Explanations of model predictions: Grad-CAM for every model, and lv_volume_weak's own map.

* `grad_cam` (gradcam.py): Grad-CAM (Selvaraju et al., ICCV 2017), a generalisation of
  CAM (Zhou et al., CVPR 2016), for inputs with any number of spatial axes: 2D slices,
  3D stacks and 3D + time cycles alike.
* `default_layer` (layers.py): which layer is explained for each registered model, and why.
* `model_map` (model_map.py): the LV map that lv_volume_weak measures its volume on
  (thesis Ch. 6), its own explanation; `model_map_trust` says from a checkpoint's
  measured map Dice whether that map may be read as one yet.
* `explain` (study.py): one frame of a whole study, mapped back onto the study's grid.

    from cardiolab.explain import explain
    explanation = explain("default", study, frame=study.ed_frame, structure="lv")
    explanation.cam        # (Z, Y, X) float32 in [0, 1]
"""
from cardiolab.explain.gradcam import class_target, grad_cam, layer_name, resize_linear
from cardiolab.explain.layers import InputOf, default_layer
from cardiolab.explain.model_map import MapTrust, model_map, model_map_trust
from cardiolab.explain.study import Explanation, explain

__all__ = ["Explanation", "InputOf", "MapTrust", "class_target", "default_layer", "explain", "grad_cam",
           "layer_name", "model_map", "model_map_trust", "resize_linear"]
