"""DDIM sampler (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models", eq. 12 and 16).

Written in the variance-exploding σ convention ``x = x0 + σ ε``.  One step from σ
to σ' < σ with the Tweedie estimates x̂0 = E[x0 | x] and ε̂ = (x − x̂0)/σ:

    c  = η · σ' · √(1 − σ'²/σ²)
    x' = x̂0 + √(σ'² − c²) · ε̂ + c · z,        z ~ N(0, I)

η = 0 is the deterministic DDIM (the probability-flow ODE discretised by an
exponential-integrator step); η = 1 is DDPM ancestral sampling.  Dividing the VP
update of the paper by √ᾱ_{t−1} gives exactly this form with σ = √((1−ᾱ)/ᾱ).
The step to σ' = 0 returns x̂0.

"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .common import pairwise, unconditional_head


def ddim_step(x: Tensor, x0: Tensor, sigma: float, sigma_next: float, eta: float, rng) -> Tensor:
    """One DDIM(η) step from σ to σ' given the current x and its x̂0."""
    if sigma_next == 0:
        return x0
    eps = (x - x0) / sigma
    ratio = (sigma_next / sigma) ** 2
    c = eta * sigma_next * math.sqrt(max(1.0 - ratio, 0.0))
    out = x0 + math.sqrt(max(sigma_next**2 - c**2, 0.0)) * eps
    if c > 0:
        out = out + c * rng.randn_like(x)
    return out


@torch.no_grad()
def ddim(
    prior,
    shape,
    *,
    steps: int = 50,
    eta: float = 0.0,
    seed: int = 0,
    sigmas=None,
    callback=None,
    device=None,
    dtype=torch.float32,
) -> Tensor:
    """Draw ``shape[0]`` samples with DDIM(η); ``eta=0`` is deterministic given the start noise.

    ``callback(i, sigma, x, x0_hat)`` is called at every step with the state at σ.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    sigmas, rng, x = unconditional_head(prior, shape, steps=steps, seed=seed, sigmas=sigmas, device=device, dtype=dtype)
    for i, (s, s_next) in enumerate(pairwise(sigmas)):
        x0 = prior.x0(x, s)
        if callback is not None:
            callback(i, s, x, x0)
        x = ddim_step(x, x0, s, s_next, eta, rng)
    return x


ddim.default_steps = 50
