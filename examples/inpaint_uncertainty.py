"""Posterior uncertainty for inpainting: K posterior samples → per-pixel mean and standard deviation.

Held-out digits lose a 14×14 box (or 70 % of their pixels with ``--task inpaint_random``);
``invdiff.posterior_stats`` draws K samples per digit with a posterior sampler and returns the
pixel-wise mean and std.  Where the digit is hidden the samples disagree, so the std should be
large exactly where the mean is likely wrong: the script prints the correlation between the std
map and the absolute error of the mean.

    python examples/inpaint_uncertainty.py [--samples 8] [--method ddrm] [--steps 20] [--out-dir .] [--small]
"""

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

import invdiff
import operators
from invdiff.data import mnist
from invdiff.io import free_path  # "name.png" if free, else "name-1.png", … (never overwrites)
from invdiff.viz import to_display

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--task", choices=["inpaint_box", "inpaint_random"], default="inpaint_box")
p.add_argument("--method", default="ddrm", help="any posterior sampler (ddrm, diffpir, ddnm, pigdm, ...)")
p.add_argument("--samples", type=int, default=8, help="K posterior samples per digit")
p.add_argument("--steps", type=int, default=20, help="sampler steps per posterior sample")
p.add_argument("--n", type=int, default=4, help="held-out digits")
p.add_argument("--out-dir", type=Path, default=Path("."))
p.add_argument("--small", action="store_true", help="tiny run (a few seconds) for tests")
a = p.parse_args()
if a.small:
    a.n, a.samples, a.steps = 2, 3, 5
a.out_dir.mkdir(parents=True, exist_ok=True)
t0 = time.perf_counter()

sigma_y = 0.05
prior = invdiff.load_prior("mnist")
x = mnist("test")[: a.n]
params = {"size": 14, "margin": 2} if a.task == "inpaint_box" else {"fraction": 0.7}  # the mnist suite's
op = operators.build(a.task, shape=(1, 28, 28), batch=a.n, seed=0, **params)  # per-digit masks
y = operators.measure(op, x, sigma_y, seed=0)
mean, std = invdiff.posterior_stats(
    y, op, prior, method=a.method, samples=a.samples, seed=0, sigma_y=sigma_y, steps=a.steps
)
err = (mean - x).abs()


def corr(u, v):
    """Pearson correlation over pixels: is the std a useful error bar?"""
    u, v = u.flatten().double(), v.flatten().double()
    return float(torch.corrcoef(torch.stack([u, v]))[0, 1])


hidden = op.mask == 0  # True where the pixel was not measured
print(
    f"{a.task}, {a.method} ({a.steps} steps) x {a.samples} samples, {a.n} digits, sigma_y = {sigma_y}, "
    f"{prior.nfe} network evaluations, {time.perf_counter() - t0:.1f} s"
)
print(f"{'digit':>5} {'PSNR(mean)':>11} {'corr(std,|err|)':>16} {'std hidden':>11} {'std seen':>9}")
for i in range(a.n):
    print(
        f"{i:>5} {float(invdiff.psnr(mean[i : i + 1], x[i : i + 1])[0]):>11.2f} {corr(std[i], err[i]):>16.3f} "
        f"{float(std[i][hidden[i]].mean()):>11.3f} {float(std[i][~hidden[i]].mean()):>9.3f}"
    )
print(
    f"all pixels: correlation(std, |error|) = {corr(std, err):.3f}; mean std hidden "
    f"{float(std[hidden].mean()):.3f} vs measured {float(std[~hidden].mean()):.3f}"
)

# figure: truth | measurement | posterior mean | std and |error| (one colour scale, with colorbars)
cols = [
    ("truth", x, "gray"),
    ("measurement y", y, "gray"),
    (f"mean of {a.samples}", mean, "gray"),
    ("posterior std", std, "magma"),
    ("|mean − truth|", err, "magma"),
]
fig, axes = plt.subplots(a.n, len(cols), figsize=(2.1 * len(cols), 2.0 * a.n), squeeze=False)
vmax = float(torch.maximum(std.max(), err.max()))  # std and error on one scale (units of [-1, 1])
for i in range(a.n):
    for j, (title, img, cmap) in enumerate(cols):
        ax = axes[i, j]
        if cmap == "gray":
            im = ax.imshow(to_display(img[i]), cmap="gray", vmin=0, vmax=1)
        else:
            im = ax.imshow(img[i, 0].numpy(), cmap=cmap, vmin=0, vmax=vmax)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(title if i == 0 else "", fontsize=9)
        ax.axis("off")
fig.tight_layout()
png = free_path(a.out_dir / "inpaint_uncertainty.png")
fig.savefig(png, dpi=110)
print(f"wrote {png} in {time.perf_counter() - t0:.1f} s")
