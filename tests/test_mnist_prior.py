"""The shipped MNIST prior beats the best classical denoisers by a measured margin."""

import pytest

from invdiff.data import mnist
from invdiff.denoise_eval import gaussian_smoothing_psnr, linear_mmse_psnr, tweedie_psnr
from invdiff.load import SHIPPED, WEIGHTS_DIR, load_prior

pytestmark = pytest.mark.skipif(not (WEIGHTS_DIR / SHIPPED["mnist"]).is_file(), reason="shipped MNIST prior absent")

# measured with the shipped weights (benchmarks/results/mnist_prior.md), sigma = 0.5 on [-1, 1]:
# Tweedie 25.77 dB, linear MMSE 19.94, Gaussian smoothing 17.78: 5.83 dB above the best of Gaussian smoothing (oracle std) and linear MMSE.
MARGIN = 5.0


def test_tweedie_beats_classical_denoisers_at_sigma_half():
    prior = load_prior("mnist")
    test = mnist("test")
    tw = tweedie_psnr(prior, test, 0.5)
    gs, _ = gaussian_smoothing_psnr(test, 0.5)
    lm = linear_mmse_psnr(mnist("train"), test, 0.5)
    assert tw > max(gs, lm) + MARGIN, (tw, gs, lm)


def test_prior_metadata():
    prior = load_prior("mnist")
    assert prior.image_shape == (1, 28, 28)
    assert prior.parameterization == "eps" and prior.schedule.T == 1000
    assert sum(p.numel() for p in prior.net.parameters()) < 2_000_000
