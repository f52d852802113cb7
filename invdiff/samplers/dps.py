"""DPS — Diffusion Posterior Sampling.

Chung, Kim, Mccann, Klasky, Ye, "Diffusion Posterior Sampling for General Noisy
Inverse Problems", ICLR 2023 (reference code: DPS2022/diffusion-posterior-sampling).

Each step is a DDPM ancestral step followed by a gradient step on the *unsquared*
residual norm, differentiated through the network::

    x̂0 = x − σ ε̂(x, σ)
    x' = x̂0 + (σ'²/σ²)(x − x̂0) + σ'·√(1 − σ'²/σ²)·z          (DDPM posterior, VE form)
    x_next = x' − ζ·√((1+σ²)(1+σ'²))·∇_x ‖y − A(x̂0)‖

The reference takes the step in VP coordinates, x_vp = √ᾱ x with ᾱ = 1/(1+σ²):
x_vp' −= ζ ∇_{x_vp}‖·‖.  Since ∇_{x_vp} = ∇_x/√ᾱ_σ and x_next = x_vp'/√ᾱ_σ', the
VE step carries the factor 1/√(ᾱ_σ ᾱ_σ') = √((1+σ²)(1+σ'²)), so ζ keeps the
paper's meaning.  The DDPM step with the "fixed small" posterior variance β̃ is
the VE bridge above (the FFHQ checkpoint's learned variance is not used).

Differences from the reference, on purpose: the norm is per sample (the
reference takes one norm over the whole batch, so a sample depended on its
batch mates).  x̂0 is clipped to the prior's ``data_range`` when it declares one
(``clip=True``; the reference clamps to [-1, 1] and differentiates through the
clamp, as here); exact priors without a range are not clipped.
ζ = ``zeta``: the reference uses 0.3 (super-resolution, Gaussian and motion
blur), 0.5 (inpainting), 1.0 (phase retrieval); the default here is 0.5.
ζ is the reference's per-step size for its 1000 steps, so the total pull scales with N·ζ.
``zeta_scaling="sqrt"`` (the default) uses ζ·√(1000/N) per step, identical to the reference
at N = 1000 and usable at N = 20–100; ``"none"`` is the reference's per-step ζ as it is.
Each guidance step is capped in norm at σ·√d (``step_cap=1``; the noise the step from σ
removes), a trust region that stops the larger low-N steps from overshooting on nonlinear
operators such as phase retrieval; ``step_cap=None`` removes the cap.
``sigma_y`` does not enter the step size (ζ absorbs it, as in the paper); it sets when to stop pulling:
with ``discrepancy=δ`` (1 by default) a sample whose ‖y − A(x̂0)‖ is at or below δ·σ_y·√m, the
expected norm of the measurement noise, takes no guidance step at that level (Morozov's discrepancy
principle; the objective is (‖y − A(x̂0)‖ − δσ_y√m)₊).  Without it DPS drives the residual below the
noise and fits it: on MNIST denoising (σ_y = 0.05) it fell to 0.6 σ_y√m and DPS lost 2.5–2.9 dB to
TV at NFE 50–1000 (benchmarks/results/robustness.md).  ``discrepancy=None`` is the reference.
One network call per step, with a backward pass through it: NFE = steps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .common import Param, clip_to_range, linalg, pairwise, posterior_head, with_grid_settings

REFERENCE_STEPS = 1000  # the step count the reference's ζ values are set for


def noise_norm(y: Tensor, sigma_y: float) -> float:
    """σ_y·√m: the expected norm of one measurement's noise (m real entries; a complex entry counts 2)."""
    return float(sigma_y) * math.sqrt(y[0].numel() * (2 if y.is_complex() else 1))


def residual_norms(op, x0: Tensor, y: Tensor) -> Tensor:
    """Per-sample ‖y − A(x0)‖, shape (B,)."""
    return torch.linalg.vector_norm((y - linalg.forward(op, x0)).flatten(1), dim=1)


