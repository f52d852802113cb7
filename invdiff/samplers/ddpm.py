"""DDPM ancestral sampler (Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models", eq. 6-7).

The DDPM posterior q(x_{t−1} | x_t, x0) with x0 replaced by its Tweedie estimate,
written in the variance-exploding σ convention ``x = x0 + σ ε``.  From σ to σ' < σ:

    x' = x̂0 + (σ'²/σ²) · (x − x̂0) + σ' √(1 − σ'²/σ²) · z,      z ~ N(0, I)

i.e. the exact Gaussian bridge between x0 and x_σ evaluated at σ' (the "large"
posterior-variance choice β̃_t of the paper).  It coincides with DDIM at η = 1
(Song et al. 2021).  The step to σ' = 0 returns x̂0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .common import pairwise, unconditional_head


@torch.no_grad()
def ddpm(
    prior, shape, *, steps: int = 1000, seed: int = 0, sigmas=None, callback=None, device=None, dtype=torch.float32
) -> Tensor:
    """Draw ``shape[0]`` samples by DDPM ancestral sampling over ``steps`` σ levels.

    ``callback(i, sigma, x, x0_hat)`` is called at every step with the state at σ.
    """
    sigmas, rng, x = unconditional_head(prior, shape, steps=steps, seed=seed, sigmas=sigmas, device=device, dtype=dtype)
    for i, (s, s_next) in enumerate(pairwise(sigmas)):
        x0 = prior.x0(x, s)
        if callback is not None:
            callback(i, s, x, x0)
        if s_next == 0:
            x = x0
            continue
        ratio = (s_next / s) ** 2
        x = x0 + ratio * (x - x0) + s_next * math.sqrt(1.0 - ratio) * rng.randn_like(x)
    return x


ddpm.default_steps = 1000
