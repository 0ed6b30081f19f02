"""Which layer Grad-CAM explains, per registered model.

Grad-CAM (Selvaraju et al., ICCV 2017, Sec. 3) uses the last convolutional layer: its
features are the most class-specific that still keep a spatial layout. For the U-nets
of these papers that is the last decoder block, at full resolution, just before the
1x1 head (a map as sharp as the segmentation, with the whole encoder-decoder's
evidence). The exceptions, each with its reason:

==============  ===================================  ===============================================
model           layer                                why
==============  ===================================  ===============================================
pspunet         ``unet.decoder[0]``                  the last decoder block (the top level), before
unet3d_thesis                                        the 1x1 head (thesis Ch. 5)
lv_volume_weak  ``unet.decoder[0]``                  the same, before the sigmoid LV map (Ch. 6);
                                                     its own map is `model_map`
unet4d          ``net.decoder[-1]``                  DecoderBlock0 of [seed 000] Table 1, before
unet3d_ccta                                          DecoderEnd
deunet          ``decoders[-1]``                     the last decoder block before the head; it
                                                     follows the temporal fusion, so its map has no
                                                     time axis and is repeated over the clip
fcslstm         ``layers[2]``                        the third structured-LSTM layer (1/4 of the
                                                     plane): the back end fuses all five layers, so
                                                     the deepest alone (1/16) misses evidence and is
                                                     too coarse to show a structure; the back end's
                                                     last conv is the head itself
esed_detector   ``InputOf(classify)``                the last temporal block: the skip + the nine
                                                     dilated temporal paths that the final
                                                     11 x 11 x 1 convolution reads (thesis Fig. 7.3)
stcnn_lvquan    ``st_conv1``                         the first spatio-temporal fusion (3 x 14 x 14 at
                                                     paper size); st_conv2's 1 x 6 x 6 is too coarse
                                                     to tell which wall drives a thickness
==============  ===================================  ===============================================

Any other module: its last registered convolution (Conv1d/2d/3d, ConvTranspose, Conv4d).
"""
from __future__ import annotations

import torch.nn as nn

from cardiolab.models.layers import Conv4d


class InputOf(nn.Module):
    """Points Grad-CAM at the tensor fed INTO ``module`` rather than at its output.

    Useful where the features to explain are a concatenation that no module outputs
    (esed_detector's skip + temporal paths, read by its final convolution). The module is
    referenced, not registered, so it appears nowhere twice.
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
        object.__setattr__(self, "target_module", module)  # bypass nn.Module registration

    def forward(self, *args, **kwargs):
        raise RuntimeError("InputOf only names a layer for grad_cam; it is not run")


DEFAULT_LAYERS = {
    "pspunet": lambda model: model.unet.decoder[0],
    "unet3d_thesis": lambda model: model.unet.decoder[0],
    "lv_volume_weak": lambda model: model.unet.decoder[0],
    "unet4d": lambda model: model.net.decoder[-1],
    "unet3d_ccta": lambda model: model.net.decoder[-1],
    "deunet": lambda model: model.decoders[-1],
    "fcslstm": lambda model: model.layers[min(2, len(model.layers) - 1)],
    "esed_detector": lambda model: InputOf(model.classify),
    "stcnn_lvquan": lambda model: model.st_conv1,
}
CONVOLUTIONS = (nn.modules.conv._ConvNd, Conv4d)


def default_layer(model: nn.Module) -> nn.Module:
    """The layer Grad-CAM explains by default for ``model`` (see the table above)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    name = getattr(model, "model_name", None)
    if name in DEFAULT_LAYERS:
        return DEFAULT_LAYERS[name](model)
    convolutions = [module for module in model.modules() if isinstance(module, CONVOLUTIONS)]
    if not convolutions:
        raise ValueError("the model has no convolution to explain: pass layer= explicitly")
    return convolutions[-1]
