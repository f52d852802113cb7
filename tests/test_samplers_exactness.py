"""Every posterior sampler of the registry against exact posteriors, with derived limits.

TABLE has one row per sampler of ``invdiff.samplers.POSTERIOR`` (``test_table_covers_registry`` fails for a
sampler without one); each row holds the sampler's settings and its measured values, from which the limits
follow.  Two problems (tests/exact_problems.py), both with a ``Matrix`` operator (A, Aᵀ and an SVD):

1. ``gaussian_problem``: N(m, I) in d = 8, A 4×8 with singular values (1, 0.8, 0.5, 0.3), σ_y = 0.2.  Statistic:
   e = ‖mean of N = 1000 samples − exact posterior mean‖, in all of x and in the measured directions
   (the row space of A, where the measurement acts and the posterior variance is small).
   Floor: an exact sampler's e is Monte Carlo error alone, E e² = tr Σ_post / N, i.e. the standard error
   SE = √(tr Σ_post / N) = 0.0674 (0.0233 in the measured directions).  For a sampler with bias b (E mean −
   exact mean) and covariance C, E e² = ‖b‖² + tr C / N: the printed bias is √(e² − tr C / N).
   Limit = measured + K·SE, K = 3, with SE = max(√(tr Σ_post / N), √(tr C / N)).  The margin is
   conservative: over seeds 0–4 e varies by 0.004–0.03 (0.000–0.01 in the measured directions).
2. ``mcgdiff_problem``: MCGdiff's 25-mode mixture in d = 8, d_y = 2, σ_y = 0.094; the posterior is one of the
   prior's modes (weight 1 − 5e-7).  Statistic: sliced Wasserstein distance SW between N = 500 samples and a
   reference set of 500 exact posterior samples (seed 1).  Floor: SW between the reference and 8 further exact
   sets of 500 (seeds 2–9): 0.0917 ± 0.0066 (mean ± sd).  The sd of the sampler's own SW over seeds 0–4 is
   ``sw_se``; for a biased sampler it exceeds the exact-vs-exact spread (a sample in a wrong mode moves SW a
   lot), so limit = measured + K·max(floor sd, sw_se).  Printed bias: √(SW² − floor²).

A row whose measured value exceeds what MC error allows (e > K·SE in all of x or in the measured directions,
or SW > floor + K·floor sd) must say why in ``bias``; ``test_a_wrong_sampler_fails`` shows both checks failing
for a sampler that ignores y.  Re-derive a row with ``python tests/test_samplers_exactness.py NAME`` (it
prints seed 0 and the spread over seeds 0–4).  Measured on x86_64, torch CPU, float64, one thread:

| sampler | settings | e: measured / SE / limit | e, measured directions | SW: measured / floor / SE / limit |
|---|---|---|---|---|
| dps | 200 steps | 0.210 / 0.067 / 0.412 | 0.195 / 0.023 / 0.265 | 0.438 / 0.092 / 0.198 / 1.032 |
| pigdm | guidance="tweedie" | 0.043 / 0.067 / 0.245 | 0.008 / 0.023 / 0.078 | 0.106 / 0.092 / 0.010 / 0.136 |
| ddrm | defaults (20 steps) | 0.059 / 0.067 / 0.261 | 0.052 / 0.023 / 0.122 | 4.587 / 0.092 / 0.061 / 4.768 |
| ddnm | defaults (100 steps) | 0.177 / 0.067 / 0.380 | 0.170 / 0.023 / 0.240 | 4.220 / 0.092 / 0.075 / 4.446 |
| diffpir | defaults (100 steps) | 0.034 / 0.067 / 0.236 | 0.018 / 0.023 / 0.088 | 5.214 / 0.092 / 0.097 / 5.505 |
| reddiff | 200 steps | 0.325 / 0.067 / 0.527 | 0.323 / 0.023 / 0.393 | 1.374 / 0.092 / 0.007 / 1.394 |
| daps | 50 levels, 50 Langevin | 0.125 / 0.068 / 0.328 | 0.090 / 0.025 / 0.166 | 4.408 / 0.092 / 0.070 / 4.619 |
| mcgdiff | K = 64, 100 steps | 0.062 / 0.067 / 0.264 | 0.013 / 0.023 / 0.083 | 0.236 / 0.092 / 0.045 / 0.370 |
| tds | defaults (K = 16, 100 steps) | 0.097 / 0.067 / 0.299 | 0.068 / 0.024 / 0.140 | 0.103 / 0.092 / 0.011 / 0.134 |

(SE: the larger of the exact and the sampler's MC standard error.)  Steps are reduced from the defaults of dps,
reddiff (1000) and daps (200 levels, 100 Langevin steps; lr 1e-2 for 50 of them) to keep the file under a minute
on one core; pigdm runs its exact Tweedie weight (its default, the authors' step, is measured in
tests/test_samplers_gradient.py::test_pigdm_default_guidance).
"""

