"""Compare every posterior sampler that applies to one task at a matched number of network calls.

Task: held-out digits under the mnist suite's Gaussian blur (9×9, std 1.0, σ_y = 0.05 on
[-1, 1]), with the suite's per-task hyperparameters (invdiff/bench/suites.py).  Every sampler
whose operator needs are met gets the same budget of NFE network evaluations (DAPS spends
``ode_steps`` of them per noise level).  Prints PSNR / SSIM / NFE / seconds; saves a figure.

    python examples/compare_samplers.py [--nfe 100] [--n 4] [--task gaussian_blur] [--out-dir .] [--small]
"""

import argparse
import inspect
import time
from pathlib import Path

import invdiff
import operators
from invdiff.bench.suites import mnist_tasks
from invdiff.data import mnist
from invdiff.io import free_path  # "name.png" if free, else "name-1.png", … (never overwrites)
from invdiff.samplers import POSTERIOR, samplers_that_accept
from invdiff.viz import comparison_figure

TASKS = {t.name: t for t in mnist_tasks(sigma_y=0.05)}  # operator, parameters, σ_y, sampler keywords
p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--task", choices=sorted(TASKS), default="gaussian_blur")
p.add_argument("--nfe", type=int, default=100, help="network evaluations per sampler (matched)")
p.add_argument("--n", type=int, default=4, help="held-out digits")
p.add_argument("--out-dir", type=Path, default=Path("."))
p.add_argument("--small", action="store_true", help="tiny run (a few seconds) for tests")
a = p.parse_args()
if a.small:
    a.n, a.nfe = 2, 5
a.out_dir.mkdir(parents=True, exist_ok=True)
t_start = time.perf_counter()

task = TASKS[a.task]
prior = invdiff.load_prior("mnist")
x = mnist("test")[: a.n]
op = operators.build(task.operator, shape=(1, 28, 28), batch=a.n, seed=0, **task.params)
y = operators.measure(op, x, task.sigma_y, seed=0)
methods = samplers_that_accept(op)  # those whose needs ("svd", "linear", "any", ...) op meets
# (with an SVD, DDNM+ is DDRM's update with η_b = 1 and a different start: expect near-equal rows)
print(f"{a.task}, {a.n} digits, sigma_y = {task.sigma_y}, target NFE {a.nfe}; samplers: {', '.join(methods)}")

# reference without a prior: y itself when it is an image like x (blur, inpainting), else A†y
ref = ("y", y) if y.shape == x.shape else ("A†y", operators.pinv(op, y))
rows = [(*ref, 0, 0, 0.0)]
for m in methods:
    kw = dict(task.method_kw.get(m, {}))
    ode = inspect.signature(POSTERIOR[m]).parameters.get("ode_steps")  # DAPS: NFE = levels × ode_steps
    steps = max(1, a.nfe // (kw.get("ode_steps", ode.default) if ode is not None else 1))
    prior.nfe, t0 = 0, time.perf_counter()
    xh = invdiff.solve(y, op, prior, method=m, sigma_y=task.sigma_y, steps=steps, seed=0, **kw)
    rows.append((m, xh.detach(), steps, prior.nfe, time.perf_counter() - t0))

print(f"\n{'method':<12}{'steps':>6}{'NFE':>6}{'PSNR':>8}{'SSIM':>7}{'seconds':>9}")
captions = {}
for name, xh, steps, nfe, sec in rows:
    ps, ss = float(invdiff.psnr(xh, x).mean()), float(invdiff.ssim(xh, x).mean())
    captions[(a.task, name)] = f"\n{ps:.1f} dB"
    print(f"{name:<12}{steps:>6}{nfe:>6}{ps:>8.2f}{ss:>7.3f}{sec:>9.2f}")
cols = [("truth", x)] + [(name, xh) for name, xh, *_ in rows]
png = comparison_figure([(a.task, cols)], free_path(a.out_dir / "compare_samplers.png"), n_show=a.n, captions=captions)
print(f"\nwrote {png} in {time.perf_counter() - t_start:.1f} s")
