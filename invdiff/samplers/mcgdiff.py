"""MCGdiff (Cardoso, Janati El Idrissi, Le Corff & Moulines 2024, ICLR, "Monte Carlo guided Diffusion
for Bayesian linear inverse problems"; reference code gabrielvc/mcg_diff), in the VE σ convention.

In the spectral basis x̄ = Vᵀx of A = U diag(s) Vᵀ, an observed coordinate (s_i > 0) carries
ȳ_i = (Uᵀy)_i / s_i = x̄0_i + σ*_i n_i with σ*_i = σ_y / s_i: in law, x̄ at diffusion level σ*_i.
So p(x0 | y) = p(x0 | x̄_{σ*_i, i} = ȳ_i for all i), and a particle filter over the backward chain
σ_0 > … > σ_N = 0 samples it.  Potential of coordinate i at level σ > σ*_i (the forward VE kernel):
g_σ,i(x̄) = N(ȳ_i; x̄_i, σ² − σ*_i²); at σ ≤ σ*_i it has been observed and moves freely.

One step σ → σ' per particle: x̂0 = prior.x0(x, σ); for each spectral coordinate the backward
kernel is the VE bridge towards x̂0, p(x̄_τ | x̄) = N(m_τ, v_τ), m_τ = x̄0 + (τ²/σ²)(x̄ − x̄0),
v_τ = τ²(1 − τ²/σ²).  With τ_i = max(σ', σ*_i) and c_i = τ_i² − σ*_i² on coordinates active at σ
(σ*_i < σ), τ_i = σ' and no potential elsewhere:

    weight     log w += Σ_active [log N(ȳ_i; m_τ,i, v_τ,i + c_i) − log N(ȳ_i; x̄_i, σ² − σ*_i²)]
    proposal   x̄_τ,i ~ N(m_τ,i, v_τ,i) · N(ȳ_i; ·, c_i)   (free coordinates: N(m_τ,i, v_τ,i))
    bridge     x̄'_i = x̄0_i + (σ'²/τ_i²)(x̄_τ,i − x̄0_i) + σ'·√(1 − σ'²/τ_i²)·z_i

For c_i > 0 (still active at σ') τ_i = σ' and the bridge is the identity (the paper's Gaussian
product proposal and normaliser).  A coordinate crossing its level (σ' ≤ σ*_i < σ) gets c_i = 0:
it is pinned at x̄_{σ*} = ȳ_i at the exact level σ*_i, inside the step, with the same x̂0
(no extra network call) instead of the reference's nearest-grid-time rounding with κ = 1e-4.
Weights are computed first, particles resampled (systematic, ESS/K < ``ess_threshold``), then
proposed (the fully adapted filter of the paper).  Start: x̄_σ0,i ~ N(0, σ0²)·N(ȳ_i; ·, |σ0² − σ*_i²|),
uniform weights.  σ*_i below the last positive level σ_{N−1} is raised to it (the DDPM last step
σ_{N−1} → 0 is deterministic); for σ_y = 0 (the noiseless variant) the observed coordinates of the
result are then set to ȳ exactly.  Normalising constants that do not depend on the particle are dropped.
Complex (FFT) spectra: squared moduli of conjugate pairs add up to the real Gaussian log-density.
Kernel: ``kernel="ddpm"`` (the paper's DDIM η = 1) is N(m_τ, v_τ); it ignores the spread of x0 given x_σ
and under-disperses by O(1/steps) (a unit Gaussian loses ~9 % of its variance over 100 Karras steps).
``kernel="moment"`` keeps it with x0 | x_σ ≈ N(x̂0, ρ), ρ = vσ²/(v + σ²) (v = ``data_var``; exact inside a
unit-variance mixture component): v_τ ← V_τ = v_τ + (1 − τ²/σ²)²ρ in all the formulas above (the moment-matched
kernel, cf. Analytic-DPM, Bao et al. 2022), and the bridge starts from x0 ~ N(x̄0 + (1 − τ²/σ²)(ρ/V_τ)(x̄_τ − m_τ),
ρ v_τ/V_τ), its Gaussian conditional given x̄_τ.
NFE = steps evaluations of K·B particles; exact as K → ∞ up to the backward-kernel discretisation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .common import Choice, Param, pairwise, real, spectral_data, state_dtype
from .smc import best, finish, gather, noise, op_is_shared, per_measurement, reweight, smc_head


def _spectral(op, y: Tensor, like: Tensor):
    """``(s, keep, ȳ)`` of :func:`spectral_data` with ȳ in float64 (complex128 for FFT spectra)."""
    s, keep, ybar = spectral_data(op, y, like)
    return s, keep, ybar.to(torch.complex128 if ybar.is_complex() else torch.float64)


@torch.no_grad()
def mcgdiff(
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
    kernel: str = "ddpm",
    data_var: float = 1.0,
):
    """Posterior samples for y = A x0 + σ_y n (A with an SVD, σ_y ≥ 0) by MCGdiff with K = ``particles``.

    Returns one particle per measurement drawn by weight, or an ``SMCResult`` with ``return_info``.
    ``callback(i, sigma, x, x0_hat)`` sees each measurement's highest-weight particle at σ.
    """
    h = smc_head(
        "mcgdiff",
        prior,
        op,
        y,
        needs=mcgdiff.needs,
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
    like = torch.empty(shape, dtype=torch.float64, device=y.device)
    s, keep, ybar = _spectral(op, y, like)
    shared = op_is_shared(op, B, s, len(event))
    Vt = lambda v: per_measurement(op.Vt, v, B, K, shared)
    V = lambda v: real(per_measurement(op.V, v, B, K, shared)).to(like)
    rep = lambda t: torch.broadcast_to(t, (B, *event)).repeat_interleave(K, 0)
    floor = float(sigmas[-2])  # the last positive level
    sstar = torch.where(keep, sigma_y / torch.where(keep, s, 1), 0.0).clamp_min(floor)
    keep, ybar, sstar = rep(keep), rep(ybar), rep(sstar)
    rng = h.rng

    sig0 = float(sigmas[0])
    c0 = (sig0**2 - sstar**2).abs()
    k0 = torch.where(keep, sig0**2 / (sig0**2 + c0), 0.0)
    x = V(k0 * ybar + (sig0**2 * (1 - k0)).sqrt() * Vt(noise(rng, K, event, like)))
    logw = torch.zeros(B, K, dtype=torch.float64, device=y.device)
    ess_trace, res_trace = [], []
    for i, (sig, nxt) in enumerate(pairwise(sigmas)):
        x0 = prior.x0(x, sig).to(like)
        if callback is not None:
            callback(i, sig, best(x, logw).to(out_dtype), best(x0, logw).to(out_dtype))
        xb, x0b = Vt(x), Vt(x0)
        act = keep & (sstar < sig)
        tau = torch.where(act, sstar.clamp_min(nxt), torch.full_like(sstar, nxt))
        a = (tau / sig) ** 2
        m = x0b + a * (xb - x0b)
        rho = data_var * sig**2 / (data_var + sig**2) if kernel == "moment" else 0.0  # Var[x0 | x_σ] ≈ ρ
        v = tau**2 * (1 - a) + (1 - a) ** 2 * rho
        c = torch.where(act, tau**2 - sstar**2, 0.0)
        lz = -((ybar - m).abs() ** 2) / (2 * torch.where(act, v + c, 1.0))
        lg = -((ybar - xb).abs() ** 2) / (2 * torch.where(act, sig**2 - sstar**2, 1.0))
        logw = logw + torch.where(act, lz - lg, 0.0).flatten(1).sum(1).reshape(B, K)
        logw, idx, e, did = reweight(logw, rng, ess_threshold)
        ess_trace.append(e)
        res_trace.append(did)
        m, x0b = gather(m, idx), gather(x0b, idx)
        gain = torch.where(act, v / torch.where(act, v + c, 1.0), 0.0)
        var = torch.where(act, v * c / torch.where(act, v + c, 1.0), v)
        z = Vt(noise(rng, K, event, like))
        xt = m + gain * (ybar - m) + var.clamp_min(0).sqrt() * z
        b = torch.where(tau > 0, (nxt / torch.where(tau > 0, tau, 1.0)) ** 2, 1.0)
        vp = torch.where(v > 0, v, 1.0)  # bridge towards x0 ~ N(x̂0, ρ) given x_τ: mean μ0, variance q
        mu0 = x0b + (1 - a) * rho / vp * (xt - m)
        q = rho * (tau**2 * (1 - a)) / vp
        x = V(mu0 + b * (xt - mu0) + ((1 - b) ** 2 * q + nxt**2 * (1 - b)).clamp_min(0).sqrt() * z)
        h.guard(i, sig, x)
    if sigma_y == 0:  # noiseless: the observed coordinates are known exactly
        x = V(torch.where(keep, ybar, Vt(x)))
    return finish(x, logw, rng, ess_trace, res_trace, out_dtype, return_info)


mcgdiff.needs = "svd"
mcgdiff.default_steps = 100
mcgdiff.weighted_population = True
# hyperparameters worth searching (invdiff tune); no warm start: the weights need the prior's start.
# ``particles`` is no hyperparameter: more is always closer to exact, at K× the cost.
mcgdiff.search_space = {"ess_threshold": Param(0.1, 1.0), "kernel": Choice(("ddpm", "moment"))}
