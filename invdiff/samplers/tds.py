"""TDS, the twisted diffusion sampler (Wu, Trippe, Naesseth, Blei & Cunningham 2023, NeurIPS, "Practical and
Asymptotically Exact Conditional Sampling in Diffusion Models"), in the VE σ convention, for any
differentiable A (nonlinear allowed) and y = A(x0) + σ_y n.

Twisting function at level σ (a Gaussian approximation of p(y | x_σ)):

    log p̃_σ(y | x) = −‖y − A(x̂0(x, σ))‖² / (2(σ_y² + r_σ²)),    r_σ² = v σ² / (v + σ²)

where r_σ² is the variance of x0 given x_σ for N(0, v) data (v = ``data_var``, 1 by default: unit-scale
data, r² = σ²/(1+σ²) as in ΠGDM).  It is an approximation; the weights correct for it.  One step σ → σ'
(x̂0 and g = ∇_x log p̃_σ(y | x) by one network call and one backward pass per particle):

    backward kernel   p(x' | x) = N(μ, s²),  μ = x̂0 + (σ'²/σ²)(x − x̂0),  s² = σ'²(1 − σ'²/σ²)   (DDPM)
    proposal          q(x' | x) = N(μ + δ, s²),  δ = s²·g, scaled down to ‖δ‖ ≤ s·√dim
    weight            log w += log p̃_σ'(y | x') − log p̃_σ(y | x) + log N(x'; μ, s²) − log N(x'; μ + δ, s²)
                             = … − ⟨z, δ⟩/s − ‖δ‖²/(2s²)     for x' = μ + δ + s·z

δ = s²·g is the mean shift of the kernel times the linearised twist exp(⟨g, x'⟩).  The cap (one kernel standard
deviation per coordinate, in norm) stops a learned network's ill-conditioned Jacobian at large σ from throwing
particles away (without it the MNIST prior diverged); the weights stay exact for any δ that depends on x only.

The last step σ_{N−1} → 0 returns x̂0 (the DDPM kernel is a point mass there) and swaps the twist for the
exact likelihood: log w += −‖y − A(x̂0)‖²/(2σ_y²) − log p̃_{σ_{N−1}}(y | x).  For σ_y = 0 that swap is skipped
(the target is then the twisted one at the last positive level).  The start is x_σ0 = σ0·z with
log w = log p̃_σ0(y | x).  Particles are resampled (systematic) when ESS/K < ``ess_threshold``.
``kernel="moment"`` uses s² = σ'²(1 − σ'²/σ²) + (1 − σ'²/σ²)² r_σ² (the spread of x0 given x_σ under the same
Gaussian-data approximation; the DDPM kernel, ``"ddpm"``, the paper's, under-disperses by O(1/steps)).
NFE = steps network calls (each with a backward pass) on K·B particles; exact as K → ∞ up to the
backward-kernel discretisation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .common import Choice, Param, linalg, pairwise, state_dtype
from .smc import best, finish, gather, noise, op_is_shared, per_measurement, reweight, smc_head


def tds(
    prior,
    op,
    y: Tensor,
    *,
    sigma_y: float,
    steps: int = 100,
    seed: int = 0,
    callback=None,
    sigmas=None,
    x_shape=None,
    particles: int = 16,
    ess_threshold: float = 0.5,
    return_info: bool = False,
    offset: int = 0,
    start="noise",
    sigma_start=None,
    data_var: float = 1.0,
    kernel: str = "ddpm",
):
    """Posterior samples for y = A(x0) + σ_y n (A differentiable) by TDS with K = ``particles``.

    Returns one particle per measurement drawn by weight, or an ``SMCResult`` with ``return_info``.
    ``callback(i, sigma, x, x0_hat)`` sees each measurement's highest-weight particle at σ.
    """
    h = smc_head(
        "tds",
        prior,
        op,
        y,
        needs=tds.needs,
        sigma_y=sigma_y,
        steps=steps,
        seed=seed,
        sigmas=sigmas,
        x_shape=x_shape,
        offset=offset,
        start=start,
        sigma_start=sigma_start,
        particles=particles,
        ess_threshold=ess_threshold,
        kernel=kernel,
        data_var=data_var,
    )
    sigma_y, sigmas, shape = h.sigma_y, h.sigmas, h.shape
    B, K, event = shape[0], particles, tuple(shape[1:])
    out_dtype = state_dtype(y)
    like = torch.empty(0, dtype=torch.float64, device=y.device)
    shared = op_is_shared(op, B)
    yp = y.repeat_interleave(K, 0)
    rng = h.rng

    def twist(x: Tensor, sig: float):
        """x̂0, ‖y − A(x̂0)‖², log p̃_σ(y | x) and its gradient in x, per particle."""
        var = sigma_y**2 + data_var * sig**2 / (data_var + sig**2)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = prior.x0(xg, sig)
            res = yp - per_measurement(lambda u: linalg.forward(op, u), x0, B, K, shared)
            rr = (res.abs() ** 2).flatten(1).sum(1).double()
            (g,) = torch.autograd.grad(rr.sum(), xg)
        return x0.detach().to(like), rr.detach(), -rr.detach() / (2 * var), (-g / (2 * var)).to(like)

    sig0 = float(sigmas[0])
    x = sig0 * noise(rng, K, event, like)
    x0, rr, lt, g = twist(x, sig0)
    logw = lt.reshape(B, K)
    ess_trace, res_trace = [], []
    for i, (sig, nxt) in enumerate(pairwise(sigmas)):
        if callback is not None:
            callback(i, sig, best(x, logw).to(out_dtype), best(x0, logw).to(out_dtype))
        if nxt > 0:
            d = sig**2 - nxt**2
            rho = data_var * sig**2 / (data_var + sig**2) if kernel == "moment" else 0.0
            sd = math.sqrt(nxt**2 * d / sig**2 + (d / sig**2) ** 2 * rho)
            delta = sd**2 * g  # the kernel N(μ, s²) times exp(⟨g, x'⟩): mean μ + s²g; capped at ‖δ‖ ≤ s·√dim
            cap = sd * math.sqrt(g[0].numel()) / delta.flatten(1).norm(dim=1).clamp_min(1e-300)
            delta = delta * cap.clamp(max=1).reshape(-1, *[1] * (delta.ndim - 1))
            z = noise(rng, K, event, like)
            x = x0 + (nxt / sig) ** 2 * (x - x0) + delta + sd * z
            x0, rr, lt_new, g = twist(x, nxt)
            prop = (z * delta).flatten(1).sum(1) / sd + (delta**2).flatten(1).sum(1) / (2 * sd**2)
            inc, lt = lt_new - lt - prop, lt_new
        else:  # last step: x = x̂0, exact likelihood in place of the twist
            x = x0
            inc = -rr / (2 * sigma_y**2) - lt if sigma_y > 0 else torch.zeros_like(lt)
        logw, idx, e, did = reweight(logw + inc.reshape(B, K), rng, ess_threshold)
        ess_trace.append(e)
        res_trace.append(did)
        x, x0, rr, lt, g = (gather(t, idx) for t in (x, x0, rr, lt, g))
        h.guard(i, sig, x)
    return finish(x, logw, rng, ess_trace, res_trace, out_dtype, return_info)


tds.needs = "any"
tds.default_steps = 100
tds.weighted_population = True
# hyperparameters worth searching (invdiff tune); no warm start: the weights need the prior's start.
# ``particles`` is no hyperparameter: more is always closer to exact, at K× the cost.
tds.search_space = {"ess_threshold": Param(0.1, 1.0), "kernel": Choice(("ddpm", "moment"))}
