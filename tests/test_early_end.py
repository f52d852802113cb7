"""``sigma_end``: the σ grid bent to end early (invdiff/samplers/early_end.py), for every non-SMC posterior sampler."""

from __future__ import annotations

import math

import pytest
import torch
from test_sampler_head import SMALL, problem

import operators
from invdiff.prior import GaussianMixturePrior
from invdiff.samplers import POSTERIOR
from invdiff.samplers.common import SigmaEndError, default_sigmas
from invdiff.samplers.early_end import end_at

EARLY = [n for n, f in POSTERIOR.items() if not getattr(f, "weighted_population", False)]


def test_the_bent_grid_keeps_its_top_its_length_and_its_log_gap_ratios():
    prior, _, _ = problem()
    g = default_sigmas(prior, 12)
    b = end_at(g, 0.3, "t")
    assert len(b) == len(g) and b[-1] == 0 and b[0] == g[0] and b[-2] == 0.3
    assert torch.all(b[1:] < b[:-1])
    # every gap in log σ is scaled by the same α
    ratio = torch.diff(b[:-1].log()) / torch.diff(g[:-1].log())
    alpha = math.log(0.3 / float(g[0])) / math.log(float(g[-2]) / float(g[0]))
    assert torch.allclose(ratio, torch.full_like(ratio, alpha), rtol=1e-12)
    assert end_at(g, None, "t") is g


@pytest.mark.parametrize(
    "value, exc, phrase",
    [
        (100.0, SigmaEndError, "below the grid's first level"),
        (1e-4, SigmaEndError, "above the grid's last level"),
        (float("nan"), ValueError, "finite number > 0"),
        (-0.1, ValueError, "finite number > 0"),
        ("0.3", ValueError, "finite number > 0"),
        (True, ValueError, "finite number > 0"),
    ],
)
def test_a_sigma_end_outside_the_grid_is_refused(value, exc, phrase):
    prior, _, _ = problem()
    with pytest.raises(exc, match=phrase):
        end_at(default_sigmas(prior, 12), value, "t")


@pytest.mark.parametrize("name", EARLY)
def test_every_sampler_ends_at_sigma_end_with_the_same_nfe(name):
    prior, op, y = problem()
    kw = {"steps": 4, **SMALL.get(name, {})}
    seen = []
    prior.nfe = 0
    POSTERIOR[name](prior, op, y, sigma_y=0.05, callback=lambda i, s, *_: seen.append(float(s)), **kw)
    nfe, end = prior.nfe, math.sqrt(seen[-2] * seen[-1])  # between the grid's last two levels
    seen_end, prior.nfe = [], 0
    x = POSTERIOR[name](
        prior, op, y, sigma_y=0.05, sigma_end=end, callback=lambda i, s, *_: seen_end.append(float(s)), **kw
    )
    assert bool(torch.isfinite(x).all())
    assert prior.nfe == nfe and len(seen_end) == len(seen)
    assert seen_end[0] == seen[0] and seen_end[-1] == pytest.approx(end, rel=1e-12)


@pytest.mark.parametrize("name", EARLY)
def test_sigma_end_with_a_given_grid_or_above_a_warm_start_is_refused_before_work(name):
    prior, op, y = problem()
    prior.nfe = 0
    with pytest.raises(ValueError, match="sigma_end or sigmas, not both"):
        POSTERIOR[name](prior, op, y, sigma_y=0.05, sigmas=default_sigmas(prior, 4), sigma_end=0.2)
    with pytest.raises(SigmaEndError, match="below the grid's first level"):
        POSTERIOR[name](prior, op, y, sigma_y=0.05, steps=4, start="pinv", sigma_start=0.1, sigma_end=0.2)
    assert prior.nfe == 0


def test_an_early_end_returns_tweedies_estimate_at_sigma_end_made_consistent_with_y():
    """DPS with ζ = 0 is DDPM on the prior.  On a Gaussian prior N(0, v I), ending at σ_e gives
    x̂0 = E[x0 | x_σe] = v/(v + σ_e²)·x_σe with x_σe ~ N(0, (v + σ_e²) I): per-coordinate variance
    v²/(v + σ_e²), 0.5 v at σ_e = √v, against v for the full grid.  The two measured coordinates
    (y = 0) are then ΠGDM's mean (r² ȳ + σ_y² x̂0)/(r² + σ_y²), r² = σ_e²/(1 + σ_e²): x̂0 scaled by
    σ_y²/(r² + σ_y²), so their variance is that factor squared times v²/(v + σ_e²).

    N = 4000 draws × 2 coordinates per group: the standard error of a variance estimate is about
    var·√(2/8000) = 1.6 % of it.  The DDPM discretisation error at 500 steps, measured on this
    problem, is 2.4 % (full grid, asserted at 5 %) and 0.7 % (early end), so a 5 % tolerance
    holds with room; it would miss a wrong level (σ_e off by 10 % moves the target by ~5 %), the
    state x_σe returned instead of x̂0 (variance 2v), or a skipped or wrong final step (factor 1).
    """
    v, se, sy = 0.25, 0.5, 0.1
    prior = GaussianMixturePrior(torch.zeros(1, 4, dtype=torch.float64), std=math.sqrt(v))
    op = operators.Matrix(torch.eye(2, 4, dtype=torch.float64))
    y = torch.zeros(4000, 2, dtype=torch.float64)
    run = dict(sigma_y=sy, steps=500, zeta=0.0, start="noise")
    full = POSTERIOR["dps"](prior, op, y, **run)
    early = POSTERIOR["dps"](prior, op, y, sigma_end=se, **run)
    tweedie_var = v * v / (v + se * se)
    r2 = se * se / (1 + se * se)
    assert float(full[:, 2:].var(0).mean()) == pytest.approx(v, rel=0.05)
    assert float(early[:, 2:].var(0).mean()) == pytest.approx(tweedie_var, rel=0.05)
    assert float(early[:, :2].var(0).mean()) == pytest.approx((sy**2 / (r2 + sy**2)) ** 2 * tweedie_var, rel=0.05)
    assert float(early.mean(0).abs().max()) < 4 * math.sqrt(tweedie_var / 4000)


def test_tune_prunes_a_trial_whose_sigma_end_lies_above_its_sigma_start():
    """A search draws sigma_end and sigma_start independently; a pair with σ_end ≥ σ0 has no grid, so
    the trial is pruned (recorded as such) instead of ending the search, and no network call is made."""
    import optuna

    from invdiff.tune import Cell
    from invdiff.tune.objective import Objective

    prior, _, _ = problem()
    ob = Objective(Cell("mnist", "inpaint_box", "dps", 4), prior, n_images=1, batch_size=1)
    study = optuna.create_study(direction="maximize")
    bad = {"zeta": 0.5, "discrepancy": 1.0, "temperature": 1.0, "start": "auto", "sigma_start": 0.1, "sigma_end": 0.3}
    study.enqueue_trial(bad)
    prior.nfe = 0
    study.optimize(ob, n_trials=1)
    (t,) = study.trials
    assert t.state == optuna.trial.TrialState.PRUNED and t.user_attrs["invalid"] == "sigma_end >= sigma_start"
    assert prior.nfe == 0
    with pytest.raises(SigmaEndError):  # outside a search the error reaches the caller
        ob.evaluate(ob.params(optuna.trial.FixedTrial(bad)))
