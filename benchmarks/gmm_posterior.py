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
its ode_steps per annealing level).  ``default`` in ``--nfe`` means each sampler's own default.
``--max-nfe 800:100`` caps the NFE at d_x = 800 (runs above a cap are listed as skipped).

Sequential Monte Carlo samplers (``f.weighted_population``: MCGdiff, TDS) run at ``--smc-steps``
steps (default: their own) for each particle count in ``--particles``; each of the N samples is one
particle drawn by weight from its own run of K particles (N·K particles through the prior at once).
Their NFE is steps × K: network evaluations per sample.  ``--n-dx 800:100`` lowers N at a d_x and
``--max-k 800:64`` caps K there (the floor is then that of N samples).

    python benchmarks/gmm_posterior.py --samplers mcgdiff,tds --particles 16,64,256 --dims 8,80
"""

from __future__ import annotations

import argparse
import json
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


def run_smc(f, name, prior, op, y, sy, n, dx, args, sw, label, floor):
    """Rows (name, NFE = steps·K, SW, seconds, is-default, K) of an SMC sampler over ``args.particles``."""
    rows, steps = [], args.smc_steps or f.default_steps
    name = name if args.smc_kernel == "ddpm" else f"{name}[{args.smc_kernel}]"
    for K in args.particles:
        if K > args.max_k.get(dx, math.inf):
            rows.append((name, steps * K, None, None, False, K))
            continue
        key = f"{label} | {name} | K={K} | steps={steps} | N={n}"
        if key in args.cache:  # finished in an earlier, interrupted run (--cache)
            rows.append(tuple(args.cache[key]))
            continue
        prior.nfe = 0
        t0 = time.perf_counter()
        xs = f(prior, op, y.expand(n, -1).float(), sigma_y=sy, steps=steps, particles=K, seed=0, kernel=args.smc_kernel)
        dt = time.perf_counter() - t0
        d = sw(xs) if torch.isfinite(xs).all() else float("nan")
        rows.append((name, prior.nfe * K, d, dt, steps == f.default_steps and K == 16 and args.smc_kernel == "ddpm", K))
        if args.cache_path:
            with open(args.cache_path, "a") as fh:
                fh.write(json.dumps({"key": key, "row": rows[-1]}) + "\n")
        print(
            f"  {label}  {name:8s} K {K:4d} NFE {prior.nfe * K:6d}  SW {d:7.3f}  (floor {floor:.3f})  {dt:6.1f}s",
            flush=True,
        )
    return rows


def run_setting(dx, dy, sy_fixed, args, names, per_step):
    seed = 1000 * dx + 10 * dy + (1 if sy_fixed is not None else 0)
    prior, op, y, sy = mcgdiff_problem(dx, dy, seed, sy_fixed)
    post = prior.posterior(op, y, sy)
    n = args.n_dx.get(dx, args.n)
    ex1, ex2 = post.sample(n, seed=1), post.sample(n, seed=2)
    sw = lambda a: sliced_wasserstein(a, ex1, projections=args.projections, seed=7)  # noqa: E731
    floor = sw(ex2)
    if args.floor_sets > 1:  # the spread of the floor itself: SW of further independent exact sets to ex1
        fs = torch.tensor([sw(post.sample(n, seed=3 + i)) for i in range(args.floor_sets - 1)] + [floor])
        args.floor_stats[(dx, dy, sy_fixed)] = (float(fs.mean()), float(fs.std()))
    label = f"d_x={dx}, d_y={dy}, σ_y={sy:.3g}" + (" (fixed)" if sy_fixed is not None else " (U(0,1)·max s)")
    label += f", N={n}" if n != args.n else ""
    if (dx, dy, sy_fixed) in args.floor_stats:
        args.floor_stats[label] = args.floor_stats.pop((dx, dy, sy_fixed))
    rows = []
    for name in names:
        f = POSTERIOR[name]
        if getattr(f, "weighted_population", False):
            rows += run_smc(f, name, prior, op, y, sy, n, dx, args, sw, label, floor)
            continue
        wanted = sorted({f.default_steps * per_step[name] if v == "default" else int(v) for v in args.nfe})
        for nfe in wanted:
            steps = max(1, round(nfe / per_step[name]))
            if steps * per_step[name] > args.max_nfe.get(dx, math.inf):
                rows.append((name, steps * per_step[name], None, None, steps == f.default_steps, None))
                continue
            prior.nfe = 0
            t0 = time.perf_counter()
            xs = f(prior, op, y.expand(n, -1).float(), sigma_y=sy, steps=steps, seed=0)
            dt = time.perf_counter() - t0
            d = sw(xs) if torch.isfinite(xs).all() else float("nan")
            rows.append((name, prior.nfe, d, dt, steps == f.default_steps, None))
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
    smc = list(dict.fromkeys(r[0] for _, _, rows in results for r in rows if r[5] is not None))
    if smc:
        head = " | ".join(f"{n} K={k}" for n in smc for k in args.particles)
        out += [
            "",
            f"## SMC samplers: SW / floor per particle count K ({args.smc_steps or 'default'} steps; – = not run)",
            "",
            f"| setting | floor | {head} |",
            "|---" * (2 + len(smc) * len(args.particles)) + "|",
        ]
        for label, floor, rows in results:
            cells = []
            for n in smc:
                for k in args.particles:
                    r = next((r for r in rows if r[0] == n and r[5] == k), None)
                    cells.append("–" if r is None or r[2] is None else f"{r[2]:.3f} ({r[2] / floor:.2f}×)")
            out.append(f"| {label} | {floor:.3f} | " + " | ".join(cells) + " |")
    for label, floor, rows in results:
        spread = args.floor_stats.get(label)
        spread = f" (over {args.floor_sets} exact sets: {spread[0]:.3f} ± {spread[1]:.3f})" if spread else ""
        out += [
            "",
            f"## {label}",
            "",
            f"floor (exact vs exact) = {floor:.3f}{spread}",
            "",
            "| sampler | K | NFE | SW | SW / floor | seconds |",
            "|---|---|---|---|---|---|",
        ]
        for name, nfe, d, dt, default, K in rows:
            star = "\\*" if default else ""
            k = "–" if K is None else str(K)
            if d is None:
                cap = f"NFE cap {args.max_nfe[dx_of[label]]}" if K is None else f"K cap {args.max_k[dx_of[label]]}"
                out.append(f"| {name} | {k} | {nfe}{star} | skipped ({cap} at this d_x) | | |")
            else:
                out.append(f"| {name} | {k} | {nfe}{star} | {d:.3f} | {d / floor:.1f} | {dt:.1f} |")
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
    p.add_argument("--particles", default="16,64,256", help="particle counts K of the SMC samplers")
    p.add_argument("--smc-steps", type=int, default=0, help="steps of the SMC samplers (0 = their default)")
    p.add_argument("--smc-kernel", default="ddpm", help="backward kernel of the SMC samplers: ddpm (default) | moment")
    p.add_argument("--n-dx", default="", help="N per d_x, e.g. '800:100' (others: --n)")
    p.add_argument("--max-k", default="", help="K caps per d_x, e.g. '800:64'")
    p.add_argument("--floor-sets", type=int, default=1, help="also report the floor's mean ± sd over this many sets")
    p.add_argument("--cache", default="", help="JSONL of finished SMC rows: appended to, and rows in it are not rerun")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "gmm_posterior.md"))
    args = p.parse_args(argv)
    args.nfe = [v.strip() for v in args.nfe.split(",")]
    pairs = lambda s: {int(k): int(v) for k, v in (kv.split(":") for kv in s.split(",") if kv)}
    args.max_nfe, args.n_dx, args.max_k = pairs(args.max_nfe), pairs(args.n_dx), pairs(args.max_k)
    args.particles = [int(v) for v in args.particles.split(",")]
    args.floor_stats = {}
    args.cache_path = args.cache
    lines = Path(args.cache).read_text().splitlines() if args.cache and Path(args.cache).exists() else []
    args.cache = {r["key"]: r["row"] for r in map(json.loads, lines)}
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
    per_step = {n: nfe_per_step(n) for n in names if not getattr(POSTERIOR[n], "weighted_population", False)}
    t0 = time.perf_counter()
    results = [run_setting(dx, dy, sy, args, names, per_step) for dx, dy, sy in settings]
    md = to_markdown(results, args, time.perf_counter() - t0)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    Path(args.out).write_text(md)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
