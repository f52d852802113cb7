"""Heun sampler of the probability-flow ODE (Karras, Aittala, Aila & Laine 2022,
"Elucidating the Design Space of Diffusion-Based Generative Models", Algorithm 1).

In the σ convention ``x = x0 + σ ε`` the probability-flow ODE is
dx/dσ = (x − x̂0(x, σ))/σ = ε̂(x, σ).  Each step takes an Euler step to σ' and,
unless σ' = 0, corrects it with the trapezoidal rule (2 network evaluations per
step; Euler on the last step, which lands exactly on x̂0).  Deterministic given
the start noise.  The default grid is the EDM one (ρ = 7) over the prior's σ range.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .common import pairwise, unconditional_head


@torch.no_grad()
def heun(
    prior, shape, *, steps: int = 40, seed: int = 0, sigmas=None, callback=None, device=None, dtype=torch.float32
) -> Tensor:
    """Draw ``shape[0]`` samples with EDM's deterministic Heun sampler (2·steps − 1 evaluations).

    ``callback(i, sigma, x, x0_hat)`` is called at every step with the state at σ.
    """
    sigmas, _, x = unconditional_head(
        prior, shape, steps=steps, seed=seed, sigmas=sigmas, device=device, dtype=dtype, kind="karras"
    )
    for i, (s, s_next) in enumerate(pairwise(sigmas)):
        x0 = prior.x0(x, s)
        if callback is not None:
            callback(i, s, x, x0)
        d = (x - x0) / s
        x_next = x + (s_next - s) * d
        if s_next > 0:
            d_next = (x_next - prior.x0(x_next, s_next)) / s_next
            x_next = x + (s_next - s) * 0.5 * (d + d_next)
        else:
            x_next = x0  # Euler to σ = 0 is x̂0 (written out to avoid rounding)
        x = x_next
    return x


heun.default_steps = 40
