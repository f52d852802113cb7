"""Problems with exact posteriors for the sampler tests, and the statistics that compare samples with them.

- :func:`gaussian_problem`: a Gaussian prior N(m, I) in d = 8 and a 4×8 matrix with singular values
  (1, 0.8, 0.5, 0.3), σ_y = 0.2 (σ_y/s from 0.2 to 0.67): the posterior is Gaussian.
- :func:`mcgdiff_problem`: MCGdiff's 25-component mixture (Cardoso et al. 2024, §5) with a random
  d_y × d_x matrix: the posterior is a Gaussian mixture.

Both return ``(prior, op, y, sigma_y)`` with one measurement ``y`` of shape (1, m), float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from invdiff.exact import sliced_wasserstein
from invdiff.prior import GaussianMixturePrior
from operators import Matrix, measure


def gaussian_problem(sigma_y: float = 0.2):
    """N(m, I) in d = 8 (m = linspace(−1, 1, 8)), A 4×8 with singular values (1, 0.8, 0.5, 0.3)."""
    g = torch.Generator().manual_seed(0)
    prior = GaussianMixturePrior(torch.linspace(-1, 1, 8, dtype=torch.float64)[None], std=1.0)
    Q1, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    Q2, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))
    op = Matrix(Q1 @ torch.diag(torch.tensor([1.0, 0.8, 0.5, 0.3], dtype=torch.float64)) @ Q2[:, :4].T)
    x = prior.sample(1, seed=1, dtype=torch.float64)
    return prior, op, measure(op, x, sigma_y, seed=2), sigma_y


def mcgdiff_problem(dx: int = 8, dy: int = 2, seed: int = 1):
    """MCGdiff's mixture: 25 unit components, means (8i, 8j, 8i, 8j, …), weights ∝ squared normals;
    A = U diag(s) Vᵀ with sorted U(0,1) singular values; σ_y = U(0,1)·max s (Cardoso et al. 2024).

    With the defaults (d_x = 8, d_y = 2, seed 1): σ_y = 0.094 and the posterior is one Gaussian
    (weight 1 − 5e-7) among the prior's 25 modes: a sampler that spreads mass over other modes
    shows as a sliced Wasserstein distance of several units (the mode spacing is 8√4 = 16 in d = 8).
    """
    g = torch.Generator().manual_seed(seed)
    grid = torch.arange(-2, 3, dtype=torch.float64) * 8
    means = torch.zeros(25, dx, dtype=torch.float64)
    means[:, 0::2] = grid.repeat_interleave(5)[:, None]
    means[:, 1::2] = grid.repeat(5)[:, None]
    prior = GaussianMixturePrior(means, torch.randn(25, generator=g, dtype=torch.float64) ** 2)
    U, _, Vh = torch.linalg.svd(torch.randn(dy, dx, generator=g, dtype=torch.float64), full_matrices=False)
    s = torch.rand(dy, generator=g, dtype=torch.float64).sort(descending=True).values
    op = Matrix(U @ torch.diag(s) @ Vh)
    sigma_y = float(torch.rand(1, generator=g, dtype=torch.float64)) * float(s.max())
    x = prior.sample(1, seed=seed + 1000, dtype=torch.float64)
    return prior, op, measure(op, x, sigma_y, seed=seed + 2000), sigma_y


# ---------------------------------------------------------------- statistics
@dataclass
class MeanError:
    """‖mean of N samples − exact posterior mean‖, in all of x and in the measured directions (row space of A).

    ``se``: the Monte Carlo standard error of the mean of N exact samples, √(tr Σ_post / N) (its expected
    error, the floor); ``se_sampler``: the same with the sampler's own sample covariance; ``*_range``: the
    same projected on the row space of A, where the measurement acts (posterior variance small there).
    """

    err: float
    se: float
    se_sampler: float
    err_range: float
    se_range: float
    se_sampler_range: float

    @property
    def bias(self) -> float:
        """The sampler's bias, ‖E mean − exact mean‖ ≈ √(err² − se_sampler²) (E err² = bias² + se_sampler²)."""
        return math.sqrt(max(self.err**2 - self.se_sampler**2, 0.0))

    @property
    def bias_range(self) -> float:
        return math.sqrt(max(self.err_range**2 - self.se_sampler_range**2, 0.0))


def row_space_projector(op, d: int) -> torch.Tensor:
    """P = V_r V_rᵀ, the orthogonal projector on the row space of the matrix operator ``op`` (d × d)."""
    M = op.A(torch.eye(d, dtype=torch.float64)).T  # (m, d)
    _, s, Vh = torch.linalg.svd(M, full_matrices=False)
    Vr = Vh[s > 1e-12 * s.max()]
    return Vr.T @ Vr


def mean_error(xs: torch.Tensor, post, op) -> MeanError:
    """Compare N samples ``xs`` (N, d) with the exact posterior ``post`` (:class:`GaussianMixture`)."""
    xs = xs.reshape(xs.shape[0], -1).double()
    n, d = xs.shape
    P = row_space_projector(op, d)
    e = xs.mean(0) - post.mean().reshape(-1)
    S, C = post.cov(), torch.cov(xs.T)
    return MeanError(
        err=float(e.norm()),
        se=math.sqrt(float(S.trace()) / n),
        se_sampler=math.sqrt(float(C.trace()) / n),
        err_range=float((P @ e).norm()),
        se_range=math.sqrt(float((P @ S @ P).trace()) / n),
        se_sampler_range=math.sqrt(float((P @ C @ P).trace()) / n),
    )


@dataclass
class Floor:
    """SW between the reference set and ``pairs`` further independent exact sets of the same N."""

    values: list[float]

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    @property
    def se(self) -> float:
        """Standard deviation of the exact-vs-exact SW over the pairs (the MC spread of the statistic)."""
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (len(self.values) - 1))


def exact_reference(post, n: int, pairs: int = 8, seed: int = 1) -> tuple[torch.Tensor, Floor]:
    """The reference set (``n`` exact samples, ``seed``) and the floor: SW(reference, exact set k) for
    ``pairs`` sets with seeds seed+1 … seed+pairs."""
    ref = post.sample(n, seed=seed, dtype=torch.float64)
    vals = [sliced_wasserstein(ref, post.sample(n, seed=seed + k, dtype=torch.float64)) for k in range(1, pairs + 1)]
    return ref, Floor(vals)
