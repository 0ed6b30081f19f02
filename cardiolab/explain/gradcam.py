"""Grad-CAM for any cardiolab model: 2D, 3D and 3D + time (4D) inputs alike.

What the papers do
------------------
CAM (Zhou et al., "Learning deep features for discriminative localization", CVPR 2016):
a network that ends in global average pooling and one linear layer scores class c as
``y_c = sum_k w_ck mean(A_k)`` over the last feature maps ``A_k``, so the map
``sum_k w_ck A_k`` shows where the evidence for c lies.

Grad-CAM (Selvaraju et al., "Grad-CAM: visual explanations from deep networks via
gradient-based localization", ICCV 2017) extends it to any network and any layer: the
weight of channel k is the spatial mean of the gradient of the class score y_c (before
the softmax) with respect to the channel's activations (their Eq. 1),
``alpha_ck = 1/N sum_voxels d y_c / d A_k``, and the map is ``ReLU(sum_k alpha_ck A_k)``
(Eq. 2): the ReLU keeps what speaks for the class. For a CAM network it is the CAM up to
a constant. The map lives on the layer's grid and is upsampled to the input's.

What this file implements
-------------------------
``grad_cam(model, inputs, target, layer)`` for inputs ``(B, C, *spatial)`` with any
number of spatial axes (2D slices, 3D stacks, 3D + time), returning ``(B, *spatial)``
in [0, 1]. ``target`` is a class index (segmentation) or any ``callable(outputs) ->
scalar`` (an event score at one frame, a regressed LV area). Helpers: `class_target`,
`resize_linear` (multilinear resizing of any rank), `resolve_layer`, `layer_name`;
`InputOf` (explain the tensor fed into a module) lives in `cardiolab.explain.layers`.

Choices where the papers are silent
-----------------------------------
* A segmentation class's score is the sum of its logits over the pixels predicted as
  that class (or over a given ``mask``), as Seg-Grad-CAM (Vinogradova et al., AAAI 2020)
  does for segmentation networks; where the class is predicted nowhere, over every pixel.
* A batch: the score is summed over the samples, and each sample's channel weights come
  from its own gradient. In eval mode samples do not interact, so each sample's map is
  the Grad-CAM of its own part of the score.
* The model runs in eval mode (BatchNorm with its running statistics, no dropout) with
  its parameters frozen; every module's mode and every parameter's ``requires_grad`` are
  restored afterwards, the hooks removed, no gradient left on a parameter, no graph kept.
* The activations are caught by a forward hook (a pre-hook for `InputOf`), their gradient
  by a tensor hook registered there: it sees the gradient of the value the layer produced
  even when an in-place ReLU overwrites that value afterwards. A layer that runs more than
  once in one forward pass (a shared encoder, a recurrent cell) is refused: name its
  container instead.
* A layer with fewer spatial axes than the input (DeU-Net's decoder works after its
  temporal fusion, so it has no time axis) gives a map repeated along the missing
  leading axes.
* Upsampling is multilinear and half-pixel centred (``align_corners=False``), done one
  axis at a time: the same as PyTorch's bilinear / trilinear where those exist, and
  defined for 4D, where PyTorch has none.
* ``normalise``: "sample" (each map divided by its maximum, the usual display),
  "batch" (one maximum for the batch: slices of one volume stay comparable) or "none".
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from cardiolab.explain.layers import InputOf, default_layer  # noqa: F401  InputOf re-exported

NORMALISATIONS = ("sample", "batch", "none")


def resolve_layer(model: nn.Module, layer) -> tuple[nn.Module, bool]:
    """``(module, use_its_input)`` for ``layer``: None (`default_layer`), a module, `InputOf`, or a name.

    Names are those of ``model.named_modules()``; ``"name:input"`` means the module's input.
    """
    if layer is None:
        layer = default_layer(model)
    if isinstance(layer, str):
        name, _, part = layer.partition(":")
        if part not in ("", "input"):
            raise ValueError(f"layer {layer!r}: write 'name' or 'name:input'")
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise ValueError(f"layer {name!r} is not a submodule of the model") from None
        return module, part == "input"
    if isinstance(layer, InputOf):
        module, use_input = layer.target_module, True
    elif isinstance(layer, nn.Module):
        module, use_input = layer, False
    else:
        raise TypeError(f"layer must be None, an nn.Module, InputOf(module) or a name, got {type(layer).__name__}")
    if not any(module is candidate for candidate in model.modules()):
        raise ValueError("layer is not a module of this model")
    return module, use_input


def layer_name(model: nn.Module, layer=None) -> str:
    """A readable name of the layer Grad-CAM uses (its qualified module name)."""
    module, use_input = resolve_layer(model, layer)
    name = next((name for name, candidate in model.named_modules() if candidate is module), "?") or "(the model)"
    return f"input of {name}" if use_input else name


def class_target(class_index: int, mask: torch.Tensor | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """Score of a segmentation class: its logits summed over its predicted pixels (or over ``mask``).

    ``outputs`` must be logits ``(B, C, *spatial)`` (or ``(B, C)`` for a classifier);
    ``mask`` (``(B, *spatial)``, bool or 0/1) replaces the predicted region.
    """
    if isinstance(class_index, bool) or not isinstance(class_index, int) or class_index < 0:
        raise ValueError(f"target must be a non-negative class index or a callable, got {class_index!r}")

    def score(outputs) -> torch.Tensor:
        if not isinstance(outputs, torch.Tensor) or outputs.dim() < 2:
            raise TypeError("a class-index target needs logits (B, C, ...); give a callable target for other outputs")
        if class_index >= outputs.shape[1]:
            raise ValueError(f"class {class_index} does not exist: the model has {outputs.shape[1]} output channels")
        class_logits = outputs[:, class_index]
        region = outputs.argmax(dim=1) == class_index if mask is None else mask.to(outputs.device).bool()
        if region.shape != class_logits.shape:
            raise ValueError(f"mask must have shape {tuple(class_logits.shape)}, got {tuple(region.shape)}")
        if not region.any():  # the class is predicted nowhere: explain its score over every pixel
            region = torch.ones_like(region)
        return (class_logits * region.to(class_logits.dtype)).sum()

    return score


def resize_linear(maps: torch.Tensor, size) -> torch.Tensor:
    """Multilinear resize of ``maps (B, *spatial)`` to ``size``, any number of spatial axes.

    One axis at a time with 1D linear interpolation, half-pixel centred
    (``align_corners=False``): the separable form of bilinear / trilinear interpolation.
    """
    size = tuple(int(n) for n in size)
    if maps.dim() - 1 != len(size):
        raise ValueError(f"maps have {maps.dim() - 1} spatial axes, size has {len(size)}")
    for axis, new_length in enumerate(size, start=1):
        if maps.shape[axis] == new_length:
            continue
        moved = maps.movedim(axis, -1)                                  # (..., L)
        lines = moved.reshape(-1, 1, moved.shape[-1])                   # (N, 1, L): every line along the axis
        resized = F.interpolate(lines, size=new_length, mode="linear", align_corners=False)
        maps = resized.reshape(*moved.shape[:-1], new_length).movedim(-1, axis)
    return maps


def _normalised(maps: torch.Tensor, normalise: str) -> torch.Tensor:
    if normalise == "none":
        return maps
    dims = tuple(range(1, maps.dim())) if normalise == "sample" else tuple(range(maps.dim()))
    peak = maps.amax(dim=dims, keepdim=True)
    return torch.where(peak > 0, maps / peak.clamp_min(torch.finfo(maps.dtype).tiny), torch.zeros_like(maps))


def _weighted_map(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """[Selvaraju 2017] Eq. (1)-(2): ReLU(sum_k mean(dy/dA_k) A_k): (B, K, *s) -> (B, *s)."""
    if activation.dim() < 3:
        raise ValueError(f"the layer's output {tuple(activation.shape)} has no spatial axes to map")
    spatial_dims = tuple(range(2, activation.dim()))
    channel_weights = gradient.mean(dim=spatial_dims, keepdim=True)  # (B, K, 1, ...): alpha_ck
    return torch.relu((channel_weights * activation).sum(dim=1))      # (B, *s)


def _restore_state(model: nn.Module, modes: list, flags: list) -> None:
    for module, training in modes:
        module.training = training
    for parameter, requires_grad in flags:
        parameter.requires_grad_(requires_grad)


def grad_cam(model: nn.Module, inputs: torch.Tensor, target, layer: nn.Module | str | None = None, *,
             forward: Callable | None = None, mask: torch.Tensor | None = None,
             normalise: str = "sample") -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., ICCV 2017) of ``target`` at ``layer``: ``(B, *spatial)`` in [0, 1].

    model: any module (a registry model or a hand-built one).
    inputs: ``(B, C, *spatial)``, any number of spatial axes (2D, 3D, 3D + time).
    target: a class index (segmentation: the class's logits summed over its predicted
        pixels, or over ``mask``) or ``callable(outputs) -> scalar`` (e.g. the ES logit
        of frame t, a regressed area); a non-scalar score is summed.
    layer: None (`default_layer`), a module of ``model``, ``InputOf(module)`` or a name
        (``"net.decoder.1"``, ``"classify:input"``).
    forward: how to run the model, ``forward(model, inputs) -> outputs`` (default
        ``model(inputs)``; lv_volume_weak also needs its spacing).
    normalise: "sample", "batch" or "none" (raw, non-negative values).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, torch.Tensor) or inputs.dim() < 3:
        got = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ValueError(f"inputs must be a tensor (B, C, *spatial) with at least one spatial axis, got {got}")
    if normalise not in NORMALISATIONS:
        raise ValueError(f"normalise must be one of {NORMALISATIONS}, got {normalise!r}")
    score_of = target if callable(target) else class_target(target, mask)
    module, use_input = resolve_layer(model, layer)

    captured = []

    def keep(tensor) -> None:
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"the layer's {'input' if use_input else 'output'} is a {type(tensor).__name__}, "
                            "not a tensor: choose another layer")
        entry = {"activation": tensor.detach().clone()}  # clone: a later in-place op must not change it
        if tensor.requires_grad:
            tensor.register_hook(lambda gradient: entry.__setitem__("gradient", gradient.detach()))
        captured.append(entry)

    if use_input:
        handle = module.register_forward_pre_hook(lambda _, args: keep(args[0]))
    else:
        handle = module.register_forward_hook(lambda _, args, output: keep(output))
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for parameter, _ in flags:
            parameter.requires_grad_(False)  # gradients reach the activations only, never a parameter
        with torch.enable_grad():
            leaf = inputs.detach().clone().requires_grad_(True)  # so that every activation joins the graph
            outputs = forward(model, leaf) if forward is not None else model(leaf)
            if len(captured) != 1:
                raise ValueError(f"the layer ran {len(captured)} times in one forward pass; Grad-CAM needs one "
                                 "(name the module that contains it, or another layer)")
            score = score_of(outputs)
            if not isinstance(score, torch.Tensor) or not score.requires_grad:
                raise ValueError("target(outputs) must be a tensor computed from the model's outputs")
            score.sum().backward()
    finally:
        handle.remove()
        _restore_state(model, modes, flags)

    activation = captured[0]["activation"]
    gradient = captured[0].get("gradient", torch.zeros_like(activation))  # the score ignores the layer: no map
    cam = _weighted_map(activation.float(), gradient.float())  # (B', *layer grid)
    batch, spatial = inputs.shape[0], tuple(inputs.shape[2:])
    if cam.shape[0] != batch or cam.dim() - 1 > len(spatial):
        raise ValueError(f"the layer's output {tuple(activation.shape)} does not match the inputs "
                         f"{tuple(inputs.shape)} (batch and spatial axes): choose another layer")
    missing_axes = len(spatial) - (cam.dim() - 1)
    cam = cam.reshape(batch, *([1] * missing_axes), *cam.shape[1:])  # repeat along missing leading axes
    return _normalised(resize_linear(cam, spatial), normalise).detach()
