"""Tweedie's posterior mean for denoising (:mod:`invdiff.tweedie`) against the closed form, and in the benchmark."""

from __future__ import annotations

import pytest
import torch

import operators
from invdiff import bench
from invdiff.bench.spec import Method
from invdiff.prior import GaussianMixturePrior
from invdiff.tweedie import tweedie_denoise

SHAPE = (1, 4, 4)


def gmm(shape=SHAPE, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(3, *shape, generator=g, dtype=torch.float64) * 1.6 - 0.8
    return GaussianMixturePrior(means, std=torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64))


@pytest.mark.parametrize("sigma_y", [0.05, 0.3, 1.0])
def test_tweedie_is_the_exact_posterior_mean(sigma_y):
    """On a Gaussian-mixture prior the denoiser is exact, so D(y, σ_y) must equal the closed-form E[x | y]
    (a different computation: per-component Gaussian conditioning and evidence weights, invdiff.prior).
    Both are float64 sums of a few terms: they agree to ~1e-15 relative; 1e-10 leaves room for the
    3-component softmax and the 16×16 inverse, and a wrong level (σ_y·√2, say) misses by > 1e-3."""
    prior = gmm()
    op = operators.build("denoise", SHAPE, dtype=torch.float64)
    x = prior.sample(3, seed=1).to(torch.float64)
    y = operators.measure(op, x, sigma_y, seed=2)
    got = tweedie_denoise(prior, op, y, sigma_y=sigma_y)
    want = torch.stack([prior.posterior(op, y[i : i + 1], sigma_y).mean() for i in range(3)])
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    wrong = tweedie_denoise(prior, op, y, sigma_y=sigma_y * 2**0.5)
    assert (wrong - want).abs().max() > 1e-3


def test_tweedie_refuses_what_it_cannot_do():
    prior = gmm()
    y = torch.zeros(2, *SHAPE, dtype=torch.float64)
    den = operators.build("denoise", SHAPE, dtype=torch.float64)
    blur = operators.build("gaussian_blur", SHAPE, dtype=torch.float64, size=3, std=1.0)
    for kw, phrase in (
        (dict(op=blur, y=y, sigma_y=0.1), "needs the identity operator"),
        (dict(op=den, y=y, sigma_y=0.0), "sigma_y must be a number > 0"),
        (dict(op=den, y=y, sigma_y=float("nan")), "sigma_y must be a number > 0"),
        (dict(op=den, y=y.clone().fill_(float("nan")), sigma_y=0.1), "NaN or infinite"),
        (dict(op=den, y=y.long(), sigma_y=0.1), "must be a float tensor"),
        (dict(op=den, y=y, sigma_y=0.1, x_shape=(1, 8, 8)), "x_shape is (1, 8, 8)"),
    ):
        with pytest.raises(ValueError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
            tweedie_denoise(prior, **kw)


def test_tweedie_in_the_benchmark(tmp_path):
    """The suites' ``tweedie`` method runs on denoising tasks only, as one grid point charged 1 NFE."""
    shape = (1, 8, 8)  # SSIM needs 7×7
    prior = gmm(shape)
    x = prior.sample(2, seed=1).to(torch.float32).clamp(-1, 1)
    tasks = [bench.Task("denoise", "denoise", 0.1, "denoise"), bench.Task("blur", "gaussian_blur", 0.1, "blur",
             {"size": 3, "std": 1.0})]  # fmt: skip
    suite = bench.Suite("t", shape, tasks, [Method("tweedie", "sampler", fn=tweedie_denoise)], images=lambda: x,
                        prior=lambda: prior, batch_size=2, n_show=2, nfe=(20,))  # fmt: skip
    out = tmp_path / "r.jsonl"
    bench.run_suite(suite, out, progress=False, device="cpu")
    rows = bench.read_rows(out)
    assert {r["task"] for r in rows} == {"denoise"} and len(rows) == 2
    assert {(r["status"], r["nfe_target"], r["nfe"]) for r in rows} == {("ok", 1, 1)}
    assert "tweedie" in [m.name for m in bench.get_suite("mnist").methods]