from __future__ import annotations

import functools
import math
import statistics
import sys
import time
from dataclasses import dataclass, field

import pytest
import torch
from exact_problems import exact_reference, gaussian_problem, mcgdiff_problem, mean_error

from invdiff.exact import sliced_wasserstein
from invdiff.samplers import POSTERIOR

K = 3  # margin of every limit, in Monte Carlo standard errors
MEAN_N = 1000  # samples for the Gaussian mean (MC standard error √(tr Σ_post / N) = 0.067, 0.023 in range(Aᵀ))
SW_N = 500  # samples for the sliced Wasserstein distance (floor 0.092 ± 0.007)
DERIVATION_SEEDS = range(5)  # the seeds `python tests/test_samplers_exactness.py` measures over; the tests use seed 0


@dataclass(frozen=True)
class Row:
    """One sampler's settings and its measured values (seed 0), from which the limits follow.

    ``mean``/``mean_range``: ‖mean − exact posterior mean‖ on :func:`gaussian_problem` (N = MEAN_N), in all
    of x and in the measured directions.  ``sw``: SW to the exact reference set on :func:`mcgdiff_problem`
    (N = SW_N); ``sw_se``: the standard deviation of the sampler's SW over DERIVATION_SEEDS.
    ``bias``: why the sampler is not exact within MC error on a problem ("" when it is).
    """

    kw: dict = field(default_factory=dict)
    mean: float = 0.0
    mean_range: float = 0.0
    sw: float = 0.0
    sw_se: float = 0.0
    bias: str = ""


MIXTURE = "on the mixture it leaves samples in modes the posterior rules out"
TABLE = {
    "dps": Row(
        dict(steps=200),
        mean=0.2097,
        mean_range=0.1946,
        sw=0.4375,
        sw_se=0.1985,
        bias="σ_y does not set the step size (ζ absorbs it) and the pull stops only once the residual is "
        "down to σ_y√m (the discrepancy principle), not at the posterior's spread: the mean is 0.21 off, all "
        "in the measured directions (0.33 without the discrepancy stop); at 200 steps some seeds leave a few "
        "samples in other modes (SW 0.095–0.48 over seeds 0–4; 0.107, 0.095 at its default 1000 steps)",
    ),
    "pigdm": Row(dict(guidance="tweedie"), mean=0.0425, mean_range=0.0083, sw=0.1059, sw_se=0.0100),
    "ddrm": Row(
        mean=0.0589,
        mean_range=0.0522,
        sw=4.5869,
        sw_se=0.0605,
        bias=f"{MIXTURE} (20 steps; 3.61 at 1000).  Its Gaussian mean is within MC error but the "
        "variance is 55 % of tr Σ_post (30 % in the measured directions), and more steps do not help: "
        "at 1000 steps the mean is 0.29 off, all in the measured directions, where the variance falls to 2 % of "
        "the posterior's",
    ),
    "ddnm": Row(
        mean=0.1774,
        mean_range=0.1696,
        sw=4.2200,
        sw_se=0.0753,
        bias=f"with an SVD it is DDRM's update (η_b = 1), biased for σ_y/s up to 0.67: the mean is 0.17 "
        f"off, all in the measured directions; {MIXTURE} (3.61 at 1000 steps)",
    ),
    "diffpir": Row(
        mean=0.0339,
        mean_range=0.0180,
        sw=5.2142,
        sw_se=0.0970,
        bias=f"exact within MC error on the Gaussian; {MIXTURE} (4.40 at 1000 steps)",
    ),
    "reddiff": Row(
        dict(steps=200),
        mean=0.3249,
        mean_range=0.3234,
        sw=1.3739,
        sw_se=0.0037,
        bias="a variational point estimate: σ_y does not enter (λ absorbs it), the mean is 0.32 off "
        "(data-consistent, as DPS) and the spread collapses to 17 % of tr Σ_post; on the mixture, at 200 "
        "steps, all samples sit in the posterior's mode but 3.6 from its mean with 10 % of its spread "
        "(at the default 1000 steps SW 5.07: the mean is 15 off, in another mode)",
    ),
    "daps": Row(
        dict(steps=50, langevin_steps=50, lr=1e-2),
        mean=0.1246,
        mean_range=0.0899,
        sw=4.4079,
        sw_se=0.0704,
        bias="the decoupled approximation (Langevin on x0 around x̂0, r_σ = σ): the mean is 0.09 off in "
        f"the measured directions (variance 1.01× tr Σ_post); {MIXTURE}",
    ),
    "mcgdiff": Row(
        dict(particles=64),
        mean=0.0618,
        mean_range=0.0132,
        sw=0.2360,
        sw_se=0.0448,
        bias="exact only as K → ∞: the posterior's mode is found by the weights alone, so at K = 64 some runs "
        "keep particles outside it (SW 0.11–0.24 over seeds 0–4; 1.60 at K = 16; within 1.5× the floor at "
        "K = 256, tests/test_samplers_smc.py).  On the Gaussian the mean is exact within MC error",
    ),
    "tds": Row(
        mean=0.0970,
        mean_range=0.0683,
        sw=0.1028,
        sw_se=0.0105,
        bias="at its default K = 16 the twist's Gaussian approximation is only partly corrected by the "
        "weights: the mean is 0.07 off in the measured directions (0.071 ± 0.012 over seeds 0–4, MC SE "
        "0.023); on the mixture it is at the floor",
    ),
}


