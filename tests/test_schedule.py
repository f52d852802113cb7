"""VP tables, σ <-> t maps and σ grids, checked against closed forms."""

import math

import pytest
import torch

from invdiff.schedule import VPSchedule, alpha_bar_from_sigma, ddpm_sigmas, karras_sigmas, pairwise


def test_linear_alpha_bar_matches_product_formula():
    T = 1000
    sched = VPSchedule.linear(T)
    assert sched.T == T
    # ᾱ_t = Π_{s ≤ t} (1 − β_s), β_s = 1e-4 + (0.02 − 1e-4) s/(T−1), accumulated in Python floats
    prod, expected = 1.0, []
    for s in range(T):
        prod *= 1 - (1e-4 + (0.02 - 1e-4) * s / (T - 1))
        expected.append(prod)
    torch.testing.assert_close(sched.alphas_cumprod, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=0)
    assert sched.alphas_cumprod[0] == pytest.approx(1 - 1e-4, rel=1e-14)
    # well-known value of the DDPM schedule: ᾱ_999 ≈ 4.04e-5
    assert float(sched.alphas_cumprod[-1]) == pytest.approx(4.0358e-5, rel=1e-3)


def test_cosine_alpha_bar_matches_closed_form():
    T, s = 1000, 0.008
    sched = VPSchedule.cosine(T)
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    # the β product telescopes: ᾱ_t = f(t+1)/f(0) wherever β was not clipped at 0.999
    closed = torch.tensor([f(t + 1) / f(0) for t in range(T)], dtype=torch.float64)
    betas = torch.tensor([1 - f(t + 1) / f(t) for t in range(T)])
    unclipped = int((betas < 0.999).sum())
    assert unclipped >= T - 2
    torch.testing.assert_close(sched.alphas_cumprod[:unclipped], closed[:unclipped], rtol=1e-9, atol=1e-15)
    # the clipped last step keeps ᾱ positive: ᾱ_{T-1} = ᾱ_{T-2}·(1 − 0.999)
    if unclipped < T:
        assert float(sched.alphas_cumprod[-1]) == pytest.approx(float(sched.alphas_cumprod[-2]) * 1e-3, rel=1e-9)


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_sigma_table_and_continuous_maps(name):
    sched = VPSchedule.from_name(name)
    a = sched.alphas_cumprod
    torch.testing.assert_close(sched.sigmas, ((1 - a) / a).sqrt())
    torch.testing.assert_close(alpha_bar_from_sigma(sched.sigmas), a)
    assert torch.all(sched.sigmas[1:] > sched.sigmas[:-1])
    # integer t hits the table exactly, in both directions
    t_int = torch.arange(sched.T, dtype=torch.float64)
    torch.testing.assert_close(sched.t_to_sigma(t_int), sched.sigmas, rtol=1e-12, atol=0)
    torch.testing.assert_close(sched.sigma_to_t(sched.sigmas), t_int, rtol=0, atol=1e-8)
    # round trips on the table range at random (non-integer) points
    g = torch.Generator().manual_seed(0)
    u = torch.rand(500, generator=g, dtype=torch.float64)
    s = (math.log(sched.sigma_min) + u * (math.log(sched.sigma_max) - math.log(sched.sigma_min))).exp()
    torch.testing.assert_close(sched.t_to_sigma(sched.sigma_to_t(s)), s, rtol=1e-10, atol=0)
    t = u * (sched.T - 1)
    torch.testing.assert_close(sched.sigma_to_t(sched.t_to_sigma(t)), t, rtol=0, atol=1e-8)
    # between integer steps log σ is linear in t
    mid = sched.t_to_sigma(torch.tensor([10.5]))
    assert float(mid) == pytest.approx(math.sqrt(float(sched.sigmas[10] * sched.sigmas[11])), rel=1e-12)
    # monotone, and clamped outside the table
    assert torch.all(sched.sigma_to_t(s.sort().values).diff() >= 0)
    assert float(sched.sigma_to_t(sched.sigma_min / 10)) == 0
    assert float(sched.sigma_to_t(sched.sigma_max * 10)) == sched.T - 1


def test_schedule_rejects_bad_tables():
    with pytest.raises(ValueError):
        VPSchedule(torch.tensor([0.5, 0.6]))
    with pytest.raises(ValueError):
        VPSchedule(torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError):
        VPSchedule.from_name("quadratic")


@pytest.mark.parametrize("steps", [1, 2, 10, 50, 1000])
def test_ddpm_grid(steps):
    sched = VPSchedule.linear()
    g = ddpm_sigmas(sched, steps)
    assert g.dtype == torch.float64 and g.shape == (steps + 1,)
    assert g[-1] == 0 and torch.all(g[1:] < g[:-1])
    assert float(g[0]) == sched.sigma_max
    if steps > 1:
        assert float(g[-2]) == sched.sigma_min  # t = 0
        assert torch.all(torch.isin(g[:-1], sched.sigmas))  # every level is a table entry
    if steps == 1000:
        torch.testing.assert_close(g[:-1], sched.sigmas.flip(0))


@pytest.mark.parametrize("steps,rho", [(1, 7.0), (2, 7.0), (18, 7.0), (40, 3.0)])
def test_karras_grid(steps, rho):
    lo, hi = 0.002, 80.0
    g = karras_sigmas(steps, lo, hi, rho)
    assert g.shape == (steps + 1,) and g[-1] == 0 and torch.all(g[1:] < g[:-1])
    assert float(g[0]) == pytest.approx(hi, rel=1e-12)
    if steps > 1:
        assert float(g[-2]) == pytest.approx(lo, rel=1e-12)
        i = torch.arange(steps, dtype=torch.float64)
        ref = (hi ** (1 / rho) + i / (steps - 1) * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho  # EDM eq. 5
        torch.testing.assert_close(g[:-1], ref, rtol=1e-12, atol=0)
    with pytest.raises(ValueError):
        karras_sigmas(steps, hi, lo)
    with pytest.raises(ValueError):
        karras_sigmas(0, lo, hi)


def test_pairwise_yields_float_pairs():
    pairs = list(pairwise(torch.tensor([3.0, 2.0, 0.5, 0.0], dtype=torch.float64)))
    assert pairs == [(3.0, 2.0), (2.0, 0.5), (0.5, 0.0)]
    assert all(isinstance(a, float) and isinstance(b, float) for a, b in pairs)
