"""Exact-posterior benchmark: the Gaussian-mixture inverse problems of MCGdiff.

Cardoso, Janati El Idrissi, Le Corff & Moulines 2024 (ICLR), "Monte Carlo guided
Diffusion for Bayesian linear inverse problems", §5: a prior of 25 unit-variance
Gaussians with means (8i, 8j, 8i, 8j, …) ∈ R^{d_x}, i, j ∈ {−2, …, 2}, weights ∝
squared N(0, 1) draws; A = U diag(s) Vᵀ (d_y × d_x) with U, V from the SVD of a
Gaussian matrix and s sorted U(0, 1) draws; σ_y = U(0, 1)·max s; y = A x + σ_y n
for x drawn from the prior.  The posterior is a Gaussian mixture in closed form
(``GaussianMixturePrior.posterior``).  Each sampler draws N samples for the one
measurement; the score is the sliced Wasserstein distance (``--projections``
random directions) to N exact posterior samples, next to the floor: the distance
between two independent exact sets of N.  A sampler that samples the posterior
approaches the floor as NFE grows.

    python benchmarks/gmm_posterior.py --dims 8,80,800 --dy 1,4 --nfe 20,100,1000 --n 500

NFE is the number of prior (network) evaluations, counted by the prior; a sampler's
``steps`` is set from the requested NFE by its measured evaluations per step (DAPS:
5 per annealing level).  ``default`` in ``--nfe`` means each sampler's own default.
``--max-nfe 800:100`` caps the NFE at d_x = 800 (runs above a cap are listed as skipped).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

import operators
from invdiff.exact import sliced_wasserstein
from invdiff.prior import GaussianMixturePrior
from invdiff.samplers import POSTERIOR


def mcgdiff_problem(dx: int, dy: int, seed: int, sigma_y: float | None = None):
    """(prior, op, y, σ_y) of MCGdiff's mixture problem; ``sigma_y`` fixes σ_y instead of U(0,1)·max s."""
    g = torch.Generator().manual_seed(seed)
    grid = torch.arange(-2, 3, dtype=torch.float64) * 8
    means = torch.zeros(25, dx, dtype=torch.float64)
    means[:, 0::2] = grid.repeat_interleave(5)[:, None]
    means[:, 1::2] = grid.repeat(5)[:, None]
    prior = GaussianMixturePrior(means, torch.randn(25, generator=g, dtype=torch.float64) ** 2)
    U, _, Vh = torch.linalg.svd(torch.randn(dy, dx, generator=g, dtype=torch.float64), full_matrices=False)
    s = torch.rand(dy, generator=g, dtype=torch.float64).sort(descending=True).values
    op = operators.Matrix(U @ torch.diag(s) @ Vh)
    u = float(torch.rand(1, generator=g, dtype=torch.float64))
    sy = u * float(s.max()) if sigma_y is None else float(sigma_y)
    x = prior.sample(1, seed=seed + 1000, dtype=torch.float64)
    return prior, op, operators.measure(op, x, sy, seed=seed + 2000), sy


