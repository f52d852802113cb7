"""Scaling measurements on CPU, recorded in benchmarks/results/scaling.md.

    python benchmarks/scaling.py smoke  [--repeats 3] [--bench-args '--nfe 50']   # 1 process vs torchrun 2
    python benchmarks/scaling.py cost   [--repeats 3]   # DDRM 20 steps, photo prior: per-image s vs side, batch
    python benchmarks/scaling.py accel  [--repeats 5]   # photo prior at 128²: fp32, bf16, fp16, channels-last, compile

Run with OMP_NUM_THREADS=1 (one thread per process).  Each prints JSON lines (also appended to
--log) with the 1-minute load average before and after, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def emit(rec: dict, log: str | None) -> None:
    line = json.dumps(rec)
    print(line, flush=True)
    if log:
        with open(log, "a") as f:
            f.write(line + "\n")


def smoke(a) -> None:
    """Wall time of the whole command, alternating 1 process (1 thread) and torchrun with 2 processes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    py = sys.executable
    torchrun = [py, "-m", "torch.distributed.run", "--nproc-per-node=2", "--master-addr=127.0.0.1"]
    for r in range(a.repeats):
        for name in ("one", "two"):
            out = Path(tempfile.mkdtemp(prefix=f"scaling-{name}-"))
            args = ["bench", "smoke", "--out", str(out), "--device", "cpu", *a.bench_args.split()]
            cmd = [py, "-m", "invdiff", *args] if name == "one" else [*torchrun, "-m", "invdiff", *args]
            l0, t0 = load(), time.perf_counter()
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            dt = time.perf_counter() - t0
            emit({"what": "smoke", "run": name, "repeat": r, "wall_s": round(dt, 2), "rc": p.returncode,
                  "load_before": l0, "load_after": load(), "cmd": " ".join(cmd[1:])}, a.log)  # fmt: skip
            if p.returncode:
                print(p.stderr[-3000:], file=sys.stderr)
            shutil.rmtree(out, ignore_errors=True)


def _ddrm_time(prior, side: int, batch: int, repeats: int) -> float:
    """Best seconds per image of DDRM, 20 steps, on 70 % random inpainting of ``batch`` side² photo crops."""
    import torch

    import operators
    from invdiff import data
    from invdiff.samplers import POSTERIOR

    x = torch.cat([data.photo(n, side) for n in data.PHOTO_TEST])
    x = x.repeat((batch + len(x) - 1) // len(x), 1, 1, 1)[:batch]
    op = operators.build("inpaint_random", shape=tuple(x.shape[1:]), batch=batch, seed=0, fraction=0.7)
    y = operators.measure(op, x, 0.05, seed=0)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        POSTERIOR["ddrm"](prior, op, y, sigma_y=0.05, steps=20, seed=0, x_shape=tuple(x.shape[1:]))
        best = min(best, time.perf_counter() - t0)
    return best / batch


def cost(a) -> None:
    import torch

    from invdiff.load import load_prior

    torch.set_num_threads(1)
    prior = load_prior("photo")
    _ddrm_time(prior, 28, 1, 1)  # warm-up
    points = [(s, 1) for s in (28, 64, 128, 256)] + [(64, b) for b in (4, 16, 64)] + [(28, b) for b in (4, 16, 64)]
    for side, batch in points:
        l0 = load()
        t = _ddrm_time(prior, side, batch, a.repeats)
        emit({"what": "cost", "side": side, "batch": batch, "s_per_image": round(t, 4), "load_before": l0,
              "load_after": load(), "repeats": a.repeats}, a.log)  # fmt: skip


def accel(a) -> None:
    """Seconds per network evaluation (best of rounds, configurations interleaved) and the change of a
    DDRM 20-step restoration against float32."""
    import torch

    from invdiff.accel import accelerate
    from invdiff.load import load_prior
    from invdiff.metrics import psnr

    torch.set_num_threads(1)
    import operators
    from invdiff import data
    from invdiff.samplers import POSTERIOR

    configs = {"fp32": {}, "bf16": {"amp": "bf16"}, "fp16": {"amp": "fp16"}, "channels_last": {"channels_last": True},
               "bf16+channels_last": {"amp": "bf16", "channels_last": True}, "compile": {"compile": True}}  # fmt: skip
    priors, first = {}, {}
    x = data.photo(data.PHOTO_TEST[0], a.side).repeat(a.batch, 1, 1, 1)
    xs = x + 0.5 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    for name, kw in configs.items():
        priors[name] = accelerate(load_prior("photo"), **kw)
        t0 = time.perf_counter()
        with torch.no_grad():
            priors[name].eps(xs, 0.5)  # compile happens here
        first[name] = time.perf_counter() - t0
    best = {n: float("inf") for n in configs}
    l0 = load()
    for _ in range(a.repeats):
        for name, pr in priors.items():
            t0 = time.perf_counter()
            with torch.no_grad():
                for _ in range(a.calls):
                    pr.eps(xs, 0.5)
            best[name] = min(best[name], (time.perf_counter() - t0) / a.calls)
    l1 = load()
    op = operators.build("inpaint_random", shape=tuple(x.shape[1:]), batch=a.batch, seed=0, fraction=0.7)
    y = operators.measure(op, x, 0.05, seed=0)
    ref = None
    for name, pr in priors.items():
        out = POSTERIOR["ddrm"](pr, op, y, sigma_y=0.05, steps=20, seed=0, x_shape=tuple(x.shape[1:]))
        ref = out if ref is None else ref
        diff = float((out - ref).abs().max())
        emit({"what": "accel", "config": name, "side": a.side, "batch": a.batch, "s_per_nfe": round(best[name], 4),
              "speedup_vs_fp32": round(best["fp32"] / best[name], 2), "first_call_s": round(first[name], 2),
              "ddrm20_psnr": round(float(psnr(out, x).mean()), 3), "max_abs_diff_vs_fp32": diff,
              "load_before": l0, "load_after": l1}, a.log)  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("smoke", "cost", "accel"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--side", type=int, default=128, help="accel: image side")
    p.add_argument("--batch", type=int, default=1, help="accel: batch")
    p.add_argument("--calls", type=int, default=5, help="accel: network calls per timed round")
    p.add_argument("--bench-args", default="", help="smoke: more bench options, e.g. '--nfe 50'")
    p.add_argument("--log", default=None, help="append the JSON lines to this file")
    a = p.parse_args(argv)
    {"smoke": smoke, "cost": cost, "accel": accel}[a.what](a)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
