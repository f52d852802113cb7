"""The shared posterior head: input checks, divergence guard, offsets and warm starts."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import invdiff
import operators
from invdiff.prior import GaussianMixturePrior
from invdiff.samplers import POSTERIOR, DivergenceError
from invdiff.samplers.common import default_sigmas

SMALL = {"daps": dict(steps=3, ode_steps=1, langevin_steps=3)}


def image_prior():
    g = torch.Generator().manual_seed(0)
    return GaussianMixturePrior(0.5 * torch.randn(3, 1, 8, 8, generator=g, dtype=torch.float64), std=0.2)


def problem(batch=3, name="inpaint_random", offset=0):
    prior = image_prior()
    op = operators.build(name, (1, 8, 8), batch=batch, seed=0, offset=offset, dtype=torch.float64)
    x = prior.sample(batch, seed=1, dtype=torch.float64)
    return prior, op, operators.measure(op, x, 0.05, seed=2)


def run(name, prior, op, y, **kw):
    return POSTERIOR[name](prior, op, y, sigma_y=0.05, **{"steps": 4, **SMALL.get(name, {}), **kw})


# ---------------------------------------------------------------- bad inputs, for every sampler
BAD = [
    ("channels-last", lambda y: y.permute(0, 2, 3, 1), ValueError, "channels-last"),
    ("no batch dim", lambda y: y[0], ValueError, "no batch dimension"),
    ("uint8", lambda y: (y * 100).to(torch.uint8), TypeError, "integer dtype"),
    ("wrong batch", lambda y: y[:2], ValueError, "per-sample parameters"),
    ("empty", lambda y: y[:0], ValueError, "empty batch"),
    ("NaN", lambda y: y.clone().index_put_((torch.tensor([0]),), torch.tensor(float("nan"), dtype=y.dtype)),
     ValueError, "NaN"),
    ("complex for a real operator", lambda y: y.to(torch.complex128), TypeError, "complex"),
]  # fmt: skip


@pytest.mark.parametrize("name", list(POSTERIOR))
@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_measurement_is_refused_before_work(name, case):
    _, make, exc, phrase = case
    prior, op, y = problem()
    prior.nfe = 0
    with pytest.raises(exc, match=phrase):
        run(name, prior, op, make(y))
    assert prior.nfe == 0  # refused before any network call


@pytest.mark.parametrize("name", list(POSTERIOR))
def test_operator_for_another_image_size(name):
    prior, _, _ = problem()
    op = operators.build("inpaint_random", (1, 16, 16), batch=1, seed=0)
    y = op.A(torch.zeros(1, 1, 16, 16))
    with pytest.raises(ValueError, match="prior on"):
        run(name, prior, op, y)


@pytest.mark.parametrize("task", ["inpaint_random", "gaussian_blur", "sr_bicubic"])
@pytest.mark.parametrize("hi, phrase", [(255.0, "0, 255"), (1.0, "0, 1"), (None, None)])
def test_data_out_of_the_prior_range_warns(task, hi, phrase):
    from invdiff.data import mnist

    prior = invdiff.load_prior("mnist")
    x = mnist("test")[:2]
    x = x if hi is None else (x + 1) / 2 * hi  # digits in [0, 255] or [0, 1] instead of [-1, 1]
    op = operators.build(task, (1, 28, 28), batch=2, seed=0)
    y = operators.measure(op, x, 0.05, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        invdiff.solve(y, op, prior, method="ddrm", sigma_y=0.05, steps=2)
    ranges = [str(w.message) for w in caught if "data range" in str(w.message)]
    assert (phrase in ranges[0]) if phrase else not ranges, ranges


def test_shape_is_checked_for_an_operator_without_output_shape():
    prior = image_prior()
    op = operators.from_callables(lambda x: 0.5 * x, input_shape=(1, 8, 8))
    y = op.A(prior.sample(2, seed=1))
    with pytest.raises(ValueError, match=r"y has shape \(8, 8\) but the operator measures \(B, 1, 8, 8\)"):
        run("dps", prior, op, y[0, 0])  # a 2-D y would otherwise be a batch of 8


@pytest.mark.parametrize("name", ["ddrm", "dps"])
def test_prior_and_seed_are_checked(name):
    prior, op, y = problem()
    with pytest.raises(TypeError, match=r"prior must be a prior object.*invdiff.load_prior\('mnist'\)"):
        run(name, "mnist", op, y)
    with pytest.raises(ValueError, match="seed must be a non-negative int, got 1.5"):
        run(name, prior, op, y, seed=1.5)


def test_unconditional_shape_is_checked_against_the_prior():
    from invdiff.samplers import ddim

    with pytest.raises(ValueError, match=r"the prior makes images of shape \(B, 1, 8, 8\)"):
        ddim(image_prior(), (2, 1, 16, 16), steps=2)


class NaNPrior(GaussianMixturePrior):
    """A prior whose network returns NaN (as a checkpoint with NaN weights does)."""

    def eps(self, x, sigma):
        return x * float("nan")

    def x0(self, x, sigma):
        return x * float("nan")


@pytest.mark.parametrize("name", list(POSTERIOR))
def test_divergence_is_named(name):
    prior, op, y = problem()
    bad = NaNPrior(prior.means, std=0.2)
    with pytest.raises(DivergenceError, match=rf"{name} diverged at step \d+ \(σ = "):
        run(name, bad, op, y)


# ---------------------------------------------------------------- offsets
@pytest.mark.parametrize("name", list(POSTERIOR))
def test_offset_makes_image_i_alone_equal_image_i_of_the_batch(name):
    prior, op, y = problem(batch=3)
    full = run(name, prior, op, y, seed=5)
    _, op2, _ = problem(batch=1, offset=2)
    alone = run(name, prior, op2, y[2:3], seed=5, offset=2)
    assert torch.allclose(alone, full[2:3], rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------- warm starts
@pytest.mark.parametrize("name", list(POSTERIOR))
def test_cold_start_at_sigma_max_is_the_default_grid(name):
    """start="noise" with σ0 = σ_max is bit-identical to the cold default (exact priors start cold)."""
    prior, op, y = problem()
    top = float(default_sigmas(prior, 4)[0]) if name != "daps" else 100.0
    cold = "tikhonov" if name == "reddiff" else "noise"  # RED-diff's cold start is μ = Tikhonov inverse
    a = run(name, prior, op, y, seed=3)
    b = run(name, prior, op, y, seed=3, start=cold, sigma_start=top)
    assert torch.equal(a, b)


def test_warm_start_from_the_posterior_mean_is_unbiased():
    """DDRM on an exact Gaussian posterior, warm-started at σ0 = 0.2 from the exact posterior mean.

    At σ0 the state x_init + σ0 z differs from a draw of p(x_σ0 | y) only by the posterior spread
    the start lacks, which the reverse steps restore; the mean is unbiased. Tolerance: 4 Monte
    Carlo standard errors of the mean of N draws, √(tr Σ_post / N), plus the cold sampler's own
    measured bias on this problem (discretisation; 0.003 measured at 20 steps).
    """
    g = torch.Generator().manual_seed(0)
    prior = GaussianMixturePrior(torch.zeros(1, 6, dtype=torch.float64))
    op = operators.Matrix(torch.randn(3, 6, generator=g, dtype=torch.float64) / 2)
    x = prior.sample(1, seed=1, dtype=torch.float64)
    y = operators.measure(op, x, 0.1, seed=2)
    post = prior.posterior(op, y, 0.1)
    N = 4000
    ys = y.expand(N, -1)
    warm = POSTERIOR["ddrm"](prior, op, ys, sigma_y=0.1, steps=20, start=post.mean().reshape(1, -1), sigma_start=0.2)
    se = math.sqrt(float(post.cov().trace()) / N)
    err = float((warm.mean(0) - post.mean().flatten()).norm())
    assert err < 4 * se + 0.003, (err, se)


@pytest.mark.parametrize("name", ["ddrm", "ddnm", "diffpir"])
def test_warm_start_beats_cold_start_on_mnist_at_nfe_10(name):
    """4 held-out digits, 70 % random inpainting, NFE 10. Measured: cold ddrm/ddnm 12.4 dB, diffpir 13.2;
    warm (biharmonic, σ0 = 0.5) 20.5 / 20.5 / 20.1: a margin of 7 dB, far above seed-to-seed spread."""
    from invdiff.data import mnist

    prior = invdiff.load_prior("mnist")
    x = mnist("test")[:4]
    op = operators.build("inpaint_random", (1, 28, 28), batch=4, seed=0, fraction=0.7)
    y = operators.measure(op, x, 0.05, seed=0)
    cold = invdiff.solve(y, op, prior, method=name, sigma_y=0.05, steps=10, start="noise")
    warm = invdiff.solve(y, op, prior, method=name, sigma_y=0.05, steps=10, start="biharmonic", sigma_start=0.5)
    p_cold, p_warm = (float(invdiff.psnr(v.clamp(-1, 1), x).mean()) for v in (cold, warm))
    assert p_warm > p_cold + 3, (p_cold, p_warm)


@pytest.mark.parametrize("opname", list(operators.OPERATORS))
def test_auto_start_picks_an_initializer_for_every_registry_operator(opname):
    """With an image prior, "auto" resolves for every registry operator (linear ones to a classical start)."""
    from invdiff.samplers.warmstart import auto_initializer

    prior = invdiff.load_prior("mnist")
    op = operators.build(opname, (3 if opname == "colorize" else 1, 28, 28), batch=1, seed=0)
    got = auto_initializer(prior, op)
    expected = {"inpaint_box": "biharmonic", "inpaint_random": "biharmonic", "sr_avg": "bicubic",
                "sr_bicubic": "bicubic", "gaussian_blur": "wiener", "uniform_blur": "wiener", "motion_blur": "wiener",
                "gaussian_blur_reflect": "wiener", "phase_retrieval": "noise"}  # fmt: skip
    assert got == expected.get(opname, "tikhonov")


def test_daps_warm_start_below_its_sigma_min():
    """DAPS's annealing grid ends at sigma_min (0.01); a warm start at σ0 <= sigma_min anneals from σ0 towards
    σ0/2 (the first ``steps`` of ``steps + 1`` levels; it raised "need 0 < sigma_min < sigma_max")."""
    prior, op, y = problem()
    for s0, s_min in ((0.01, None), (0.1, 0.1)):  # at the default sigma_min, and at the paper's 0.1
        seen, kw = [], {} if s_min is None else {"sigma_min": s_min}
        x = POSTERIOR["daps"](
            prior, op, y, sigma_y=0.05, steps=3, ode_steps=1, langevin_steps=3, start="pinv", sigma_start=s0,
            callback=lambda i, s, *_: seen.append(s), **kw,
        )  # fmt: skip
        assert bool(torch.isfinite(x).all()) and seen[0] == pytest.approx(s0) and s0 / 2 < min(seen) < s0
