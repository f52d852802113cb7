"""The contract every posterior sampler in ``invdiff.samplers.POSTERIOR`` keeps (tiny problems, few steps).

Reproducible per seed, per-sample randomness (image i does not depend on the batch),
capability checks with clear TypeErrors, duck-typed user operators (no base class),
input validation, the ``solve`` front door and ``posterior_stats``.
"""

from __future__ import annotations

import math

import pytest
import torch

import operators
from invdiff.api import posterior_stats, solve
from invdiff.prior import GaussianMixturePrior
from invdiff.samplers import POSTERIOR, SAMPLERS, UNCONDITIONAL, samplers_that_accept

NAMES = list(POSTERIOR)
STEPS = 4
SIGMA_Y = 0.1


class UserLinear:
    """A user's operator with only A and At (no base class): y = M x."""

    def __init__(self, M):
        self.M = M

    def A(self, x):
        return x.flatten(1) @ self.M.T.to(x)

    def At(self, y):
        return y @ self.M.to(y)


class UserSVD:
    """A user's operator with only the SVD methods (DESIGN.md layout), A = U diag(s) Vᵀ."""

    def __init__(self, M):
        U, s, Vh = torch.linalg.svd(M, full_matrices=True)
        self.Um, self.Vh, (_, d) = U, Vh, M.shape
        self.s = torch.cat([s, s.new_zeros(d - len(s))])

    def singulars(self):
        return self.s

    def Vt(self, x):
        return x @ self.Vh.T.to(x)

    def V(self, z):
        return z @ self.Vh.to(z)

    def Ut(self, y):
        u = y @ self.Um.to(y)
        return torch.cat([u, u.new_zeros(u.shape[0], len(self.s) - u.shape[1])], 1)

    def U(self, z):
        return z[:, : self.Um.shape[1]] @ self.Um.T.to(z)


class UserNonlinear:
    """Only A (nonlinear): y = |M x|."""

    def __init__(self, M):
        self.M = M

    def A(self, x):
        return (x.flatten(1) @ self.M.T.to(x)).abs()


@pytest.fixture(scope="module")
def problem():
    """3-component mixture in d = 4; M (2 × 4) with singular values 0.9 and 0.5; 4 measurements."""
    g = torch.Generator().manual_seed(0)
    prior = GaussianMixturePrior(2 * torch.randn(3, 4, generator=g, dtype=torch.float64), std=0.5)
    U, _, Vh = torch.linalg.svd(torch.randn(2, 4, generator=g, dtype=torch.float64), full_matrices=False)
    M = U @ torch.diag(torch.tensor([0.9, 0.5], dtype=torch.float64)) @ Vh
    op = operators.Matrix(M)
    y = operators.measure(op, prior.sample(4, seed=1, dtype=torch.float64), SIGMA_Y, seed=2).float()
    return prior, op, M, y


def run(name, prior, op, y, seed=0, **kw):
    return POSTERIOR[name](prior, op, y, sigma_y=SIGMA_Y, steps=STEPS, seed=seed, **kw)


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry(name):
    f = POSTERIOR[name]
    assert f.needs in {"any", "linear", "svd", "pinv", "prox"} and f.default_steps >= 1
    assert SAMPLERS[name] is f and f.__module__.endswith(name) and f.__doc__
    # operators.linalg words its TypeErrors from its own copy of the needs (it cannot import invdiff)
    assert f.needs in ("any", "linear", "svd", "pinv", "prox")


@pytest.mark.parametrize("name", NAMES)
def test_seed_batch_and_callback(name, problem):
    prior, op, _, y = problem
    calls = []
    a = run(name, prior, op, y, callback=lambda i, s, x, x0: calls.append((i, s, x.shape, x0.shape)))
    assert a.shape == (4, 4) and a.dtype == y.dtype and torch.isfinite(a).all()
    assert calls and [c[0] for c in calls] == list(range(len(calls)))
    assert all(c[2] == c[3] == (4, 4) for c in calls)
    assert torch.equal(a, run(name, prior, op, y))  # same seed, same output
    assert not torch.allclose(a, run(name, prior, op, y, seed=1))  # another seed, another output
    for n in (1, 2):  # images 0 … n−1 are the same in a batch of n as in the batch of 4
        torch.testing.assert_close(run(name, prior, op, y[:n]), a[:n], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_user_classes(name, problem):
    prior, _, M, y = problem
    caps = {"A/At": UserLinear(M), "SVD only": UserSVD(M)}
    for what, op in caps.items():
        if POSTERIOR[name].needs == "svd" and what == "A/At":
            with pytest.raises(TypeError, match="singulars"):
                run(name, prior, op, y)
            continue
        out = run(name, prior, op, y)
        assert out.shape == (4, 4) and torch.isfinite(out).all(), what
        assert name in samplers_that_accept(op)
    assert ("ddrm" in samplers_that_accept(UserLinear(M))) is False


@pytest.mark.parametrize("name", NAMES)
def test_refuses_nonlinear(name, problem):
    prior, _, M, y = problem
    pr = operators.PhaseRetrieval((1, 4, 4))
    x_shape = (1, 4, 4)
    yp = pr.A(torch.randn(1, 1, 4, 4))
    needs = POSTERIOR[name].needs
    if needs == "any":
        out = POSTERIOR[name](prior_img(), pr, yp, sigma_y=SIGMA_Y, steps=STEPS, x_shape=x_shape)
        assert torch.isfinite(out).all()
        assert torch.isfinite(run(name, prior, UserNonlinear(M), y)).all()
        return
    for op in (pr, UserNonlinear(M)):
        with pytest.raises(TypeError, match="At" if needs != "svd" else "singulars") as e:
            POSTERIOR[name](prior, op, y, sigma_y=SIGMA_Y, steps=STEPS)
        assert name in str(e.value)


def prior_img():
    g = torch.Generator().manual_seed(3)
    return GaussianMixturePrior(0.5 * torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64), std=0.3)


