"""Two causes of noise fitting found by the robustness matrix (benchmarks/results/robustness.md), and their fixes.

1. DDNM without an SVD used A⁺ with the scalar σ_y, passing noise amplified by 1/s on weak directions; it now
   uses the Tikhonov filter Aᵀ(AAᵀ + (σ_y/σ')²I)⁻¹ (invdiff/samplers/ddnm.py).
2. ΠGDM added its guidance with unit weight at every step however small the step, so a fine grid (more steps, or a
   warm start's truncated grid) multiplied the data correction; each step is now weighted by min(1, Δt/Δt_ref)
   (invdiff/samplers/pigdm.py::step_weights), which leaves the authors' 100-step grid unchanged.
"""

from __future__ import annotations

import pytest
import torch

from invdiff.load import SHIPPED, WEIGHTS_DIR, load_prior
from invdiff.prior import GaussianMixturePrior
from invdiff.samplers import ddnm
from invdiff.samplers.common import ddpm_grid
from invdiff.samplers.pigdm import step_weights
from operators import Matrix, measure


class AOnly:
    """The operator with its A and At only (no SVD, no pinv): what ``operators.from_callables`` gives."""

    def __init__(self, m):
        self.m, self.input_shape = m, m.input_shape

    def A(self, x):
        return self.m.A(x)

    def At(self, y):
        return self.m.At(y)


def weak_problem():
    """N(0, I) in d = 8; A 4×8 with singular values (1, 0.5, 0.05, 0.01); σ_y = 0.1 (σ_y/s up to 10)."""
    g = torch.Generator().manual_seed(0)
    q1, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    q2, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))
    s = torch.tensor([1.0, 0.5, 0.05, 0.01], dtype=torch.float64)
    op = Matrix(q1 @ torch.diag(s) @ q2[:4])
    prior = GaussianMixturePrior(torch.zeros(1, 8, dtype=torch.float64), std=1.0)
    y = measure(op, prior.sample(1, seed=3, dtype=torch.float64), 0.1, seed=5)
    return prior, op, y, 0.1


def test_ddnm_without_svd_does_not_amplify_noise_on_weak_directions():
    """‖mean of 2000 draws − exact posterior mean‖ with A/At only.

    Measured (seed 0): 0.84 with the Tikhonov filter; 4.56 with the former plain A⁺ (noise × 1/s on s = 0.01);
    1.84 for DDNM with the SVD (DDNM+ is biased where σ_y/s > σ', tests/test_samplers_exactness.py).
    Limit: 0.84 + 3 Monte Carlo standard errors √(tr Σ_post / N) = 0.054, i.e. 1.0.
    """
    prior, op, y, sy = weak_problem()
    post = prior.posterior(op, y, sy)
    xs = ddnm(prior, AOnly(op), y.expand(2000, -1), sigma_y=sy, seed=0)
    se = float((post.cov().trace() / 2000).sqrt())
    err = float((xs.mean(0) - post.mean()).norm())
    assert torch.isfinite(xs).all()
    assert err < 0.84 + 3 * se, err


def test_ddnm_without_svd_noiseless_is_the_exact_projection():
    """σ_y = 0: the SVD-free branch is unchanged, the result reproduces y."""
    prior, op, y, _ = weak_problem()
    xs = ddnm(prior, AOnly(op), y.expand(4, -1), sigma_y=0.0, steps=20, seed=0)
    assert float((op.A(xs) - y).norm(dim=1).max()) < 1e-6


needs_mnist = pytest.mark.skipif(not (WEIGHTS_DIR / SHIPPED["mnist"]).is_file(), reason="shipped MNIST prior absent")


@needs_mnist
def test_pigdm_step_weights_keep_the_authors_grid_and_the_guidance_per_unit_time():
    prior = load_prior("mnist")
    assert step_weights(prior, ddpm_grid(prior, 100), 100) == [1.0] * 100  # the authors' step, unchanged
    assert step_weights(prior, ddpm_grid(prior, 20), 100) == [1.0] * 20  # coarser: capped at 1
    ref = (prior.schedule.T - 1) // 99
    for steps, top in ((1000, None), (100, 0.5), (50, 1.0)):
        sig = ddpm_grid(prior, steps, top)
        t = prior.schedule.sigma_to_t(sig[:-1])
        w = step_weights(prior, sig, 100)
        span = float(t[0] - t[-1]) + float(t[-2] - t[-1])  # the last step takes the span before it
        # finer than the reference: the weights add up to the reference steps the grid covers
        assert abs(sum(w) - span / ref) < 1e-9, (steps, top, sum(w), span / ref)
    assert step_weights(prior, ddpm_grid(prior, 100), None) == [1.0] * 100
    bare = GaussianMixturePrior(torch.zeros(1, 2, dtype=torch.float64))  # no VP schedule: unit weights
    assert step_weights(bare, ddpm_grid(bare, 300), 100) == [1.0] * 300
