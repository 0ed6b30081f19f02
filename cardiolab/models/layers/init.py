"""Parameter initialisation shared by the hand-written convolution layers.

`Conv4d` and `DeformConv2d` hold their own ``weight`` and ``bias`` instead of wrapping an
``nn.ConvNd``; they start from the same random values a PyTorch convolution of the same
shape would, so swapping one for the other changes nothing but the operation.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


def reset_conv_parameters(weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    """The same initialisation as torch's ConvNd (``_ConvNd.reset_parameters``), in place.

    ``weight`` is ``(out, in, *kernel)`` for any number of kernel axes. It is drawn
    Kaiming-uniform with ``a = sqrt(5)``, i.e. from U(-b, b) with ``b = 1 / sqrt(fan_in)``,
    ``fan_in = in * prod(kernel)``; ``bias`` (if any) from the same U(-b, b).
    """
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in = weight[0].numel()  # in * prod(kernel): one output channel's weights
        bound = 1 / math.sqrt(fan_in)
        nn.init.uniform_(bias, -bound, bound)