def nfe_per_step(name: str) -> int:
    """Prior evaluations per step of a sampler, measured on a tiny problem."""
    prior, op, y, sy = mcgdiff_problem(2, 1, 0)
    prior.nfe = 0
    POSTERIOR[name](prior, op, y.float(), sigma_y=sy, steps=2, seed=0)
    return max(1, prior.nfe // 2)


def run_setting(dx, dy, sy_fixed, args, names, per_step):
    seed = 1000 * dx + 10 * dy + (1 if sy_fixed is not None else 0)
    prior, op, y, sy = mcgdiff_problem(dx, dy, seed, sy_fixed)
    post = prior.posterior(op, y, sy)
    ex1, ex2 = post.sample(args.n, seed=1), post.sample(args.n, seed=2)
    sw = lambda a: sliced_wasserstein(a, ex1, projections=args.projections, seed=7)  # noqa: E731
    floor = sw(ex2)
    label = f"d_x={dx}, d_y={dy}, σ_y={sy:.3g}" + (" (fixed)" if sy_fixed is not None else " (U(0,1)·max s)")
    rows = []
    for name in names:
        f = POSTERIOR[name]
        wanted = sorted({f.default_steps * per_step[name] if v == "default" else int(v) for v in args.nfe})
        for nfe in wanted:
            steps = max(1, round(nfe / per_step[name]))
            if steps * per_step[name] > args.max_nfe.get(dx, math.inf):
                rows.append((name, steps * per_step[name], None, None, steps == f.default_steps))
                continue
            prior.nfe = 0
            t0 = time.perf_counter()
            xs = f(prior, op, y.expand(args.n, -1).float(), sigma_y=sy, steps=steps, seed=0)
            dt = time.perf_counter() - t0
            d = sw(xs) if torch.isfinite(xs).all() else float("nan")
            rows.append((name, prior.nfe, d, dt, steps == f.default_steps))
            print(f"  {label}  {name:8s} NFE {prior.nfe:5d}  SW {d:7.3f}  (floor {floor:.3f})  {dt:6.1f}s", flush=True)
    return label, floor, rows, dx


def to_markdown(results, args, total_s) -> str:
    cmd = "python benchmarks/gmm_posterior.py " + " ".join(sys.argv[1:])
    out = [
        "# Exact-posterior benchmark: MCGdiff Gaussian mixtures",
        "",
        f"Made by `OMP_NUM_THREADS=1 {cmd}` ({total_s / 60:.1f} min on "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread, torch {torch.__version__}).",
        "",
        "Prior: 25 unit Gaussians, means (8i, 8j, 8i, 8j, …), weights ∝ squared normals; A with sorted "
        "U(0,1) singular values; one measurement per setting; "
        f"N = {args.n} samples per sampler; sliced Wasserstein over {args.projections} directions to N exact "
        "posterior samples. **floor** = SW between two independent exact sets of N (what a perfect sampler "
        "scores). Each sampler at its default hyperparameters; NFE = prior evaluations; \\* = the sampler's "
        "default NFE. Seconds are wall time on a shared CPU (comparable within this table only).",
        "",
    ]
    dx_of = {lab: dx for lab, _, _, dx in results}
    results = [r[:3] for r in results]
    names = list(dict.fromkeys(r[0] for _, _, rows in results for r in rows))
    out += [
        "## Summary: SW at each sampler's default NFE (– = not run at its default NFE)",
        "",
        "| setting | floor | " + " | ".join(names) + " |",
        "|---" * (len(names) + 2) + "|",
    ]
    for label, floor, rows in results:
        cells = []
        for n in names:
            r = next((r for r in rows if r[0] == n and r[4]), None)
            cells.append("–" if r is None or r[2] is None else f"{r[2]:.2f}")
        out.append(f"| {label} | {floor:.2f} | " + " | ".join(cells) + " |")
    for label, floor, rows in results:
        out += [
            "",
            f"## {label}",
            "",
            f"floor (exact vs exact) = {floor:.3f}",
            "",
            "| sampler | NFE | SW | SW / floor | seconds |",
            "|---|---|---|---|---|",
        ]
        for name, nfe, d, dt, default in rows:
            star = "\\*" if default else ""
            if d is None:
                out.append(f"| {name} | {nfe}{star} | skipped (NFE cap {args.max_nfe[dx_of[label]]} at this d_x) | | |")
            else:
                out.append(f"| {name} | {nfe}{star} | {d:.3f} | {d / floor:.1f} | {dt:.1f} |")
    return "\n".join(out) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dims", default="8,80,800", help="d_x values, comma-separated")
    p.add_argument("--dy", default="1,4", help="d_y values, comma-separated")
    p.add_argument(
        "--fixed-sigma-y",
        default="0.05",
        help="also run d_x = min(dims), d_y = max(dy) with this fixed σ_y ('' for none)",
    )
    p.add_argument("--nfe", default="default,20,100,1000", help="NFE values ('default' = each sampler's default)")
    p.add_argument("--samplers", default=",".join(POSTERIOR), help="samplers, comma-separated")
    p.add_argument("--n", type=int, default=500, help="samples per sampler (and per exact set)")
    p.add_argument("--projections", type=int, default=200, help="sliced-Wasserstein directions (>= 100)")
    p.add_argument("--max-nfe", default="800:100", help="NFE caps per d_x, e.g. '80:1000,800:100' ('' for none)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "gmm_posterior.md"))
    args = p.parse_args(argv)
    args.nfe = [v.strip() for v in args.nfe.split(",")]
    args.max_nfe = {int(k): int(v) for k, v in (kv.split(":") for kv in args.max_nfe.split(",") if kv)}
    names = [s.strip() for s in args.samplers.split(",")]
    unknown = [s for s in names if s not in POSTERIOR]
    if unknown:
        p.error(f"unknown sampler(s) {unknown}; choose from {list(POSTERIOR)}")
    if args.projections < 100:
        p.error("--projections must be >= 100")
    dims, dys = [int(v) for v in args.dims.split(",")], [int(v) for v in args.dy.split(",")]
    settings = [(dx, dy, None) for dx in dims for dy in dys]
    if args.fixed_sigma_y:
        settings.append((min(dims), max(dys), float(args.fixed_sigma_y)))
    per_step = {n: nfe_per_step(n) for n in names}
    t0 = time.perf_counter()
    results = [run_setting(dx, dy, sy, args, names, per_step) for dx, dy, sy in settings]
    md = to_markdown(results, args, time.perf_counter() - t0)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    Path(args.out).write_text(md)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
