"""Why ΠGDM misses on the GMM table's U(0,1) row: count its samples that land in a wrong mode.

On the two d_x = 8, d_y = 4 problems of ``gmm_posterior.py`` (the same seeds), the exact posterior has one
mode.  For each sampler seed this runs ΠGDM at its defaults (N = 500 samples), assigns every sample to the
nearest prior mean and counts those not in the posterior's mode; it also prints the sliced Wasserstein
distance (SW, 2-Wasserstein per direction) to exact posterior samples, which one far sample moves by about
distance·√(1/N).

    OMP_NUM_THREADS=1 python benchmarks/pigdm_modes.py [--seeds 8] [--steps 100]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gmm_posterior import mcgdiff_problem  # noqa: E402


def main(argv=None) -> None:
    from invdiff.exact import sliced_wasserstein
    from invdiff.samplers import POSTERIOR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--n", type=int, default=500)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    for dx, dy, fixed in ((8, 4, None), (8, 4, 0.05)):
        seed = 1000 * dx + 10 * dy + (1 if fixed is not None else 0)  # as gmm_posterior.run_setting
        prior, op, y, sy = mcgdiff_problem(dx, dy, seed, fixed)
        post = prior.posterior(op, y, sy)
        exact = post.sample(a.n, seed=1).double()
        means = prior.means.reshape(len(prior.weights), -1)
        mode = int(torch.cdist(exact, means).argmin(1).mode().values)
        wrong, sw = [], []
        for s in range(a.seeds):
            xs = POSTERIOR["pigdm"](prior, op, y.expand(a.n, -1).float(), sigma_y=sy, seed=s, steps=a.steps).double()
            wrong.append(int((torch.cdist(xs, means).argmin(1) != mode).sum()))
            sw.append(round(sliced_wasserstein(xs, exact, projections=200, seed=7), 3))
        label = f"sigma_y={sy:.4f}" + (" (fixed)" if fixed is not None else " (U(0,1))")
        print(f"d_x={dx} d_y={dy} {label}: wrong-mode samples per seed (of {a.n}): {wrong}, total {sum(wrong)}; "
              f"SW per seed {sw}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
