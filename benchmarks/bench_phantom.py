"""Time `cardiolab.data.phantom.make_phantom` at its default size.

Generates the default phantom (25 frames x 12 slices x 128 x 128, labels on every frame,
Rician noise, bias field, partial volume) several times with different seeds and prints
the median wall-clock time and the median CPU time of this process (the CPU time does
not count time lost to other processes on a shared machine).

    python benchmarks/bench_phantom.py                  # 5 runs at the default size
    python benchmarks/bench_phantom.py --repeats 9 --frames 30 --slices 10 --size 256
"""
from __future__ import annotations

import argparse
import statistics
import time

from cardiolab.data.phantom import make_phantom


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (seeds 0..repeats-1)")
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--slices", type=int, default=12)
    parser.add_argument("--size", type=int, default=128, help="square image side, pixels")
    args = parser.parse_args(argv)
    options = dict(n_frames=args.frames, n_slices=args.slices, size=(args.size, args.size))
    make_phantom(seed=0, **options)  # warm-up: imports, first-touch allocations
    wall_s, cpu_s = [], []
    for seed in range(args.repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        study = make_phantom(seed=seed, **options)
        wall_s.append(time.perf_counter() - wall_start)
        cpu_s.append(time.process_time() - cpu_start)
    print(f"make_phantom {study.shape} (T, Z, Y, X), {args.repeats} runs: "
          f"median wall {statistics.median(wall_s):.3f} s, median CPU {statistics.median(cpu_s):.3f} s "
          f"(wall min {min(wall_s):.3f} s, max {max(wall_s):.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