# ---------------------------------------------------------------- the machinery
@functools.lru_cache(maxsize=None)
def gaussian():
    prior, op, y, sy = gaussian_problem()
    return prior, op, y, sy, prior.posterior(op, y, sy)


@functools.lru_cache(maxsize=None)
def gmm():
    prior, op, y, sy = mcgdiff_problem()
    post = prior.posterior(op, y, sy)
    ref, floor = exact_reference(post, SW_N)
    return prior, op, y, sy, ref, floor


def row_of(name) -> Row:
    assert name in TABLE, f"{name} has no row in TABLE: run `python tests/test_samplers_exactness.py {name}`"
    return TABLE[name]


def gaussian_stats(name, seed=0):
    """(MeanError, tr cov / tr Σ_post) of MEAN_N samples of sampler ``name`` with its row's settings."""
    row = row_of(name)
    prior, op, y, sy, post = gaussian()
    xs = POSTERIOR[name](prior, op, y.expand(MEAN_N, -1), sigma_y=sy, seed=seed, **row.kw)
    assert xs.shape == (MEAN_N, 8) and torch.isfinite(xs).all(), name
    return mean_error(xs, post, op), float(torch.cov(xs.T.double()).trace() / post.cov().trace())


def gmm_stat(name, seed=0):
    """SW between SW_N samples of sampler ``name`` (its row's settings) and the exact reference set."""
    row = row_of(name)
    prior, op, y, sy, ref, _ = gmm()
    xs = POSTERIOR[name](prior, op, y.expand(SW_N, -1), sigma_y=sy, seed=seed, **row.kw)
    assert xs.shape == ref.shape and torch.isfinite(xs).all(), name
    return sliced_wasserstein(xs, ref)


def check_table_covers_registry():
    missing, extra = set(POSTERIOR) - set(TABLE), set(TABLE) - set(POSTERIOR)
    assert not missing and not extra, (
        f"samplers without a row in TABLE: {sorted(missing)}; rows without a sampler: {sorted(extra)}; "
        "run `python tests/test_samplers_exactness.py NAME` and add the row it prints"
    )


def check_gaussian(name):
    """‖mean − exact mean‖ (all of x and the measured directions) within K MC standard errors of the row."""
    row = row_of(name)
    m, ratio = gaussian_stats(name)
    se, se_r = max(m.se, m.se_sampler), max(m.se_range, m.se_sampler_range)
    lim, lim_r = row.mean + K * se, row.mean_range + K * se_r
    print(
        f"{name}: |mean - exact| = {m.err:.4f} (limit {lim:.4f}; floor = MC SE {m.se:.4f}, "
        f"sampler's {m.se_sampler:.4f}; "
        f"bias ~ {m.bias:.4f}); measured directions {m.err_range:.4f} (limit {lim_r:.4f}; MC SE {m.se_range:.4f}, "
        f"sampler's {m.se_sampler_range:.4f}; bias ~ {m.bias_range:.4f}); tr cov / tr Σ_post = {ratio:.3f}"
    )
    assert m.err < lim and m.err_range < lim_r, f"{name}: Gaussian mean error above its limit"
    exact = row.mean <= K * m.se and row.mean_range <= K * m.se_range
    assert exact or row.bias, f"{name}: its row's Gaussian mean error is not MC error; say why in its row's bias"


