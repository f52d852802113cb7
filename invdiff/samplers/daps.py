"""DAPS — decoupled annealing posterior sampling.

Zhang, Chu, Berner, Meng, Anandkumar, Song, "Improving Diffusion Inverse Problem
Solving with Decoupled Noise Annealing", CVPR 2025 (reference code:
zhangbingliang2019/DAPS, ``sampler.py``, ``cores/mcmc.py``, ``configs/``).

On each annealing level σ (EDM grid 100 → σ_min, ρ = 7; the reference's layout
takes the first ``steps`` of ``steps + 1`` grid points, then 0)::

    x̂0  = PF-ODE(x_σ: σ → 0.01), ``ode_steps`` Euler steps dx/dσ = ε̂(x, σ) on an EDM grid
    x0  ← x̂0, then ``langevin_steps`` times (data gradient through A only, never the network)
          x0 ← x0 + η_k [ −∇‖A(x0) − y‖² / τ²  +  (x̂0 − x0) / σ² ] + √(2 η_k) z
    x_σ' = x0 + σ' z

with η_k = η (1 + (k/(L+1))(0.01 − 1)) decaying linearly over the L levels (the
reference's ``lr_min_ratio`` = 0.01) and r_σ = σ (``prior_solver: gaussian``).
The data term is the reference's: ∇ of the *summed squared* residual over τ², i.e.
a Gaussian likelihood of standard deviation τ/√2.  The paper fixes τ = 0.01 whatever σ_y;
here τ defaults to √2·σ_y, so that the Langevin target is the true likelihood (τ = 0.01 when
σ_y = 0).  With the paper's τ and σ_y = 0.05 the Langevin step fits the noise: on the MNIST
blur of the robustness matrix it lost to Wiener deconvolution (benchmarks/results/robustness.md).  η = 1e-4 (the
reference's super-resolution, Gaussian blur and random inpainting; 5e-5 for box
inpainting, motion blur and phase retrieval).  The output is the last level's x0.
``steps`` is the number of annealing levels: NFE = steps × ode_steps.
Two defaults differ from the reference's (σ_min = 0.1, ``ode_steps`` = 5, 200 levels, NFE 1000):
σ_min = 0.01 and ``ode_steps`` = 1 (NFE 200 by default).  The last level's Langevin sample keeps
noise of about 1/√(1/σ_min² + 1/σ_y²) per pixel (0.045 at σ_min = 0.1, σ_y = 0.05 on [-1, 1]:
the output of denoising stayed at the PSNR of y), and at a fixed NFE more annealing levels
beat a finer ODE for x̂0; the ODE's x̂0 is also a sample-like point, not the mean the Gaussian
step N(x̂0, σ²) assumes: on the exact Gaussian problem the samples' spread is 1.37× the
posterior's with 5 ODE steps and 1.01× with 1 (tests/test_samplers_exactness.py).
Measured on 16 MNIST training digits (σ_y = 0.05, NFE 20 / 100):
denoising 32.2 / 32.7 → 35.2 / 34.9 dB, Gaussian blur 23.9 / 25.2 → 26.2 / 26.2, ×4 SR
14.2 / 15.1 → 15.2 / 17.3, 70 % inpainting 18.2 / 19.1 → 19.3 / 21.2, reflect blur 29.2 /
30.0 → 32.5 / 32.5, box inpainting 14.8 → 15.3 at NFE 100 (``benchmarks/train_sweep.py``;
benchmarks/results/robustness.md).
Stability (ours): gradient Langevin diverges once η exceeds 2/L, L the curvature of the
target, here λ_max(∇²‖A(x0) − y‖²)/τ² + 1/σ².  The reference's η = 1e-4 with τ = 0.01 sits at that
edge for ‖A‖ = 1 and beyond it for operators with ‖A‖ > 1 (a Gaussian matrix), where it gave NaN.
The step is therefore capped per sample at 1.9/L, with λ_max found by 12 power iterations of
Hessian–vector products (autograd; A only) at the first level's x̂0.  ``lr_cap=False`` removes it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..schedule import karras_sigmas
from .common import Param, linalg, pairwise, posterior_head, with_grid_settings

NOISE_CHUNK = 2**22  # entries of Langevin noise drawn at once per sample


def daps(
    prior,
    op,
    y: Tensor,
    *,
    sigma_y,
    steps: int = 200,
    seed: int = 0,
    callback=None,
    sigmas=None,
    x_shape=None,
    offset: int = 0,
    start="auto",
    sigma_start=None,
    sigma_end=None,
    ode_steps: int = 1,
    langevin_steps: int = 100,
    lr: float = 1e-4,
    lr_min_ratio: float = 0.01,
    tau: float | None = None,
    sigma_max: float = 100.0,
    sigma_min: float = 0.01,
    ode_sigma_min: float = 0.01,
    lr_cap: bool = True,
) -> Tensor:
    """Posterior samples (x0 estimates) for y = A(x0) + σ_y n by DAPS; nonlinear A allowed.

    ``callback(i, sigma, x, x0_hat)`` is called at every level with x_σ and the level's
    Langevin result x0 (the next state is x0 + σ' z).
    """
    if tau is None:  # the Gaussian likelihood of the measurement: std τ/√2 = σ_y (the paper's fixed 0.01 at σ_y = 0)
        tau = math.sqrt(2) * float(sigma_y) if float(sigma_y) > 0 else 0.01
    if not (tau > 0 and lr >= 0 and 0 <= lr_min_ratio and ode_steps >= 1 and langevin_steps >= 0):
        raise ValueError("daps: need tau > 0, lr >= 0, lr_min_ratio >= 0, ode_steps >= 1, langevin_steps >= 0")

    def grid(prior, n, top):  # the reference's layout: the first n of n + 1 EDM levels, then 0
        # a warm start at or below sigma_min anneals from σ0 to σ0/2 (as ddpm_grid without a schedule)
        lo = sigma_min if top is None or top > sigma_min else top / 2
        g = karras_sigmas(n + 1, lo, sigma_max if top is None else top)
        return torch.cat([g[:n], g.new_zeros(1)])

    h = posterior_head(
        "daps",
        prior,
        op,
        y,
        needs=daps.needs,
        sigma_y=sigma_y,
        steps=steps,
        seed=seed,
        sigmas=sigmas,
        x_shape=x_shape,
        grid=grid,
        offset=offset,
        start=start,
        sigma_start=sigma_start,
        sigma_end=sigma_end,
    )
    sig, rng, x, shape = h.sigmas, h.rng, h.x, h.shape
    levels = sig.numel() - 1
    chunk = max(1, min(langevin_steps, NOISE_CHUNK // max(1, math.prod(shape[1:]))))
    curv = None
    for i, (s, s_next) in enumerate(pairwise(sig)):
        with torch.no_grad():
            x0hat = _pf_ode(prior, x, s, ode_steps, ode_sigma_min)
        eta = lr * (1 + i / (levels + 1) * (lr_min_ratio - 1))
        if lr_cap and langevin_steps > 0:
            if curv is None:
                curv = _data_curvature(op, x0hat, y)
            eta = torch.clamp(1.9 / (curv / tau**2 + 1 / s**2), max=eta).reshape(-1, *[1] * (x.ndim - 1)).to(x)
        x0 = x0hat
        for k in range(langevin_steps):
            if k % chunk == 0:
                noise = rng.randn((min(chunk, langevin_steps - k), *shape[1:]), x0)
            with torch.enable_grad():
                xg = x0.detach().requires_grad_(True)
                err = (linalg.forward(op, xg) - y).abs() ** 2
                (g,) = torch.autograd.grad(err.sum(), xg)
            x0 = x0 + eta * (-g / tau**2 + (x0hat - x0) / s**2) + (2 * eta) ** 0.5 * noise[:, k % chunk]
        if callback is not None:
            callback(i, s, x, x0)
        x = x0 + s_next * rng.randn_like(x0) if s_next > 0 else x0
        h.guard(i, s, x)
    return h.finish(op, y, x)


def _pf_ode(prior, x: Tensor, sigma: float, n: int, sigma_end: float) -> Tensor:
    """Euler on the probability-flow ODE dx/dσ = ε̂(x, σ) from σ to ``sigma_end`` (EDM grid, ρ = 7).

    Below ``sigma_end`` the ODE has nowhere to go; one Tweedie step x − σ ε̂ is taken instead.
    """
    if sigma <= sigma_end:
        return prior.x0(x, sigma)
    ts = [float(t) for t in karras_sigmas(n + 1, sigma_end, sigma)[:-1]]
    for t, t_next in zip(ts[:-1], ts[1:]):
        x = x + (t_next - t) * prior.eps(x, t)
    return x


daps.needs = "any"
daps.default_steps = 200
# hyperparameters worth searching (invdiff tune; Param/Choice: invdiff/samplers/space.py)
daps.search_space = with_grid_settings(lr=Param(1e-6, 1e-3, log=True), tau=Param(0.01, 1.0, log=True))


def _data_curvature(op, x: Tensor, y: Tensor, iters: int = 12) -> Tensor:
    """Per-sample λ_max of ∇²‖A(x) − y‖² at x, by power iteration on Hessian–vector products."""
    gen = torch.Generator().manual_seed(0)  # a fixed start vector: the estimate is deterministic
    v = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x)
    lam = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad((linalg.forward(op, xg) - y).abs().pow(2).sum(), xg, create_graph=True)
        for _ in range(iters):
            (hv,) = torch.autograd.grad((g * v).sum(), xg, retain_graph=True)
            norm = hv.flatten(1).norm(dim=1)
            lam = norm.double()
            v = (hv / norm.clamp_min(1e-30).reshape(-1, *[1] * (x.ndim - 1))).detach()
    return lam.cpu().to(torch.float64)
