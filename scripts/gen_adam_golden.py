#!/usr/bin/env python3
"""Generates tests/kernels/testdata/adam_torch_golden.bin: PyTorch Adam/AdamW
trajectories that tests/kernels/adam_torch_golden_test.cc replays through
MakeAdamScalars + AdamCpu and requires to match bit for bit.

Each case runs torch.optim.Adam or torch.optim.AdamW on one CPU float32
tensor with foreach=False, fused=False (the default single-tensor path,
`_single_tensor_adam`), N elements, for STEPS steps, with random p0 and
per-step gradients from a seeded torch.Generator. N is a multiple of 64 so
that PyTorch's vectorised ATen kernels handle every element (its scalar tail
may round differently).

One substitution: while the optimizer steps, Tensor.sqrt is replaced by a
correctly rounded sqrt (numpy's, i.e. the hardware instruction). PyTorch's
CPU Tensor.sqrt() calls MKL's vmsSqrt in VML_HA mode, which is not
correctly rounded: about one fp32 result in five is one ulp off (and MKL's
choice may change with its version and code path), so no kernel with an
IEEE sqrt (ours, CUDA's __fsqrt_rn, ATen's own Vectorized::sqrt used by the
fused CPU Adam) can follow it bit for bit. Every other operation (L2 add, lerp, mul/addcmul, div, add, addcdiv,
the double-precision bias corrections) is PyTorch's own. The script prints
how far the unpatched optimizer drifts from the recorded trajectory.

Usage: /tmp/torchenv/bin/python scripts/gen_adam_golden.py [OUTPUT]
(default OUTPUT: tests/kernels/testdata/adam_torch_golden.bin beside this
script's repository). The output is deterministic for a given torch build.

Binary layout, all little-endian, no padding:
  header:
    char[8]   magic "ADAMGLD1"
    u32       format version (1)
    u32       number of cases C
    u32       L, then L bytes: torch.__version__ (UTF-8)
    u32       L, then L bytes: torch.backends.cpu.get_cpu_capability()
    u32       L, then L bytes: a note on how the file was made (UTF-8)
  C times, a case:
    u32       L, then L bytes: case name (UTF-8)
    u32       algorithm: 0 = torch.optim.Adam, 1 = torch.optim.AdamW
    u32       flags: bit 0 amsgrad, bit 1 maximize
    f64       lr, beta1, beta2, eps, weight_decay (exactly as passed to torch)
    u32       N (elements), u32 S (steps)
    f32[N]    p0
    S times:  f32[N] grad of the step, f32[N] p after the step
    f32[N]    final exp_avg (m), f32[N] final exp_avg_sq (v),
    f32[N]    final max_exp_avg_sq (vmax; all zero when not amsgrad)
"""

import contextlib
import os
import struct
import sys

import numpy as np
import torch

MAGIC = b"ADAMGLD1"
VERSION = 1
N = 128  # multiple of 64; 128 keeps the file under 300 KB (8 cases x 30 steps)
STEPS = 30
SEED = 20240611

# (name, AdamW?, kwargs exactly as passed to the torch optimizer)
CASES = [
    ("adam_default", False, dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)),
    ("adam_l2", False, dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)),
    ("adamw_wd", True, dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)),
    ("adamw_wd0", True, dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)),
    ("adam_amsgrad", False,
     dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=True)),
    ("adam_maximize", False,
     dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=True)),
    # lerp weight 1 - 0.3 = 0.7 >= 0.5: the other branch of ATen's lerp.
    ("adam_beta1_0.3", False, dict(lr=1e-3, betas=(0.3, 0.99), eps=1e-8, weight_decay=0.0)),
    ("adamw_amsgrad_maximize", True,
     dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=True,
          maximize=True)),
]


NOTE = ("torch.optim single-tensor path (foreach=False, fused=False) on CPU float32; "
        "Tensor.sqrt replaced by a correctly rounded sqrt during step() "
        "(torch's CPU sqrt is MKL vmsSqrt VML_HA, not correctly rounded)")


