"""Warm starts (Come-Closer-Diffuse-Faster) against cold starts and the classical answer, per sampler.

    OMP_NUM_THREADS=1 python benchmarks/warmstart.py run mnist [--n-images 16] [--nfe 10 20 50]
        [--sigma0 0.1 0.2 0.5 1.0 cold] [--samplers dps ddrm ...] [--tasks ...] [--out PATH.jsonl]
    OMP_NUM_THREADS=1 python benchmarks/warmstart.py run photo --n-images 2 --nfe 25 \\
        --methods 'ddrm:mean8,sigma0=0.5' 'diffpir:mean4,sigma0=0.2' [--out PATH.jsonl]
    python benchmarks/warmstart.py report PATH.jsonl [--nfe 10 20] [--budget 200]   # Markdown on stdout

``run`` goes through the benchmark harness (:func:`invdiff.bench.run_suite`): the suite's tasks,
images, prior and classical baselines (weights tuned on the suite's training images), each
sampler as a method spec, rows appended to a JSONL file as each batch finishes (a rerun of the
same command skips what is there; a tqdm bar shows progress).  The grid: every sampler of
``--samplers`` × every σ0 of ``--sigma0`` × every NFE of ``--nfe``.  σ0 = X runs
``SAMPLER:sigma0=X`` (``start="auto"``: the classical estimate that fits the operator —
biharmonic for masks, Wiener for blurs, bicubic for super-resolution, Tikhonov otherwise —
plus σ0·z, then the sampler's grid from σ0); ``cold`` runs ``SAMPLER:start=noise`` (the full
grid from σ_max; RED-diff's cold start is its reference one, μ = Tikhonov on the full grid:
``reddiff:start=tikhonov,sigma0=inf``).  DAPS's steps are annealing levels of ``ode_steps``
network calls each, so NFE N is N // ode_steps levels (the harness does this).  ``--methods``
adds any spec (posterior means ``NAME:meanK`` are charged K × NFE: ``--nfe`` is per draw).

``report`` prints, per task, the PSNR table (sampler × σ0 × NFE) next to the best classical
baseline on the same images, and the summaries the results note quotes: per task and NFE, the
best warm-started sampler against the classical answer, and the samplers below it.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "warmstart"
SIGMA0 = ("0.1", "0.2", "0.5", "1.0", "cold")
BASELINES = ("pinv", "wiener", "biharmonic", "bicubic", "tv_denoise")


def spec(sampler: str, sigma0: str) -> str:
    """The method spec of ``sampler`` started at ``sigma0`` (a number, or "cold")."""
    if sigma0 == "cold":
        return "reddiff:start=tikhonov,sigma0=inf" if sampler == "reddiff" else f"{sampler}:start=noise"
    return f"{sampler}:sigma0={float(sigma0):g}"


def label(method: str) -> tuple[str, str, int]:
    """(sampler, σ0 label, draws) of a row's method name: a spec, or a plain name (its defaults)."""
    from invdiff.bench.spec import parse_spec

    if ":" not in method:
        return method, "auto", 1
    m = parse_spec(method)
    kw = m.kw
    s0 = kw.get("sigma_start")
    if kw.get("start") == "noise" or (s0 is not None and math.isinf(s0)):
        s = "cold"
    elif s0 is None:
        s = "auto"
    else:
        s = f"{s0:g}"
    extra = {k: v for k, v in kw.items() if k not in ("start", "sigma_start")}
    if kw.get("start") not in (None, "noise", "auto") and not (m.key == "reddiff" and s == "cold"):
        extra["start"] = kw["start"]
    if extra:
        s += " (" + ", ".join(f"{k}={v}" for k, v in extra.items()) + ")"
    return m.key, s, m.samples


# --------------------------------------------------------------------------- run
def run(a) -> int:
    from invdiff import bench
    from invdiff.bench.suites import get_suite, samplers

    suite = get_suite(a.suite)
    if a.images == "train":  # tuning runs: the suite's training images (the baselines are tuned on them too)
        if suite.train_images is None:
            raise SystemExit(f"suite {a.suite} has no training images")
        suite.images, suite.name = suite.train_images, f"{suite.name}-train"
    elif a.images == "train-all":  # photo suites: every shipped training photo (invdiff.data.PHOTO_TRAIN)
        if not a.suite.startswith("photo"):
            raise SystemExit("--images train-all applies to the photo suites")
        import torch

        from invdiff import data

        size = suite.shape[-1]
        suite.images = lambda: torch.cat([data.photo(n, size) for n in data.PHOTO_TRAIN])
        suite.name = f"{suite.name}-train-all"
    names = [spec(s, str(v)) for s in (a.samplers or samplers()) for v in (a.sigma0 or ())]
    names += list(a.methods or ())
    names += [b for b in BASELINES if not a.no_baselines]
    out = Path(a.out or OUT / f"{a.suite}.jsonl")
    print(f"{len(names)} methods × NFE {a.nfe} on {a.n_images} images → {out}", file=sys.stderr)
    bench.run_suite(
        suite,
        out,
        methods=names,
        nfe=a.nfe,
        n_images=a.n_images,
        tasks=a.tasks,
        device=a.device,
        batch_size=a.batch_size,
    )
    if a.summary:
        print(bench.summarize(out, out.parent / out.stem))
    return 0


