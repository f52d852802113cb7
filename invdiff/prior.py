"""Priors in the variance-exploding convention ``x = x0 + σ ε``.

- :class:`Prior` — the protocol every sampler uses: ``eps``, ``x0`` (Tweedie's
  formula, Efron 2011; Robbins 1956) and ``score`` at noise level σ (a float or
  a (B,) tensor).
- :class:`EpsPrior` — the one VP<->VE adapter around a network trained on
  ``x_t = √ᾱ x0 + √(1-ᾱ) ε`` (Ho et al. 2020): input scaled by 1/√(1+σ²), σ
  mapped to the network's continuous timestep, output converted to ε.
- :class:`GaussianMixturePrior` — isotropic Gaussian mixture with exact ε,
  score, samples and closed-form posterior for a linear-Gaussian measurement.
"""

from __future__ import annotations

import contextlib
import math
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from .schedule import VPSchedule


def sigma_like(sigma, x: Tensor) -> Tensor:
    """σ as a (B, 1, …, 1) tensor broadcastable against ``x`` (same device and dtype)."""
    s = torch.as_tensor(sigma, device=x.device, dtype=x.dtype)
    if s.ndim == 0:
        s = s.expand(x.shape[0])
    if s.shape != (x.shape[0],):
        raise ValueError(f"sigma must be a float or a ({x.shape[0]},) tensor, got shape {tuple(s.shape)}")
    return s.reshape(-1, *([1] * (x.ndim - 1)))


@runtime_checkable
class Prior(Protocol):
    def eps(self, x: Tensor, sigma) -> Tensor: ...
    def x0(self, x: Tensor, sigma) -> Tensor: ...
    def score(self, x: Tensor, sigma) -> Tensor: ...


class PriorBase:
    """Derives ``x0`` and ``score`` from ``eps``; counts network evaluations in ``nfe``."""

    nfe: int = 0

    def eps(self, x: Tensor, sigma) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def x0(self, x: Tensor, sigma) -> Tensor:
        """Tweedie's formula: E[x0 | x_σ] = x − σ ε̂(x, σ)."""
        return x - sigma_like(sigma, x) * self.eps(x, sigma)

    def score(self, x: Tensor, sigma) -> Tensor:
        """∇ log p_σ(x) = −ε̂ / σ."""
        return -self.eps(x, sigma) / sigma_like(sigma, x)


class EpsPrior(PriorBase):
    """A VP network ``net(x_t, t)`` used as a VE prior.

    ``parameterization`` says what the network predicts: ``"eps"``, ``"x0"`` or
    ``"v"`` (v = √ᾱ ε − √(1−ᾱ) x0, Salimans & Ho 2022).  Networks whose output has
    twice the input channels (learned variance, ADM) have the extra half dropped.
    ``image_shape`` (C, H, W), when known, is what the network was trained on.
    ``data_range`` is the range of its training data ([-1, 1] for images, DESIGN.md; None
    for data without one): samplers that clip x̂0 clip to it, and the input check warns when
    a measurement lies far outside it.  ``amp`` (a dtype) and ``channels_last`` are set by
    :func:`invdiff.accel.accelerate`.
    """

    amp: torch.dtype | None = None
    channels_last: bool = False

    def __init__(
        self,
        net,
        schedule: VPSchedule | str = "linear",
        parameterization: str = "eps",
        image_shape: tuple[int, ...] | None = None,
        name: str = "eps-prior",
        data_range: tuple[float, float] | None = (-1.0, 1.0),
    ):
        if parameterization not in ("eps", "x0", "v"):
            raise ValueError(f"parameterization must be 'eps', 'x0' or 'v', got {parameterization!r}")
        self.net = net
        self.schedule = VPSchedule.from_name(schedule) if isinstance(schedule, str) else schedule
        self.parameterization = parameterization
        self.image_shape = tuple(image_shape) if image_shape is not None else None
        self.name = name
        self.data_range = None if data_range is None else (float(data_range[0]), float(data_range[1]))
        self.nfe = 0

    @property
    def sigma_max(self) -> float:
        return self.schedule.sigma_max

    @property
    def sigma_min(self) -> float:
        return self.schedule.sigma_min

    def _net_param(self):
        return next(iter(self.net.parameters()), None) if hasattr(self.net, "parameters") else None

    def to(self, device=None, dtype=None) -> "EpsPrior":
        if hasattr(self.net, "to"):
            self.net.to(device=device, dtype=dtype)
        return self

    def eps(self, x: Tensor, sigma) -> Tensor:
        s = sigma_like(sigma, x)
        if torch.any(s <= 0):
            raise ValueError("EpsPrior.eps needs sigma > 0 (x0 at sigma = 0 is x itself)")
        s64 = s.reshape(-1).double()
        t = self.schedule.sigma_to_t(s64.cpu()).to(x.device)
        scale = 1 / torch.sqrt(1 + s**2)
        p = self._net_param()
        xin = x * scale
        if p is not None:
            xin = xin.to(dtype=p.dtype, device=p.device)
            t = t.to(device=p.device)
        if self.channels_last and xin.ndim == 4:
            xin = xin.contiguous(memory_format=torch.channels_last)
        amp = torch.autocast(xin.device.type, dtype=self.amp) if self.amp is not None else contextlib.nullcontext()
        with amp:  # the network alone in reduced precision (invdiff.accel); its output is cast back below
            out = self.net(xin, t.float() if p is None or p.dtype != torch.float64 else t)
        self.nfe += 1
        if out.shape[1] == 2 * x.shape[1]:
            out = out[:, : x.shape[1]]
        out = out.to(x)
        if self.parameterization == "eps":
            return out
        if self.parameterization == "x0":
            return (x - out) / s
        return s * scale * (scale * x) + scale * out  # v -> ε = √(1-ᾱ) x_t + √ᾱ v


