"""Models of the five papers, created through a registry (see `registry`).

Layout, as in MONAI: `layers` holds reusable building blocks (Conv4d, deformable
convolution, ConvLSTM cell, 6D norms); each other module is one paper model that
registers itself on import. Use `create(name, size=...)` and `available()`.
"""
from cardiolab.models.registry import available, create, register_model, spec

# Importing a model module registers it. One line per paper model.
from cardiolab.models import unet4d  # noqa: E402,F401  seed 000 (and its 3D baseline unet3d_ccta)
from cardiolab.models import stcnn_lvquan  # noqa: E402,F401  seed 001
from cardiolab.models import deunet  # noqa: E402,F401  seed 002
from cardiolab.models import unet3d_thesis  # noqa: E402,F401  thesis Ch. 5 (3D U-net)
from cardiolab.models import pspunet  # noqa: E402,F401  thesis Ch. 5 (PSPU-net)
from cardiolab.models import lv_volume_weak  # noqa: E402,F401  thesis Ch. 6
from cardiolab.models import esed_detector  # noqa: E402,F401  thesis Ch. 7
from cardiolab.models import fcslstm  # noqa: E402,F401  seed 004

__all__ = ["available", "create", "register_model", "spec"]
