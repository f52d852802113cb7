"""Reading a results file: statistics, the Markdown summary with its figures, and the headline tables.

:func:`summarize` writes ``results.md`` (per task: method × NFE, mean ± 95 % CI) and the
figures of :mod:`invdiff.bench.plots`; :func:`headline` gives the comparisons a closing
note or README quotes, also from the command line::

    python -m invdiff.bench.report RESULTS.jsonl [more.jsonl ...]

Headline: per task, our best sampler, deepinv's best sampler and the best classical
baseline (mean PSNR over images, method@NFE, seconds per image) with the margins; then,
per deepinv peer, ours next to deepinv's at each NFE both ran.  Only (method, NFE) cells
with the most images in the run are compared, so a partial cell never decides a "best".
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from .store import images_dir, read_meta, read_rows

__all__ = ["aggregate", "headline", "main", "summarize"]

# the three families a row's "kind" puts a method in: ours, deepinv's, classical
FAMILIES = {"ours": "sampler", "deepinv": "deepinv", "classical": "baseline"}


# --------------------------------------------------------------------------- statistics
def _ci(vals: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % Student-t confidence interval."""
    import numpy as np
    from scipy import special  # stdtrit(df, p) is stats.t.ppf(p, df), without importing scipy.stats (~1 s)

    a = np.asarray(vals, dtype=float)
    if len(a) < 2:
        return float(a.mean()) if len(a) else float("nan"), float("nan")
    return float(a.mean()), float(special.stdtrit(len(a) - 1, 0.975) * a.std(ddof=1) / math.sqrt(len(a)))


def aggregate(rows: list[dict]) -> dict:
    """{(task, method, nfe_target): stats} over the rows with status ok."""
    groups: dict = {}
    for r in rows:
        if r.get("status") == "ok":
            groups.setdefault((r["task"], r["method"], r["nfe_target"]), []).append(r)
    out = {}
    for k, rs in groups.items():
        s = {
            "n": len(rs),
            "kind": rs[0].get("kind"),
            "default": rs[0].get("default"),
            "sigma_y": rs[0].get("sigma_y"),
            "params": rs[0].get("params"),
        }
        for f in ("psnr", "ssim", "time_s", "nfe", "lpips"):
            v = [r[f] for r in rs if r.get(f) is not None]
            if v:
                s[f] = _ci(v)
        s["mem"] = max((r.get("peak_mem_mib") or 0) for r in rs)
        s["mem_kind"] = rs[0].get("mem_kind")
        out[k] = s
    return out


def _fmt(s: dict, f: str, d: int) -> str:
    if f not in s:
        return "–"
    m, h = s[f]
    return f"{m:.{d}f}" if not math.isfinite(h) else f"{m:.{d}f} ± {h:.{d}f}"


# --------------------------------------------------------------------------- results.md
_PREAMBLE = (
    "Mean ± 95 % CI (Student t) over images (and seeds). Reconstructions clamped to [-1, 1]; PSNR/SSIM on "
    "[0, 1] (skimage conventions). s/image = wall time of a batch / batch size (mean; no CI, images of a "
    "batch share it). NFE = network evaluations counted by the prior (target → measured). Memory: CUDA "
    "peak allocated per batch, or on CPU the process's peak RSS (monotone over the run)."
)


