"""Calibration of the posterior samplers on the exact Gaussian-mixture problem: credible-interval coverage.

M pairs (x, y) are drawn from the generative model of the MCGdiff mixture problem (prior and A of
``gmm_posterior.mcgdiff_problem(d_x, d_y, seed)``: x ~ prior, y = A x + σ_y n, per-pair noise).  For
every sampler in ``invdiff.samplers.POSTERIOR`` (default hyperparameters and steps) and for exact
posterior draws, the per-coordinate central credible intervals at levels p ∈ {0.1, …, 0.9} are
formed, and the coverage is the fraction of the M·d_x (pair, coordinate) cells whose true x lies
inside.  A calibrated sampler covers p on average; the M pairs make the estimate's standard error
√(p(1−p)/M_eff) with M_eff between M and M·d_x (cells of one pair are correlated).

Draw-based samplers: ``--draws`` (32) independent draws per y, one batched call (rows are independent
by the per-sample seeding).  The interval is between the empirical quantiles at plotting positions
(1±p)/2·(n+1) of the n sorted draws, so that exact draws cover p in expectation (the usual
torch.quantile positions would give (n−1)/(n+1)·p-ish, 0.85 instead of 0.90 at n = 32).
SMC samplers (MCGdiff, TDS): the weighted population of one run with K = ``--particles`` per y,
weighted quantiles (cumulative weight at particle mid-points).

    python benchmarks/calibration.py --dx 8 --dy 4 --m 200 --draws 32 --particles 32,256

Writes ``benchmarks/results/calibration.md`` and the reliability diagram ``calibration.png``.

``--mnist`` adds the image part: ``--mnist-n`` (16) held-out digits, 70 % random inpainting (the mnist
suite's task, σ_y = 0.05 on [-1, 1], its per-sampler settings), the shipped prior, every sampler at
``--mnist-nfe`` network evaluations per draw (a CPU budget) with ``--mnist-draws`` draws per digit, the
SMC samplers with K = ``--mnist-draws`` particles at the same steps (same total NFE).  Reported on the
dropped pixels: coverage of the true pixel by the 50 % / 90 % intervals, Pearson correlation of the
posterior std with |posterior mean − truth|, and the PSNR of the posterior mean.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gmm_posterior import mcgdiff_problem

import operators
from invdiff.samplers import POSTERIOR

LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def draw_intervals(draws: Tensor, p: float):
    """(lo, hi) per cell from (M, n, d) draws: order statistics at positions (1∓p)/2·(n+1) (1-indexed)."""
    n = draws.shape[1]
    s = draws.sort(1).values
    out = []
    for a in ((1 - p) / 2, (1 + p) / 2):
        pos = min(max(a * (n + 1) - 1, 0.0), n - 1.0)  # 0-indexed, linear interpolation
        i = min(int(pos), n - 2)
        out.append(s[:, i] + (pos - i) * (s[:, i + 1] - s[:, i]))
    return out


def weighted_intervals(parts: Tensor, logw: Tensor, p: float):
    """(lo, hi) per cell from (M, K, d) particles with (M, K) log-weights (CDF through particle mid-points)."""
    v = parts.transpose(1, 2)  # (M, d, K)
    s, order = v.sort(-1)
    w = torch.gather(logw.exp()[:, None, :].expand_as(v), -1, order)
    cdf = (w.cumsum(-1) - w / 2).contiguous()
    out = []
    for a in ((1 - p) / 2, (1 + p) / 2):
        j = torch.searchsorted(cdf, torch.full((*cdf.shape[:2], 1), a, dtype=cdf.dtype)).clamp(1, s.shape[-1] - 1)
        c0, c1 = cdf.gather(-1, j - 1), cdf.gather(-1, j)
        v0, v1 = s.gather(-1, j - 1), s.gather(-1, j)
        t = ((a - c0) / (c1 - c0).clamp_min(1e-300)).clamp(0, 1)
        out.append((v0 + t * (v1 - v0))[..., 0])
    return out


def coverage(x: Tensor, intervals) -> float:
    lo, hi = intervals
    return float(((x >= lo) & (x <= hi)).double().mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dx", type=int, default=8)
    ap.add_argument("--dy", type=int, default=4)
    ap.add_argument("--problem-seed", type=int, default=None, help="default: the benchmark's 1000·d_x + 10·d_y")
    ap.add_argument("--m", type=int, default=200, help="(x, y) pairs")
    ap.add_argument("--draws", type=int, default=32, help="draws per y for the draw-based samplers")
    ap.add_argument("--particles", default="32,256", help="SMC particle counts K")
    ap.add_argument("--samplers", default=",".join(POSTERIOR))
    ap.add_argument("--smc-kernels", default="ddpm", help="backward kernels of the SMC samplers: ddpm,moment")
    ap.add_argument("--merge", default="", help="comma-separated JSON parts of earlier runs: write their union")
    ap.add_argument("--mnist", action="store_true", help="also run the MNIST part")
    ap.add_argument("--mnist-n", type=int, default=16)
    ap.add_argument("--mnist-nfe", type=int, default=50)
    ap.add_argument("--mnist-draws", type=int, default=16)
    ap.add_argument("--skip-gmm", action="store_true", help="only the MNIST part (the GMM table is left out)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "calibration.md"))
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args)
    pseed = args.problem_seed if args.problem_seed is not None else 1000 * args.dx + 10 * args.dy
    prior, op, _, sy = mcgdiff_problem(args.dx, args.dy, pseed)
    M, n = args.m, args.draws
    x = prior.sample(M, seed=10_000, dtype=torch.float64)
    y = operators.measure(op, x, sy, seed=20_000)
    rows, curves = [], {}

    def record(name, lohi_at, secs, note=""):
        cov = [coverage(x, lohi_at(p)) for p in LEVELS]
        width = float((lohi_at(0.9)[1] - lohi_at(0.9)[0]).mean())
        curves[name] = cov
        rows.append((name, cov[4], cov[8], width, secs, note))
        print(f"{name:14s} 50%: {cov[4]:.3f}  90%: {cov[8]:.3f}  width90 {width:.3f}  {secs:.1f}s {note}", flush=True)

    if not args.skip_gmm:
        t0 = time.perf_counter()
        ex = torch.stack([prior.posterior(op, y[m : m + 1], sy).sample(n, seed=m) for m in range(M)]).double()
        record("exact", lambda p: draw_intervals(ex, p), time.perf_counter() - t0, f"{n} exact draws")
        for name in args.samplers.split(","):
            f = POSTERIOR[name]
            t0 = time.perf_counter()
            if getattr(f, "weighted_population", False):
                for kern, K in ((kn, int(k)) for kn in args.smc_kernels.split(",") for k in args.particles.split(",")):
                    t0 = time.perf_counter()
                    r = f(prior, op, y.float(), sigma_y=sy, particles=K, seed=0, return_info=True, kernel=kern)
                    parts, logw = r.particles.double(), r.log_weights
                    record(
                        f"{name} K={K}" if kern == "ddpm" else f"{name}[{kern}] K={K}",
                        lambda p, parts=parts, logw=logw: weighted_intervals(parts, logw, p),
                        time.perf_counter() - t0,
                        f"weighted population, {f.default_steps} steps",
                    )
                continue
            d = f(prior, op, y.float().repeat_interleave(n, 0), sigma_y=sy, seed=0).double().reshape(M, n, -1)
            record(
                name,
                lambda p, d=d: draw_intervals(d, p),
                time.perf_counter() - t0,
                f"{n} draws, {f.default_steps} steps",
            )
    mnist_rows = mnist_part(args) if args.mnist else None
    cmd = "python benchmarks/calibration.py " + " ".join(sys.argv[1:] if argv is None else argv)
    part = {
        "cmd": cmd,
        "rows": rows,
        "curves": curves,
        "mnist_rows": mnist_rows,
        "pseed": pseed,
        "sy": sy,
        "args": {k: v for k, v in vars(args).items() if k not in ("merge", "out")},
    }
    Path(args.out).with_suffix(".json").write_text(json.dumps(part))
    write(args, rows, curves, pseed, sy, mnist_rows, [cmd])


def merge(args):
    """Combine the JSON parts of several runs (same problem) into one table and one figure.

    A part may itself be a merged file.  Where parts share a sampler (a GMM row, its curve or an MNIST row),
    the first part given wins: list a re-run before the file it updates.  Rows keep the order of the last
    part that has them (a re-run takes the place of the row it replaces).
    """
    parts = [json.loads(Path(p).read_text()) for p in args.merge.split(",")]
    first = next(p for p in parts if "args" in p)
    vars(args).update({k: v for k, v in first["args"].items() if k not in ("samplers", "smc_kernels", "skip_gmm")})
    seen, curves, mnist_seen = {}, {}, {}
    for p in parts:
        for r in p["rows"]:
            seen.setdefault(r[0], r)
        for k, v in p["curves"].items():
            curves.setdefault(k, v)
        for r in p["mnist_rows"] or []:
            mnist_seen.setdefault(r[0], r)

    def positions(key):  # (index of the last part holding the row, its place there), parts taken in reverse
        pos = {}
        for i, p in enumerate(reversed(parts)):
            for j, r in enumerate(p[key] or []):
                pos.setdefault(r[0], (i, j))
        return pos

    rp, mp = positions("rows"), positions("mnist_rows")
    rows = sorted(seen.values(), key=lambda r: rp[r[0]])
    mnist_rows = sorted(mnist_seen.values(), key=lambda r: mp[r[0]]) or None
    args.skip_gmm = not rows
    cmds = [c for p in parts for c in (p["cmds"] if "cmds" in p else [p["cmd"]])]
    cmds = list(dict.fromkeys(cmds))
    pseed, sy = first["pseed"], first["sy"]
    merged = {"cmds": cmds, "rows": rows, "curves": curves, "mnist_rows": mnist_rows, "pseed": pseed, "sy": sy,
              "args": first["args"]}  # fmt: skip
    Path(args.out).with_suffix(".json").write_text(json.dumps(merged, indent=1))
    write(args, rows, curves, pseed, sy, mnist_rows, cmds)


def mnist_part(args):
    """Coverage and std–error correlation on held-out digits (70 % random inpainting)."""
    from gmm_posterior import nfe_per_step

    import invdiff
    from invdiff.bench.suites import mnist_tasks
    from invdiff.data import mnist

    prior = invdiff.load_prior("mnist")
    task = next(t for t in mnist_tasks() if t.name == "inpaint_random")
    x = mnist("test")[: args.mnist_n].double()
    n, B = args.mnist_draws, args.mnist_n
    op = task.build(x.shape[1:], batch=B, offset=0)
    y = operators.measure(op, x.float(), task.sigma_y, seed=30_000)
    hole = op.singulars().expand_as(x) == 0  # dropped pixels
    rows = []
    smc = lambda f: getattr(f, "weighted_population", False)
    kernels = args.smc_kernels.split(",")
    for name, kern in [(s, k) for s in args.samplers.split(",") for k in (kernels if smc(POSTERIOR[s]) else [""])]:
        f, kw = POSTERIOR[name], dict(task.method_kw.get(name, {}))
        t0 = time.perf_counter()
        if smc(f):
            steps = args.mnist_nfe
            r = f(prior, op, y, sigma_y=task.sigma_y, steps=steps, particles=n, seed=0, return_info=True, kernel=kern)
            parts, logw = r.particles.double().flatten(2), r.log_weights
            iv = lambda p, parts=parts, logw=logw: weighted_intervals(parts, logw, p)
            w = logw.exp()[:, :, None]
            mean = (w * parts).sum(1)
            std = ((w * (parts - mean[:, None]) ** 2).sum(1)).sqrt()
        else:
            steps = max(1, round(args.mnist_nfe / nfe_per_step(name)))
            opn = operators.Inpainting(op.mask.repeat_interleave(n, 0), tuple(x.shape[1:]))  # n draws per digit
            d = f(prior, opn, y.repeat_interleave(n, 0), sigma_y=task.sigma_y, steps=steps, seed=0, **kw)
            d = d.double().reshape(B, n, -1)
            iv = lambda p, d=d: draw_intervals(d, p)
            mean, std = d.mean(1), d.std(1)
        secs = time.perf_counter() - t0
        xf, h = x.flatten(1), hole.flatten(1)
        cov = [float((((xf >= lo) & (xf <= hi)) & h).sum() / h.sum()) for lo, hi in (iv(0.5), iv(0.9))]
        err = (mean - xf).abs()[h]
        corr = float(torch.corrcoef(torch.stack([std[h], err]))[0, 1])
        mse = ((mean.clamp(-1, 1) - xf) ** 2).mean(1)
        psnr = float((10 * torch.log10(4 / mse)).mean())
        name = name if kern in ("", "ddpm") else f"{name}[{kern}]"
        rows.append((name, steps, cov[0], cov[1], corr, psnr, secs))
        print(
            f"mnist {name:8s} steps {steps:4d}  50%: {cov[0]:.3f}  90%: {cov[1]:.3f}  corr(std,|err|) {corr:.3f}  "
            f"PSNR {psnr:.2f}  {secs:.0f}s",
            flush=True,
        )
    return rows


def write(args, rows, curves, pseed, sy, mnist_rows=None, cmds=()):
    if args.skip_gmm:
        Path(args.out).write_text("\n".join(mnist_md(args, mnist_rows)))
        print(f"wrote {args.out}")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    png = out.with_suffix(".png")
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="calibrated")
    for name, cov in curves.items():
        ax.plot(
            LEVELS,
            cov,
            "o-" if name == "exact" or name.startswith(("mcgdiff", "tds")) else ".--",
            ms=4,
            label=name,
            lw=2 if name == "exact" else 1,
        )
    ax.set_xlabel("nominal level of the central credible interval")
    ax.set_ylabel("empirical coverage of the true x (per coordinate)")
    ax.set_title(f"GMM d_x={args.dx}, d_y={args.dy}, σ_y={sy:.3g}, M={args.m}")
    ax.legend(fontsize=7, ncol=2)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    made = f"`OMP_NUM_THREADS=1 {cmds[0]}`"
    if len(cmds) > 1:  # one run per sampler and part (the full list is in the merged JSON)
        made = f"{len(cmds)} runs, one per sampler and part, e.g. {made} (all commands in `{out.stem}.json`)"
    se = lambda p: (p * (1 - p) / args.m) ** 0.5
    md = [
        "# Calibration: credible-interval coverage on the exact Gaussian-mixture problem",
        "",
        f"Made on 2026-12-01 by {made} ({platform.machine()}, torch {torch.__version__}).",
        "",
        (
            f"Prior and A of the MCGdiff mixture problem (d_x = {args.dx}, d_y = {args.dy}, problem seed {pseed}, "
            f"σ_y = {sy:.4g}); M = {args.m} pairs x ~ prior, y = A x + σ_y n.  Coverage = fraction of the "
            f"M·d_x (pair, coordinate) cells whose true x lies in the central credible interval.  Draw-based "
            f"samplers: {args.draws} draws per y (quantiles at plotting positions (1∓p)/2·(n+1), so exact draws "
            "cover p in expectation); SMC samplers: the weighted particles of one run.  Every sampler at its "
            f"default hyperparameters and steps.  Standard error of a coverage, at most √(p(1−p)/M): "
            f"{se(0.5):.3f} at 50 %, {se(0.9):.3f} at 90 % (cells of one pair are correlated)."
        ),
        "",
        "| sampler | 50 % coverage | 90 % coverage | mean 90 % width | seconds | draws |",
        "|---|---|---|---|---|---|",
    ]
    md += [f"| {n} | {c50:.3f} | {c90:.3f} | {w:.3f} | {s:.1f} | {note} |" for n, c50, c90, w, s, note in rows]
    md += [
        "",
        f"Reliability diagram (coverage at levels 0.1 … 0.9): `{png.name}`",
        "",
        f"![reliability]({png.name})",
        "",
    ]
    if mnist_rows:
        md += mnist_md(args, mnist_rows)
    out.write_text("\n".join(md))
    print(f"wrote {out} and {png}")


def mnist_md(args, mnist_rows):
    md = [
        "## MNIST: 70 % random inpainting, held-out digits",
        "",
        (
            f"{args.mnist_n} held-out digits (`invdiff.data.mnist('test')[:{args.mnist_n}]`), the mnist suite's "
            "inpaint_random task (σ_y = 0.05 on [-1, 1], its per-sampler settings), the shipped prior "
            f"`invdiff.load_prior('mnist')`.  CPU budget: {args.mnist_nfe} network evaluations per draw, "
            f"{args.mnist_draws} draws per digit (SMC: K = {args.mnist_draws} particles, {args.mnist_nfe} steps, "
            "the weighted population).  Coverage of the true pixel over the dropped pixels only; corr = Pearson "
            "correlation of the per-pixel posterior std with |posterior mean − truth| over the dropped pixels; "
            f"PSNR of the posterior mean (clipped to [-1, 1]).  With {args.mnist_draws} draws the 90 % interval "
            "reaches the extreme order statistics, whose expected coverage is "
            f"{(args.mnist_draws - 1) / (args.mnist_draws + 1):.3f} for exact draws."
        ),
        "",
        "| sampler | steps | 50 % coverage | 90 % coverage | corr(std, abs err) | PSNR of mean | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    md += [
        f"| {n} | {s} | {c50:.3f} | {c90:.3f} | {c:.3f} | {p:.2f} | {sec:.0f} |"
        for n, s, c50, c90, c, p, sec in mnist_rows
    ]
    md.append("")
    return md


if __name__ == "__main__":
    main()
