"""Score tuned-table entries on MNIST *training* digits that their searches did not see.

    OMP_NUM_THREADS=1 python benchmarks/check_entries.py TASK NFE TABLE [TABLE ...] [--first 1000] [--n-images 64]
        [--methods dps ddrm] [--reference] [--samples K]

For each sampler with a (TASK, NFE) entry in any of the TABLEs (the shipped
``invdiff/weights/mnist.tuned.json`` or a search's ``--table`` output), its parameters are run on
``mnist("train")[first : first + n]`` with the cell's operators and noise (``Cell.training_batches``
with ``first``; the searches score ``train[:16]`` or ``train[:64]``), sampler seed 0, and the mean PSNR is
printed per table.  ``--reference`` also scores the benchmark's setting for a cell without a tuned entry
(``Cell.reference_kw``: the task's keywords over the sampler's defaults, what ``NAME:tuned`` runs then).
``--samples K`` scores the mean of K draws of NFE // K steps each (sampler seeds 0 … K−1), charged NFE in all,
as the benchmark's ``NAME:tuned,meanK`` at ``--nfe NFE/K`` (which uses the same entry, the nearest tuned NFE).
Held-out digits are never used: this chooses between entries the way a search would.
"""

from __future__ import annotations

import argparse
import json

from invdiff.load import load_prior
from invdiff.metrics import psnr
from invdiff.tune.cells import Cell
from invdiff.tune.objective import Objective


def mean_of_draws(ob: Objective, params: dict, k: int, steps: int) -> float:
    """Mean PSNR of the mean of ``k`` draws (seeds 0 … k−1, ``steps`` each) over the objective's images."""
    total, n = 0.0, 0
    for x, op, y, offset in ob.batches:
        draws = [ob.fn(ob.prior, op, y, sigma_y=ob.sigma_y, steps=steps, seed=j, x_shape=tuple(x.shape[1:]),
                       offset=offset, **params) for j in range(k)]  # fmt: skip
        total += float(psnr((sum(draws) / k).clamp(-1, 1), x).sum())
        n += len(x)
    return total / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task")
    ap.add_argument("nfe", type=int)
    ap.add_argument("tables", nargs="+")
    ap.add_argument("--first", type=int, default=1000)
    ap.add_argument("--n-images", type=int, default=64)
    ap.add_argument("--methods", nargs="*", default=None)
    ap.add_argument("--reference", action="store_true", help="also score the benchmark's untuned setting")
    ap.add_argument("--samples", type=int, default=1, help="K > 1: the mean of K draws of NFE // K steps")
    a = ap.parse_args()
    prior = load_prior("mnist")
    entries = {}
    for path in a.tables:
        cells = json.load(open(path))["cells"].get(a.task, {})
        for m, by_nfe in cells.items():
            if str(a.nfe) in by_nfe and (a.methods is None or m in a.methods):
                entries.setdefault(m, []).append((path, by_nfe[str(a.nfe)]))
    for m, found in entries.items():
        cell = Cell("mnist", a.task, m, a.nfe)
        if a.reference:
            found = [("reference", {"params": cell.reference_kw(), "train_psnr": "-", "n_images": "-"}), *found]
        ob = Objective(cell, prior, a.n_images, 16, first=a.first)
        for path, e in found:
            kw = {**ob.cell.fixed_kw(), **e["params"]}
            v = ob.evaluate(kw) if a.samples == 1 else mean_of_draws(ob, kw, a.samples, a.nfe // a.samples)
            what = f"{m}@{a.nfe}" + (f" mean of {a.samples}" if a.samples > 1 else "")
            print(f"{a.task} {what} {v:.3f} dB on train[{a.first}:{a.first + a.n_images}]  "
                  f"(search: {e['train_psnr']} on {e['n_images']})  {path}  {e['params']}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
