"""Time `cardiolab analyze` with the default model on an ACDC-size cine.

An ACDC-size cine is 30 frames x 10 slices x 256 x 216 pixels (1.5 mm, 10 mm slices).
The script writes one (a phantom of that size) to a 4D NIfTI, then times the whole
analysis from the file: reading, locating the heart, segmenting 300 slices, measuring.
As a baseline in the same process it times a plain 2D U-Net (MONAI, 1.6 M parameters)
over the same 300 slices at 128 x 128, and prints the ratio.

    python benchmarks/bench_analyze.py [--repeats 3] [--model default] [--threads 2]

Peak memory is the process's maximum resident set size.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch


def write_acdc_size_cine(folder: Path) -> Path:
    from cardiolab.data import save_study
    from cardiolab.data.phantom import make_phantom

    study = make_phantom(seed=0, n_frames=30, n_slices=10, size=(256, 216), pixel_mm=1.5, slice_mm=10.0)
    return save_study(study, folder / "cine.nii.gz")[0]


def time_analyze(path: Path, model: str, repeats: int) -> tuple[float, dict]:
    from cardiolab.analyze import analyze_study

    analyze_study(path, model=model)  # warm-up: imports, model load, allocator
    times, last = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        last = analyze_study(path, model=model)
        times.append(time.perf_counter() - started)
    return statistics.median(times), last.timings_s


def time_baseline_unet(repeats: int) -> float:
    """MONAI 2D U-Net, 1.6 M parameters, 300 slices of 128 x 128 (the issue's reference)."""
    from monai.networks.nets import UNet

    net = UNet(spatial_dims=2, in_channels=1, out_channels=4, channels=(16, 32, 64, 128, 256),
               strides=(2, 2, 2, 2), num_res_units=2).eval()
    slices = torch.randn(300, 1, 128, 128)
    with torch.no_grad():
        net(slices[:32])
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            for start in range(0, 300, 32):
                net(slices[start:start + 32])
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        path = write_acdc_size_cine(Path(folder))
        analyze_s, timings = time_analyze(path, args.model, args.repeats)
    baseline_s = time_baseline_unet(args.repeats)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"cine 30 x 10 x 256 x 216, model {args.model!r}, {torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"analyze (read + locate + segment 300 slices + measure): {analyze_s:.2f} s   steps: {timings}")
    print(f"baseline MONAI 2D U-Net (1.6 M), 300 slices 128 x 128:  {baseline_s:.2f} s")
    print(f"ratio analyze / baseline: {analyze_s / baseline_s:.2f}")
    print(f"peak memory (max RSS): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
