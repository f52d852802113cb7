"""PSNR / SSIM on [-1, 1] tensors against scikit-image on the same images mapped to [0, 1]."""

import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from invdiff.metrics import psnr, ssim


def pairs(channels: int, h: int, w: int, seed: int):
    """Random images and noisy / blurred / unrelated versions of them, in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4, channels, h, w, generator=g) * 2 - 1
    y = torch.stack(
        [
            (x[0] + 0.1 * torch.randn(channels, h, w, generator=g)).clamp(-1, 1),
            (x[1] + 0.5 * torch.randn(channels, h, w, generator=g)).clamp(-1, 1),
            torch.nn.functional.avg_pool2d(x[2:3], 3, 1, 1)[0],
            torch.rand(channels, h, w, generator=g) * 2 - 1,
        ]
    )
    return x, y


def reference(x, y, fn):
    a = ((x.double() + 1) / 2).numpy()
    b = ((y.double() + 1) / 2).numpy()
    out = []
    for i in range(len(a)):
        if a.shape[1] == 1:
            out.append(fn(a[i, 0], b[i, 0], data_range=1))
        elif fn is structural_similarity:
            out.append(fn(a[i], b[i], data_range=1, channel_axis=0))
        else:
            out.append(fn(a[i], b[i], data_range=1))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("channels,h,w,seed", [(1, 28, 28, 0), (1, 7, 9, 1), (3, 32, 32, 2), (3, 40, 24, 3)])
def test_ssim_matches_skimage(channels, h, w, seed):
    x, y = pairs(channels, h, w, seed)
    out = ssim(x, y)
    assert out.shape == (4,)
    ref = reference(x, y, structural_similarity)
    torch.testing.assert_close(out.double(), ref, rtol=0, atol=1e-4)
    assert ref.max() - ref.min() > 0.3  # the cases span a real range of SSIM
    torch.testing.assert_close(ssim(x, x), torch.ones(4), rtol=0, atol=1e-6)


@pytest.mark.parametrize("channels,h,w,seed", [(1, 28, 28, 4), (3, 32, 32, 5), (3, 16, 20, 6)])
def test_psnr_matches_skimage(channels, h, w, seed):
    x, y = pairs(channels, h, w, seed)
    out = psnr(x, y)
    assert out.shape == (4,)
    torch.testing.assert_close(out.double(), reference(x, y, peak_signal_noise_ratio), rtol=0, atol=1e-4)
    # PSNR is symmetric and uses the [0, 1] range: an error of 0.2 on [-1, 1] is 0.1 on [0, 1] = 20 dB
    torch.testing.assert_close(psnr(y, x), out)
    torch.testing.assert_close(psnr(x, x + 0.2), torch.full((4,), 20.0), rtol=0, atol=1e-4)


def test_metrics_follow_device_and_dtype_and_batch():
    x, y = pairs(3, 16, 16, 7)
    assert psnr(x.double(), y.double()).dtype == torch.float64
    assert ssim(x, y).dtype == torch.float32
    torch.testing.assert_close(ssim(x[1:3], y[1:3]), ssim(x, y)[1:3])


def test_metrics_reject_bad_shapes():
    x = torch.zeros(2, 1, 16, 16)
    with pytest.raises(ValueError):
        psnr(x, torch.zeros(2, 1, 16, 15))
    with pytest.raises(ValueError):
        ssim(x, torch.zeros(1, 1, 16, 16))
    with pytest.raises(ValueError):
        ssim(torch.zeros(2, 16, 16), torch.zeros(2, 16, 16))
    with pytest.raises(ValueError):
        ssim(torch.zeros(1, 1, 6, 16), torch.zeros(1, 1, 6, 16))  # smaller than the 7x7 window
