"""Unconditional samplers against exact answers.

- On the 25-mode Gaussian mixture: sliced Wasserstein to exact samples within 2× the
  distance between two independent exact sets (the floor).
- On a Gaussian prior every sampler is a linear recursion, so the output variance
  (or, for deterministic samplers, the exact gain from start noise to sample) is
  known in closed form for the discretised sampler: checked to float precision.
- Known identities: DDPM = DDIM(η=1); gradient estimation with γ=1 is DDIM (μ=0)
  and DDPM (μ=½); per-sample seeding; callback and NFE bookkeeping.
"""

import inspect
import math

import pytest
import torch
from conftest import ExactVPNet

from invdiff.exact import sliced_wasserstein
from invdiff.prior import EpsPrior, GaussianMixturePrior
from invdiff.samplers import UNCONDITIONAL
from invdiff.samplers.common import default_sigmas
from invdiff.schedule import VPSchedule, ddpm_sigmas, karras_sigmas, pairwise

N_SW = 2000
# The 8-spaced grid has a spread of ~11 in its first two coordinates; starting from σ_max·z with
# EDM's σ_max = 80 misses that spread by ~1 % and deterministic samplers carry the error to the end,
# so these tests start at σ_max = 500 (then σ_max·z matches p_σmax to 0.03 %).
SIGMA_MAX = 500.0
SW_CASES = [
    ("ddpm", {"steps": 200}),
    ("ddim", {"steps": 100}),
    ("ddim", {"steps": 100, "eta": 0.5}),
    ("heun", {"steps": 30}),
    ("gradient_estimation", {"steps": 50}),
]


def grid(name, steps):
    return karras_sigmas(steps, 0.002, SIGMA_MAX)


@pytest.fixture(scope="module")
def exact_sets(gmm25):
    """A reference set and the floor: mean SW between it and 4 more independent exact sets."""
    ref = gmm25.sample(N_SW, seed=101)
    floors = [sliced_wasserstein(gmm25.sample(N_SW, seed=s), ref, projections=200, seed=0) for s in range(102, 106)]
    return ref, sum(floors) / len(floors)


def test_registry():
    assert set(UNCONDITIONAL) == {"ddpm", "ddim", "heun", "gradient_estimation"}
    for f in UNCONDITIONAL.values():
        params = inspect.signature(f).parameters
        assert list(params)[:2] == ["prior", "shape"]
        assert {"steps", "seed", "sigmas", "callback", "device", "dtype"} <= set(params)
        assert all(p.kind is p.KEYWORD_ONLY for p in list(params.values())[2:])
        assert f.default_steps == params["steps"].default >= 1


@pytest.mark.parametrize(
    "name,kw", SW_CASES, ids=[f"{n}-{'-'.join(f'{k}{v}' for k, v in kw.items())}" for n, kw in SW_CASES]
)
def test_sliced_wasserstein_to_exact_mixture(name, kw, gmm25, exact_sets):
    ref, floor = exact_sets
    kw = dict(kw)
    x = UNCONDITIONAL[name](gmm25, (N_SW, 8), sigmas=grid(name, kw.pop("steps")), seed=7, **kw)
    assert x.shape == (N_SW, 8) and x.dtype == torch.float32 and torch.isfinite(x).all()
    sw = sliced_wasserstein(x, ref, projections=200, seed=0)
    print(f"{name} {kw}: SW {sw:.4f}, floor {floor:.4f}, ratio {sw / floor:.2f}")
    assert sw < 2 * floor


def test_gradient_estimation_beats_ddim_at_equal_steps(gmm25, exact_sets):
    """The paper's claim (Permenter & Yuan 2024, §5): momentum γ = 2 reduces the error of DDIM (γ = 1)."""
    ref, _ = exact_sets
    sg = grid("ddim", 20)
    ge = UNCONDITIONAL["gradient_estimation"](gmm25, (N_SW, 8), sigmas=sg, seed=7)
    dd = UNCONDITIONAL["ddim"](gmm25, (N_SW, 8), sigmas=sg, seed=7)
    assert sliced_wasserstein(ge, ref, 200, seed=0) < sliced_wasserstein(dd, ref, 200, seed=0)
    # in the Gaussian directions DDIM contracts (std < 1) and the momentum sampler undoes most of it
    assert abs(float(ge[:, 2:].std()) - 1) < abs(float(dd[:, 2:].std()) - 1)


