"""Bring your own forward operator: two plain Python functions, no base class.

The operator is a horizontal 1-D blur followed by keeping every second column
(28×28 digit → 28×14 measurement), written with torch ops, with its hand-written adjoint.
``operators.from_callables`` wraps them; omitting ``At`` gives the adjoint by autograd.  The
adjoint identity ⟨Ax, y⟩ = ⟨x, Aᵀy⟩ is checked numerically, then held-out digits are restored
with DPS (needs only A) and DiffPIR (needs the prox of ‖y − Ax‖², done by conjugate gradients).

    python examples/custom_operator.py [--n 4] [--dps-steps 200] [--diffpir-steps 50] [--out-dir .] [--small]
"""

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import invdiff
import operators
from invdiff.data import mnist
from invdiff.io import free_path  # "name.png" if free, else "name-1.png", … (never overwrites)
from invdiff.samplers import samplers_that_accept
from invdiff.viz import comparison_figure

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--n", type=int, default=4, help="held-out digits")
p.add_argument("--dps-steps", type=int, default=200)
p.add_argument("--diffpir-steps", type=int, default=50)
p.add_argument("--out-dir", type=Path, default=Path("."))
p.add_argument("--small", action="store_true", help="tiny run (a few seconds) for tests")
a = p.parse_args()
if a.small:
    a.n, a.dps_steps, a.diffpir_steps = 2, 5, 5
a.out_dir.mkdir(parents=True, exist_ok=True)
t_start = time.perf_counter()

KERNEL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16  # binomial blur along the rows (width)


def A(x):
    """(B, 1, H, W) → (B, 1, H, W/2): blur each row (zero padding), keep the even columns."""
    w = KERNEL.to(x).reshape(1, 1, 1, -1)
    return F.conv2d(x, w, padding=(0, 2))[..., ::2]


def At(y):
    """The adjoint: put y back on the even columns (zeros elsewhere), then the transposed blur."""
    z = torch.zeros(*y.shape[:-1], 2 * y.shape[-1], dtype=y.dtype, device=y.device)
    z[..., ::2] = y
    return F.conv_transpose2d(z, KERNEL.to(y).reshape(1, 1, 1, -1), padding=(0, 2))


op = operators.from_callables(A, At, input_shape=(1, 28, 28), output_shape=(1, 28, 14))
op_auto = operators.from_callables(A, input_shape=(1, 28, 28))  # At = vector–Jacobian product of A

# ---- check the adjoint (float64): ⟨Ax, y⟩ = ⟨x, Aᵀy⟩ for random x, y ------------------------
g = torch.Generator().manual_seed(0)
xr = torch.randn(3, 1, 28, 28, generator=g, dtype=torch.float64)
yr = torch.randn(3, 1, 28, 14, generator=g, dtype=torch.float64)
lhs, rhs = (op.A(xr) * yr).sum(), (xr * op.At(yr)).sum()
print(
    f"adjoint identity: <Ax,y> = {float(lhs):.6f}, <x,A^T y> = {float(rhs):.6f}, "
    f"relative error {float((lhs - rhs).abs() / lhs.abs()):.2e}"
)
print(f"hand-written At vs autograd At: max difference {float((op.At(yr) - op_auto.At(yr)).abs().max()):.2e}")
print("samplers that accept this operator:", ", ".join(samplers_that_accept(op)))

# ---- restore held-out digits ----------------------------------------------------------------
sigma_y = 0.05
prior = invdiff.load_prior("mnist")
x = mnist("test")[: a.n]
y = operators.measure(op, x, sigma_y, seed=0)  # y = A x + σ_y n, per-sample seeded
rows = [("A†y (CG)", operators.pinv(op, y), 0, 0.0)]  # minimum-norm least squares, no prior
for method, steps, kw in [("dps", a.dps_steps, {"zeta": 0.3}), ("diffpir", a.diffpir_steps, {"zeta": 0.1})]:
    prior.nfe, t0 = 0, time.perf_counter()
    xh = invdiff.solve(y, op, prior, method=method, sigma_y=sigma_y, steps=steps, seed=0, **kw)
    rows.append((method, xh.detach(), prior.nfe, time.perf_counter() - t0))

print(f"\n{'method':<10}{'PSNR':>7}{'SSIM':>7}{'NFE':>6}{'seconds':>9}")
captions = {}
for name, xh, nfe, sec in rows:
    ps, ss = float(invdiff.psnr(xh, x).mean()), float(invdiff.ssim(xh, x).mean())
    captions[("custom op", name)] = f"\n{ps:.1f} dB"
    print(f"{name:<10}{ps:>7.2f}{ss:>7.3f}{nfe:>6d}{sec:>9.1f}")
cols = [("truth", x), ("y (28×14)", y)] + [(name, xh) for name, xh, _, _ in rows]
png = comparison_figure(
    [("custom op", cols)], free_path(a.out_dir / "custom_operator.png"), n_show=a.n, captions=captions
)
print(f"\nwrote {png} in {time.perf_counter() - t_start:.1f} s")
