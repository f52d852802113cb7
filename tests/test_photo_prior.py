"""The shipped photo prior beats TV and wavelet denoising on held-out photos by a measured margin."""

import pytest
import torch

from invdiff import data
from invdiff.denoise_eval import tv_psnr, tweedie_psnr, wavelet_psnr
from invdiff.load import SHIPPED, WEIGHTS_DIR, load_prior

pytestmark = pytest.mark.skipif(not (WEIGHTS_DIR / SHIPPED["photo"]).is_file(), reason="shipped photo prior absent")

# measured with the shipped weights (benchmarks/results/photo_prior.md): mean over the 4 held-out
# photos at 128², σ = 0.2 on [-1, 1]: Tweedie 29.50 dB, TV (best weight) 28.06, wavelet 26.37.
MARGIN = 1.0


def test_tweedie_beats_tv_and_wavelet_on_held_out_photos():
    prior = load_prior("photo")
    x = torch.cat([data.photo(n, 128) for n in data.PHOTO_TEST])
    tw = tweedie_psnr(prior, x, 0.2, batch=2)
    tv, _ = tv_psnr(x, 0.2)
    wv, _ = wavelet_psnr(x, 0.2)
    assert tw > max(tv, wv) + MARGIN, (tw, tv, wv)


def test_photo_prior_is_fully_convolutional():
    prior = load_prior("photo")
    assert not prior.net.config.attention_levels and prior.parameterization == "eps"
    with torch.no_grad():
        for shape in ((1, 1, 32, 48), (2, 1, 20, 20)):
            out = prior.x0(torch.zeros(shape), 0.5)
            assert out.shape == shape and torch.isfinite(out).all()
