"""Fourier subsampling (MRI-like): y = M ⊙ F x with F the orthonormal 2-D FFT (per channel).

Cartesian masks in the fastMRI style (Zbontar et al. 2018, as used by InverseBench
and DAPS for MRI): all rows of a fully sampled band of central columns plus random
columns up to 1/acceleration of k-space.  Exact SVD in the complex layout:
``Vt = F``, ``singulars = M``, ``Ut(y) = M ⊙ Herm(y)``, ``U(z) = M ⊙ z``, where
Herm(y)[k] = (y[k] + conj(y[−k]))/2.  This is exact on real images because the mask
is symmetric, M[k] = M[−k] (masks are drawn symmetric; user masks are checked).
y is complex, with the shape of x.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import SVDOperator, complex_dtype, param, real_dtype
from .noise import generators

__all__ = ["FourierSubsampling", "cartesian_masks", "flip_freq"]


def flip_freq(t: Tensor) -> Tensor:
    """t[..., -k mod H, -l mod W] over the last two axes."""
    return torch.roll(torch.flip(t, (-2, -1)), (1, 1), (-2, -1))


def cartesian_masks(
    H: int,
    W: int,
    acceleration: float = 4,
    center_fraction: float = 0.08,
    seed: int = 0,
    batch: int = 1,
    offset: int = 0,
) -> Tensor:
    """(batch, 1, H, W) symmetric column masks keeping ≈ W/acceleration columns (FFT order, DC at 0)."""
    freq = torch.fft.fftfreq(W) * W  # signed column frequency
    center = freq.abs() <= max(1, math.ceil(center_fraction * W)) / 2
    target = max(int(center.sum()), int(round(W / acceleration)))
    pos = [int(f) for f in freq if f > 0 and not center[int(f)]]  # one of each ±f pair
    out = torch.zeros(batch, 1, H, W)
    for i, g in enumerate(generators(seed, batch, offset)):
        cols = center.clone()
        for f in (pos[j] for j in torch.randperm(len(pos), generator=g).tolist()):
            if int(cols.sum()) >= target:
                break
            cols[f] = cols[-f % W] = True
        out[i, 0, :, cols] = 1
    return out


class FourierSubsampling(SVDOperator):
    """y = M ⊙ fft2(x, norm="ortho"); masks (H, W), (B, H, W) or (B or 1, C or 1, H, W), symmetric."""

    def __init__(self, mask: Tensor, input_shape, dtype=None):
        if len(input_shape) != 3:
            raise ValueError(f"Fourier subsampling needs an image input_shape (C, H, W), got {tuple(input_shape)}")
        C, H, W = input_shape
        m = torch.as_tensor(mask)
        m = m[None, None] if m.ndim == 2 else m[:, None] if m.ndim == 3 else m
        if m.ndim != 4 or m.shape[1] not in (1, C) or tuple(m.shape[2:]) != (H, W):
            raise ValueError(
                f"mask must be ({H}, {W}), (B, {H}, {W}) or (B, 1 or {C}, {H}, {W}), got {tuple(mask.shape)}"
            )
        m = m != 0
        if not torch.equal(m, flip_freq(m)):
            raise ValueError("the k-space mask must be symmetric, M[k] == M[-k mod N] (FFT order, DC at index 0)")
        super().__init__(input_shape, m.shape[0])
        self.mask = m.to(dtype or torch.float64).expand(-1, C, -1, -1)

    def A(self, x):
        self.check(x)
        return param(self.mask, x) * torch.fft.fft2(x, norm="ortho")

    def At(self, y):
        self.check(y, what="y")
        return torch.fft.ifft2(param(self.mask, y) * y, norm="ortho").real

    def singulars(self):
        return self.mask

    def Vt(self, x):
        return torch.fft.fft2(x, norm="ortho")

    def V(self, z):
        return torch.fft.ifft2(z, norm="ortho").real

    def Ut(self, y):
        y = y.to(complex_dtype(real_dtype(y)))
        return param(self.mask, y) * (y + flip_freq(y).conj()) / 2

    def U(self, z):
        return param(self.mask, z) * z
