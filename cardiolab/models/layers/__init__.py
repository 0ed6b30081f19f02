"""Reusable layers, apart from whole models (MONAI's networks/layers vs networks/nets).

Layers never import a model; models import layers.
"""
from cardiolab.models.layers.conv4d import Conv4d, Upsample4d, GroupNorm6d, BatchNorm6d  # noqa: F401
from cardiolab.models.layers.deformable import DeformConv2d  # noqa: F401
from cardiolab.models.layers.convlstm import StructuredConvLSTMCell  # noqa: F401
from cardiolab.models.layers.scanning import ScanningModule  # noqa: F401