# ---- exact linear recursions on a Gaussian prior N(0, v I) ----------------------------------
V = 0.25


def _k(s):  # x̂0 = k·x for the Gaussian prior
    return V / (V + s * s)


def gain_ddim0(sigmas):
    a = float(sigmas[0])
    for s, t in pairwise(sigmas):
        a *= _k(s) + (t / s) * (1 - _k(s))
    return a


def gain_heun(sigmas):
    a = float(sigmas[0])
    d = lambda x, s: x * (1 - _k(s)) / s  # noqa: E731
    for s, t in pairwise(sigmas):
        e = a + (t - s) * d(a, s)
        a = _k(s) * a if t == 0 else a + (t - s) * 0.5 * (d(a, s) + d(e, t))
    return a


def var_ge(sigmas, gam, mu):
    """Covariance recursion of (x, x_prev) for gradient estimation (ε̂ = x (1 − k)/σ)."""
    vx, vp, c, prev_s = float(sigmas[0]) ** 2, 0.0, 0.0, None
    for i, (s, t) in enumerate(pairwise(sigmas)):
        sp = (t / s**mu) ** (1 / (1 - mu))
        ge = (1 - _k(s)) / s
        alpha = 1 - (s - sp) * (ge if i == 0 else gam * ge)
        beta = 0.0 if i == 0 else -(s - sp) * (1 - gam) * (1 - _k(prev_s)) / prev_s
        noise = max(t * t - sp * sp, 0.0)
        vx, vp, c = alpha**2 * vx + beta**2 * vp + 2 * alpha * beta * c + noise, vx, alpha * vx + beta * c
        prev_s = s
    return vx


def var_ddim(sigmas, eta):
    var = float(sigmas[0]) ** 2
    for s, t in pairwise(sigmas):
        c = eta * t * math.sqrt(1 - (t / s) ** 2)
        a = _k(s) + math.sqrt(t * t - c * c) / s * (1 - _k(s))
        var = a * a * var + c * c
    return var


@pytest.fixture(scope="module")
def gauss():
    return GaussianMixturePrior(torch.zeros(1, 8, dtype=torch.float64), std=math.sqrt(V))


