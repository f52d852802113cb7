"""Deblur a held-out photo with the fully convolutional photo prior (DiffPIR and DDRM).

The photo (``invdiff.data.PHOTO_TEST[0]``, 128×128 gray, never seen in training) is blurred by
the DPS-protocol Gaussian kernel scaled to 128 px (31×31, std ≈ 1.5, circular) with noise
σ_y = 0.05 on [-1, 1], then restored.  The printed numbers depend on the shipped photo weights
(invdiff/weights/photo.pt), which are updated as the prior's training goes on.

    python examples/deblur_photo.py [--steps 50] [--size 128] [--photo 0] [--prior photo] [--small]
"""

import argparse
import time
from pathlib import Path

import torch

import invdiff
import operators
from invdiff.data import PHOTO_TEST, photo
from invdiff.io import free_path  # "name.png" if free, else "name-1.png", … (never overwrites)
from invdiff.viz import comparison_figure

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--photo", type=int, default=0, help=f"index into PHOTO_TEST {PHOTO_TEST}")
p.add_argument("--prior", default="photo", help="shipped name or checkpoint path (invdiff.load_prior)")
p.add_argument("--size", type=int, default=128, help="side in pixels (divisible by 4)")
p.add_argument("--steps", type=int, default=50, help="steps (= network evaluations) per sampler")
p.add_argument("--out-dir", type=Path, default=Path("."))
p.add_argument("--small", action="store_true", help="tiny run (a few seconds) for tests")
a = p.parse_args()
if a.small:
    a.size, a.steps = 32, 4
a.out_dir.mkdir(parents=True, exist_ok=True)
t_start = time.perf_counter()

sigma_y = 0.05
prior = invdiff.load_prior(a.prior)  # "photo": any H, W divisible by 4 (shape from the operator)
x = photo(PHOTO_TEST[a.photo], size=a.size)  # (1, 1, size, size) in [-1, 1]
op = operators.build("gaussian_blur", shape=x.shape[1:], seed=0)  # kernel scaled from 61×61, std 3 @ 256
y = operators.measure(op, x, sigma_y, seed=0)
k = op.kernel.shape[-1]
print(f"{PHOTO_TEST[a.photo]} at {a.size}×{a.size}, Gaussian blur {k}×{k}, sigma_y = {sigma_y}")

# references without a prior: the blurry measurement, the pseudo-inverse A†y (it divides by tiny
# singular values and so amplifies the noise) and Tikhonov (AᵀA + ρI)⁻¹Aᵀy = prox at 0
rows = [
    ("y (blurred)", y, 0, 0.0),
    ("A†y", operators.pinv(op, y), 0, 0.0),
    ("Tikhonov", operators.prox(op, torch.zeros_like(x), y, 0.05), 0, 0.0),
]
for method, kw in [("diffpir", {"zeta": 0.1}), ("ddrm", {})]:  # DiffPIR ζ = 0.1 for blur (reference)
    prior.nfe, t0 = 0, time.perf_counter()
    xh = invdiff.solve(y, op, prior, method=method, sigma_y=sigma_y, steps=a.steps, seed=0, **kw)
    rows.append((method, xh, prior.nfe, time.perf_counter() - t0))

print(f"\n{'method':<12}{'PSNR':>7}{'SSIM':>7}{'NFE':>5}{'seconds':>9}")
captions = {}
for name, xh, nfe, sec in rows:
    ps, ss = float(invdiff.psnr(xh, x)[0]), float(invdiff.ssim(xh, x)[0])
    captions[("photo", name)] = f"\n{ps:.1f} dB"
    print(f"{name:<12}{ps:>7.2f}{ss:>7.3f}{nfe:>5d}{sec:>9.1f}")
png = comparison_figure(
    [("photo", [("truth", x)] + [(n, xh) for n, xh, _, _ in rows])],
    free_path(a.out_dir / "deblur_photo.png"),
    n_show=1,
    captions=captions,
)
print(f"\nwrote {png} in {time.perf_counter() - t_start:.1f} s")