# --------------------------------------------------------------------------- report
def _table(rows):
    """{(task, sampler, σ0 label, draws, nfe_target): (mean PSNR, n, s/img)} and {task: (best baseline, PSNR, n)}."""
    import numpy as np

    cells: dict = {}
    for r in rows:
        if r.get("status") != "ok":
            continue
        if r.get("kind") == "baseline":
            key = (r["task"], "baseline", r["method"], 1, 0)
        else:
            key = (r["task"], *label(r["method"]), r["nfe_target"])
        cells.setdefault(key, []).append((r["index"], r["psnr"], r["time_s"]))
    stats = {
        k: (float(np.mean([p for _, p, _ in v])), len(v), float(np.mean([t for _, _, t in v])), {i for i, _, _ in v})
        for k, v in cells.items()
    }
    best_cl: dict = {}
    for (t, kind, m, _, _), s in stats.items():
        if kind == "baseline" and (t not in best_cl or s[0] > best_cl[t][1]):
            best_cl[t] = (m, s[0], s[1])
    return stats, best_cl


def _s0_order(s0: str):
    """σ0 labels in order: numbers ascending, then auto, then cold (each with its extra keywords)."""
    head = s0.split(" ")[0]
    try:
        return (0, float(head), s0)
    except ValueError:
        return (1 if head == "auto" else 2, 0.0, s0)


def report(a) -> int:
    from invdiff.bench.store import read_rows

    rows = [r for p in a.paths for r in read_rows(p)]
    stats, best_cl = _table(rows)
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    samp = list(dict.fromkeys(k[1] for k in stats if k[1] != "baseline"))
    nfes = sorted({k[4] for k in stats if k[1] != "baseline"})
    s0s = sorted({k[2] for k in stats if k[1] != "baseline"}, key=_s0_order)
    draws = sorted({k[3] for k in stats if k[1] != "baseline"})
    L = []
    n_img = max((s[1] for s in stats.values()), default=0)
    for t in tasks:
        cl = best_cl.get(t)
        cols = [(s0, d, g) for d in draws for g in nfes for s0 in s0s if any(
            k[0] == t and k[2] == s0 and k[3] == d and k[4] == g for k in stats)]  # fmt: skip
        if not cols:
            continue
        L += [f"### {t}: best classical {cl[0]} {cl[1]:.2f} dB" if cl else f"### {t}", ""]
        head = [f"σ0 {s0}" + (f" ×{d}" if d > 1 else "") + f" @{g}" for s0, d, g in cols]
        L += ["| sampler | " + " | ".join(head) + " |", "|---|" + "---|" * len(cols)]
        for s in samp:
            cells = []
            for s0, d, g in cols:
                v = stats.get((t, s, s0, d, g))
                if v is None:
                    cells.append("–")
                    continue
                txt = f"{v[0]:.2f}"
                if cl and v[0] >= cl[1]:
                    txt = f"**{txt}**"
                cells.append(txt + ("" if v[1] == n_img else f" (n={v[1]})"))
            if any(c != "–" for c in cells):
                L.append(f"| {s} | " + " | ".join(cells) + " |")
        L.append("")
    L += _targets(stats, best_cl, tasks, samp, a.nfe or nfes, a.budget)
    print("\n".join(L))
    return 0


