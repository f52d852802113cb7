"""Held-out check of the tuned defaults: every cell of a shipped table on test images, tuned vs reference.

For each (task, sampler, NFE) cell of ``invdiff/weights/<prior>.tuned.json`` this runs ``invdiff.solve``
on the first N held-out images (``mnist("test")``, the benchmark's images, operators and noise:
task seed, offset 0) three ways, sampler seed 0:

- ``paper``: ``hyperparameters="reference"`` (the sampler's own defaults);
- ``bench``: the benchmark's per-task reference keywords (suite ``method_kw``) over those defaults;
- ``tuned``: nothing passed, so solve takes the table's values (checked: ``info["hyperparameters"] == "tuned"``).

Prints a Markdown table: mean PSNR of each, and tuned − bench and tuned − paper as mean ± standard error
of the per-image differences.

    OMP_NUM_THREADS=1 python benchmarks/tune_eval.py [--n-images 16] [--prior mnist]
"""

from __future__ import annotations

import argparse
import math

import torch

import invdiff
import operators
from invdiff.load import load_prior
from invdiff.metrics import psnr
from invdiff.tune import cells, table
from invdiff.tune.defaults import TABLE_DIR


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior", default="mnist")
    ap.add_argument("--n-images", type=int, default=16)
    a = ap.parse_args()
    torch.set_num_threads(1)
    prior = load_prior(a.prior)
    t = table.read(TABLE_DIR / f"{a.prior}.tuned.json")
    if a.prior == "mnist":
        x = invdiff.data.mnist("test")[: a.n_images]
    else:
        x = torch.cat([invdiff.data.photo(n, cells.PHOTO_SIZE) for n in invdiff.data.PHOTO_TEST[: a.n_images]])
    shape = tuple(x.shape[1:])
    print(f"{a.prior}: {len(x)} held-out images, sampler seed 0\n")
    cols = ("task", "sampler", "NFE", "paper defaults", "bench reference", "tuned", "tuned − bench", "tuned − paper")
    print("| " + " | ".join(cols) + " | tuned params |")
    print("|---|---|---|---|---|---|---|---|---|")
    for task_name, by_method in t["cells"].items():
        task = cells.get_task(a.prior, task_name)
        op = task.build(shape, len(x), 0)
        y = operators.measure(op, x, task.sigma_y, seed=task.seed)
        for method, by_nfe in by_method.items():
            for nfe in by_nfe:
                steps = cells.steps_for(method, int(nfe), task.method_kw.get(method))
                kw = {"sigma_y": task.sigma_y, "steps": steps, "seed": 0}

                def score(**extra):
                    xh, info = invdiff.solve(y, op, prior, method, return_info=True, **kw, **extra)
                    return psnr(xh.clamp(-1, 1), x).double(), info

                paper, _ = score(hyperparameters="reference")
                bench, _ = score(hyperparameters="reference", **task.method_kw.get(method, {}))
                tuned, info = score()
                assert info["hyperparameters"] == "tuned" and info["tuned_nfe"] == int(nfe), info
                params = ", ".join(f"{k}={v}" for k, v in info["applied"].items() if k != "zeta_scaling")
                row = (task_name, method, nfe, f"{paper.mean():.2f}", f"{bench.mean():.2f}", f"{tuned.mean():.2f}",
                       gain(tuned, bench), gain(tuned, paper), params)  # fmt: skip
                print("| " + " | ".join(map(str, row)) + " |", flush=True)


def gain(a, b) -> str:
    """Mean ± standard error of the per-image differences a − b (dB)."""
    d = a - b
    se = float(d.std() / math.sqrt(len(d))) if len(d) > 1 else float("nan")
    return f"{float(d.mean()):+.2f} ± {se:.2f}"


if __name__ == "__main__":
    main()