def dps(
    prior,
    op,
    y: Tensor,
    *,
    sigma_y,
    steps: int = 1000,
    seed: int = 0,
    callback=None,
    sigmas=None,
    x_shape=None,
    offset: int = 0,
    start="auto",
    sigma_start=None,
    sigma_end=None,
    zeta: float = 0.5,
    zeta_scaling: str = "sqrt",
    clip: bool = True,
    step_cap: float | None = 1.0,
    discrepancy: float | None = 1.0,
    temperature: float = 1.0,
) -> Tensor:
    """Posterior samples (x0 estimates) for y = A(x0) + σ_y n by DPS; nonlinear A allowed.

    ``temperature`` scales each step's fresh noise z (1: the sampler above; below 1 a narrower,
    higher-PSNR output than the posterior, as DDRM's ``temperature``).

    ``callback(i, sigma, x, x0_hat)`` is called at every step with the state at σ and x̂0(x).
    """
    if not (math.isfinite(zeta) and zeta >= 0):
        raise ValueError(f"dps: zeta must be a finite number >= 0, got {zeta!r}")
    if zeta_scaling not in ("sqrt", "none"):
        raise ValueError(f"dps: zeta_scaling must be 'sqrt' or 'none', got {zeta_scaling!r}")
    if step_cap is not None and not step_cap > 0:
        raise ValueError(f"dps: step_cap must be > 0 or None, got {step_cap!r}")
    if discrepancy is not None and not (math.isfinite(discrepancy) and discrepancy >= 0):
        raise ValueError(f"dps: discrepancy must be a finite number >= 0 or None, got {discrepancy!r}")
    if not 0 < temperature <= 1:
        raise ValueError(f"dps: temperature must lie in (0, 1], got {temperature!r}")
    h = posterior_head(
        "dps",
        prior,
        op,
        y,
        needs=dps.needs,
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
    sig, rng, x = h.sigmas, h.rng, h.x
    if zeta_scaling == "sqrt":
        zeta = zeta * math.sqrt(REFERENCE_STEPS / (len(sig) - 1))
    d = math.prod(x.shape[1:])
    thr = noise_norm(y, h.sigma_y) * (discrepancy or 0.0)
    for i, (s, s_next) in enumerate(pairwise(sig)):
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = prior.x0(xg, s)
            if clip:
                x0 = clip_to_range(prior, x0)
            r = residual_norms(op, x0, y)
            (grad,) = torch.autograd.grad(r.sum(), xg)
        x0 = x0.detach()
        if callback is not None:
            callback(i, s, x, x0)
        x_next = x0 + (s_next / s) ** 2 * (x - x0)
        if s_next > 0:
            x_next = x_next + temperature * s_next * math.sqrt(1 - (s_next / s) ** 2) * rng.randn_like(x)
        step = zeta * math.sqrt((1 + s * s) * (1 + s_next * s_next)) * grad
        if step_cap is not None:  # trust region: ‖step‖ ≤ step_cap·σ·√d per sample
            norm = step.flatten(1).norm(dim=1).clamp_min(1e-30)
            step = step * (step_cap * s * math.sqrt(d) / norm).clamp(max=1).reshape(-1, *[1] * (x.ndim - 1))
        if thr > 0:  # the discrepancy principle: no pull once the residual is down to the noise
            step = step * (r.detach() > thr).to(step).reshape(-1, *[1] * (x.ndim - 1))
        x = x_next - step
        h.guard(i, s, x)
    return h.finish(op, y, x)


dps.needs = "any"
dps.default_steps = 1000
# hyperparameters worth searching (invdiff tune; Param/Choice: invdiff/samplers/space.py)
dps.search_space = with_grid_settings(
    zeta=Param(0.02, 3.0, log=True), discrepancy=Param(0.5, 1.5), temperature=Param(0.5, 1.0)
)
