"""Compare settings of one sampler on MNIST *training* digits (for choosing defaults, never on held-out ones).

    OMP_NUM_THREADS=1 python benchmarks/train_sweep.py SAMPLER OPERATORS NFES [SETTING ...]

``OPERATORS``: comma list of robustness-matrix cells (``benchmarks/robustness.py``: registry names, with the
mnist suite's parameters where they apply, ``sr2``/``sr4`` for bicubic ×2/×4).  ``NFES``: comma list; DAPS
runs NFE // ode_steps levels.  Each ``SETTING`` is ``k=v;k=v`` (Python literals; ``''`` = the defaults).
Images: ``mnist("train")[1000:1016]``, operator seed 777, noise seed 778, σ_y = 0.05, sampler seed 0, so
neither the held-out digits nor the tuning digits (``train[:16]``) are used.  Prints, per operator, the
best classical baseline on these digits (weights tuned on them: an upper bound for the classical answer)
and, per NFE and setting, the mean PSNR.  The sampler runs with ``hyperparameters="reference"`` (its own
defaults, not the tuned table) plus the setting.  Example (the DAPS defaults, robustness.md):

    python benchmarks/train_sweep.py daps denoise,sr4 20,100 'sigma_min=0.1;ode_steps=5' ''
"""

from __future__ import annotations

import ast
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from robustness import KIND, operator_cells  # noqa: E402

N_IMAGES, FIRST, OP_SEED, NOISE_SEED, SIGMA_Y = 16, 1000, 777, 778, 0.05


def parse_setting(text: str) -> dict:
    """``'a=1;b=x'`` -> {'a': 1, 'b': 'x'} (values as Python literals, else strings)."""
    out = {}
    for kv in filter(None, text.split(";")):
        k, _, v = kv.partition("=")
        try:
            out[k.strip()] = ast.literal_eval(v.strip())
        except (ValueError, SyntaxError):
            out[k.strip()] = v.strip()
    return out


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 3:
        raise SystemExit(__doc__)
    import invdiff
    import operators
    from invdiff import baselines
    from invdiff.bench.runners import nfe_per_step
    from invdiff.data import mnist
    from invdiff.metrics import psnr
    from invdiff.samplers import POSTERIOR

    torch.set_num_threads(1)
    sampler, cells, nfes = argv[0], argv[1].split(","), [int(v) for v in argv[2].split(",")]
    settings = [parse_setting(s) for s in argv[3:]] or [{}]
    x = mnist("train")[FIRST : FIRST + N_IMAGES]
    prior = invdiff.load_prior("mnist")
    given = operator_cells(cells)  # in the registry's order; run them in the order asked
    for cell, reg, params in sorted(given, key=lambda c: cells.index(c[0] if c[0] in cells else c[1])):
        op = operators.build(reg, shape=(1, 28, 28), batch=N_IMAGES, seed=OP_SEED, **params)
        y = operators.measure(op, x, sigma_y=SIGMA_Y, seed=NOISE_SEED)
        best = None
        for name in baselines.FOR_KIND.get(KIND.get(reg, ""), ("pinv",)):
            fn, info = baselines.BASELINES[name], {"x_shape": (1, 28, 28)}
            w = baselines.tune(fn, op, x, y, SIGMA_Y, info)
            if w is not None:
                info[fn.param.name] = w
            score = float(psnr(fn(op, y, SIGMA_Y, info).clamp(-1, 1), x).mean())
            best = max(best or (-1.0, ""), (score, name))
        print(f"classical {cell}: {best[1]} {best[0]:.2f}", flush=True)
        for nfe in nfes:
            for kw in settings:
                steps = max(1, nfe // nfe_per_step(POSTERIOR[sampler], kw))
                t0 = time.perf_counter()
                xh = invdiff.solve(y, op, prior, method=sampler, sigma_y=SIGMA_Y, steps=steps,
                                   hyperparameters="reference", **kw)  # fmt: skip
                p = float(psnr(xh.clamp(-1, 1), x).mean())
                print(f"{sampler} {cell:22s} nfe={nfe:4d} {json.dumps(kw):50s} {p:7.2f}  "
                      f"{time.perf_counter() - t0:5.1f}s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
