"""Tweedie denoising against classical denoisers (the prior-quality check).

``tweedie_psnr(prior, x, sigma)`` adds σ-noise (VE, units of [-1, 1]) with per-image
seeds and scores x̂0 = E[x0 | x_σ].  Baselines: Gaussian smoothing at its best
std (oracle-tuned on the same images, which favours the baseline) and the linear
MMSE (Wiener) denoiser of a Gaussian fitted to training images,
x̂ = μ + Σ(Σ + σ²I)⁻¹(y − μ), the best linear denoiser for that data.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .metrics import psnr
from .rng import PerSampleRNG


def noisy(x: Tensor, sigma: float, seed: int = 0) -> Tensor:
    return x + sigma * PerSampleRNG(seed, x.shape[0]).randn_like(x)


@torch.no_grad()
def tweedie_psnr(prior, x: Tensor, sigma: float, seed: int = 0, batch: int = 100) -> float:
    y = noisy(x, sigma, seed)
    out = torch.cat([prior.x0(y[i : i + batch], sigma) for i in range(0, len(x), batch)])
    return float(psnr(out, x).mean())


def gaussian_smoothing_psnr(
    x: Tensor, sigma: float, seed: int = 0, stds=(0.3, 0.5, 0.7, 0.9, 1.1, 1.4, 1.8, 2.4)
) -> tuple[float, float]:
    """Best PSNR over smoothing stds (and the std that gave it); circular-free 'reflect' borders."""
    import torch.nn.functional as F

    from operators.kernels import gaussian_kernel

    y = noisy(x, sigma, seed)
    best = (float(psnr(y, x).mean()), 0.0)
    for s in stds:
        k = gaussian_kernel(9, s).to(x)
        k = k.reshape(1, 1, *k.shape[-2:])
        pad = k.shape[-1] // 2
        out = F.conv2d(F.pad(y, (pad,) * 4, mode="reflect"), k.expand(x.shape[1], 1, -1, -1), groups=x.shape[1])
        best = max(best, (float(psnr(out, x).mean()), s))
    return best


def linear_mmse_psnr(train: Tensor, x: Tensor, sigma: float, seed: int = 0) -> float:
    """PSNR of the Gaussian-prior (Wiener) MMSE denoiser fitted to ``train``."""
    d = x[0].numel()
    T = train.reshape(len(train), d).double()
    mu = T.mean(0)
    C = torch.cov(T.T) + 1e-6 * torch.eye(d, dtype=torch.float64)
    y = noisy(x, sigma, seed).reshape(len(x), d).double()
    W = C @ torch.linalg.inv(C + sigma**2 * torch.eye(d, dtype=torch.float64))
    out = mu + (y - mu) @ W.T
    return float(psnr(out.reshape(x.shape).to(x), x).mean())


TV_WEIGHTS = (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.14, 0.2, 0.3, 0.45)
WAVELET_SCALES = (0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0)


def _skimage_best(x: Tensor, sigma: float, seed: int, denoise, grid) -> tuple[float, float]:
    """Best mean PSNR of ``denoise(y01, value)`` over ``grid`` (on [0, 1] images, gray or RGB)."""
    import numpy as np

    y01 = ((noisy(x, sigma, seed) + 1) / 2).double().cpu().numpy()
    best = (-float("inf"), None)
    for v in grid:
        out = np.stack([denoise(im, v) for im in y01])
        score = float(psnr(torch.from_numpy(out * 2 - 1).to(x), x).mean())
        best = max(best, (score, v))
    return best


def tv_psnr(x: Tensor, sigma: float, seed: int = 0, weights=TV_WEIGHTS) -> tuple[float, float]:
    """Chambolle TV (``skimage.restoration.denoise_tv_chambolle``) at its best weight (oracle-tuned
    on the same images, which favours the baseline); returns (PSNR, weight)."""
    from skimage.restoration import denoise_tv_chambolle

    return _skimage_best(x, sigma, seed, lambda im, w: denoise_tv_chambolle(im, weight=w, channel_axis=0), weights)


def wavelet_psnr(x: Tensor, sigma: float, seed: int = 0, scales=WAVELET_SCALES) -> tuple[float, float]:
    """BayesShrink wavelet denoising (``skimage.restoration.denoise_wavelet``, db2, soft, 4 levels)
    given the true noise σ times the best of ``scales`` (oracle-tuned); returns (PSNR, scale)."""
    from skimage.restoration import denoise_wavelet

    s01 = sigma / 2  # σ on [0, 1]

    def den(im, k):
        return denoise_wavelet(
            im,
            sigma=k * s01,
            wavelet="db2",
            mode="soft",
            method="BayesShrink",
            wavelet_levels=4,
            channel_axis=0,
            rescale_sigma=True,
        )

    return _skimage_best(x, sigma, seed, den, scales)
