"""ΠGDM — pseudoinverse-guided diffusion models.

Song, Vahdat, Mardani, Kautz, "Pseudoinverse-Guided Diffusion Models for Inverse
Problems", ICLR 2023.  No official code; checked against InverseBench
(devzhk/InverseBench, ``PiGDM``, noisy branch) and NVlabs/RED-diff ``algos/pgdm.py``.

ΠGDM approximates p(x0 | x_σ) by N(x̂0, r²I) with r² = σ²/(1+σ²) (the paper's
r_t² for unit-variance data), which gives the likelihood score (paper, eq. 7)::

    g = (∂x̂0/∂x)ᵀ Aᵀ (r² AAᵀ + σ_y² I)⁻¹ (y − A x̂0)
      = (∂x̂0/∂x)ᵀ Aᵀ (AAᵀ + (σ_y²/r²) I)⁻¹ (y − A x̂0) / r²

(one vector–Jacobian product through the network; the solve is
``operators.linalg.solve_AAt``; with σ_y = 0 it is the paper's noiseless A⁺).
Two ways to add g (``guidance``):

- ``"reference"`` (default), the authors' step (NVlabs/RED-diff ``algos/pgdm.py`` with
  ``awd=True``, as in every ΠGDM line of their configs and scripts): a DDIM(η) step with the
  network's own x̂0 and ε̂, plus the vector–Jacobian term added to the next state.  Their VP
  update x_s = √ᾱ_s x̂0 + c1 z + c2 ε̂ + √ᾱ_s√ᾱ_t ∇_{x_t}⟨u, x̂0⟩, with u = r²·Aᵀ(r²AAᵀ+σ_y²)⁻¹(y − Ax̂0)
  (A⁺(y − Ax̂0) when σ_y = 0), divided by √ᾱ_s is, in VE::

      x' = x̂0 + c2 ε̂ + c1 z + (∂x̂0/∂x)ᵀ u,   c1 = η σ' √(1 − σ'²/σ²),  c2 = √(σ'² − c1²)

- ``"tweedie"``: by Tweedie's formula the conditional denoiser is x̂0_c = x̂0 + (1+σ²)(∂x̂0/∂x)ᵀu
  (σ² times the likelihood score), and the DDIM step uses x̂0_c and ε̂_c = (x − x̂0_c)/σ.  Exact
  for Gaussian priors in the many-step limit; it multiplies the network's Jacobian error by
  1+σ² at high noise, so it suits exact priors, not trained networks.

Step weights (ours, ``guidance_steps=100``): the reference adds Jᵀu with unit weight at every step,
however short the step, so its total pull grows with the number of steps; with a warm start all steps
lie below σ0 and, on MNIST blurs at 100 steps, it fitted the noise (17.6 dB against Wiener's 23.7,
benchmarks/results/robustness.md).  Each step's term is therefore weighted by min(1, Δt/Δt_ref), Δt its
span in DDPM time and Δt_ref that of a step of the authors' 100-step grid (:func:`step_weights`): their
grid keeps weight 1 everywhere, finer grids keep the authors' pull per unit of time.  Priors without a
VP schedule keep unit weights.  ``guidance_steps=None`` is the reference at any grid.

For inpainting (an operator with a 0/1 ``mask`` and y shaped like x) the authors also set the
observed pixels of x̂0 to y and mask the guidance there (``inpaint_fill=True``).
η is the standard DDIM η (1 = DDPM ancestral); η = 1.0 and 100 steps are the authors'
settings for ΠGDM in the RED-diff scripts.  (InverseBench's η = 0.2 scales the fresh noise
as η σ', a different parameterisation.)  One network call with a backward pass per step: NFE = steps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .common import Param, inpainting_mask, linalg, pairwise, posterior_head, with_grid_settings


def pigdm(
    prior,
    op,
    y: Tensor,
    *,
    sigma_y,
    steps: int = 100,
    seed: int = 0,
    callback=None,
    sigmas=None,
    x_shape=None,
    offset: int = 0,
    start="auto",
    sigma_start=None,
    sigma_end=None,
    eta: float = 1.0,
    guidance: str = "reference",
    inpaint_fill: bool = True,
    guidance_steps: int | None = 100,
) -> Tensor:
    """Posterior samples (x0 estimates) for y = A x0 + σ_y n by ΠGDM; A linear.

    ``callback(i, sigma, x, x0_hat)`` is called at every step with the state at σ and the
    guided x̂0 (x̂0 + Jᵀu, or x̂0_c for ``guidance="tweedie"``).
    """
    if guidance not in ("reference", "tweedie"):
        raise ValueError(f"pigdm: guidance must be 'reference' or 'tweedie', got {guidance!r}")
    if not 0 <= eta <= 1:
        raise ValueError(f"pigdm: eta must be in [0, 1], got {eta!r}")
    if guidance_steps is not None and (isinstance(guidance_steps, bool) or not isinstance(guidance_steps, int)
                                       or guidance_steps < 2):  # fmt: skip
        raise ValueError(f"pigdm: guidance_steps must be an int >= 2 or None, got {guidance_steps!r}")
    h = posterior_head(
        "pigdm",
        prior,
        op,
        y,
        needs=pigdm.needs,
        sigma_y=sigma_y,
        steps=steps,
        seed=seed,
        sigmas=sigmas,
        x_shape=x_shape,
        offset=offset,
        start=start,
        sigma_start=sigma_start,
        sigma_end=sigma_end,
    )
    sigma_y, sig, rng, x = h.sigma_y, h.sigmas, h.rng, h.x
    mask = inpainting_mask(op, x) if inpaint_fill and guidance == "reference" else None
    weights = step_weights(prior, sig, guidance_steps) if guidance == "reference" else [1.0] * (len(sig) - 1)
    for i, (s, s_next) in enumerate(pairwise(sig)):
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = prior.x0(xg, s)
            resid = y - linalg.forward(op, x0.detach())
            if sigma_y > 0:  # Aᵀ(AAᵀ + σ_y²/r²)⁻¹ r, r² = σ²/(1+σ²)
                u = linalg.adjoint(op, linalg.solve_AAt(op, resid, sigma_y**2 * (1 + s * s) / (s * s)), x0)
            else:
                u = linalg.pinv(op, resid)
            (vjp,) = torch.autograd.grad(x0, xg, grad_outputs=u.reshape(x0.shape).to(x0.dtype))
        x0 = x0.detach()
        c1 = eta * s_next * math.sqrt(max(0.0, 1 - (s_next / s) ** 2))
        c2 = math.sqrt(max(0.0, s_next**2 - c1**2))
        if guidance == "tweedie":
            x0c = x0 + (1 + s * s) * vjp
            if callback is not None:
                callback(i, s, x, x0c)
            x = x0c + c2 * (x - x0c) / s
        else:
            eps = (x - x0) / s
            if mask is not None:
                x0 = x0 * (1 - mask) + y.to(x0) * mask
                vjp = vjp * (1 - mask)
            if callback is not None:
                callback(i, s, x, x0 + vjp)
            x = x0 + c2 * eps + weights[i] * vjp
        if c1 > 0:
            x = x + c1 * rng.randn_like(x)
        h.guard(i, s, x)
    return h.finish(op, y, x)


def step_weights(prior, sigmas: Tensor, guidance_steps: int | None) -> list[float]:
    """Weight of the guidance at each step: min(1, Δt / Δt_ref) (1 everywhere without a VP schedule).

    Δt is the step's span in DDPM time t ∈ [0, T−1] (the last step, to σ = 0, takes the span of the
    one before it) and Δt_ref = ⌊(T−1)/(guidance_steps−1)⌋, the span of a step of the authors' grid
    (uniform in t, rounded to integer t: spans of 10 or 11 for 100 steps, so all of them weigh 1).
    """
    sched = getattr(prior, "schedule", None)
    n = len(sigmas) - 1
    if guidance_steps is None or sched is None or n < 2:
        return [1.0] * n
    t = sched.sigma_to_t(sigmas[:-1]).tolist()
    gaps = [a - b for a, b in zip(t[:-1], t[1:])]
    gaps.append(gaps[-1])
    ref = (sched.T - 1) // (guidance_steps - 1)
    return [min(1.0, g / ref) for g in gaps]


pigdm.needs = "linear"
pigdm.default_steps = 100
# hyperparameters worth searching (invdiff tune; Param/Choice: invdiff/samplers/space.py)
pigdm.search_space = with_grid_settings(eta=Param(0.0, 1.0))