@pytest.mark.parametrize("name", NAMES)
def test_input_validation(name, problem):
    prior, op, _, y = problem
    bad = y.clone()
    bad[1, 0] = float("nan")
    with pytest.raises(ValueError):
        run(name, prior, op, bad)
    for s in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            POSTERIOR[name](prior, op, y, sigma_y=s, steps=STEPS)


@pytest.mark.parametrize("name", NAMES)
def test_solve_dispatch(name, problem):
    prior, op, _, y = problem
    out = solve(y, op, prior, method=name, sigma_y=SIGMA_Y, steps=STEPS, seed=3)
    assert torch.equal(out, run(name, prior, op, y, seed=3))
    with pytest.raises(TypeError, match="not_a_parameter"):
        solve(y, op, prior, method=name, sigma_y=SIGMA_Y, not_a_parameter=1)


def test_solve_unknown_method(problem):
    prior, op, _, y = problem
    with pytest.raises(ValueError, match="ddrm"):
        solve(y, op, prior, method="nope", sigma_y=SIGMA_Y)
    with pytest.raises(ValueError, match="unconditional"):
        solve(y, op, prior, method=next(iter(UNCONDITIONAL)), sigma_y=SIGMA_Y)


def test_posterior_stats_gaussian():
    """Mean and std of K = 200 draws (one measurement) against the exact Gaussian posterior.

    Standard error of the mean in norm: √(tr Σ_post / K) ≈ 0.05; measured error 0.0xx.
    """
    g = torch.Generator().manual_seed(0)
    prior = GaussianMixturePrior(torch.randn(1, 4, generator=g, dtype=torch.float64), std=1.0)
    op = operators.Matrix(torch.randn(2, 4, generator=g, dtype=torch.float64))
    y = operators.measure(op, prior.sample(1, seed=1, dtype=torch.float64), 0.3, seed=2)
    post = prior.posterior(op, y, 0.3)
    K = 200
    mean, std = posterior_stats(y.float(), op, prior, method="ddrm", samples=K, seed=0, progress=False, sigma_y=0.3)
    assert mean.shape == std.shape == (1, 4) and (std > 0).all()
    se = math.sqrt(float(post.cov().trace()) / K)
    err = float((mean[0].double() - post.mean()).norm())
    print(f"posterior_stats: |mean - exact| = {err:.4f}, standard error {se:.4f}")
    assert err < 3 * se
    # draw k does not depend on how many draws are taken
    m2, _ = posterior_stats(y.float(), op, prior, method="ddrm", samples=2, seed=0, progress=False, sigma_y=0.3)
    m1, _ = posterior_stats(y.float(), op, prior, method="ddrm", samples=1, seed=0, progress=False, sigma_y=0.3)
    first = POSTERIOR["ddrm"](prior, op, y.float(), sigma_y=0.3, seed=int(_draw_seed(0, 0)))
    assert torch.equal(m1, first) and not torch.equal(m1, m2)


def _draw_seed(seed, k):
    from invdiff.rng import sample_seed

    return sample_seed(seed, k)


@pytest.fixture(scope="module")
def image_prior():
    g = torch.Generator().manual_seed(0)
    return GaussianMixturePrior(0.5 * torch.randn(3, 3, 8, 8, generator=g, dtype=torch.float64), std=0.2)


@pytest.mark.parametrize("opname", list(operators.OPERATORS))
def test_every_registry_operator(opname, image_prior):
    """Each sampler on each registry operator (3×8×8, batch 2, per-sample parameters): a sampler
    whose needs the operator meets returns finite real images; the others refuse with TypeError."""
    op = operators.build(opname, (3, 8, 8), batch=2, seed=0)
    x = image_prior.sample(2, seed=1)
    y = operators.measure(op, x, 0.05, seed=2)
    accepted = samplers_that_accept(op)
    for name, f in POSTERIOR.items():
        if name not in accepted:
            with pytest.raises(TypeError):
                f(image_prior, op, y, sigma_y=0.05, steps=3)
            continue
        out = f(image_prior, op, y, sigma_y=0.05, steps=3, seed=0)
        assert out.shape == x.shape and not out.is_complex()
        assert torch.isfinite(out).all(), f"{name} on {opname}"
