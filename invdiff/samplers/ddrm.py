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

from operators import linalg

from ..rng import PerSampleRNG
from ..schedule import pairwise
from .common import check_image, check_sigmas, default_sigmas, resolve_shape, start_noise


def posterior_head(prior, op, y, *, sigma_y, needs: str, name: str, steps: int, seed: int, sigmas, x_shape):
    """Setup shared by the spectral/plug-and-play samplers.

    Checks the operator's capability, ``y`` (finite tensor) and ``sigma_y`` (finite, ≥ 0), and
    returns ``(sigma_y, sigmas, rng, x_T)`` with x_T = σ_max·z drawn per sample.
    """
    linalg.require(op, needs, name)
    check_image(y, "y")
    try:
        sigma_y = float(sigma_y)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: sigma_y must be a number, got {type(sigma_y).__name__}") from None
    if not math.isfinite(sigma_y) or sigma_y < 0:
        raise ValueError(f"{name}: sigma_y must be finite and >= 0, got {sigma_y}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{name}: steps must be a positive int, got {steps!r}")
    shape = resolve_shape(prior, op, y, x_shape)
    sigmas = check_sigmas(default_sigmas(prior, steps) if sigmas is None else sigmas)
    rng = PerSampleRNG(seed, shape[0])
    dtype = y.real.dtype if y.is_complex() else y.dtype if y.is_floating_point() else torch.float32
    x = start_noise(shape, float(sigmas[0]), rng, device=y.device, dtype=dtype)
    return sigma_y, sigmas, rng, x


def real(z: Tensor) -> Tensor:
    return z.real if z.is_complex() else z


def cg_tol(x: Tensor) -> float:
    """Relative CG tolerance reachable in x's precision (used when A† or the prox fall back to CG)."""
    return max(1e-10, 100 * torch.finfo(x.real.dtype if x.is_complex() else x.dtype).eps)


def spectral_data(op, y: Tensor, like: Tensor, rcond: float = 1e-6):
    """``(s, keep, ȳ)``: singular values, the mask s > rcond·max s, and Uᵀy/s on it (0 elsewhere)."""
    uy = op.Ut(y)
    s = op.singulars().to(device=like.device, dtype=like.dtype)
    per_sample = s.ndim == like.ndim  # (B or 1, *event): the threshold is per sample
    smax = s.flatten(1).amax(1).reshape(-1, *[1] * (s.ndim - 1)) if per_sample else s.max()
    keep = s > rcond * smax
    zero = torch.zeros((), dtype=uy.dtype, device=uy.device)
    ybar = torch.where(keep, uy / torch.where(keep, s, 1).to(uy.dtype), zero)
    return s, keep, ybar


@torch.no_grad()
def ddrm(prior, op, y: Tensor, *, sigma_y: float, steps: int = 20, seed: int = 0, callback=None, sigmas=None,
         x_shape=None, eta: float = 0.85, eta_b: float = 1.0) -> Tensor:
    """Posterior samples of x0 given ``y = A x0 + σ_y n`` for an operator with an SVD (DDRM).

    ``callback(i, sigma, x, x0_hat)`` is called at every step with the state at σ.
    """
    sigma_y, sigmas, rng, x = posterior_head(prior, op, y, sigma_y=sigma_y, needs=ddrm.needs, name="ddrm",
                                             steps=steps, seed=seed, sigmas=sigmas, x_shape=x_shape)
    if not (0 <= eta <= 1 and 0 <= eta_b <= 1):
        raise ValueError(f"ddrm: eta and eta_b must lie in [0, 1], got eta={eta}, eta_b={eta_b}")
    s, keep, ybar = spectral_data(op, y, x)
    thr = torch.where(keep, sigma_y / torch.where(keep, s, 1), 0.0)  # σ_y/s: the noise level of ȳ

    # start: p(x_T | y) of DDRM (η_b = 1 there), x = σ_T z where s·σ_T ≤ σ_y or s = 0
    sig_T = float(sigmas[0])
    zbar = op.Vt(x / sig_T)
    near = keep & (thr < sig_T)
    xbar = torch.where(near, ybar + (sig_T**2 - thr**2).clamp_min(0).sqrt() * zbar, sig_T * zbar)
    x = real(op.V(xbar)).to(x)

    c = math.sqrt(1 - eta**2)
    for i, (sig, sig_next) in enumerate(pairwise(sigmas)):
        x0 = prior.x0(x, sig)
        if callback is not None:
            callback(i, sig, x, x0)
        x0bar, epsbar = op.Vt(x0), op.Vt((x - x0) / sig)
        zbar = op.Vt(rng.randn_like(x))
        ddim = x0bar + c * sig_next * epsbar + eta * sig_next * zbar
        toward = x0bar + c * sig_next * (ybar - x0bar) / torch.where(thr > 0, thr, 1) + eta * sig_next * zbar
        around = eta_b * ybar + (1 - eta_b) * x0bar + (sig_next**2 - eta_b**2 * thr**2).clamp_min(0).sqrt() * zbar
        low = sig_next < thr  # σ' < σ_y/s: the sample is already less noisy than ȳ
        xbar = torch.where(keep, torch.where(low, toward, around), ddim)
        x = real(op.V(xbar)).to(x)
    return x


ddrm.needs = "svd"
ddrm.default_steps = 20
