"""DDRM (Kawar, Elad, Ermon & Song 2022, NeurIPS, "Denoising Diffusion Restoration Models", eq. 7-8).

Written in the variance-exploding σ convention ``x = x0 + σ ε`` and in the
spectral layout of the operator's SVD ``A = U diag(s) Vᵀ`` (DESIGN.md).  With
x̄ = Vᵀx, x̄0 = Vᵀx̂0, ε̄ = Vᵀε̂, ȳ = (Uᵀy)/s on s > 0, z̄ = Vᵀz and one step σ → σ':

    s = 0:               x̄' = x̄0 + √(1−η²)σ'·ε̄ + ησ'·z̄                       (DDIM in the null space)
    s > 0, σ' < σ_y/s:   x̄' = x̄0 + √(1−η²)σ'·(ȳ − x̄0)/(σ_y/s) + ησ'·z̄        (move toward ȳ)
    s > 0, σ' ≥ σ_y/s:   x̄' = η_b·ȳ + (1−η_b)·x̄0 + √(σ'² − η_b²σ_y²/s²)·z̄      (sample around ȳ)

and x' = V x̄'.  The start is DDRM's ``p(x_T | y)``: x̄_T = ȳ + √(σ_T² − σ_y²/s²)·z̄
where s·σ_T > σ_y, else σ_T·z̄.  Dividing the paper's VP update by √ᾱ gives this form
(the reference code's ``efficient_generalized_steps``, whose η_A = η_C = η).
Defaults η = 0.85, η_b = 1 and 20 steps uniform in DDPM t are the paper's.
Spectral noise is drawn as ``Vt(randn_like(x))`` and one draw is shared by the three
cases, so complex (FFT) spectra keep the Hermitian symmetry of real images.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .common import Param, pairwise, posterior_head, real, spectral_data, with_grid_settings


@torch.no_grad()
def ddrm(
    prior,
    op,
    y: Tensor,
    *,
    sigma_y: float,
    steps: int = 20,
    seed: int = 0,
    callback=None,
    sigmas=None,
    x_shape=None,
    offset: int = 0,
    start="auto",
    sigma_start=None,
    sigma_end=None,
    eta: float = 0.85,
    eta_b: float = 1.0,
    temperature: float = 1.0,
) -> Tensor:
    """Posterior samples of x0 given ``y = A x0 + σ_y n`` for an operator with an SVD (DDRM).

    ``temperature`` scales every noise draw (start, null space, measured directions) while the
    denoiser is still told the level is σ: 1 is the exact sampler; deepinv's DDRM uses 1/√2,
    a lower-temperature sampler with higher single-sample PSNR and a narrower spread than the
    posterior.  ``callback(i, sigma, x, x0_hat)`` is called at every step with the state at σ.
    """
    h = posterior_head(
        "ddrm",
        prior,
        op,
        y,
        needs=ddrm.needs,
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
    if not (0 <= eta <= 1 and 0 <= eta_b <= 1):
        raise ValueError(f"ddrm: eta and eta_b must lie in [0, 1], got eta={eta}, eta_b={eta_b}")
    if not 0 < temperature <= 1:
        raise ValueError(f"ddrm: temperature must lie in (0, 1], got {temperature}")
    s, keep, ybar = spectral_data(op, y, x)
    thr = torch.where(keep, sigma_y / torch.where(keep, s, 1), 0.0)  # σ_y/s: the noise level of ȳ

    # start: p(x_T | y) of DDRM (η_b = 1 there), x = x_init + σ_T z where s·σ_T ≤ σ_y or s = 0
    sig_T, tau = float(sigmas[0]), temperature
    x_init = h.x_init if h.x_init is not None else torch.zeros_like(x)
    zbar = op.Vt((x - x_init) / sig_T)
    near = keep & (thr < sig_T)
    xbar = torch.where(near, ybar + tau * (sig_T**2 - thr**2).clamp_min(0).sqrt() * zbar,
                       op.Vt(x_init) + tau * sig_T * zbar)  # fmt: skip
    x = real(op.V(xbar)).to(x)

    c = math.sqrt(1 - eta**2)
    for i, (sig, sig_next) in enumerate(pairwise(sigmas)):
        x0 = prior.x0(x, sig)
        if callback is not None:
            callback(i, sig, x, x0)
        x0bar, epsbar = op.Vt(x0), op.Vt((x - x0) / sig)
        zbar = tau * op.Vt(rng.randn_like(x))
        ddim = x0bar + c * sig_next * epsbar + eta * sig_next * zbar
        toward = x0bar + c * sig_next * (ybar - x0bar) / torch.where(thr > 0, thr, 1) + eta * sig_next * zbar
        around = eta_b * ybar + (1 - eta_b) * x0bar + (sig_next**2 - eta_b**2 * thr**2).clamp_min(0).sqrt() * zbar
        low = sig_next < thr  # σ' < σ_y/s: the sample is already less noisy than ȳ
        xbar = torch.where(keep, torch.where(low, toward, around), ddim)
        x = real(op.V(xbar)).to(x)
        h.guard(i, sig, x)
    return h.finish(op, y, x)


ddrm.needs = "svd"
ddrm.default_steps = 20
# hyperparameters worth searching (invdiff tune; Param/Choice: invdiff/samplers/space.py)
ddrm.search_space = with_grid_settings(eta=Param(0.0, 1.0), temperature=Param(0.5, 1.0))