@pytest.mark.parametrize(
    "name,kw,gain",
    [
        ("ddim", {"steps": 12}, gain_ddim0),
        ("heun", {"steps": 8}, gain_heun),
        ("gradient_estimation", {"steps": 10}, lambda sg: math.sqrt(var_ge(sg, 2.0, 0.0))),
        ("gradient_estimation", {"steps": 10, "gam": 1.5}, lambda sg: math.sqrt(var_ge(sg, 1.5, 0.0))),
    ],
)
def test_deterministic_gain_on_gaussian(name, kw, gain, gauss):
    """Deterministic samplers map start noise z to (exact gain)·z on a Gaussian prior."""
    sigmas = karras_sigmas(kw["steps"], 0.002, 80.0) if name == "heun" else default_sigmas(gauss, kw["steps"])
    seen = {}
    x = UNCONDITIONAL[name](
        gauss,
        (16, 8),
        seed=3,
        dtype=torch.float64,
        callback=lambda i, s, xs, x0: seen.setdefault("z", xs / s) if i == 0 else None,
        **kw,
    )
    torch.testing.assert_close(x, gain(sigmas) * seen["z"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "name,kw,var",
    [
        ("ddpm", {"steps": 15}, lambda sg: var_ddim(sg, 1.0)),
        ("ddim", {"steps": 15, "eta": 0.5}, lambda sg: var_ddim(sg, 0.5)),
        ("gradient_estimation", {"steps": 15, "mu": 0.3}, lambda sg: var_ge(sg, 2.0, 0.3)),
    ],
)
def test_stochastic_variance_on_gaussian(name, kw, var, gauss):
    x = UNCONDITIONAL[name](gauss, (4000, 8), seed=4, dtype=torch.float64, **kw)
    expected = var(default_sigmas(gauss, kw["steps"]))
    emp = float(x.var())
    assert abs(emp / expected - 1) < 0.03, (emp, expected)  # 32000 values: 1 s.e. of a variance ≈ 0.8 %
    assert abs(expected / V - 1) > 0.03 or name == "ddpm"  # the discretised value is what is being tested
    assert abs(float(x.mean())) < 4 * math.sqrt(expected / x.numel())


# ---- identities between samplers ----------------------------------------------------------
def test_ddpm_is_ddim_eta_one(gmm25):
    a = UNCONDITIONAL["ddpm"](gmm25, (32, 8), steps=25, seed=1, dtype=torch.float64)
    b = UNCONDITIONAL["ddim"](gmm25, (32, 8), steps=25, eta=1.0, seed=1, dtype=torch.float64)
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mu,other", [(0.0, ("ddim", {"eta": 0.0})), (0.5, ("ddpm", {}))])
def test_gradient_estimation_without_momentum(mu, other, gmm25):
    a = UNCONDITIONAL["gradient_estimation"](gmm25, (32, 8), steps=25, gam=1.0, mu=mu, seed=2, dtype=torch.float64)
    b = UNCONDITIONAL[other[0]](gmm25, (32, 8), steps=25, seed=2, dtype=torch.float64, **other[1])
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


# ---- head: seeding, callback, grids, NFE, VP priors ----------------------------------------
@pytest.mark.parametrize("name", sorted(UNCONDITIONAL))
def test_per_sample_seeding(name, gmm25):
    f = UNCONDITIONAL[name]
    x8 = f(gmm25, (8, 8), steps=10, seed=5)
    x1 = f(gmm25, (1, 8), steps=10, seed=5)
    x3 = f(gmm25, (3, 8), steps=10, seed=5)
    torch.testing.assert_close(x8[:1], x1, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x8[:3], x3, rtol=1e-5, atol=1e-5)
    assert (x8[1:] - x8[:1]).abs().amax(1).min() > 1e-2  # rows differ from each other
    other = f(gmm25, (8, 8), steps=10, seed=6)
    assert (other - x8).abs().amax(1).min() > 1e-2  # and from another seed


@pytest.mark.parametrize("name", sorted(UNCONDITIONAL))
def test_callback_nfe_and_custom_grid(name, gmm25):
    sigmas = torch.tensor([20.0, 5.0, 1.0, 0.2, 0.0], dtype=torch.float64)
    log = []
    gmm25.nfe = 0

    def cb(i, s, x, x0):
        log.append((i, s))
        torch.testing.assert_close(x0, gmm25.x0(x, s))

    x = UNCONDITIONAL[name](gmm25, (4, 8), sigmas=sigmas, seed=0, callback=cb)
    assert [i for i, _ in log] == [0, 1, 2, 3]
    assert [s for _, s in log] == [20.0, 5.0, 1.0, 0.2]
    calls = 2 * 4 - 1 if name == "heun" else 4
    assert gmm25.nfe == calls + 4  # + the callback's own check
    assert torch.isfinite(x).all()
    with pytest.raises(ValueError):
        UNCONDITIONAL[name](gmm25, (4, 8), sigmas=torch.tensor([5.0, 1.0]))  # does not end in 0
    with pytest.raises(ValueError):
        UNCONDITIONAL[name](gmm25, (4, 8), sigmas=torch.tensor([1.0, 5.0, 0.0]))  # not decreasing


@pytest.mark.parametrize("name", ["ddpm", "ddim"])
def test_last_step_returns_x0_hat(name, gmm25):
    seen = {}

    def cb(i, s, x, x0):
        seen["x0"] = x0

    x = UNCONDITIONAL[name](gmm25, (4, 8), steps=6, seed=0, callback=cb)
    torch.testing.assert_close(x, seen["x0"])


@pytest.mark.parametrize("name", sorted(UNCONDITIONAL))
def test_vp_prior_matches_exact_prior_on_same_grid(name, gmm25):
    """Through EpsPrior (VP network form) every sampler gives what it gives on the exact VE prior;
    the default grid of a VP prior is the DDPM one (EDM's for heun)."""
    sched = VPSchedule.linear()
    vp = EpsPrior(ExactVPNet(gmm25, sched, "eps"), sched)
    grid = ddpm_sigmas(sched, 10) if name != "heun" else karras_sigmas(10, sched.sigma_min, sched.sigma_max)
    a = UNCONDITIONAL[name](vp, (4, 8), steps=10, seed=9, dtype=torch.float64)
    b = UNCONDITIONAL[name](gmm25, (4, 8), sigmas=grid, seed=9, dtype=torch.float64)
    torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-7)
