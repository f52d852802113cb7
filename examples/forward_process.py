"""The diffusion forward process x_σ = x0 + σ·ε, and its reverse with the shipped MNIST prior.

Shows (1) one held-out digit at increasing noise levels σ (a PNG row) and checks that the
added noise really has standard deviation σ; (2) an animated GIF: the forward destruction
x0 → noise, then DDIM generating new digits from noise (the intermediate x_σ and the
prior's Tweedie estimate x̂0 are recorded through the sampler's ``callback``).

    python examples/forward_process.py [--steps 50] [--n 4] [--out-dir .] [--small]
"""

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

import invdiff
from invdiff.data import mnist
from invdiff.io import free_path  # "name.png" if free, else "name-1.png", … (never overwrites)
from invdiff.samplers import ddim
from invdiff.viz import to_display

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--steps", type=int, default=50, help="DDIM steps (= network evaluations)")
p.add_argument("--n", type=int, default=4, help="digits generated in the GIF")
p.add_argument("--out-dir", type=Path, default=Path("."))
p.add_argument("--small", action="store_true", help="tiny run (a few seconds) for tests")
a = p.parse_args()
if a.small:
    a.steps, a.n = 8, 2
a.out_dir.mkdir(parents=True, exist_ok=True)
t0 = time.perf_counter()

prior = invdiff.load_prior("mnist")  # EpsPrior: the VP network used in the VE σ convention
x0 = mnist("test")[:1]  # one held-out digit, (1, 1, 28, 28) in [-1, 1]
eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
sigmas = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 20.0, prior.sigma_max]


def show(x, s):
    """x_σ / √(1+σ²): the image the VP network actually sees (keeps the range bounded for display)."""
    return x / (1 + s * s) ** 0.5


# (1) the forward process at a few σ: same ε for every level, so it is one path x0 → noise
print(f"{'sigma':>8} {'std(x_sigma - x0)':>18} {'ratio':>6} {'PSNR(x_sigma, x0)':>18}")
fig, axes = plt.subplots(1, len(sigmas), figsize=(1.3 * len(sigmas), 1.7))
for ax, s in zip(axes, sigmas):
    xs = x0 + s * eps  # VE noising
    if s > 0:
        std = float((xs - x0).std())
        print(f"{s:>8.2f} {std:>18.4f} {std / s:>6.3f} {float(invdiff.psnr(xs, x0)[0]):>18.2f}")
    ax.imshow(to_display(show(xs, s)[0]), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"σ = {s:.3g}", fontsize=8)
    ax.axis("off")
fig.tight_layout()
png = free_path(a.out_dir / "forward_process.png")
fig.savefig(png, dpi=110)
plt.close(fig)

# (2) reverse: DDIM from pure noise; the callback receives (step, σ, x_σ, x̂0) at every step
frames_rev = []
x_gen = ddim(
    prior,
    (a.n, 1, 28, 28),
    steps=a.steps,
    seed=0,
    callback=lambda i, s, x, x0_hat: frames_rev.append((s, show(x, s), x0_hat)),
)
frames_rev.append((0.0, x_gen, x_gen))
print(
    f"DDIM: {a.steps} steps, {prior.nfe} network evaluations, samples in "
    f"[{float(x_gen.min()):.2f}, {float(x_gen.max()):.2f}]"
)


def tile(batch, scale=4):
    """(B, 1, H, W) → one uint8 strip, upscaled with nearest neighbour."""
    strip = np.concatenate([to_display(b) for b in batch], axis=1)
    return np.kron((strip * 255).astype(np.uint8), np.ones((scale, scale), np.uint8))


frames = []
for s in np.geomspace(0.01, prior.sigma_max, 30):  # forward: one digit, repeated n times
    xs = show(x0 + s * eps, s).expand(a.n, -1, -1, -1)
    frames.append(np.concatenate([tile(xs), tile(xs)], axis=0))
for s, xs, x0_hat in frames_rev:  # reverse: top x_σ, bottom x̂0(x_σ)
    frames.append(np.concatenate([tile(xs), tile(x0_hat)], axis=0))
frames += [frames[-1]] * 10  # hold the last frame
gif = free_path(a.out_dir / "forward_process.gif")
imgs = [Image.fromarray(f) for f in frames]
imgs[0].save(gif, save_all=True, append_images=imgs[1:], duration=80, loop=0)
print(f"wrote {png} and {gif} ({len(frames)} frames) in {time.perf_counter() - t0:.1f} s")