@contextlib.contextmanager
def correctly_rounded_sqrt(counter):
    """Replaces Tensor.sqrt (what _single_tensor_adam calls) for the block."""
    original = torch.Tensor.sqrt

    def exact_sqrt(self):
        counter[0] += 1
        if self.dtype != torch.float32 or self.device.type != "cpu":
            raise AssertionError("expected CPU float32 tensors")
        return torch.from_numpy(np.sqrt(self.detach().contiguous().numpy()))

    torch.Tensor.sqrt = exact_sqrt
    try:
        yield
    finally:
        torch.Tensor.sqrt = original


def f32_bytes(t):
    t = t.detach().to(torch.float32).contiguous()
    return t.numpy().astype("<f4").tobytes()


def random_gradient(gen):
    # Magnitudes spread over four decades, with about 5% exact zeros.
    g = torch.randn(N, generator=gen, dtype=torch.float32)
    scale = torch.pow(10.0, torch.rand(N, generator=gen, dtype=torch.float32) * 4.0 - 3.0)
    zero = torch.rand(N, generator=gen) < 0.05
    return torch.where(zero, torch.zeros_like(g), g * scale)


def run_case(name, adamw, kwargs, gen):
    p0 = torch.randn(N, generator=gen, dtype=torch.float32) * 0.5
    param = torch.nn.Parameter(p0.clone())
    cls = torch.optim.AdamW if adamw else torch.optim.Adam
    opt = cls([param], foreach=False, fused=False, **kwargs)
    # The same trajectory with torch's own (MKL) sqrt, for the drift report.
    plain_param = torch.nn.Parameter(p0.clone())
    plain_opt = cls([plain_param], foreach=False, fused=False, **kwargs)
    sqrt_calls = [0]
    out = bytearray()
    name_b = name.encode()
    out += struct.pack("<I", len(name_b)) + name_b
    amsgrad = kwargs.get("amsgrad", False)
    maximize = kwargs.get("maximize", False)
    out += struct.pack("<II", 1 if adamw else 0, (1 if amsgrad else 0) | (2 if maximize else 0))
    out += struct.pack("<5d", float(kwargs["lr"]), float(kwargs["betas"][0]),
                       float(kwargs["betas"][1]), float(kwargs["eps"]),
                       float(kwargs["weight_decay"]))
    out += struct.pack("<II", N, STEPS)
    out += f32_bytes(p0)
    for _ in range(STEPS):
        grad = random_gradient(gen)
        param.grad = grad.clone()
        with correctly_rounded_sqrt(sqrt_calls):
            opt.step()
        plain_param.grad = grad.clone()
        plain_opt.step()
        out += f32_bytes(grad)
        out += f32_bytes(param)
    if sqrt_calls[0] != STEPS:
        raise AssertionError(f"{name}: Tensor.sqrt called {sqrt_calls[0]} times in {STEPS} "
                             "steps; torch's Adam no longer uses it, revisit the patch")
    ours = param.detach().numpy().view(np.int32).astype(np.int64)
    plain = plain_param.detach().numpy().view(np.int32).astype(np.int64)
    ulps = np.abs(ours - plain)
    print(f"  {name}: with torch's own sqrt, final p differs in {int((ulps != 0).sum())}/{N} "
          f"elements, by at most {int(ulps.max())} ulp")
    state = opt.state[param]
    out += f32_bytes(state["exp_avg"])
    out += f32_bytes(state["exp_avg_sq"])
    if amsgrad:
        out += f32_bytes(state["max_exp_avg_sq"])
    else:
        out += f32_bytes(torch.zeros(N))
    return bytes(out)


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        repo, "tests", "kernels", "testdata", "adam_torch_golden.bin")
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED)
    version = torch.__version__.encode()
    capability = torch.backends.cpu.get_cpu_capability().encode()
    blob = bytearray(MAGIC)
    blob += struct.pack("<II", VERSION, len(CASES))
    blob += struct.pack("<I", len(version)) + version
    blob += struct.pack("<I", len(capability)) + capability
    note = NOTE.encode()
    blob += struct.pack("<I", len(note)) + note
    for name, adamw, kwargs in CASES:
        blob += run_case(name, adamw, kwargs, gen)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(blob)
    print(f"wrote {path}: {len(blob)} bytes, {len(CASES)} cases, N={N}, steps={STEPS}, "
          f"torch {torch.__version__} ({capability.decode()})")


if __name__ == "__main__":
    main()
