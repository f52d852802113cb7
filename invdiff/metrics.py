"""Image-quality metrics on [-1, 1] tensors, matching scikit-image.

Both functions take ``(B, C, H, W)`` tensors in the library's [-1, 1] range,
convert them to [0, 1] (the boundary conversion of the design), and return one
value per image as a (B,) tensor.  Values are not clipped: clamp the inputs first
if the reconstructions should be scored as they would be saved.

- :func:`psnr` = ``skimage.metrics.peak_signal_noise_ratio(t, x, data_range=1)``.
- :func:`ssim` = ``skimage.metrics.structural_similarity(t, x, data_range=1,
  channel_axis=0)`` with skimage's defaults (Wang et al. 2004 with a 7×7 uniform
  window, sample covariance N/(N−1), K1 = 0.01, K2 = 0.03, the 3-pixel border
  where the window leaves the image cropped, mean over channels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _prepare(x: Tensor, y: Tensor, min_ndim: int) -> tuple[Tensor, Tensor]:
    if not (torch.is_tensor(x) and torch.is_tensor(y)):
        raise TypeError("psnr/ssim take torch tensors")
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: {tuple(x.shape)} vs {tuple(y.shape)}")
    if x.ndim < min_ndim:
        raise ValueError(f"expected a batch of images (B, C, H, W), got shape {tuple(x.shape)}")
    # float64 where the device has it (MPS does not)
    dt = torch.float32 if x.device.type == "mps" else torch.float64
    return (x.to(dt) + 1) / 2, (y.to(dt) + 1) / 2


def psnr(x: Tensor, y: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB per image, data range 1 after mapping [-1, 1] -> [0, 1]."""
    a, b = _prepare(x, y, 2)
    mse = (a - b).pow(2).reshape(a.shape[0], -1).mean(1)
    return (10 * torch.log10(1.0 / mse)).to(x.dtype if x.is_floating_point() else torch.float32)


def ssim(x: Tensor, y: Tensor, *, win_size: int = 7, k1: float = 0.01, k2: float = 0.03) -> Tensor:
    """Structural similarity per image (mean over channels), as skimage's ``structural_similarity``."""
    a, b = _prepare(x, y, 4)
    if x.ndim != 4:
        raise ValueError(f"ssim expects (B, C, H, W), got shape {tuple(x.shape)}")
    if win_size % 2 != 1 or win_size < 3:
        raise ValueError("win_size must be odd and >= 3")
    if min(x.shape[-2:]) < win_size:
        raise ValueError(f"images must be at least {win_size}x{win_size}, got {tuple(x.shape[-2:])}")
    B, C, H, W = a.shape
    # a valid (unpadded) uniform filter gives exactly skimage's cropped region
    stack = torch.cat([a, b, a * a, b * b, a * b], 1).reshape(B * 5 * C, 1, H, W)
    m = F.avg_pool2d(stack, win_size, stride=1).reshape(B, 5, C, H - win_size + 1, W - win_size + 1)
    ux, uy, uxx, uyy, uxy = m.unbind(1)
    n = win_size**2
    cov = n / (n - 1)
    vx, vy, vxy = cov * (uxx - ux * ux), cov * (uyy - uy * uy), cov * (uxy - ux * uy)
    c1, c2 = k1**2, k2**2  # data range 1
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.reshape(B, -1).mean(1).to(x.dtype if x.is_floating_point() else torch.float32)
