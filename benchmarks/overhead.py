"""Sampler overhead: wall time ÷ (NFE × one network evaluation), ours and deepinv's, side by side.

    OMP_NUM_THREADS=1 python benchmarks/overhead.py [--batch 20] [--nfe 100] [--out benchmarks/results]

On the mnist suite's Gaussian blur and 70 % random-inpainting tasks (shipped prior, held-out
digits, batch ``--batch``), every sampler runs ``--nfe`` network evaluations.  One network
evaluation is timed at the same batch: forward (``prior.x0`` without gradients) for samplers
that only call the network, forward + backward through it for DPS and ΠGDM (they
differentiate through x̂0).  Ratio = sampler wall time / (measured NFE × that unit): 1.0 is
the network-bound limit; the excess is the sampler's own work (operator, SVD, CG, RNG).
deepinv's samplers run batched (``run_deepinv(batched=True)``), the same work in one call.
Times are the median of ``--repeat`` runs; the unit is re-timed (median of 10) right after each
sampler, so slow drifts of a shared CPU cancel in the ratio.  Writes overhead.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

import operators
from invdiff.bench.peers import run_deepinv
from invdiff.bench.runners import nfe_per_step
from invdiff.bench.suites import mnist_tasks
from invdiff.data import mnist
from invdiff.load import load_prior
from invdiff.samplers import POSTERIOR

GRAD = {"dps", "pigdm", "deepinv-dps"}  # samplers that backpropagate through the network
TASKS = ("gaussian_blur", "inpaint_random")


def _median_time(fn, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def unit_times(prior, x: torch.Tensor, repeat: int = 20) -> tuple[float, float]:
    """(forward, forward + backward) seconds of one network evaluation on batch ``x``."""

    def fwd():
        with torch.no_grad():
            prior.x0(x, 0.5)

    def fwd_bwd():
        xi = x.detach().requires_grad_(True)
        prior.x0(xi, 0.5).sum().backward()

    fwd(), fwd_bwd()  # warm-up
    return _median_time(fwd, repeat), _median_time(fwd_bwd, repeat)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--nfe", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results")
    a = ap.parse_args()
    torch.set_grad_enabled(True)
    prior = load_prior("mnist")
    x = mnist("test")[: a.batch]
    t_f, t_fb = unit_times(prior, x)
    print(
        f"one network evaluation at batch {a.batch}: forward {t_f * 1e3:.2f} ms, forward+backward {t_fb * 1e3:.2f} ms"
    )
    specs = {t.name: t for t in mnist_tasks()}
    rows, skipped = [], []
    for task in TASKS:
        spec = specs[task]
        op = operators.build(
            spec.operator, shape=(1, 28, 28), batch=1, seed=0, **spec.params
        )  # shared mask: deepinv runs batched
        y = operators.measure(op, x, spec.sigma_y, seed=0)
        names = list(POSTERIOR) + ["deepinv-dps", "deepinv-diffpir", "deepinv-ddrm"]
        for m in names:
            kw = spec.method_kw.get(m.split("-")[-1], {})
            if m.startswith("deepinv-"):

                def run(m=m, kw=kw):
                    return run_deepinv(
                        m.split("-")[1],
                        prior,
                        op,
                        y,
                        spec.sigma_y,
                        steps=a.nfe,
                        batched=True,
                        **({"zeta": kw["zeta"]} if "zeta" in kw and m != "deepinv-dps" else {}),
                    )
            else:
                steps = max(1, a.nfe // nfe_per_step(POSTERIOR[m], kw))  # DAPS: ode_steps network calls per level

                def run(m=m, kw=kw, steps=steps):
                    return POSTERIOR[m](prior, op, y, sigma_y=spec.sigma_y, steps=steps, seed=0, **kw)

            try:
                prior.nfe = 0
                run()  # warm-up, also counts the NFE of one run
                nfe = prior.nfe
            except (TypeError, ValueError, RuntimeError) as e:  # e.g. a capability the sampler needs
                print(f"{task} {m}: skipped ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
                skipped.append((task, m, f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"))
                continue
            wall = _median_time(run, a.repeat)
            t_f, t_fb = unit_times(prior, x, repeat=10)  # re-timed beside each sampler (a shared CPU drifts)
            unit = t_fb if m in GRAD else t_f
            ratio = wall / (nfe * unit)
            rows.append((task, m, nfe, wall, unit, ratio))
            print(f"{task:<16}{m:<18} NFE {nfe:>5}  wall {wall:7.3f} s  ratio {ratio:5.2f}")
    md = [
        "# Sampler overhead (wall time ÷ NFE × one network evaluation)",
        "",
        f"Made by `OMP_NUM_THREADS=1 python benchmarks/overhead.py --batch {a.batch} --nfe {a.nfe} "
        f"--repeat {a.repeat}` on CPU (one thread), shipped MNIST prior, batch {a.batch} held-out digits, "
        "mnist-suite operators (shared masks/kernels). Wall time: median of "
        f"{a.repeat} runs; unit = one network evaluation at this batch, re-timed (median of 10) right after "
        "each sampler. DPS and ΠGDM (ours and deepinv's DPS) are charged forward + backward per NFE.",
        "",
        "| task | sampler | NFE | wall s (batch) | unit ms | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for task, m, nfe, wall, unit, ratio in rows:
        md.append(f"| {task} | {m} | {nfe} | {wall:.3f} | {unit * 1e3:.2f} | {ratio:.2f} |")
    md += [""] + [f"- {task} {m} did not run: {why}" for task, m, why in skipped]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "overhead.md").write_text("\n".join(md) + "\n")
    print(f"wrote {out / 'overhead.md'}")


if __name__ == "__main__":
    main()
