"""Tune deepinv's own samplers' main weights on MNIST training digits, with our tuning budget (issue 13).

Issue 13 asks that deepinv's peers get their main weight tuned "with the same budget, so the comparison is
fair".  Each (task, deepinv sampler, NFE) cell gets what one of ours gets from ``invdiff tune``: 30 Optuna
TPE trials (seed 0) with median pruning on 4-image batches, on the first 16 *training* digits, with the
training operators and noise of :class:`invdiff.tune.cells.Cell` (task seed + 10 000 / 10 001; no held-out
digit or operator is seen).  The suite's settings (deepinv's defaults; DPS weight 100) are enqueued as trial
0, as ours enqueue their reference values.  Searched:

- ``deepinv-dps``: ``weight`` (the guidance step, log 1–3000);
- ``deepinv-diffpir``: ``lambda_`` (log 0.1–100) and ``zeta`` (0–1), deepinv's two DiffPIR weights;
- ``deepinv-ddrm``: ``eta`` and ``etab`` (0–1).  deepinv's DDRM cannot run the circular blurs (complex SVD).

The best values go to ``benchmarks/results/deepinv_tuned.json`` ({"task": {"deepinv-m": {"nfe": ..}}});
:func:`specs` turns them into bench specs (``deepinv-dps:weight=...``) for ``invdiff bench --tasks T``.
Studies live in ``tune/deepinv.db`` (SQLite): a killed run resumes.

    python benchmarks/tune_deepinv.py --nfe 20            # every cell (~50 min on one core)
    python benchmarks/tune_deepinv.py --specs --nfe 20    # print the bench commands for the tuned values
    python benchmarks/tune_deepinv.py --table --nfe 20    # the tuned values as a Markdown table
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "deepinv_tuned.json"
STORAGE = "sqlite:///tune/deepinv.db"
TASKS = ("inpaint_box", "inpaint_random", "gaussian_blur", "motion_blur", "sr2", "sr4", "denoise")
METHODS = ("dps", "diffpir", "ddrm")
CIRCULAR = ("gaussian_blur", "motion_blur")  # deepinv's DDRM needs a real SVD; these have a complex one


def _spaces() -> dict:
    from invdiff.samplers.space import Param

    return {
        "dps": {"weight": Param(1.0, 3000.0, log=True)},
        "diffpir": {"lambda_": Param(0.1, 100.0, log=True), "zeta": Param(0.0, 1.0)},
        "ddrm": {"eta": Param(0.0, 1.0), "etab": Param(0.0, 1.0)},
    }


# the suite's settings for each peer (deepinv's defaults, DPS weight 100: invdiff.bench.peers)
SUITE = {"dps": {"weight": 100.0}, "diffpir": {"lambda_": 7.0, "zeta": 0.1}, "ddrm": {"eta": 0.85, "etab": 1.0}}


def peer(method: str):
    """deepinv's ``method`` with the sampler signature and a ``search_space``, for
    :class:`invdiff.tune.objective.Objective` (per-sample seeds as the bench's peers: no ``offset``)."""
    from invdiff.bench.peers import run_deepinv

    def fn(prior, op, y, *, sigma_y, steps, seed, x_shape, offset=0, **kw):
        return run_deepinv(method, prior, op, y, sigma_y, steps, seed, x_shape=x_shape, **kw)

    fn.search_space = _spaces()[method]
    return fn


def tune(task: str, method: str, nfe: int, trials: int, n_images: int, prior) -> dict:
    import optuna

    from invdiff.tune.cells import Cell
    from invdiff.tune.objective import Objective

    # "ddrm" only names the cell: one NFE per step, no task keywords; images and operators are the task's
    cell = Cell("mnist", task, "ddrm", nfe)
    objective = Objective(cell, prior, n_images, 4, seed=0, fn=peer(method))
    study = optuna.create_study(
        study_name=f"mnist/{task}/deepinv-{method}/nfe{nfe}/n{n_images}", storage=STORAGE, load_if_exists=True,
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )  # fmt: skip
    done = [t for t in study.trials if t.state.is_finished()]
    if not done:
        study.enqueue_trial(SUITE[method], user_attrs={"reference": "suite"})
    t0 = time.time()
    left = trials - len(done)
    if left > 0:
        study.optimize(objective, n_trials=left)
    ref = [t for t in study.trials if t.user_attrs.get("reference") == "suite" and t.value is not None]
    best = study.best_trial
    return {
        "params": best.params,
        "train_psnr": round(best.value, 3),
        "suite_train_psnr": round(ref[0].value, 3) if ref else None,
        "trials": len([t for t in study.trials if t.state.is_finished()]),
        "n_images": n_images,
        "minutes_this_run": round((time.time() - t0) / 60, 2),
        "date": time.strftime("%Y-%m-%d"),
    }


def specs(nfe: int) -> list[str]:
    """One ``invdiff bench`` method list per task: the tuned deepinv peers as ``deepinv-m:key=value`` specs."""
    table = json.loads(RESULTS.read_text())
    out = []
    for task, cells in table.items():
        names = []
        for m, by_nfe in cells.items():
            e = by_nfe.get(str(nfe))
            if e:
                names.append(m + ":" + ",".join(f"{k}={v:.4g}" for k, v in e["params"].items()))
        out.append(f"--tasks {task} --methods " + " ".join(names))
    return out


def markdown(nfe: int) -> str:
    """The tuned table as Markdown: per task and peer, the suite's setting's and the tuned training PSNR."""
    table = json.loads(RESULTS.read_text())
    lines = [
        "| task | peer | suite setting (train dB) | tuned (train dB) | tuned values | trials |",
        "|---|---|---|---|---|---|",
    ]
    for task, cells in table.items():
        for m, by_nfe in cells.items():
            e = by_nfe.get(str(nfe))
            if e:
                vals = ", ".join(f"{k} {v:.3g}" for k, v in e["params"].items())
                lines.append(
                    f"| {task} | {m} | {e['suite_train_psnr']:.2f} | {e['train_psnr']:.2f} | {vals} | {e['trials']} |"
                )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nfe", type=int, default=20)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--n-images", type=int, default=16)
    ap.add_argument("--tasks", nargs="*", default=TASKS)
    ap.add_argument("--methods", nargs="*", default=METHODS)
    ap.add_argument("--specs", action="store_true", help="print the bench method specs of the tuned values")
    ap.add_argument("--table", action="store_true", help="print the tuned values as a Markdown table")
    a = ap.parse_args()
    if a.specs or a.table:
        print("\n".join(specs(a.nfe)) if a.specs else markdown(a.nfe))
        return
    import optuna

    from invdiff.load import load_prior

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    Path("tune").mkdir(exist_ok=True)
    prior = load_prior("mnist")
    table = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for task in a.tasks:
        for m in a.methods:
            if m == "ddrm" and task in CIRCULAR:
                continue
            e = tune(task, m, a.nfe, a.trials, a.n_images, prior)
            table.setdefault(task, {}).setdefault(f"deepinv-{m}", {})[str(a.nfe)] = e
            RESULTS.write_text(json.dumps(table, indent=1) + "\n")
            print(f"{task} deepinv-{m}@{a.nfe}: {e['suite_train_psnr']} -> {e['train_psnr']} dB "
                  f"{e['params']} ({e['minutes_this_run']} min)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
