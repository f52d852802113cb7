"""Robustness matrix: every posterior sampler × every image operator it accepts × NFE, next to classical.

    OMP_NUM_THREADS=1 python benchmarks/robustness.py [--n-images 16] [--nfe 10,20,50,100,default]
        [--samplers dps,ddrm] [--operators gaussian_blur,sr4] [--default-n-images 8]
        [--default-operators suite|all|none|a,b] [--out benchmarks/results/robustness.jsonl]
    OMP_NUM_THREADS=1 python benchmarks/robustness.py --report   # table + flagged list (stdout), heat map

MNIST 28², the shipped prior ``load_prior("mnist")``, the first ``--n-images`` held-out digits
(``mnist("test")``), σ_y = 0.05 on [-1, 1], sampler seed 0, every sampler at its DEFAULT
hyperparameters (``start="auto"``).  Operators: every name in ``operators.OPERATORS`` that builds
at (1, 28, 28), with the mnist suite's task parameters where they apply (invdiff/suites.py:
inpaint_random 70 %, inpaint_box 14 margin 2, gaussian_blur 9×9 std 1.0, motion_blur 7×7
intensity 0.5, sr_bicubic ×2 and ×4 as two cells ``sr2``/``sr4``), builder defaults otherwise.

NFE: DAPS runs ``max(1, n // ode_steps)`` annealing levels (its default ``ode_steps`` network calls
each), the others ``n`` steps.  ``default`` is ``f.default_steps`` (× ``ode_steps`` for DAPS); where it equals an NFE of
the grid (ΠGDM, DDNM, DiffPIR: 100; DDRM: 20) the cell is that run and is not repeated.  Samplers
whose default NFE is ≥ 1000 (DPS, RED-diff, DAPS) run their default cell on the first
``--default-n-images`` digits (8) and only on ``--default-operators`` (the mnist suite's seven
tasks by default): the full column is over the CPU budget; the row says so (``n_images``).

Classical: for each operator the baselines of ``invdiff.baselines.FOR_KIND`` for its kind (pinv
for any other linear operator; none for nonlinear ones such as phase retrieval), each weight
tuned with ``baselines.tune`` on 16 training digits (operator seed 10000, noise seed 10001, as
``invdiff.bench``); the best on those *training* digits is the reference, scored on the same
test digits (per image, so 8-digit cells compare on the same 8).

A cell is flagged when it raised (type and message recorded), when its output is not finite,
or when its mean PSNR is more than 1 dB below the classical reference.  Each cell appends one
JSON line to ``--out``; cells already there (same sampler, operator, NFE label, image count)
are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUT = RESULTS / "robustness.jsonl"
SHAPE = (1, 28, 28)
SIGMA_Y = 0.05
NFE_GRID = (10, 20, 50, 100)
LABELS = ("10", "20", "50", "100", "default")
FLAG_DB = 1.0
POSTERIOR_ORDER = ("dps", "pigdm", "ddrm", "ddnm", "diffpir", "reddiff", "daps")  # display order only
EXPENSIVE_NFE = 1000  # default NFE from which the default cell runs on fewer digits / fewer operators
TRAIN_OP_SEED, TRAIN_NOISE_SEED = 10_000, 10_001

# the mnist suite's task parameters (invdiff/suites.py) where they apply; builder defaults otherwise
SUITE_CELLS = {
    "inpaint_random": [("inpaint_random", {"fraction": 0.7})],
    "inpaint_box": [("inpaint_box", {"size": 14, "margin": 2})],
    "gaussian_blur": [("gaussian_blur", {"size": 9, "std": 1.0})],
    "motion_blur": [("motion_blur", {"size": 7, "intensity": 0.5})],
    "sr_bicubic": [("sr2", {"factor": 2}), ("sr4", {"factor": 4})],
}
SUITE_TASKS = ("inpaint_box", "inpaint_random", "gaussian_blur", "motion_blur", "sr2", "sr4", "denoise")
# task kind of each registry operator -> classical baselines (invdiff.baselines.FOR_KIND); others: pinv if linear
KIND = {
    "denoise": "denoise",
    "gaussian_blur": "blur",
    "uniform_blur": "blur",
    "motion_blur": "blur",
    "gaussian_blur_reflect": "blur",
    "callable": "blur",
    "inpaint_box": "inpaint",
    "inpaint_random": "inpaint",
    "sr_avg": "sr",
    "sr_bicubic": "sr",
}


# --------------------------------------------------------------------------- cells
def operator_cells(names=None) -> list[tuple[str, str, dict]]:
    """(cell name, registry name, build parameters) for every registry operator (or the cells ``names``)."""
    import operators

    cells = [
        c
        for reg in operators.OPERATORS
        for c in [(cell, reg, params) for cell, params in SUITE_CELLS.get(reg, [(reg, {})])]
    ]
    if names is None:
        return cells
    known = {c[0]: c for c in cells} | {c[1]: c for c in cells if c[0] == c[1]}
    bad = [n for n in names if n not in known and n not in SUITE_CELLS]
    if bad:
        raise SystemExit(f"unknown operator cell(s) {bad}; choose from {[c[0] for c in cells]}")
    return [c for c in cells if c[0] in names or c[1] in names]


def plan_nfe(fn, label: str) -> tuple[int, int]:
    """(target NFE, steps) of an NFE label for sampler ``fn`` at its default ``ode_steps`` (DAPS)."""
    from invdiff.bench.runners import nfe_per_step

    per = nfe_per_step(fn, {})
    target = int(fn.default_steps) * per if label == "default" else int(label)
    return target, max(1, target // per)


def cell_key(row: dict) -> tuple:
    return row["sampler"], row["operator"], row["nfe_label"], row["n_images"], row.get("start_mode", "auto")


def documented_start(op) -> str:
    """The warm start that ``start="auto"`` is documented to pick (invdiff/samplers/warmstart.py), by class."""
    import operators

    if not operators.linalg.is_linear(op):
        return "noise"
    if isinstance(op, operators.Inpainting):
        return "biharmonic"
    if isinstance(op, (operators.CircularBlur, operators.ReflectBlur)):
        return "wiener"
    if isinstance(op, operators.SeparableDownsampling):  # what operators.SuperResolution(...) returns
        return "bicubic"
    return "tikhonov"


def load_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def _git_state() -> dict:
    def git(*a):
        try:
            return subprocess.run(
                ["git", *a], check=False, cwd=ROOT, capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except Exception:  # noqa: BLE001 - provenance only
            return ""

    dirty = git("status", "--porcelain", "--", "invdiff", "operators")
    return {"commit": git("rev-parse", "--short", "HEAD"), "library_dirty": bool(dirty)}


# --------------------------------------------------------------------------- classical reference
def classical_reference(reg: str, params: dict, op, y, x, x_train) -> dict:
    """Best classical baseline (chosen on training digits) and its per-image PSNR on the test digits."""
    import operators
    from invdiff import baselines
    from invdiff.metrics import psnr

    linear = operators.linalg.is_linear(op)
    names = [n for n in baselines.FOR_KIND.get(KIND.get(reg, "other"), ()) if linear or n != "pinv"]
    if linear and "pinv" not in names:
        names.append("pinv")
    if not names:
        return {"name": None, "why": "nonlinear operator: no classical baseline"}
    op_tr = operators.build(reg, shape=SHAPE, batch=len(x_train), seed=TRAIN_OP_SEED, **params)
    y_tr = operators.measure(op_tr, x_train, sigma_y=SIGMA_Y, seed=TRAIN_NOISE_SEED)
    info = {"x_shape": SHAPE}
    cands = {}
    for n in names:
        fn = baselines.BASELINES[n]
        try:
            w = baselines.tune(fn, op_tr, x_train, y_tr, SIGMA_Y, info)
            kw = {} if w is None else {fn.param.name: w}
            train = float(psnr(fn(op_tr, y_tr, SIGMA_Y, {**info, **kw}).real.clamp(-1, 1), x_train).mean())
            test = psnr(fn(op, y, SIGMA_Y, {**info, **kw}).real.clamp(-1, 1), x).tolist()
            cands[n] = {"weight": kw, "train_psnr": round(train, 3), "psnr": [round(v, 3) for v in test]}
        except Exception as e:  # noqa: BLE001 - a baseline that does not apply is recorded, not fatal
            cands[n] = {"error": f"{type(e).__name__}: {e}"}
    ok = {n: c for n, c in cands.items() if "train_psnr" in c}
    if not ok:
        return {"name": None, "why": "no baseline applies", "candidates": cands}
    best = max(ok, key=lambda n: ok[n]["train_psnr"])
    return {
        "name": best,
        "weight": ok[best]["weight"],
        "psnr": ok[best]["psnr"],
        "candidates": {n: {k: v for k, v in c.items()} for n, c in cands.items()},
    }


# --------------------------------------------------------------------------- one cell
def run_cell(
    prior, sampler: str, cell: str, reg: str, params: dict, label: str, n: int, x, ref: dict, start: str = "auto"
) -> dict:
    import invdiff
    import operators
    from invdiff.metrics import psnr
    from invdiff.samplers import POSTERIOR

    fn = POSTERIOR[sampler]
    target, steps = plan_nfe(fn, label)
    row = {
        "sampler": sampler,
        "operator": cell,
        "registry": reg,
        "params": params,
        "nfe_label": label,
        "nfe": target,
        "steps": steps,
        "n_images": n,
        "sigma_y": SIGMA_Y,
        "hyperparameters": "defaults",
        "date": datetime.date.today().isoformat(),
        "start_mode": start,
        **_GIT,
    }
    if label == "default" and target >= EXPENSIVE_NFE:
        row["note"] = f"default NFE {target} is over the CPU budget at 16 digits: run on the first {n} digits"
    xs = x[:n]
    op = operators.build(reg, shape=SHAPE, batch=n, seed=0, **params)
    y = operators.measure(op, xs, sigma_y=SIGMA_Y, seed=0)
    kw = {}
    if start == "documented":
        kw["start"] = row["start_used"] = documented_start(op)
        row["hyperparameters"] = f"defaults except start={kw['start']!r} (what start='auto' is documented to pick)"
    t0 = time.perf_counter()
    try:
        xh = invdiff.solve(y, op, prior, method=sampler, sigma_y=SIGMA_Y, steps=steps, **kw)
    except Exception as e:  # noqa: BLE001 - recorded in the row and flagged, not swallowed
        row.update(
            wall_s=round(time.perf_counter() - t0, 2),
            flagged=True,
            flags=["error"],
            error={"type": type(e).__name__, "message": str(e)[:2000], "where": traceback.format_exc(limit=-3)[-1500:]},
        )
        _add_classical(row, ref, n)
        return row
    row["wall_s"] = round(time.perf_counter() - t0, 2)
    xh = xh.detach()
    finite = torch.isfinite(xh).reshape(n, -1).all(1)
    p = psnr(xh.clamp(-1, 1), xs)
    row["psnr"] = [round(float(v), 3) if math.isfinite(float(v)) else None for v in p]
    row["finite"] = [bool(f) for f in finite]
    row["psnr_mean"] = round(float(p.mean()), 3) if bool(finite.all()) else None
    # measured diagnostics for the explanations: data fit in units of σ_y, output range
    with torch.no_grad():
        r = operators.linalg.forward(op, torch.nan_to_num(xh)) - y
        r = r.abs() if r.is_complex() else r
        row["residual_over_sigma"] = [round(float(v), 3) for v in r.reshape(n, -1).pow(2).mean(1).sqrt() / SIGMA_Y]
    row["x_min"], row["x_max"] = (
        round(float(torch.nan_to_num(xh).min()), 3),
        round(float(torch.nan_to_num(xh).max()), 3),
    )
    _add_classical(row, ref, n)
    flags = [] if bool(finite.all()) else ["nonfinite"]
    if row.get("delta_db") is not None and row["delta_db"] < -FLAG_DB:
        flags.append("below_classical")
    row["flags"], row["flagged"] = flags, bool(flags)
    return row


def _add_classical(row: dict, ref: dict, n: int) -> None:
    row["classical"] = ref.get("name")
    if ref.get("name") is None:
        row["classical_psnr"] = row["delta_db"] = None
        return
    c = sum(ref["psnr"][:n]) / n
    row["classical_weight"] = ref.get("weight")
    row["classical_psnr"] = round(c, 3)
    m = row.get("psnr_mean")
    row["delta_db"] = None if m is None else round(m - c, 3)


# --------------------------------------------------------------------------- report
def latest(rows: list[dict]) -> dict:
    """(sampler, operator, label) -> the last row written for it (the full-image run preferred)."""
    out = {}
    for r in rows:
        k = (r["sampler"], r["operator"], r["nfe_label"])
        if k not in out or r["n_images"] >= out[k]["n_images"]:
            out[k] = r
    return out


def resolved(cells: dict, sampler: str, op: str, label: str):
    """The row shown for a cell; a default equal to a grid NFE shows that run."""
    r = cells.get((sampler, op, label))
    if r is None and label == "default":
        from invdiff.samplers import POSTERIOR

        target, _ = plan_nfe(POSTERIOR[sampler], "default")
        if target in NFE_GRID:
            r = cells.get((sampler, op, str(target)))
    return r


def _fmt(r) -> str:
    if r is None:
        return "—"
    if "error" in r:
        return f"**ERR** {r['error']['type']}"
    if r.get("psnr_mean") is None:
        return "**non-finite**"
    d = r.get("delta_db")
    s = f"{r['psnr_mean']:.2f}" + ("" if d is None else f" ({d:+.2f})")
    if r["n_images"] < 16:
        s += f" [n={r['n_images']}]"
    return f"**{s}** ⚑" if r.get("flagged") else s


def order(rows: list[dict]) -> tuple[list[str], list[str]]:
    from invdiff.samplers import POSTERIOR

    ops = [c[0] for c in operator_cells() if any(r["operator"] == c[0] for r in rows)]
    samplers = [s for s in POSTERIOR if any(r["sampler"] == s for r in rows)]
    return samplers, ops


def markdown(rows: list[dict]) -> str:
    cells = latest(rows)
    samplers, ops = order(rows)
    lines = [
        "| sampler | operator | classical (PSNR) | " + " | ".join(f"NFE {lb}" for lb in LABELS) + " |",
        "|---|---|---|" + "---|" * len(LABELS),
    ]
    for op in ops:
        for s in samplers:
            rs = [resolved(cells, s, op, lb) for lb in LABELS]
            if all(r is None for r in rs):
                continue
            ref = next((r for r in rs if r is not None), {})
            cl = ref.get("classical")
            c16 = next((r["classical_psnr"] for r in rs if r and r["n_images"] >= 16 and r.get("classical_psnr")), None)
            ctext = "none" if cl is None else f"{cl} ({c16:.2f})" if c16 is not None else cl
            lines.append(f"| {s} | {op} | {ctext} | " + " | ".join(_fmt(r) for r in rs) + " |")
    return "\n".join(lines)


def flagged_list(rows: list[dict]) -> str:
    """Flagged cells, NFE ≥ 20 first then NFE 10; cells that raised the same exception are grouped."""
    cells = latest(rows)
    out, errors = {"≥ 20": [], "10": []}, {}
    for k, r in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0], LABELS.index(kv[0][2]))):
        if not r.get("flagged"):
            continue
        group = "10" if r["nfe_label"] == "10" else "≥ 20"
        if "error" in r:
            errors.setdefault((group, r["error"]["type"], r["error"]["message"][:300]), []).append(r)
            continue
        if r.get("psnr_mean") is not None:
            what = (
                f"PSNR {r['psnr_mean']:.2f} vs {r['classical']} {r['classical_psnr']:.2f} (Δ {r['delta_db']:+.2f} dB)"
            )
        else:
            what = f"non-finite on {sum(not f for f in r['finite'])}/{r['n_images']} images"
        res = r.get("residual_over_sigma")
        if res:
            what += f"; ‖Ax̂ − y‖/σ_y median {sorted(res)[len(res) // 2]:.2f}; x̂ range [{r['x_min']}, {r['x_max']}]"
        n = f", {r['n_images']} digits" if r["n_images"] < 16 else ""
        out[group].append(f"- NFE {r['nfe_label']} ({r['nfe']}{n}) {r['sampler']} × {r['operator']}: {what}")
    for (group, typ, msg), rs in errors.items():
        by_op: dict = {}
        for r in rs:
            by_op.setdefault(r["operator"], (set(), set()))
            by_op[r["operator"]][0].add(r["sampler"])
            by_op[r["operator"]][1].add(r["nfe_label"])
        where = "; ".join(
            f"{op}: {','.join(s for s in POSTERIOR_ORDER if s in ss)} @ NFE {','.join(lb for lb in LABELS if lb in ls)}"
            for op, (ss, ls) in by_op.items()
        )
        out[group].append(f"- {len(rs)} cells raised {typ}: {msg!r} — {where}")
    return "\n".join(f"NFE {g}:\n" + ("\n".join(v) or "(none)") + "\n" for g, v in out.items())


def plot_heatmap(rows: list[dict], path: Path, clip: float = 6.0) -> Path:
    """Δ dB vs classical, samplers × operators, one panel per NFE label; flagged cells boxed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle

    cells = latest(rows)
    samplers, ops = order(rows)
    fig, axes = plt.subplots(
        1, len(LABELS), figsize=(3.2 * len(LABELS) + 1.5, 0.42 * len(ops) + 2.2), sharey=True, constrained_layout=True
    )
    im = None
    for ax, lb in zip(axes, LABELS):
        data = np.full((len(ops), len(samplers)), np.nan)
        for i, op in enumerate(ops):
            for j, s in enumerate(samplers):
                r = resolved(cells, s, op, lb)
                text, color = "", "black"
                if r is None:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, color="0.85"))
                    continue
                if "error" in r or r.get("psnr_mean") is None:
                    text = "ERR" if "error" in r else "NaN"
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, color="#e8c8f0"))
                elif r.get("delta_db") is None:
                    text = f"{r['psnr_mean']:.0f}"
                    color = "0.35"
                else:
                    data[i, j] = r["delta_db"]
                    text = f"{r['delta_db']:+.1f}"
                    color = "white" if abs(r["delta_db"]) > 0.7 * clip else "black"
                if r["n_images"] < 16:
                    text += "*"
                if r.get("flagged"):
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="black", lw=2))
                ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color=color)
        im = ax.imshow(np.clip(data, -clip, clip), cmap="RdBu", vmin=-clip, vmax=clip, aspect="auto")
        ax.set_title(f"NFE {lb}", fontsize=10)
        ax.set_xticks(range(len(samplers)), samplers, rotation=60, fontsize=8)
        ax.set_yticks(range(len(ops)), ops, fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.8, label=f"Δ PSNR vs best classical [dB] (clipped ±{clip:g})")
    fig.suptitle(
        "MNIST 28², σ_y = 0.05: sampler PSNR − classical PSNR (boxed: flagged; violet: raised (ERR) or "
        "non-finite (NaN); grey: not run or not applicable; plain number: PSNR where no classical baseline;\n"
        "*: fewer digits (the NFE-1000 default cells of dps, reddiff, daps: 8), Δ on the same digits)",
        fontsize=9,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- main
_GIT: dict = {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-images", type=int, default=16)
    ap.add_argument("--nfe", default=",".join(LABELS), help="comma list of 10,20,50,100,default")
    ap.add_argument("--samplers", default=None, help="comma list (default: POSTERIOR but the SMC samplers)")
    ap.add_argument("--operators", default=None, help="comma list of cells/registry names (default: all)")
    ap.add_argument(
        "--default-n-images",
        type=int,
        default=8,
        help="digits for default cells whose default NFE is >= 1000 (dps, reddiff, daps)",
    )
    ap.add_argument(
        "--default-operators",
        default="suite",
        help="where those expensive default cells run: suite (the mnist suite's 7 tasks), all, none, or a comma list",
    )
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--start",
        choices=("auto", "documented"),
        default="auto",
        help="auto: the samplers' default; documented: pass the warm start that auto is documented to "
        "pick, by operator class (a side run; use its own --out)",
    )
    ap.add_argument("--retry-errors", action="store_true", help="run again the cells whose row recorded an exception")
    ap.add_argument("--report", action="store_true", help="print the table and flagged list, write the heat map")
    ap.add_argument("--figure", type=Path, default=RESULTS / "robustness.png")
    a = ap.parse_args(argv)

    if a.report:
        rows = load_rows(a.out)
        print(markdown(rows), "\n\n### Flagged\n", flagged_list(rows), sep="\n")
        print("\nfigure:", plot_heatmap(rows, a.figure))
        return 0

    torch.set_num_threads(1)
    from tqdm.auto import tqdm

    import invdiff
    import operators
    from invdiff import baselines  # noqa: F401 - import everything now: others may edit the tree mid-run
    from invdiff.data import mnist
    from invdiff.samplers import POSTERIOR, approximate_samplers, samplers_that_accept

    _GIT.update(_git_state())
    labels = [s.strip() for s in a.nfe.split(",") if s.strip()]
    if bad := [lb for lb in labels if lb not in LABELS]:
        raise SystemExit(f"unknown NFE label(s) {bad}; choose from {LABELS}")
    # the SMC samplers (f.weighted_population) are left out by default: NFE there is steps × particles, and
    # they are for small problems (README, "When to use an exact sampler"); name them to include them
    samplers = approximate_samplers() if a.samplers is None else [s.strip() for s in a.samplers.split(",")]
    if bad := [s for s in samplers if s not in POSTERIOR]:
        raise SystemExit(f"unknown sampler(s) {bad}; choose from {list(POSTERIOR)}")
    cells = operator_cells(None if a.operators is None else [s.strip() for s in a.operators.split(",")])
    dflt_ops = {"suite": set(SUITE_TASKS), "all": {c[0] for c in cells}, "none": set()}.get(
        a.default_operators, {s.strip() for s in a.default_operators.split(",")}
    )

    prior = invdiff.load_prior("mnist")
    x = mnist("test")[: a.n_images]
    x_train = mnist("train")[:16]
    done = {cell_key(r) for r in load_rows(a.out) if not (a.retry_errors and "error" in r)}

    built, refs = {}, {}
    for cell, reg, params in cells:
        try:
            op = operators.build(reg, shape=SHAPE, batch=len(x), seed=0, **params)
            built[cell] = op
        except Exception as e:  # noqa: BLE001 - e.g. colorize needs 3 channels
            print(f"skip operator {cell}: it does not build at {SHAPE} ({type(e).__name__}: {e})", file=sys.stderr)

    todo = []
    for lb in labels:
        for cell, reg, params in cells:
            if cell not in built:
                continue
            for s in samplers_that_accept(built[cell]):
                if s not in samplers:
                    continue
                target, _ = plan_nfe(POSTERIOR[s], lb)
                n = a.n_images
                if lb == "default":
                    if target in NFE_GRID:
                        continue  # the same run as that grid column
                    if target >= EXPENSIVE_NFE:
                        if cell not in dflt_ops:
                            continue
                        n = min(n, a.default_n_images)
                if (s, cell, lb, n, a.start) not in done:
                    todo.append((s, cell, reg, params, lb, n))
    print(f"{len(todo)} cells to run ({len(done)} already in {a.out})", file=sys.stderr)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(todo, desc="robustness", dynamic_ncols=True)
    for s, cell, reg, params, lb, n in bar:
        bar.set_postfix_str(f"{s} × {cell} @ {lb}")
        if cell not in refs:
            y = operators.measure(built[cell], x, sigma_y=SIGMA_Y, seed=0)
            refs[cell] = classical_reference(reg, params, built[cell], y, x, x_train)
        row = run_cell(prior, s, cell, reg, params, lb, n, x, refs[cell], a.start)
        with a.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if row.get("flagged"):
            tqdm.write(
                f"flagged: {s} × {cell} @ NFE {lb}: {row.get('flags')} "
                f"psnr {row.get('psnr_mean')} classical {row.get('classical_psnr')} "
                f"{row.get('error', {}).get('type', '')}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
