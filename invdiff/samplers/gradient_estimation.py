"""Gradient-estimation sampler (Permenter & Yuan 2024, "Interpreting and Improving
Diffusion Models from an Euclidean Distance Function Perspective", Algorithm 2),
the ``samples(model, sigmas, gam, mu)`` sampler of their smalldiffusion library.

The denoiser is read as an approximate projection onto the data manifold and
ε̂ as the gradient of a distance function; averaging the current and the previous
ε̂ with momentum γ corrects the error of that gradient estimate.  From σ to σ':

    ε̄   = γ ε̂(x, σ) + (1 − γ) ε̂_prev          (ε̄ = ε̂ on the first step)
    σ_p = (σ' / σ^μ)^(1/(1−μ))                  (so that σ' = σ^μ σ_p^(1−μ))
    x'  = x − (σ − σ_p) ε̄ + √(σ'² − σ_p²) · z,  z ~ N(0, I)

γ = 1, μ = 0 is DDIM; γ = 1, μ = ½ is DDPM; the paper's sampler is γ = 2, μ = 0.
As in the reference, the momentum also applies on the final step to σ' = 0, so the
result is x − σ ε̄ rather than the plain Tweedie estimate x̂0 = x − σ ε̂.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .common import pairwise, unconditional_head


@torch.no_grad()
def gradient_estimation(
    prior,
    shape,
    *,
    steps: int = 20,
    gam: float = 2.0,
    mu: float = 0.0,
    seed: int = 0,
    sigmas=None,
    callback=None,
    device=None,
    dtype=torch.float32,
) -> Tensor:
    """Draw ``shape[0]`` samples with the gradient-estimation (momentum) sampler.

    ``gam`` is the momentum γ (≥ 1 suggested), ``mu`` ∈ [0, 1) the added-noise exponent.
    ``callback(i, sigma, x, x0_hat)`` is called at every step with the state at σ.
    """
    if not 0 <= mu < 1:
        raise ValueError(f"mu must lie in [0, 1), got {mu}")
    sigmas, rng, x = unconditional_head(prior, shape, steps=steps, seed=seed, sigmas=sigmas, device=device, dtype=dtype)
    eps_prev = None
    for i, (s, s_next) in enumerate(pairwise(sigmas)):
        eps = prior.eps(x, s)
        if callback is not None:
            callback(i, s, x, x - s * eps)
        eps_bar = eps if eps_prev is None else gam * eps + (1 - gam) * eps_prev
        s_p = (s_next / s**mu) ** (1 / (1 - mu))
        x = x - (s - s_p) * eps_bar
        noise = math.sqrt(max(s_next**2 - s_p**2, 0.0))
        if noise > 0:
            x = x + noise * rng.randn_like(x)
        eps_prev = eps
    return x


gradient_estimation.default_steps = 20
