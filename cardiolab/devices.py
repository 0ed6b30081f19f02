"""Where a model runs: device names and the memory layout of its weights.

Shared by training and inference, so it lives apart from both: `cardiolab.inference`
must not import `cardiolab.train` (serving a model never needs the training code).
`cardiolab.train.engine` re-exports these names for older callers.
"""
from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def channels_last_3d(model: torch.nn.Module) -> torch.nn.Module:
    """Store every 3D convolution's weights channels-last (about 1.6x faster conv3d on CPUs).

    Only 5D weights can take that layout, so 2D layers of a mixed model are left alone.
    """
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv3d, torch.nn.ConvTranspose3d)):
            module.to(memory_format=torch.channels_last_3d)
    return model
