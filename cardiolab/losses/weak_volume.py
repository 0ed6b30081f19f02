"""Loss of the weakly supervised LV volume regression ([thesis] Ch. 6, Sec. 6.3.3, Eq. 6.1).

The model of [thesis] Ch. 6 is trained from the ED LV volume alone (no masks). Its 3D
U-net paints a sigmoid map, and the fixed `ScanningModule` measures from that map a
volume and an estimate of pi (the map's slices should be round). The loss is

    Loss = MAE(vol) + 100 x MAE(pi) + 10^-3 x [L1(bn) + L1(CAM)]                    (Eq. 6.1)

* MAE(vol): mean absolute error of the predicted volume, in ml;
* MAE(pi): mean absolute error of pi_hat against pi (weight 100 because "the pi
  estimation error is normally in the order of units");
* L1(bn), L1(CAM): L1 activity regularisation of the bottleneck output and of the map,
  "the summed absolute value of all the features present in the output feature map"
  (weight 10^-3; it pushes both towards sparse, near-binary activity).

Choices where the thesis is silent: the L1 sums run over all features of one sample and
are averaged over the batch (as Keras' activity regulariser, which divides by the batch
size); pi_hat is the per-volume estimate of `ScanningModule` (4 sum A / sum D^2).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

THESIS_PI_WEIGHT = 100.0  # [thesis] Eq. (6.1)
THESIS_L1_WEIGHT = 1e-3  # [thesis] Eq. (6.1), on each activity regulariser


def l1_activity(features: torch.Tensor) -> torch.Tensor:
    """Summed absolute value of one sample's features, averaged over the batch: (B, ...) -> scalar."""
    return features.abs().flatten(1).sum(dim=1).mean()


class WeakVolumeLoss(nn.Module):
    """[thesis] Eq. (6.1): MAE(volume) + 100 MAE(pi) + 1e-3 [L1(bottleneck) + L1(map)].

    Args:
        pi_weight: weight of MAE(pi) (thesis 100).
        l1_weight: weight of the two L1 activity terms (thesis 1e-3).

    Inputs of `forward` / `terms`:
        scan: the dict of `cardiolab.models.layers.ScanningModule` on the map
            (``volume_ml`` (B,), ``pi_hat`` (B,)).
        prob_map: the sigmoid map (B, 1, Z, Y, X) (probabilities, not logits).
        bottleneck: the bottleneck activations (B, C, ...).
        target_volume_ml: the true LV volume (B,) in ml.

    Example (the ``lv_volume_weak`` model returns the scan together with its map and bottleneck)::

        >>> out = model(image, spacing_zyx)
        >>> loss = WeakVolumeLoss()(out, out["map"], out["bottleneck"], lv_edv_ml)
    """

    def __init__(self, pi_weight: float = THESIS_PI_WEIGHT, l1_weight: float = THESIS_L1_WEIGHT):
        super().__init__()
        if pi_weight < 0 or l1_weight < 0:
            raise ValueError(f"pi_weight and l1_weight must be >= 0, got {pi_weight} and {l1_weight}")
        self.pi_weight = pi_weight
        self.l1_weight = l1_weight

    def terms(self, scan: dict, prob_map: torch.Tensor, bottleneck: torch.Tensor, target_volume_ml) -> dict[str, torch.Tensor]:
        """Every term of Eq. (6.1) (unweighted) and their weighted sum ``total``."""
        volume_ml, pi_hat = scan["volume_ml"], scan["pi_hat"]
        target_volume_ml = torch.as_tensor(target_volume_ml, dtype=volume_ml.dtype, device=volume_ml.device).reshape(-1)
        if target_volume_ml.shape != volume_ml.shape:
            raise ValueError(f"target_volume_ml must hold one volume per sample {tuple(volume_ml.shape)}, got {tuple(target_volume_ml.shape)}")
        terms = {
            "volume_mae_ml": (volume_ml - target_volume_ml).abs().mean(),
            "pi_mae": (pi_hat - math.pi).abs().mean(),
            "l1_bottleneck": l1_activity(bottleneck),
            "l1_map": l1_activity(prob_map),
        }
        terms["total"] = (terms["volume_mae_ml"] + self.pi_weight * terms["pi_mae"]  # [thesis] Eq. (6.1)
                          + self.l1_weight * (terms["l1_bottleneck"] + terms["l1_map"]))
        return terms

    def forward(self, scan: dict, prob_map: torch.Tensor, bottleneck: torch.Tensor, target_volume_ml) -> torch.Tensor:
        return self.terms(scan, prob_map, bottleneck, target_volume_ml)["total"]
