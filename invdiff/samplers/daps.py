"""DAPS — decoupled annealing posterior sampling.

Zhang, Chu, Berner, Meng, Anandkumar, Song, "Improving Diffusion Inverse Problem
Solving with Decoupled Noise Annealing", CVPR 2025 (reference code:
zhangbingliang2019/DAPS, ``sampler.py``, ``cores/mcmc.py``, ``configs/``).

On each annealing level σ (EDM grid 100 → 0.1, ρ = 7; the reference's layout
takes the first ``steps`` of ``steps + 1`` grid points, then 0)::

    x̂0  = PF-ODE(x_σ: σ → 0.01), ``ode_steps`` Euler steps dx/dσ = ε̂(x, σ) on an EDM grid
    x0  ← x̂0, then ``langevin_steps`` times (data gradient through A only, never the network)
          x0 ← x0 + η_k [ −∇‖A(x0) − y‖² / τ²  +  (x̂0 − x0) / σ² ] + √(2 η_k) z
    x_σ' = x0 + σ' z

with η_k = η (1 + (k/(L+1))(0.01 − 1)) decaying linearly over the L levels (the
reference's ``lr_min_ratio`` = 0.01) and r_σ = σ (``prior_solver: gaussian``).
The data term is the reference's: ∇ of the *summed squared* residual over τ², i.e.
a Gaussian likelihood of standard deviation τ/√2.  τ = 0.01 is fixed in the paper
(it does not follow σ_y, and ``sigma_y`` is only checked); pass ``tau =
√2·sigma_y`` to make the Langevin target use the true likelihood.  η = 1e-4 (the
reference's super-resolution, Gaussian blur and random inpainting; 5e-5 for box
inpainting, motion blur and phase retrieval).  The output is the last level's x0.
``steps`` is the number of annealing levels: NFE = steps × ode_steps (1000 by default).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from operators import linalg

from ..rng import PerSampleRNG
from ..schedule import karras_sigmas, pairwise
from .common import check_image, check_sigmas, resolve_shape, start_noise
from .dps import check_sigma_y, state_dtype

NOISE_CHUNK = 2**22  # entries of Langevin noise drawn at once per sample


def daps(prior, op, y: Tensor, *, sigma_y, steps: int = 200, seed: int = 0, callback=None, sigmas=None,
         x_shape=None, ode_steps: int = 5, langevin_steps: int = 100, lr: float = 1e-4, lr_min_ratio: float = 0.01,
         tau: float = 0.01, sigma_max: float = 100.0, sigma_min: float = 0.1, ode_sigma_min: float = 0.01) -> Tensor:
    """Posterior samples (x0 estimates) for y = A(x0) + σ_y n by DAPS; nonlinear A allowed.

    ``callback(i, sigma, x, x0_hat)`` is called at every level with x_σ and the level's
    Langevin result x0 (the next state is x0 + σ' z).
    """
    linalg.require(op, daps.needs, "daps")
    check_image(y, "y")
    check_sigma_y(sigma_y)
    if not (tau > 0 and lr >= 0 and 0 <= lr_min_ratio and ode_steps >= 1 and langevin_steps >= 0):
        raise ValueError("need tau > 0, lr >= 0, lr_min_ratio >= 0, ode_steps >= 1, langevin_steps >= 0")
    if sigmas is None:
        grid = karras_sigmas(steps + 1, sigma_min, sigma_max)
        sigmas = torch.cat([grid[:steps], grid.new_zeros(1)])
    sig = check_sigmas(sigmas)
    levels = sig.numel() - 1
    shape = resolve_shape(prior, op, y, x_shape)
    rng = PerSampleRNG(seed, shape[0])
    x = start_noise(shape, float(sig[0]), rng, device=y.device, dtype=state_dtype(y))
    chunk = max(1, min(langevin_steps, NOISE_CHUNK // max(1, math.prod(shape[1:]))))
    for i, (s, s_next) in enumerate(pairwise(sig)):
        with torch.no_grad():
            x0hat = _pf_ode(prior, x, s, ode_steps, ode_sigma_min)
        eta = lr * (1 + i / (levels + 1) * (lr_min_ratio - 1))
        x0 = x0hat
        for k in range(langevin_steps):
            if k % chunk == 0:
                noise = rng.randn((min(chunk, langevin_steps - k), *shape[1:]), x0)
            with torch.enable_grad():
                xg = x0.detach().requires_grad_(True)
                err = (linalg.forward(op, xg) - y).abs() ** 2
                (g,) = torch.autograd.grad(err.sum(), xg)
            x0 = x0 + eta * (-g / tau**2 + (x0hat - x0) / s**2) + math.sqrt(2 * eta) * noise[:, k % chunk]
        if callback is not None:
            callback(i, s, x, x0)
        x = x0 + s_next * rng.randn_like(x0) if s_next > 0 else x0
    return x


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
