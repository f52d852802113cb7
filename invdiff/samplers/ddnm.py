"""DDNM+ (Wang, Yu & Zhang 2023, ICLR, "Zero-Shot Image Restoration Using Denoising Diffusion
Null-Space Model", eq. 17-19 and Appendix; reference code ``ddnm_plus_diffusion``).

Written in the variance-exploding σ convention ``x = x0 + σ ε``.  One step σ → σ':

    x̂0  = Tweedie estimate at σ,  ε̂ = (x − x̂0)/σ
    x̂0' = x̂0 + λ·A†(y − A x̂0)                      (range-space correction)
    x'  = x̂0' + √γ·z  on range(Aᵀ),   x̂0' + σ'(η z + √(1−η²) ε̂)  on null(A)

The paper's VP constants are a_t = √ᾱ_{t−1} and σ_t = √(1−ᾱ_{t−1}) (the *next* level);
dividing x_{t−1} by √ᾱ_{t−1} turns the test σ_t ≥ a_t σ_y into σ' ≥ σ_y, i.e. a_t ≡ 1 in
VE.  Per direction, with the noise level c of the corrected data (σ_y/s for an
operator with an SVD; σ_y when only A† is available — the paper's form, exact for
unit singular values such as inpainting):

    σ' ≥ c:  λ = 1,                   γ = σ'² − c²
    σ' < c:  λ = √(1−η²)·σ'/c,        γ = σ'² − (λc)² = η²σ'²

(η = 0 gives the paper's λ = σ'/c, γ = 0; the √(1−η²) is the reference code's.)
Without an SVD the per-direction c = σ_y/s is not available.  With σ_y > 0 the range correction is
then the Tikhonov filter Aᵀ(AAᵀ + (σ_y/σ')²I)⁻¹(y − A x̂0), whose gain s²/(s² + σ_y²/σ'²) per singular
direction is 1 where σ' ≫ σ_y/s and falls off below, as λ does (a plain A⁺ with the scalar σ_y
would amplify the noise by 1/s on weak directions), and the DDIM noise is kept whole; with
σ_y = 0 it is the exact projection of DDNM.  At
σ' = 0 with σ_y > 0 the correction is off (λ = 0); with σ_y = 0 it is the exact
null-space projection of DDNM.  Defaults: η = 0.85, 100 steps uniform in DDPM t.
With an SVD this is, direction by direction, DDRM's update with η_b = 1 (ddrm.py); the two
differ only in the start (DDRM starts x_T from y) and in the default number of steps.

Time travel (RePaint-style, DDNM Alg. 3): with ``travel_repeat`` r > 1, after reaching
every ``travel_length``-th level l the chain is diffused back up l levels,
x ← x + √(σ_up² − σ²)·z (the forward process, as in the paper; the reference code re-noises
its last x̂0 instead), and re-descends, r − 1 times.  Off by default (r = 1); it
costs (r − 1)·l network calls per jump point, about (r − 1)·steps extra NFE in all.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .common import Param, cg_tol, linalg, posterior_head, real, spectral_data, with_grid_settings


def travel_path(n: int, length: int = 1, repeat: int = 1) -> list[int]:
    """Grid indices visited (0 = σ_max … n = 0): the RePaint jump schedule used by DDNM."""
    if length < 1 or repeat < 1:
        raise ValueError(f"travel_length and travel_repeat must be >= 1, got {length}, {repeat}")
    jumps = {j: repeat - 1 for j in range(0, n - length, length)}
    t, ts = n, []
    while t >= 1:
        t -= 1
        ts.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            for _ in range(length):
                t += 1
                ts.append(t)
    return [n - 1 - t for t in ts] + [n]


def _lambda_gamma(sig_next: float, c: Tensor, eta: float):
    """λ and γ of DDNM+ for data noise level c (a tensor, 0 where there is no data)."""
    lam = torch.where(sig_next >= c, torch.ones_like(c), math.sqrt(1 - eta**2) * sig_next / torch.where(c > 0, c, 1))
    return lam, (sig_next**2 - (lam * c) ** 2).clamp_min(0)


@torch.no_grad()
def ddnm(
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
    offset: int = 0,
    start="auto",
    sigma_start=None,
    sigma_end=None,
    eta: float = 0.85,
    travel_length: int = 1,
    travel_repeat: int = 1,
) -> Tensor:
    """Posterior samples of x0 given ``y = A x0 + σ_y n`` with DDNM+ (needs A†: SVD, ``pinv`` or A/At by CG).

    ``callback(i, sigma, x, x0_hat)`` is called at every network evaluation.
    """
    h = posterior_head(
        "ddnm",
        prior,
        op,
        y,
        needs=ddnm.needs,
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
    sigma_y, sigmas, rng, x = h.sigma_y, h.sigmas, h.rng, h.x
    if not 0 <= eta <= 1:
        raise ValueError(f"ddnm: eta must lie in [0, 1], got {eta}")
    spectral = linalg.has_svd(op)
    if spectral:
        s, keep, ybar = spectral_data(op, y, x)
        c_data = torch.where(keep, sigma_y / torch.where(keep, s, 1), 0.0)
    else:
        c_data = torch.tensor(sigma_y, dtype=torch.float64)
    ce, tol = math.sqrt(1 - eta**2), cg_tol(x)
    path = travel_path(len(sigmas) - 1, travel_length, travel_repeat)
    i = 0
    for k, k_next in zip(path[:-1], path[1:]):
        sig, sig_next = float(sigmas[k]), float(sigmas[k_next])
        if k_next < k:  # time travel: diffuse forward from σ to σ_up
            x = x + math.sqrt(sig_next**2 - sig**2) * rng.randn_like(x)
            continue
        x0 = prior.x0(x, sig)
        if callback is not None:
            callback(i, sig, x, x0)
        i += 1
        eps, z = (x - x0) / sig, rng.randn_like(x)
        lam, gam = _lambda_gamma(sig_next, c_data, eta)
        if spectral:
            x0bar, zbar = op.Vt(x0), op.Vt(z)
            x0bar = torch.where(keep, x0bar + lam * (ybar - x0bar), x0bar)
            noise = torch.where(keep, gam.sqrt() * zbar, sig_next * (eta * zbar + ce * op.Vt(eps)))
            x = real(op.V(x0bar + noise)).to(x)
            h.guard(i, sig, x)
        elif sigma_y > 0:  # no SVD: λ_s = min(1, σ's/σ_y) per direction, in smooth form (below)
            if sig_next == 0:  # λ = 0 at σ' = 0, as with an SVD
                x = x0
                continue
            r = linalg.solve_AAt(op, y - linalg.forward(op, x0), (sigma_y / sig_next) ** 2, tol=tol)
            x = x0 + real(linalg.adjoint(op, r, x0)).to(x0) + sig_next * (eta * z + ce * eps)
            h.guard(i, sig, x)
        else:
            if float(lam) > 0:
                x0 = x0 + float(lam) * linalg.pinv(op, y - linalg.forward(op, x0), tol=tol)
            if sig_next == 0:
                x = x0
                continue
            w = sig_next * (eta * z + ce * eps)  # DDIM noise; its range part is replaced by √γ z
            x = x0 + w + linalg.pinv(op, linalg.forward(op, math.sqrt(float(gam)) * z - w), tol=tol)
            h.guard(i, sig, x)
    return h.finish(op, y, x)


ddnm.needs = "pinv"
ddnm.default_steps = 100
# hyperparameters worth searching (invdiff tune; Param/Choice: invdiff/samplers/space.py)
ddnm.search_space = with_grid_settings(eta=Param(0.0, 1.0))
