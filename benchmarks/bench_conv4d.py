"""Benchmark: cardiolab's Conv4d against a naive loop and against its FLOP-equivalent conv3d.

Times forward + backward (input, weight and bias gradients) of three ways to compute the
same 4D convolution, in one process, interleaved repeat by repeat so that a change in
machine load hits all three alike:

* ``conv4d``  `cardiolab.models.layers.Conv4d` (one conv3d over time-gathered frames);
* ``naive``   the loop of public pytorch-conv4d code: for each output frame, for each
              temporal tap, one conv3d of one input frame, summed;
* ``conv3d``  the FLOP-equivalent: one Conv3d(C_in * kt, C_out) on a contiguous input that
              already has time folded into the batch and the taps stacked as channels;
* ``conv3d_cl`` the same in channels-last memory (the layout Conv4d gathers into), the
              fastest way to run those FLOPs with PyTorch's own convolution.

It prints the median seconds of each and the ratios naive / conv4d (the speed-up),
conv4d / conv3d and conv4d / conv3d_cl (the overhead over the FLOP-equivalent
convolution: Conv4d pays two gathers on top of it, so 1.0 against conv3d_cl is the floor).

    python benchmarks/bench_conv4d.py --device cpu --threads 1 --repeats 15
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from cardiolab.models.layers import Conv4d


def naive_conv4d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, pad: tuple[int, ...]) -> torch.Tensor:
    """Per-frame loop with zero time padding, stride 1 (the public pytorch-conv4d pattern)."""
    n_frames, kernel_t = x.shape[2], weight.shape[2]
    n_out = n_frames + 2 * pad[0] - kernel_t + 1
    frames = []
    for t in range(n_out):
        total = bias.view(1, -1, 1, 1, 1)
        for k in range(kernel_t):
            source = t + k - pad[0]
            if 0 <= source < n_frames:  # zero padding: taps outside the sequence add nothing
                total = total + F.conv3d(x[:, :, source], weight[:, :, k], padding=pad[1:])
        frames.append(total)
    return torch.stack(frames, dim=2)


def time_forward_backward(run, grad_out: torch.Tensor, synchronize) -> float:
    start = time.perf_counter()
    run().backward(grad_out)
    synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--c-in", type=int, default=8)
    parser.add_argument("--c-out", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=4, default=[8, 16, 32, 32], metavar=("T", "Z", "Y", "X"))
    parser.add_argument("--kernel", type=int, default=3, help="kernel size along all 4 axes")
    parser.add_argument("--repeats", type=int, default=11, help="timed repeats per method (median reported)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    torch.manual_seed(0)
    n_frames, *space = args.size
    kernel_t, pad = args.kernel, args.kernel // 2
    conv = Conv4d(args.c_in, args.c_out, args.kernel, padding=pad).to(device)
    x = torch.randn(args.batch, args.c_in, n_frames, *space, device=device, requires_grad=True)
    grad_4d = torch.randn(args.batch, args.c_out, n_frames, *space, device=device)
    weight, bias = conv.weight, conv.bias

    # FLOP-equivalent: (B * T, C_in * kt, Z, Y, X) input, Conv3d(C_in * kt, C_out)
    x_folded = torch.randn(args.batch * n_frames, args.c_in * kernel_t, *space, device=device, requires_grad=True)
    weight_3d = torch.randn(args.c_out, args.c_in * kernel_t, *[args.kernel] * 3, device=device, requires_grad=True)
    grad_3d = torch.randn(args.batch * n_frames, args.c_out, *space, device=device)
    x_folded_cl = x_folded.detach().contiguous(memory_format=torch.channels_last_3d).requires_grad_(True)
    grad_3d_cl = grad_3d.contiguous(memory_format=torch.channels_last_3d)

    methods = {
        "conv4d": (lambda: conv(x), grad_4d),
        "naive": (lambda: naive_conv4d(x, weight, bias, conv.padding), grad_4d),
        "conv3d": (lambda: F.conv3d(x_folded, weight_3d, bias, padding=pad), grad_3d),
        "conv3d_cl": (lambda: F.conv3d(x_folded_cl, weight_3d, bias, padding=pad), grad_3d_cl),
    }
    with torch.no_grad():  # the three agree before we time them
        difference = (conv(x) - naive_conv4d(x, weight, bias, conv.padding)).abs().max().item()
    for _ in range(args.warmup):
        for run, grad in methods.values():
            time_forward_backward(run, grad, synchronize)
    seconds = {name: [] for name in methods}
    for _ in range(args.repeats):  # interleaved: each repeat times every method once
        for name, (run, grad) in methods.items():
            seconds[name].append(time_forward_backward(run, grad, synchronize))

    median = {name: statistics.median(values) for name, values in seconds.items()}
    paired = {  # ratio within each repeat, then the median: robust to load changing between repeats
        "naive/conv4d": statistics.median(n / c for n, c in zip(seconds["naive"], seconds["conv4d"])),
        "conv4d/conv3d": statistics.median(c / f for c, f in zip(seconds["conv4d"], seconds["conv3d"])),
        "conv4d/conv3d_cl": statistics.median(c / f for c, f in zip(seconds["conv4d"], seconds["conv3d_cl"])),
    }
    print(f"device {device}, threads {torch.get_num_threads()}, B={args.batch} C_in={args.c_in} "
          f"C_out={args.c_out} (T, Z, Y, X)={tuple(args.size)} kernel={args.kernel}, "
          f"forward+backward, median of {args.repeats}")
    print(f"max |conv4d - naive| = {difference:.2e}")
    for name in methods:
        print(f"  {name:9s} {median[name] * 1e3:9.2f} ms")
    for ratio, value in paired.items():
        top, bottom = ratio.split("/")
        print(f"{top:>6s} / {bottom:9s} = {median[top] / median[bottom]:6.3f}  (paired median {value:.3f})")


if __name__ == "__main__":
    main()
