"""Shared pieces of the sequential Monte Carlo samplers (``mcgdiff``, ``tds``).

Layout: measurement b's K particles are rows b·K … b·K+K−1 of one (B·K, *event) batch, so the
network sees them in one call.  Randomness comes from one generator per measurement (seeded by
(seed, b), ``PerSampleRNG``) drawing K rows at a time, so measurement b's result does not depend
on the batch.  Log-weights are (B, K) float64; resampling is systematic (Kitagawa 1996; Douc,
Cappé & Moulines 2005), per measurement, when ESS/K falls below a threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .common import posterior_head

if TYPE_CHECKING:
    from ..rng import PerSampleRNG


@dataclass
class SMCResult:
    """What an SMC sampler returns with ``return_info=True``.

    ``x`` (B, *event): one particle per measurement drawn by weight (the default return value);
    ``particles`` (B, K, *event) and ``log_weights`` (B, K) float64, normalised (logsumexp 0 per row):
    the final weighted population; ``ess`` (steps, B): effective sample size Σw⁻² after each step's
    reweighting (before any resampling); ``resampled`` (steps, B): whether that step resampled.
    """

    x: Tensor
    particles: Tensor
    log_weights: Tensor
    ess: Tensor
    resampled: Tensor


def smc_head(name, prior, op, y, *, needs, sigma_y, steps, seed, sigmas, x_shape, offset, start, sigma_start,
             particles, ess_threshold, kernel, data_var):  # fmt: skip
    """The shared posterior head (checks, σ grid, per-sample RNG) plus the SMC arguments; returns a ``Head``.

    The weights are exact only for particles drawn from the prior at the top of the grid, so the
    start is always noise: ``start`` must be ``"noise"`` (``"auto"`` means the same here); ``sigma_start``
    truncates the grid (the start N(0, σ0²) is then an approximation of the prior at σ0).
    """
    if not (isinstance(start, str) and start in ("noise", "auto")):
        raise ValueError(
            f"{name}: start={start if isinstance(start, str) else type(start).__name__!r} is not supported; "
            "an SMC sampler's weights are exact only from the prior at σ_max, so use start='noise'"
        )
    if kernel not in ("ddpm", "moment"):
        raise ValueError(f"{name}: kernel must be 'ddpm' or 'moment', got {kernel!r}")
    if not (isinstance(data_var, (int, float)) and math.isfinite(data_var) and data_var > 0):
        raise ValueError(f"{name}: data_var must be a finite number > 0, got {data_var!r}")
    if isinstance(particles, bool) or not isinstance(particles, int) or particles < 1:
        raise ValueError(f"{name}: particles must be a positive int, got {particles!r}")
    if not 0 <= ess_threshold <= 1:
        raise ValueError(f"{name}: ess_threshold must lie in [0, 1], got {ess_threshold}")
    return posterior_head(
        name, prior, op, y, needs=needs, sigma_y=sigma_y, steps=steps, seed=seed, sigmas=sigmas, x_shape=x_shape,
        offset=offset, start="noise", sigma_start=sigma_start, draw_start=False,
    )  # fmt: skip


def per_measurement(fn, x: Tensor, B: int, K: int, shared: bool) -> Tensor:
    """``fn`` on the (B·K, …) particle batch; an operator with per-sample parameters gets K batches of B."""
    if shared or K == 1:
        return fn(x)
    xs = x.reshape(B, K, *x.shape[1:])
    out = torch.stack([fn(xs[:, k]) for k in range(K)], 1)
    return out.reshape(B * K, *out.shape[2:])


def op_is_shared(op, B: int, s: Tensor | None = None, event_ndim: int = 0) -> bool:
    """True when one parameter set serves the whole batch (then the B·K particles go through at once)."""
    if B == 1:
        return True
    if getattr(op, "batch", 1) != 1:
        return False
    return s is None or s.ndim <= event_ndim or s.shape[0] == 1


def noise(rng: PerSampleRNG, K: int, event: tuple, like: Tensor) -> Tensor:
    """(B·K, *event) standard normals; measurement b's K rows come from generator b."""
    z = rng.randn((K, *event), like)
    return z.reshape(-1, *event)


def ess(logw: Tensor) -> Tensor:
    """(B,) effective sample size (Σw)²/Σw² of (B, K) log-weights."""
    return torch.exp(2 * torch.logsumexp(logw, 1) - torch.logsumexp(2 * logw, 1))


def systematic(logw: Tensor, u: Tensor) -> Tensor:
    """(B, K) ancestor indices by systematic resampling with one uniform u_b per row."""
    K = logw.shape[1]
    cdf = torch.softmax(logw, 1).cumsum(1)
    cdf[:, -1] = 1.0
    pos = (torch.arange(K, dtype=logw.dtype, device=logw.device)[None] + u[:, None]) / K
    return torch.searchsorted(cdf, pos.contiguous()).clamp(max=K - 1)


def gather(x: Tensor, idx: Tensor) -> Tensor:
    """Rows of the (B·K, …) batch picked by (B, K) within-measurement indices."""
    B, K = idx.shape
    flat = (idx + K * torch.arange(B, device=idx.device)[:, None]).reshape(-1)
    return x[flat.to(x.device)]


def reweight(logw: Tensor, rng: PerSampleRNG, threshold: float):
    """ESS of ``logw``; systematic resampling where ESS/K < threshold.

    Returns ``(logw, idx, ess, resampled)``: idx (B, K) ancestors (identity where not resampled).
    One uniform per measurement is drawn every step, so the streams do not depend on other rows.
    """
    K = logw.shape[1]
    logw = logw - torch.logsumexp(logw, 1, keepdim=True)
    e = ess(logw)
    u = rng.rand((1,), logw)[:, 0]
    do = e < threshold * K
    idx = torch.where(do[:, None], systematic(logw, u), torch.arange(K, device=logw.device)[None])
    return torch.where(do[:, None], torch.full_like(logw, -math.log(K)), logw), idx, e, do


def best(x: Tensor, logw: Tensor) -> Tensor:
    """(B, *event): each measurement's highest-weight particle (what ``callback`` is shown)."""
    B, K = logw.shape
    return x.reshape(B, K, *x.shape[1:])[torch.arange(B), logw.argmax(1).to(x.device)]


def finish(x: Tensor, logw: Tensor, rng: PerSampleRNG, ess_trace, res_trace, dtype, return_info: bool):
    """Draw one particle per measurement by weight; the output (or an :class:`SMCResult`) in ``dtype``."""
    B, K = logw.shape
    logw = logw - torch.logsumexp(logw, 1, keepdim=True)
    u = rng.rand((1,), logw)[:, 0]
    k = torch.searchsorted(logw.exp().cumsum(1), u[:, None].contiguous()).clamp(max=K - 1)[:, 0]
    pop = x.reshape(B, K, *x.shape[1:]).to(dtype)
    out = pop[torch.arange(B), k.to(x.device)]
    if not return_info:
        return out
    return SMCResult(out, pop, logw, torch.stack(ess_trace), torch.stack(res_trace))
