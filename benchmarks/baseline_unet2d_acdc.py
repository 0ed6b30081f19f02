"""Train and score the plain baseline every ACDC figure is compared with: a MONAI 2D U-Net.

The baseline is what a newcomer would build first: `monai.networks.nets.UNet` (2D, five
levels 16-256 channels, two residual units per level: 1.6 M parameters) on single
slices, trained with the same data, augmentation, loss and engine as the default model,
and split the same way (`cardiolab.train.recipes`: train ``cv0_train``, best epoch by
validation Dice on ``cv0_val``, scored once on the test split ``holdout20``).

    python benchmarks/baseline_unet2d_acdc.py [--epochs 10] [--out runs/baseline_unet2d] [--data-root DIR]

It prints the validation and test tables (`cardiolab.evaluate.results_table`) and writes
``validation_results.json`` and ``test_results.json`` into ``--out``; the row
``cardiolab baseline 2D U-Net`` of `cardiolab.evaluate.PAPER_RESULTS` is its test row.
ACDC must be on disk (``--data-root``, ``$CARDIOLAB_ACDC`` or ``../shared/data/acdc``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn


class SliceUNet2d(nn.Module):
    """MONAI's 2D U-Net behind the slice models' layout: ``(B, C, 1, Y, X)`` in and out."""

    def __init__(self, in_channels: int = 1, out_channels: int = 4):
        super().__init__()
        from monai.networks.nets import UNet

        self.net = UNet(spatial_dims=2, in_channels=in_channels, out_channels=out_channels,
                        channels=(16, 32, 64, 128, 256), strides=(2, 2, 2, 2), num_res_units=2)

    def forward(self, slices: torch.Tensor) -> torch.Tensor:
        return self.net(slices[:, :, 0])[:, :, None]  # the slice axis is 1 long: drop it, then put it back


def main() -> None:
    from cardiolab.evaluate import evaluate_segmentation, results_table
    from cardiolab.inference import SliceModelBundle
    from cardiolab.train.config import TrainConfig
    from cardiolab.train.engine import fit, load_checkpoint
    from cardiolab.train.recipes import TEST_SPLIT, TRAIN_SPLIT, VALIDATION_SPLIT, acdc_slice_sets, dice_means
    from cardiolab.train.tasks import SegmentationTask

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", default="runs/baseline_unet2d")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--max-patients", type=int, default=None, help="per split (a quick check)")
    parser.add_argument("--resume", action="store_true", help="go on from the run's last checkpoint")
    args = parser.parse_args()

    data = acdc_slice_sets(1, TRAIN_SPLIT, VALIDATION_SPLIT, TEST_SPLIT, max_patients=args.max_patients,
                           data_root=args.data_root)
    model = SliceUNet2d()
    n_parameters = sum(p.numel() for p in model.parameters())
    config = TrainConfig(model="monai_unet2d", optimizer="adamw", lr=2e-3, weight_decay=1e-4, schedule="poly",
                         epochs=args.epochs, batch_size=16, seed=0, out_dir=args.out, device="cpu",
                         monitor="val_dice", monitor_mode="max", channels_last=False)
    started = time.time()
    fit(model, SegmentationTask(), data.train_set, config, val_set=data.val_set, resume=args.resume)
    minutes = (time.time() - started) / 60
    model.load_state_dict(load_checkpoint(Path(args.out) / "best.pt")["model"])
    bundle = SliceModelBundle(model=model, preprocessor=data.preprocessor, context=1, name="baseline_unet2d")
    out = Path(args.out)
    for split, studies in (("validation", data.val_studies), ("test", data.test_studies)):
        results = evaluate_segmentation(bundle, studies)
        (out / f"{split}_results.json").write_text(json.dumps(results, indent=2, default=float))
        name = VALIDATION_SPLIT if split == "validation" else TEST_SPLIT
        print(f"\n{split} ({name}, {len(studies)} patients): {dice_means(results['summary'])}")
        print(results_table(results["summary"]))
    print(f"\nMONAI 2D U-Net, {n_parameters / 1e6:.2f} M parameters, {args.epochs} epochs, "
          f"{minutes:.1f} min training on {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