def _task_table(t: str, rows: list[dict], agg: dict, has_lp: bool) -> list[str]:
    sy = next((r.get("sigma_y") for r in rows if r["task"] == t), None)
    head = (
        ["method", "NFE", "n", "PSNR", "SSIM"]
        + (["LPIPS"] if has_lp else [])
        + ["s/image", "NFE used", "peak MiB", "params"]
    )
    L = [f"## {t} (σ_y = {sy} on [-1, 1])", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (tt, m, g), s in agg.items():
        if tt != t:
            continue
        nfe = str(g) + (" (default)" if s["default"] and g else "")  # NFE 0: no network, no default to mark
        cells = [m, nfe, str(s["n"]), _fmt(s, "psnr", 2), _fmt(s, "ssim", 3)]
        cells += [_fmt(s, "lpips", 3)] if has_lp else []
        cells += [
            f"{s['time_s'][0]:.3g}" if "time_s" in s else "–",
            f"{s['nfe'][0]:.0f}" if "nfe" in s else "–",
            f"{s['mem']:.0f}",
            ", ".join(f"{k}={v}" for k, v in (s.get("params") or {}).items()),
        ]
        L.append("| " + " | ".join(cells) + " |")
    bad: dict = {}
    for r in rows:
        if r["task"] == t and r.get("status") in ("skipped", "error", "nan"):
            k = (r["method"], r["nfe_target"], r["status"], r.get("error"))
            bad[k] = bad.get(k, 0) + 1
    for (m, g, st, e), c in bad.items():
        L.append(f"\n- {m}@{g}: {c} rows {st}" + (f" ({e})" if e else ""))
    L.append("")
    return L


def summarize(jsonl, out_dir, part: tuple[int, int] = (0, 1)) -> Path:
    """Write ``results.md`` (per task: method × NFE, mean ± 95 % CI), ``psnr_vs_nfe.png``,
    ``pareto.png`` (PSNR vs seconds per image) and ``grid_<task>.png`` into ``out_dir``.

    ``part=(k, n)``: the k-th of n processes sharing the work (:mod:`invdiff.bench.distributed`):
    part 0 writes ``results.md``, figure i is drawn by part i mod n."""
    from .plots import CURVES, curves, grid

    jsonl, out_dir = Path(jsonl), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = read_rows(jsonl)
    agg = aggregate(rows)
    meta = read_meta(jsonl)
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    has_lp = any("lpips" in s for s in agg.values())
    devices = sorted({r.get("device") for r in rows if r.get("device")})
    L = [f"# Benchmark: {meta.get('suite', jsonl.stem)}", ""]
    if meta.get("notes"):
        L += [meta["notes"], ""]
    L += [f"Device: {', '.join(devices) or '?'}. {_PREAMBLE}", ""]
    if not has_lp:
        L += [meta.get("lpips") or "LPIPS is not reported: no local LPIPS weights.", ""]
    for t in tasks:
        L += _task_table(t, rows, agg, has_lp)
    md = out_dir / "results.md"
    k, n = part
    if k == 0:
        md.write_text("\n".join(L))
    figures = [*CURVES, *tasks]
    mine = [f for i, f in enumerate(figures) if i % n == k]
    curves(agg, tasks, out_dir, [f for f in mine if f in CURVES])
    for t in tasks:
        if t in mine:
            grid(images_dir(jsonl) / t, t, agg, out_dir / f"grid_{t}.png")
    return md


# --------------------------------------------------------------------------- headline
def _cells(agg: dict, task: str, kind: str) -> list[tuple[str, int, dict]]:
    out = [(m, g, s) for (t, m, g), s in agg.items() if t == task and s["kind"] == kind and "psnr" in s]
    if not out:
        return []
    n = max(s["n"] for _, _, s in out)
    return [c for c in out if c[2]["n"] == n]


def _best(cells):
    return max(cells, key=lambda c: c[2]["psnr"][0]) if cells else None


def _cell(c, sec: bool = True) -> str:
    if c is None:
        return "–"
    m, g, s = c
    label = f"{m}@{g}" if g else m
    return f"{label} {s['psnr'][0]:.2f}" + (f" ({s['time_s'][0]:.3g} s)" if sec else "")


def headline(rows: list[dict]) -> str:
    """The two Markdown tables described in the module docstring."""
    agg = aggregate(rows)
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    L = [
        (
            "| task | ours: best (PSNR, s/img) | deepinv: best (PSNR, s/img) | classical: best | "
            "ours − deepinv | ours − classical |"
        ),
        "|---|---|---|---|---|---|",
    ]
    for t in tasks:
        o, d, c = (_best(_cells(agg, t, kind)) for kind in FAMILIES.values())
        dm = f"{o[2]['psnr'][0] - d[2]['psnr'][0]:+.2f}" if o and d else "–"
        cm = f"{o[2]['psnr'][0] - c[2]['psnr'][0]:+.2f}" if o and c else "–"
        L.append(f"| {t} | {_cell(o)} | {_cell(d)} | {_cell(c, False)} | {dm} | {cm} |")
    L += [
        "",
        "Ours vs deepinv's implementation of the same sampler (PSNR dB / s per image):",
        "",
        "| task | sampler | NFE | ours | deepinv | Δ PSNR | time ratio deepinv/ours |",
        "|---|---|---|---|---|---|---|",
    ]
    # peers in the order they were run: "deepinv-<p>" is deepinv's implementation of our sampler <p>
    peers = dict.fromkeys(m.split("-", 1)[1] for (_, m, _), s in agg.items() if s["kind"] == FAMILIES["deepinv"])
    for t in tasks:
        for p in peers:
            for (tt, m, g), s in sorted(agg.items(), key=lambda kv: kv[0][2]):
                d = agg.get((t, f"deepinv-{p}", g))
                if tt != t or m != p or "psnr" not in s or d is None or "psnr" not in d:
                    continue
                L.append(
                    f"| {t} | {p} | {g} | {s['psnr'][0]:.2f} / {s['time_s'][0]:.3g} | "
                    f"{d['psnr'][0]:.2f} / {d['time_s'][0]:.3g} | {s['psnr'][0] - d['psnr'][0]:+.2f} | "
                    f"{d['time_s'][0] / s['time_s'][0]:.2f} |"
                )
    return "\n".join(L)


def main(argv=None) -> int:
    paths = argv if argv is not None else sys.argv[1:]
    if not paths:
        print(__doc__)
        return 2
    print(headline([r for p in paths for r in read_rows(p)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