class GaussianMixturePrior(PriorBase):
    """p(x0) = Σ_k w_k N(m_k, s_k² I) on tensors of shape ``means.shape[1:]``.

    Everything is exact: ``eps``/``x0``/``score`` at every σ, ``sample``, and
    :meth:`posterior` for y = A x0 + σ_y n with a linear A (Bishop 2006, §2.3.3).
    """

    def __init__(self, means: Tensor, weights: Tensor | None = None, std: float | Tensor = 1.0):
        means = torch.as_tensor(means, dtype=torch.float64)
        if means.ndim < 2:
            raise ValueError("means must have shape (K, *event_shape)")
        K = means.shape[0]
        w = (
            torch.full((K,), 1.0 / K, dtype=torch.float64)
            if weights is None
            else torch.as_tensor(weights, dtype=torch.float64).flatten()
        )
        if w.shape != (K,) or torch.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be {K} non-negative numbers with a positive sum")
        std = torch.as_tensor(std, dtype=torch.float64).flatten()
        std = std.expand(K).clone() if std.numel() == 1 else std
        if std.shape != (K,) or torch.any(std <= 0):
            raise ValueError(f"std must be a positive float or ({K},) tensor")
        self.means, self.weights, self.stds = means, w / w.sum(), std
        self.shape = tuple(means.shape[1:])
        self.dim = int(math.prod(self.shape))
        self.nfe = 0

    @property
    def image_shape(self):
        return self.shape

    def _flat(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"expected x of shape (B, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}")
        return x.reshape(x.shape[0], -1).double()

    def responsibilities(self, x: Tensor, sigma) -> Tensor:
        """(B, K) posterior component probabilities of x_σ."""
        xf = self._flat(x)
        s = sigma_like(sigma, x).reshape(-1, 1).double().to(xf.device)
        var = self.stds.to(xf.device)[None] ** 2 + s**2  # (B, K)
        m = self.means.reshape(len(self.weights), -1).to(xf.device)
        d2 = torch.cdist(xf, m) ** 2
        logp = self.weights.to(xf.device).log()[None] - 0.5 * d2 / var - 0.5 * self.dim * var.log()
        return torch.softmax(logp, dim=1)

    def x0(self, x: Tensor, sigma) -> Tensor:
        xf = self._flat(x)
        s = sigma_like(sigma, x).reshape(-1, 1, 1).double().to(xf.device)
        r = self.responsibilities(x, sigma)
        m = self.means.reshape(len(self.weights), -1).to(xf.device)
        v0 = self.stds.to(xf.device)[None] ** 2
        a = v0 / (v0 + s[:, :, 0] ** 2)  # (B, K) shrinkage of each component toward x
        self.nfe += 1  # Σ_k r_k [m_k + a_k (x − m_k)] without (B, K, d) temporaries
        out = (r * (1 - a)) @ m + (r * a).sum(1, keepdim=True) * xf
        return out.reshape(x.shape).to(x)

    def eps(self, x: Tensor, sigma) -> Tensor:
        s = sigma_like(sigma, x)
        return (x - self.x0(x, sigma)) / s

    def score(self, x: Tensor, sigma) -> Tensor:
        s = sigma_like(sigma, x)
        return (self.x0(x, sigma) - x) / s**2

    def sample(self, n: int, seed: int = 0, device=None, dtype=torch.float32) -> Tensor:
        """``n`` exact samples; sample i depends only on (seed, i)."""
        from .rng import sample_generators

        out = []
        for g in sample_generators(seed, n):
            k = int(torch.multinomial(self.weights, 1, generator=g))
            z = torch.randn(self.shape, generator=g, dtype=torch.float64)
            out.append(self.means[k] + self.stds[k] * z)
        return torch.stack(out).to(device=device, dtype=dtype)

    def posterior(self, op, y: Tensor, sigma_y: float) -> "GaussianMixture":
        """Exact posterior p(x0 | y) for y = A x0 + σ_y n (one measurement, A linear)."""
        from .exact import dense_matrix

        if sigma_y <= 0:
            raise ValueError("sigma_y must be > 0 for the closed-form posterior")
        M = dense_matrix(op, self.shape)  # (m, d) float64
        yv = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
        if yv.numel() != M.shape[0]:
            raise ValueError(f"y has {yv.numel()} entries, the operator produces {M.shape[0]}")
        K, d = len(self.weights), self.dim
        m = self.means.reshape(K, d)
        means, covs, logw = [], [], []
        MtM, Mty = M.T @ M, M.T @ yv
        eye_d, eye_m = torch.eye(d, dtype=torch.float64), torch.eye(M.shape[0], dtype=torch.float64)
        for k in range(K):
            v = self.stds[k] ** 2
            prec = eye_d / v + MtM / sigma_y**2
            cov = torch.linalg.inv(prec)
            cov = (cov + cov.T) / 2
            means.append(cov @ (m[k] / v + Mty / sigma_y**2))
            covs.append(cov)
            S = v * M @ M.T + sigma_y**2 * eye_m
            r = yv - M @ m[k]
            L = torch.linalg.cholesky(S)
            sol = torch.cholesky_solve(r[:, None], L)[:, 0]
            logw.append(self.weights[k].log() - 0.5 * r @ sol - torch.log(torch.diagonal(L)).sum())
        w = torch.softmax(torch.stack(logw), 0)
        return GaussianMixture(torch.stack(means), torch.stack(covs), w, self.shape)