def _targets(stats, best_cl, tasks, samp, nfes, budget) -> list[str]:
    """Per task and NFE: the best warm start against the classical answer; the samplers below it."""
    L = [
        "### Best warm start per task and NFE against the best classical method",
        "",
        "Warm = any σ0 < cold (start='auto'); '≥ classical' lists the samplers whose best warm σ0 reaches the "
        "classical PSNR, 'below' the others (their best warm PSNR).",
        "",
        "| task | NFE | classical | best warm (sampler, σ0: PSNR) | margin | best cold | ≥ classical | below |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in tasks:
        cl = best_cl.get(t)
        if cl is None:
            continue
        for g in nfes:
            warm = {}
            cold = {}
            for (tt, s, s0, d, gg), v in stats.items():
                if tt != t or gg != g or s == "baseline" or d != 1:
                    continue
                pool = cold if s0.startswith("cold") else warm
                if s not in pool or v[0] > pool[s][1]:
                    pool[s] = (s0, v[0])
            if not warm:
                continue
            bs, (b0, bp) = max(warm.items(), key=lambda kv: kv[1][1])
            bc = max(cold.items(), key=lambda kv: kv[1][1]) if cold else None
            above = [s for s in samp if s in warm and warm[s][1] >= cl[1]]
            below = [f"{s} {warm[s][1]:.2f}" for s in samp if s in warm and warm[s][1] < cl[1]]
            L.append(
                f"| {t} | {g} | {cl[0]} {cl[1]:.2f} | {bs}, {b0}: {bp:.2f} | {bp - cl[1]:+.2f} | "
                + (f"{bc[0]} {bc[1][1]:.2f}" if bc else "–")
                + f" | {', '.join(above) or '–'} | {', '.join(below) or '–'} |"
            )
    s0s = sorted({k[2] for k in stats if k[1] != "baseline" and k[3] == 1}, key=_s0_order)
    if s0s:
        L += ["", "### Cells at or above the classical answer, per sampler and σ0 (tasks × NFE)", ""]
        L += ["| sampler | " + " | ".join(f"σ0 {s}" for s in s0s) + " |", "|---|" + "---|" * len(s0s)]
    for s in samp if s0s else ():
        row = []
        for s0 in s0s:
            cells = [(k, v) for k, v in stats.items() if k[1] == s and k[2] == s0 and k[3] == 1 and k[4] in nfes]
            ok = sum(1 for k, v in cells if k[0] in best_cl and v[0] >= best_cl[k[0]][1])
            row.append(f"{ok}/{len(cells)}" if cells else "–")
        L.append(f"| {s} | " + " | ".join(row) + " |")
    L += ["", f"### Posterior means and other specs (total NFE ≤ {budget})", ""]
    L += ["| task | classical | best method (PSNR, total NFE, s/img) | margin |", "|---|---|---|---|"]
    for t in tasks:
        cl = best_cl.get(t)
        cand = [(k, v) for k, v in stats.items() if k[0] == t and k[1] != "baseline" and k[4] <= budget]
        if not cand or cl is None:
            continue
        (_, s, s0, d, g), v = max(cand, key=lambda kv: kv[1][0])
        name = f"{s} σ0 {s0}" + (f" mean of {d}" if d > 1 else "")
        L.append(f"| {t} | {cl[0]} {cl[1]:.2f} | {name}: {v[0]:.2f} ({g}, {v[2]:.3g} s) | {v[0] - cl[1]:+.2f} |")
    return L


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run (or resume) the grid")
    r.add_argument("suite", help="a suite of invdiff.bench.suites: mnist, photo, smoke, …")
    r.add_argument("--n-images", type=int, default=16)
    r.add_argument("--nfe", type=int, nargs="+", default=[10, 20, 50], help="NFE per draw")
    r.add_argument("--sigma0", nargs="*", default=list(SIGMA0), help="σ0 values and/or 'cold' (none: no grid)")
    r.add_argument("--samplers", nargs="*", default=None, help="default: every posterior sampler")
    r.add_argument("--methods", nargs="*", default=None, help="more method specs, e.g. 'ddrm:mean8,sigma0=0.5'")
    r.add_argument("--tasks", nargs="*", default=None)
    r.add_argument(
        "--images",
        choices=("test", "train", "train-all"),
        default="test",
        help="train: choose settings there (the suite's training images); train-all: all 20 training photos",
    )
    r.add_argument("--no-baselines", action="store_true")
    r.add_argument("--batch-size", type=int, default=None)
    r.add_argument("--device", default="cpu")
    r.add_argument("--out", default=None, help="JSONL file (default: benchmarks/results/warmstart/SUITE.jsonl)")
    r.add_argument("--summary", action="store_true", help="also write the harness's results.md and figures")
    q = sub.add_parser("report", help="Markdown tables of one or more JSONL files")
    q.add_argument("paths", nargs="+")
    q.add_argument("--nfe", type=int, nargs="*", default=None, help="NFEs of the target table (default: all)")
    q.add_argument("--budget", type=int, default=200, help="largest total NFE in the last table")
    a = p.parse_args(argv)
    for v in getattr(a, "sigma0", None) or ():
        if v != "cold":
            float(v)
    return run(a) if a.cmd == "run" else report(a)


if __name__ == "__main__":
    raise SystemExit(main())
