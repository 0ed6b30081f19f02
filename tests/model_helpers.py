"""What the model tests share: a tiny training loop, the paper-size check, synthetic hearts.

Every model test file checks the same few things: the paper configuration has about as
many parameters as the paper says, and a small configuration can fit a synthetic phantom
(the loss halves within a few dozen Adam steps). The phantoms are drawn, not loaded: an
LV cavity disk inside a myocardium ring, often with an RV disk beside it, so the labels
are known exactly and no data is needed.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from cardiolab import BACKGROUND, LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY, models
from cardiolab.models.blocks import parameter_count

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --- model size --------------------------------------------------------------------------

def assert_paper_parameter_count(model_name: str, paper_parameters: float, rel_tolerance: float) -> None:
    """The "paper" configuration of `model_name` is within `rel_tolerance` of the paper's count.

    Built on the meta device: shapes only, no memory, so even the large models cost nothing.
    """
    with torch.device("meta"):
        net = models.create(model_name, size="paper")
    count = parameter_count(net)
    assert abs(count - paper_parameters) / paper_parameters < rel_tolerance, count


# --- learning ----------------------------------------------------------------------------

def train_steps(model: torch.nn.Module, make_loss: Callable[[], torch.Tensor], steps: int, lr: float,
                stop_once_halved: bool = False) -> list[float]:
    """Run at most `steps` Adam steps on `make_loss()`; return the loss seen before each step.

    ``losses[i]`` is the loss after ``i`` updates. With `stop_once_halved` the loop ends,
    without stepping, at the first loss below half the first one.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = make_loss()
        losses.append(loss.item())
        if stop_once_halved and losses[-1] < 0.5 * losses[0]:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses


def assert_loss_halves(losses: list[float]) -> None:
    """The last loss is finite and below half the first: the model learnt something."""
    assert math.isfinite(losses[-1]), losses
    assert losses[-1] < 0.5 * losses[0], (len(losses), losses)


# --- synthetic hearts --------------------------------------------------------------------

def pixel_grid(size: int, at_centres: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column coordinates (yy, xx), each (size, size) float32, of a size x size image.

    Pixel ``i`` is at ``i``, or at its centre ``i + 0.5`` with `at_centres`.
    """
    coordinates = torch.arange(size, dtype=torch.float32) + (0.5 if at_centres else 0.0)
    yy, xx = torch.meshgrid(coordinates, coordinates, indexing="ij")
    return yy, xx


def heart_labels(lv_distance: torch.Tensor, cavity_radius: float, myocardium_width: float,
                 rv_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Canonical labels (long) of an LV cavity disk in a myocardium ring, and an RV.

    `lv_distance` is each pixel's distance from the LV centre (any shape); the cavity is
    ``distance < cavity_radius``, the ring the next `myocardium_width`; the RV is
    `rv_mask` where it lies outside the LV.
    """
    labels = torch.full(lv_distance.shape, BACKGROUND, dtype=torch.long)
    if rv_mask is not None:
        labels[rv_mask] = RV_CAVITY
    labels[lv_distance < cavity_radius + myocardium_width] = LV_MYOCARDIUM
    labels[lv_distance < cavity_radius] = LV_CAVITY
    return labels


def heart_phantom(batch: int, size: int = 32, slices: int = 3, seed: int = 0):
    """Image stacks with an LV cavity disk inside a myocardium ring and an RV disk beside it.

    Returns images (B, 1, slices, size, size) and labels (B, slices, size, size).
    """
    generator = torch.Generator().manual_seed(seed)
    yy, xx = pixel_grid(size)
    images = torch.empty(batch, 1, slices, size, size)
    labels = torch.zeros(batch, slices, size, size, dtype=torch.long)
    for b in range(batch):
        cy, cx = (size * (0.4 + 0.2 * torch.rand(2, generator=generator))).tolist()
        for z in range(slices):
            cavity_r = size * (0.10 + 0.06 * torch.rand(1, generator=generator).item())
            radius = torch.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
            rv_radius = torch.sqrt((yy - cy) ** 2 + (xx - cx + 2.4 * cavity_r + 2) ** 2)
            labels[b, z] = heart_labels(radius, cavity_r, 3, rv_mask=rv_radius < cavity_r)
    intensity = torch.tensor([0.1, 0.9, 0.4, 0.7])  # background, LV cavity, myocardium, RV cavity
    images[:, 0] = intensity[labels] + 0.05 * torch.randn(labels.shape, generator=generator)
    return images, labels
