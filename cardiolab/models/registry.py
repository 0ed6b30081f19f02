"""The model registry: every paper model is created by name, never by importing its class.

Each model file registers itself with `register_model`, giving its paper reference,
its tensor layouts and two configurations: ``paper`` (the sizes the paper reports) and
``small`` (a version that trains on a laptop CPU in minutes). Apps, notebooks and the
training engine then call::

    from cardiolab import models
    net = models.create("unet4d", size="small", in_channels=1)
    models.available()      # ['deunet', 'esed_detector', ...]
    models.spec("unet4d")   # paper, task, layouts, configs
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Callable

import torch.nn as nn


@dataclass(frozen=True)
class ModelSpec:
    name: str
    model_class: Callable[..., nn.Module]  # called as model_class(config)
    config_class: type                     # a dataclass of the model's hyper-parameters
    paper: str                             # citation and section, e.g. "seed 000, Sec. 2.2, Table 1"
    task: str                              # "segmentation", "lv_quantification", "events", "volume"
    input_layout: str                      # e.g. "(B, 1, T, Z, Y, X)"
    output_layout: str                     # e.g. "(B, 3, T, Z, Y, X)"
    configs: dict[str, dict] = field(default_factory=dict)  # size name -> config overrides

    def config(self, size: str = "small", **overrides) -> Any:
        if size not in self.configs:
            raise ValueError(f"model {self.name!r} has no size {size!r}; sizes: {sorted(self.configs)}")
        values = {**self.configs[size], **overrides}
        known = {f.name for f in fields(self.config_class)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"model {self.name!r} has no option(s) {unknown}; options: {sorted(known)}")
        return self.config_class(**values)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, *, config_class: type, paper: str, task: str, input_layout: str,
                   output_layout: str, small: dict, paper_size: dict):
    """Class decorator that adds a model to the registry under ``name``."""
    if not is_dataclass(config_class):
        raise TypeError("config_class must be a dataclass")

    def decorate(model_class):
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(name, model_class, config_class, paper, task, input_layout,
                                    output_layout, {"small": dict(small), "paper": dict(paper_size)})
        return model_class

    return decorate


def available() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_REGISTRY)


def spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name]


def create(name: str, size: str = "small", **overrides) -> nn.Module:
    """Build the model ``name`` at ``size`` ("small" or "paper"), with config ``overrides``.

    The model gets two attributes: ``model_name`` and ``config`` (the dataclass used),
    so a checkpoint can record exactly what it holds.
    """
    model_spec = spec(name)
    config = model_spec.config(size, **overrides)
    model = model_spec.model_class(config)
    model.model_name = name
    model.config = config
    return model