def check_gmm(name):
    """SW(samples, exact reference) within K standard errors of the row's measured value."""
    row = row_of(name)
    *_, floor = gmm()
    sw = gmm_stat(name)
    se = max(floor.se, row.sw_se)
    lim = row.sw + K * se
    print(
        f"{name}: SW = {sw:.3f} (limit {lim:.3f}); floor {floor.mean:.3f} ± {floor.se:.3f}, "
        f"sampler's SE {row.sw_se:.3f}; "
        f"bias ~ {math.sqrt(max(sw**2 - floor.mean**2, 0)):.3f}"
    )
    assert math.isfinite(sw) and sw < lim, f"{name}: SW above its limit"
    assert row.sw <= floor.mean + K * floor.se or row.bias, (
        f"{name}: its row's SW is above the exact-vs-exact floor; say why in its row's bias"
    )


# ---------------------------------------------------------------- the tests
def test_table_covers_registry():
    check_table_covers_registry()


@pytest.mark.parametrize("name", sorted(POSTERIOR))
def test_gaussian_posterior_mean(name):
    check_gaussian(name)


@pytest.mark.parametrize("name", sorted(POSTERIOR))
def test_gmm_sliced_wasserstein(name):
    check_gmm(name)


# ---------------------------------------------------------------- adding a sampler
def test_a_new_sampler_needs_a_row_and_then_passes(monkeypatch):
    """A sampler added to the registry (here an exact-posterior oracle, written in this test as a sampler file
    would be) fails the table check until it has a row; with its row the exactness checks run on it and pass."""
    from invdiff.rng import sample_seed

    def oracle(
        prior,
        op,
        y,
        *,
        sigma_y,
        steps=1,
        seed=0,
        callback=None,
        sigmas=None,
        x_shape=None,
        offset=0,
        start="noise",
        sigma_start=None,
    ):
        """Exact posterior samples of a GaussianMixturePrior: sample i from seed (seed, offset + i)."""
        posts = {}
        out = []
        for i, yi in enumerate(y):
            key = tuple(yi.flatten().tolist())
            if key not in posts:
                posts[key] = prior.posterior(op, yi[None], sigma_y)
            out.append(posts[key].sample(1, seed=sample_seed(seed, offset + i), dtype=torch.float64)[0])
        return torch.stack(out).to(y)

    oracle.needs, oracle.default_steps = "linear", 1
    monkeypatch.setitem(POSTERIOR, "oracle", oracle)
    with pytest.raises(AssertionError, match="oracle"):
        check_table_covers_registry()
    monkeypatch.setitem(TABLE, "oracle", ORACLE_ROW)
    check_table_covers_registry()
    check_gaussian("oracle")
    check_gmm("oracle")


def test_a_wrong_sampler_fails(monkeypatch):
    """DDIM without guidance (it samples the prior, ignoring y) registered as a posterior sampler: with a row that
    claims exactness it fails both exactness checks; with its measured values but no reason for its bias it fails
    the bias check."""
    from invdiff.samplers import ddim

    def prior_only(
        prior,
        op,
        y,
        *,
        sigma_y,
        steps=20,
        seed=0,
        callback=None,
        sigmas=None,
        x_shape=None,
        offset=0,
        start="noise",
        sigma_start=None,
    ):
        return ddim(prior, (y.shape[0], *prior.shape), steps=steps, eta=1.0, seed=seed, dtype=y.dtype)

    prior_only.needs, prior_only.default_steps = "any", 20
    monkeypatch.setitem(POSTERIOR, "prior_only", prior_only)
    monkeypatch.setitem(TABLE, "prior_only", ORACLE_ROW)
    with pytest.raises(AssertionError, match="above its limit"):
        check_gaussian("prior_only")
    with pytest.raises(AssertionError, match="above its limit"):
        check_gmm("prior_only")
    monkeypatch.setitem(TABLE, "prior_only", PRIOR_ONLY_ROW)
    with pytest.raises(AssertionError, match="say why"):
        check_gaussian("prior_only")
    with pytest.raises(AssertionError, match="say why"):
        check_gmm("prior_only")


