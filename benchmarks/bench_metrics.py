"""Time `cardiolab.metrics.segmentation_scores` on a whole synthetic cine sequence.

A synthetic heart (LV cavity disk, myocardial ring, RV crescent, radii beating over the
cycle) is labelled on every frame; the "prediction" is the same heart shifted by a pixel
and with a slightly larger cavity. Dice, hd95 and assd are computed for the 3 structures
on every frame, and the wall time of the whole table is reported.

    python benchmarks/bench_metrics.py                       # 30 x 10 x 256 x 216
    python benchmarks/bench_metrics.py --frames 12 --repeats 5
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from cardiolab import LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY
from cardiolab.metrics import segmentation_scores, summarise_scores


def synthetic_heart(n_frames: int, n_slices: int, height: int, width: int,
                    shift_px: int = 0, cavity_gain: float = 1.0) -> np.ndarray:
    """(T, Z, Y, X) uint8 labels of a beating ring-and-crescent heart."""
    y, x = np.mgrid[:height, :width].astype(np.float32)
    centre_y, centre_x = height / 2, width / 2 + shift_px
    radius_px = np.hypot(y - centre_y, x - centre_x)
    labels = np.zeros((n_frames, n_slices, height, width), np.uint8)
    for t in range(n_frames):
        beat = 0.5 * (1 + np.cos(2 * np.pi * t / n_frames))  # 1 at ED (t = 0), 0 at ES
        for z in range(n_slices):
            taper = 1.0 - 0.5 * z / max(n_slices - 1, 1)  # the heart narrows towards the apex
            cavity_px = (12 + 10 * beat) * taper * cavity_gain
            wall_px = cavity_px + 8
            rv_distance = np.hypot(y - centre_y, x - (centre_x - 1.6 * wall_px))
            frame = labels[t, z]
            frame[(rv_distance < 1.3 * wall_px) & (radius_px >= wall_px)] = RV_CAVITY
            frame[(radius_px >= cavity_px) & (radius_px < wall_px)] = LV_MYOCARDIUM
            frame[radius_px < cavity_px] = LV_CAVITY
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--slices", type=int, default=10)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=216)
    parser.add_argument("--spacing", type=float, nargs=3, default=(10.0, 1.4, 1.4), metavar=("Z", "Y", "X"), help="mm")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported")
    args = parser.parse_args()

    shape = (args.frames, args.slices, args.height, args.width)
    reference = synthetic_heart(*shape)
    prediction = synthetic_heart(*shape, shift_px=1, cavity_gain=1.05)
    timings_s, cpu_s = [], []
    for _ in range(args.repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        rows = segmentation_scores(prediction, reference, args.spacing)
        timings_s.append(time.perf_counter() - start)
        cpu_s.append(time.process_time() - cpu_start)  # CPU time: less sensitive to a busy machine
    print(f"sequence {shape}, spacing {tuple(args.spacing)} mm: {len(rows)} (frame, structure) rows "
          f"of dice + hd95 + assd")
    print(f"best of {args.repeats}: {min(timings_s):.2f} s ({1000 * min(timings_s) / len(rows):.1f} ms per row); "
          f"all runs: {', '.join(f'{t:.2f}' for t in timings_s)} s; CPU time best {min(cpu_s):.2f} s")
    for structure, entry in summarise_scores(rows).items():
        print(f"  {structure:14s} dice {entry['dice_mean']:.3f}  hd95 {entry['hd95_mm_mean']:.2f} mm  "
              f"assd {entry['assd_mm_mean']:.2f} mm")


if __name__ == "__main__":
    main()
