"""Noise schedules in the variance-exploding σ convention.

A VP network is trained on ``x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε``; dividing by √ᾱ_t gives
``x0 + σ_t ε`` with ``σ_t = √((1-ᾱ_t)/ᾱ_t)``.  This module holds the ᾱ tables
(DDPM linear, Ho et al. 2020; cosine, Nichol & Dhariwal 2021), the continuous
σ <-> t maps (linear interpolation of log σ over integer t), and σ grids.
Every grid is a decreasing 1-D float64 tensor that ends in 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class VPSchedule:
    """A discrete VP schedule ``ᾱ_0 … ᾱ_{T-1}`` with continuous σ <-> t maps."""

    def __init__(self, alphas_cumprod: Tensor, name: str = "custom"):
        a = torch.as_tensor(alphas_cumprod, dtype=torch.float64).flatten()
        if a.numel() < 2 or not torch.all((a > 0) & (a < 1)):
            raise ValueError("alphas_cumprod must hold at least 2 values in (0, 1)")
        if not torch.all(a[1:] < a[:-1]):
            raise ValueError("alphas_cumprod must be strictly decreasing")
        self.name = name
        self.alphas_cumprod = a
        self.sigmas = ((1 - a) / a).sqrt()  # increasing in t
        self._log_sigmas = self.sigmas.log()

    @classmethod
    def linear(cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> "VPSchedule":
        """DDPM linear β schedule (Ho et al. 2020)."""
        betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
        return cls(torch.cumprod(1 - betas, 0), name="linear")

    @classmethod
    def cosine(cls, T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> "VPSchedule":
        """Cosine schedule (Nichol & Dhariwal 2021), β clipped at ``max_beta``."""
        f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
        betas = torch.tensor([min(1 - f(i + 1) / f(i), max_beta) for i in range(T)], dtype=torch.float64)
        return cls(torch.cumprod(1 - betas, 0), name="cosine")

    @classmethod
    def from_name(cls, name: str, T: int = 1000) -> "VPSchedule":
        if name == "linear":
            return cls.linear(T)
        if name == "cosine":
            return cls.cosine(T)
        raise ValueError(f"unknown schedule {name!r}; expected 'linear' or 'cosine'")

    @property
    def T(self) -> int:
        return self.alphas_cumprod.numel()

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def sigma_to_t(self, sigma: Tensor | float) -> Tensor:
        """Continuous t in [0, T-1] for σ, by linear interpolation of log σ (clamped at the ends)."""
        s = torch.as_tensor(sigma, dtype=torch.float64)
        ls = self._log_sigmas.to(s.device)
        logs = s.clamp(min=1e-30).log().clamp(ls[0], ls[-1])
        idx = torch.searchsorted(ls, logs.contiguous()).clamp(1, self.T - 1)
        lo, hi = ls[idx - 1], ls[idx]
        w = (logs - lo) / (hi - lo)
        return idx - 1 + w

    def t_to_sigma(self, t: Tensor | float) -> Tensor:
        """σ at continuous t (log-linear interpolation between integer steps)."""
        t = torch.as_tensor(t, dtype=torch.float64).clamp(0, self.T - 1)
        ls = self._log_sigmas.to(t.device)
        lo = t.floor().long().clamp(max=self.T - 2)
        w = t - lo
        return ((1 - w) * ls[lo] + w * ls[lo + 1]).exp()


def alpha_bar_from_sigma(sigma: Tensor | float) -> Tensor:
    """ᾱ = 1 / (1 + σ²)."""
    s = torch.as_tensor(sigma, dtype=torch.float64)
    return 1 / (1 + s**2)


def ddpm_sigmas(schedule: VPSchedule, steps: int) -> Tensor:
    """σ grid of ``steps`` values uniform in DDPM t (from T-1 to 0), then 0."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    t = torch.linspace(schedule.T - 1, 0, steps, dtype=torch.float64).round()
    if steps == 1:
        t = torch.tensor([schedule.T - 1.0], dtype=torch.float64)
    return torch.cat([schedule.sigmas[t.long()], torch.zeros(1, dtype=torch.float64)])


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """EDM grid (Karras et al. 2022, eq. 5): ``steps`` values from σ_max to σ_min, then 0."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    if not 0 < sigma_min < sigma_max:
        raise ValueError("need 0 < sigma_min < sigma_max")
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sig = (hi + ramp * (lo - hi)) ** rho
    if steps == 1:
        sig = torch.tensor([sigma_max], dtype=torch.float64)
    return torch.cat([sig, torch.zeros(1, dtype=torch.float64)])


def pairwise(sigmas: Tensor):
    """Yield consecutive (σ, σ_next) pairs of a grid as Python floats."""
    vals = [float(v) for v in sigmas]
    return zip(vals[:-1], vals[1:])