# measured as the table's rows (seeds 0–7): the oracle is exact, e 0.066 (SE 0.067), 0.015 (0.023) in the measured
# directions, SW 0.084 (sd 0.004); DDIM without guidance samples the prior: e 1.006, 1.005, SW 11.15 (sd 0.24)
ORACLE_ROW = Row(mean=0.0664, mean_range=0.0154, sw=0.0836, sw_se=0.0044)
PRIOR_ONLY_ROW = Row(dict(steps=20), mean=1.0056, mean_range=1.0052, sw=11.1532, sw_se=0.2395)


# ---------------------------------------------------------------- the derivation
def derive(names, seeds=DERIVATION_SEEDS):
    """Measure each sampler over ``seeds`` with its row's settings and print the values its row needs."""
    *_, floor = gmm()
    print(f"floor: SW(exact, exact), N = {SW_N}, {len(floor.values)} pairs: {floor.mean:.4f} ± {floor.se:.4f}")
    for name in names:
        TABLE.setdefault(name, Row())  # a new sampler: measured at its defaults
        t = time.perf_counter()
        gs = [gaussian_stats(name, s) for s in seeds]
        sws = [gmm_stat(name, s) for s in seeds]
        m, ratio = gs[0]
        errs, errs_r = [g.err for g, _ in gs], [g.err_range for g, _ in gs]
        print(
            f"{name} {TABLE[name].kw}: mean {m.err:.4f} "
            f"(seeds: {statistics.mean(errs):.4f} ± {statistics.stdev(errs):.4f}; "
            f"MC SE {m.se:.4f}, sampler's {m.se_sampler:.4f}, bias ~ {m.bias:.4f}), "
            f"range {m.err_range:.4f} (seeds: {statistics.mean(errs_r):.4f} ± {statistics.stdev(errs_r):.4f}; "
            f"MC SE {m.se_range:.4f}, sampler's {m.se_sampler_range:.4f}, bias ~ {m.bias_range:.4f}), "
            f"tr ratio {ratio:.3f}; SW {sws[0]:.4f} "
            f"(seeds {[round(v, 3) for v in sws]}, sd {statistics.stdev(sws):.4f}) "
            f"[{time.perf_counter() - t:.0f} s]",
            flush=True,
        )
        print(
            f"    {name!r}: Row({TABLE[name].kw!r}, mean={m.err:.4f}, mean_range={m.err_range:.4f}, sw={sws[0]:.4f}, "
            f"sw_se={statistics.stdev(sws):.4f}, bias=...),  # bias: '' if exact within MC error, else why not"
        )


if __name__ == "__main__":
    derive(sys.argv[1:] or sorted(TABLE))


def test_daps_spread_matches_the_posterior():
    """DAPS's samples have the exact posterior's spread on the Gaussian problem (its row's settings).

    With the paper's five ODE steps per level and σ_min = 0.1 (ours: 1 and 0.01) the ratio tr cov / tr Σ_post
    is 1.37: x̂0 from the ODE is a sample-like point, not the mean DAPS's Gaussian N(x̂0, σ²) step assumes, and
    its spread adds to the Langevin's.  Tolerance: for N Gaussian samples Var(tr Ĉ) ≈ 2 tr(Σ²)/N, so the
    ratio's standard error is √(2 tr(Σ²)/N) / tr Σ (0.020 here); the limit is 4 of them.
    """
    prior, op, y, sy, post = gaussian()
    cov = post.cov()
    se = math.sqrt(2 * float((cov @ cov).trace()) / MEAN_N) / float(cov.trace())
    _, ratio = gaussian_stats("daps")
    assert abs(ratio - 1) <= 4 * se, f"daps: tr cov / tr Σ_post = {ratio:.3f}, limit 1 ± {4 * se:.3f}"
    kw = {**row_of("daps").kw, "ode_steps": 5, "sigma_min": 0.1}  # the paper's: this test must catch it
    xs = POSTERIOR["daps"](prior, op, y.expand(MEAN_N, -1), sigma_y=sy, seed=0, **kw)
    old = float(torch.cov(xs.T.double()).trace() / cov.trace())
    assert old - 1 > 4 * se, f"the paper's settings gave ratio {old:.3f}: this test would not catch them"
