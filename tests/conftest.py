"""Shared fixtures: the MCGdiff-style 25-component Gaussian mixture prior in 8 dimensions."""

from __future__ import annotations

import pytest
import torch

from invdiff.prior import GaussianMixturePrior


def make_grid_gmm(dim: int = 8, spacing: float = 8.0, std: float = 1.0, seed: int = 0) -> GaussianMixturePrior:
    """25 unit-std components with means (s·i, s·j, 0, …), i, j ∈ {−2, …, 2}; weights ∝ squared N(0,1) draws
    (Cardoso et al. 2024, MCGdiff, §5)."""
    g = torch.Generator().manual_seed(seed)
    grid = torch.arange(-2, 3, dtype=torch.float64) * spacing
    means = torch.zeros(25, dim, dtype=torch.float64)
    means[:, 0] = grid.repeat_interleave(5)
    means[:, 1] = grid.repeat(5)
    weights = torch.randn(25, generator=g, dtype=torch.float64) ** 2
    return GaussianMixturePrior(means, weights, std=std)


@pytest.fixture(scope="session")
def gmm25() -> GaussianMixturePrior:
    return make_grid_gmm()


class ExactVPNet(torch.nn.Module):
    """A 'network' in VP form built from an exact prior: given x_t = x/√(1+σ²) and continuous t,
    it recovers σ = schedule.t_to_sigma(t) and returns the exact ε, x0 or v.

    It holds one float64 parameter so :class:`invdiff.prior.EpsPrior` feeds it float64 inputs and t.
    ``learned_variance=True`` appends a second (garbage) half of channels, as ADM networks do.
    """

    def __init__(self, prior, schedule, parameterization: str = "eps", learned_variance: bool = False):
        super().__init__()
        self.prior, self.schedule, self.parameterization = prior, schedule, parameterization
        self.learned_variance = learned_variance
        self.dummy = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.calls = []

    def forward(self, x_t, t):
        self.calls.append(t.detach().clone())
        sigma = self.schedule.t_to_sigma(t).to(x_t)
        s = sigma.reshape(-1, *([1] * (x_t.ndim - 1)))
        x = x_t * torch.sqrt(1 + s**2)
        eps = self.prior.eps(x, sigma)
        if self.parameterization == "eps":
            out = eps
        elif self.parameterization == "x0":
            out = self.prior.x0(x, sigma)
        else:  # v = √ᾱ ε − √(1−ᾱ) x0 with ᾱ = 1/(1+σ²)
            abar = 1 / (1 + s**2)
            out = abar.sqrt() * eps - (1 - abar).sqrt() * self.prior.x0(x, sigma)
        if self.learned_variance:
            out = torch.cat([out, torch.full_like(out, 123.0)], 1)
        return out