class GaussianMixture:
    """A full-covariance Gaussian mixture (the exact posterior), with samples, mean and covariance."""

    def __init__(self, means: Tensor, covs: Tensor, weights: Tensor, shape: tuple[int, ...]):
        self.means, self.covs, self.weights, self.shape = means, covs, weights, shape
        d = means.shape[1]
        jitter = 1e-12 * torch.eye(d, dtype=torch.float64)
        self._chol = torch.linalg.cholesky(covs + jitter)

    def mean(self) -> Tensor:
        return (self.weights[:, None] * self.means).sum(0).reshape(self.shape)

    def cov(self) -> Tensor:
        mu = self.mean().reshape(-1)
        dm = self.means - mu
        return (self.weights[:, None, None] * (self.covs + dm[:, :, None] * dm[:, None, :])).sum(0)

    def sample(self, n: int, seed: int = 0, dtype=torch.float32) -> Tensor:
        from .rng import sample_generators

        out = []
        for g in sample_generators(seed, n):
            k = int(torch.multinomial(self.weights, 1, generator=g))
            z = torch.randn(self.means.shape[1], generator=g, dtype=torch.float64)
            out.append(self.means[k] + self._chol[k] @ z)
        return torch.stack(out).reshape(n, *self.shape).to(dtype)
