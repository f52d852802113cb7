"""Headline comparisons from a benchmark JSONL (the numbers a closing note or README quotes).

    python -m invdiff.bench_report RESULTS.jsonl [more.jsonl ...]

Per task: our best sampler, deepinv's best sampler and the best classical baseline
(mean PSNR over images, method@NFE, seconds per image) with the margins; then, per
peer (DPS, DiffPIR, DDRM), ours next to deepinv's at each NFE both ran.  Only
(method, NFE) cells with the most images in the run are compared, so a partial
cell never decides a "best".
"""
from __future__ import annotations

import sys

from .bench import aggregate, read_rows

PEERS = ("dps", "diffpir", "ddrm")


def _cells(agg: dict, task: str, kind: str) -> list[tuple[str, int, dict]]:
    out = [(m, g, s) for (t, m, g), s in agg.items() if t == task and s["kind"] == kind and "psnr" in s]
    if not out:
        return []
    n = max(s["n"] for _, _, s in out)
    return [c for c in out if c[2]["n"] == n]


def _best(cells):
    return max(cells, key=lambda c: c[2]["psnr"][0]) if cells else None


def _label(c) -> str:
    m, g, s = c
    return f"{m}@{g}" if g else m


def headline(rows: list[dict]) -> str:
    agg = aggregate(rows)
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    L = ["| task | ours: best (PSNR, s/img) | deepinv: best (PSNR, s/img) | classical: best | "
         "ours − deepinv | ours − classical |", "|---|---|---|---|---|---|"]
    for t in tasks:
        o, d, c = (_best(_cells(agg, t, k)) for k in ("sampler", "deepinv", "baseline"))

        def cell(x, sec=True):
            if x is None:
                return "–"
            s = x[2]
            return f"{_label(x)} {s['psnr'][0]:.2f}" + (f" ({s['time_s'][0]:.3g} s)" if sec else "")
        dm = f"{o[2]['psnr'][0] - d[2]['psnr'][0]:+.2f}" if o and d else "–"
        cm = f"{o[2]['psnr'][0] - c[2]['psnr'][0]:+.2f}" if o and c else "–"
        L.append(f"| {t} | {cell(o)} | {cell(d)} | {cell(c, False)} | {dm} | {cm} |")
    L += ["", "Ours vs deepinv's implementation of the same sampler (PSNR dB / s per image):", "",
          "| task | sampler | NFE | ours | deepinv | Δ PSNR | time ratio deepinv/ours |", "|---|---|---|---|---|---|---|"]
    for t in tasks:
        for p in PEERS:
            for (tt, m, g), s in sorted(agg.items(), key=lambda kv: kv[0][2]):
                if tt != t or m != p or "psnr" not in s:
                    continue
                d = agg.get((t, f"deepinv-{p}", g))
                if d is None or "psnr" not in d:
                    continue
                L.append(f"| {t} | {p} | {g} | {s['psnr'][0]:.2f} / {s['time_s'][0]:.3g} | "
                         f"{d['psnr'][0]:.2f} / {d['time_s'][0]:.3g} | {s['psnr'][0] - d['psnr'][0]:+.2f} | "
                         f"{d['time_s'][0] / s['time_s'][0]:.2f} |")
    return "\n".join(L)


def main(argv=None) -> int:
    paths = (argv if argv is not None else sys.argv[1:])
    if not paths:
        print(__doc__)
        return 2
    rows = [r for p in paths for r in read_rows(p)]
    print(headline(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
