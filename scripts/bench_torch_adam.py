#!/usr/bin/env python3
"""Times torch.optim.Adam(fused=True) on the GPU, the reference for
`adamasync-bench gpu` (docs/benchmarks.md, GPU section).

For each size: one fp32 parameter tensor of that many elements on the GPU,
its gradient set once, state created by warm-up steps, then optimizer.step()
timed with CUDA events around batches of back-to-back steps (each batch
lasting about --min_seconds_per_rep), until --seconds have passed and at
least --min_reps batches ran. The figure is the median per-step time; the
bench converts it to GB/s with the same byte counts as its own kernel (Adam
28 B/param, AMSGrad 36 B/param). A fused step also increments the step
tensor on the device: that small launch is part of what PyTorch does per
step, so it stays in the timing.

Output on stdout, one record per line, for the bench to parse:
  torch_version 2.5.1
  device NVIDIA H100 80GB HBM3
  result adam 1048576 1.234e-05 200
  result amsgrad 1048576 1.567e-05 180
or a single "unavailable REASON" line (exit status 0) when PyTorch or a CUDA
device is missing. A readable table goes to stderr.

Usage:
  python3 scripts/bench_torch_adam.py --sizes=1M,4M,16M,64M,256M --amsgrad
"""

import argparse
import statistics
import sys
import time

SUFFIX = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_count(text):
    text = text.strip()
    if text and text[-1].upper() in SUFFIX:
        return int(text[:-1]) * SUFFIX[text[-1].upper()]
    return int(text)


def time_steps(torch, step, seconds, min_reps, min_seconds_per_rep):
    """Median seconds per call of `step` (CUDA events, batched calls)."""
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    for _ in range(3):  # warm-up: state allocation, kernel loading
        step()
    start.record()
    step()
    end.record()
    end.synchronize()
    one = max(start.elapsed_time(end) * 1e-3, 1e-7)
    batch = int(min(10000, max(1, -(-min_seconds_per_rep // one))))
    samples = []
    wall = time.monotonic()
    while len(samples) < 1000:
        start.record()
        for _ in range(batch):
            step()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) * 1e-3 / batch)
        if len(samples) >= min_reps and time.monotonic() - wall >= seconds:
            break
    return statistics.median(samples), len(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1M,4M,16M,64M,256M",
                        help="parameter counts, comma-separated (K/M/G = 2^10/20/30)")
    parser.add_argument("--device", type=int, default=0, help="CUDA device number")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds timing each case")
    parser.add_argument("--min_reps", type=int, default=10, help="fewest timed batches")
    parser.add_argument("--min_seconds_per_rep", type=float, default=2e-3,
                        help="length of one batch of back-to-back steps")
    parser.add_argument("--amsgrad", action="store_true", help="also time AMSGrad")
    args = parser.parse_args()
    sizes = [parse_count(s) for s in args.sizes.split(",") if s.strip()]

    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        print(f"unavailable PyTorch is not installed ({e})")
        return 0
    if not torch.cuda.is_available():
        print(f"unavailable torch {torch.__version__}: torch.cuda.is_available() is False")
        return 0
    if args.device >= torch.cuda.device_count():
        print(f"unavailable no CUDA device {args.device}")
        return 0
    device = torch.device("cuda", args.device)
    torch.cuda.set_device(device)
    print(f"torch_version {torch.__version__}")
    print(f"device {torch.cuda.get_device_name(device)}")
    sys.stdout.flush()

    print(f"{'params':>12} {'variant':>8} {'ms/step':>10} {'GB/s':>8}", file=sys.stderr)
    for n in sizes:
        for amsgrad in ([False, True] if args.amsgrad else [False]):
            # The same values as the bench: p 0.747, g 7.1e-4, zero state.
            param = torch.nn.Parameter(torch.full((n,), 0.747, device=device))
            param.grad = torch.full((n,), 7.1e-4, device=device)
            optimizer = torch.optim.Adam([param], lr=1e-3, amsgrad=amsgrad, fused=True)
            median, reps = time_steps(torch, optimizer.step, args.seconds, args.min_reps,
                                      args.min_seconds_per_rep)
            if not torch.isfinite(param[:1]).all() or not torch.isfinite(param[-1:]).all():
                print(f"unavailable fused Adam produced a non-finite parameter at n={n}")
                return 0
            variant = "amsgrad" if amsgrad else "adam"
            print(f"result {variant} {n} {median:.9e} {reps}")
            sys.stdout.flush()
            bytes_per_param = 36 if amsgrad else 28
            print(f"{n:>12} {variant:>8} {median * 1e3:>10.4f} "
                  f"{bytes_per_param * n / median / 1e9:>8.0f}", file=sys.stderr)
            del optimizer, param
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
