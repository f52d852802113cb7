"""Super-resolution: separable down-sampling y = W_h · x · W_wᵀ (per channel) with exact SVD.

- ``filter="avg"``: f×f average pooling (DDRM's SR task, Kawar et al. 2022).
- ``filter="bicubic"``: MATLAB ``imresize(x, 1/f)`` — Keys cubic (a = −0.5)
  widened by f for antialiasing, symmetric boundary — the resizer of the DPS
  protocol's SR×4 (Chung et al. 2023).
Either way A = W_h ⊗ W_w, so its SVD follows from the SVDs of the two small
matrices (as DDRM does for separable kernels): ``Vt(x) = V_hᵀ x V_w`` (shape of x),
``singulars[p, q] = s_h[p]·s_w[q]`` on the top-left (H/f, W/f) block, 0 elsewhere.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import SVDOperator, param

__all__ = ["SeparableDownsampling", "SuperResolution", "avg_matrix", "bicubic_matrix"]


def avg_matrix(n: int, factor: int) -> Tensor:
    """(n/factor, n) block-averaging matrix."""
    return torch.kron(
        torch.eye(n // factor, dtype=torch.float64), torch.full((1, factor), 1.0 / factor, dtype=torch.float64)
    )


def _cubic(t: Tensor) -> Tensor:
    a = t.abs()
    return torch.where(
        a <= 1,
        1.5 * a**3 - 2.5 * a**2 + 1,
        torch.where(a < 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, torch.zeros_like(a)),
    )


def bicubic_matrix(n: int, factor: int) -> Tensor:
    """(n/factor, n) matrix of MATLAB's antialiased bicubic resize by 1/factor."""
    out, s = n // factor, 1.0 / factor
    u = (torch.arange(out, dtype=torch.float64) + 0.5) * factor - 0.5  # centres in input pixels
    width = 4 * factor
    k = torch.floor(u - width / 2)[:, None] + torch.arange(int(math.ceil(width)) + 2, dtype=torch.float64)
    w = s * _cubic(s * (u[:, None] - k))
    w = w / w.sum(1, keepdim=True)
    aux = torch.cat([torch.arange(n), torch.arange(n - 1, -1, -1)])  # symmetric boundary
    idx = aux[k.long() % (2 * n)]
    return torch.zeros(out, n, dtype=torch.float64).scatter_add_(1, idx, w)


class SeparableDownsampling(SVDOperator):
    """y[c] = W_h x[c] W_wᵀ with W_h: (h, H), W_w: (w, W); exact SVD from the two factors."""

    def __init__(self, Wh: Tensor, Ww: Tensor, input_shape, dtype=None):
        if len(input_shape) != 3 or (Wh.shape[1], Ww.shape[1]) != tuple(input_shape[1:]):
            raise ValueError(f"need input_shape (C, {Wh.shape[1]}, {Ww.shape[1]}), got {tuple(input_shape)}")
        super().__init__(input_shape)
        self.output_shape = (input_shape[0], Wh.shape[0], Ww.shape[0])
        dtype = dtype or torch.float64
        self.Wh, self.Ww = Wh.to(dtype), Ww.to(dtype)
        (self.Uh, sh, self.Vh), (self.Uw, sw, self.Vw) = (
            [t.to(dtype) for t in torch.linalg.svd(W.double(), full_matrices=True)] for W in (Wh, Ww)
        )
        s = torch.zeros(input_shape[1:], dtype=torch.float64)
        s[: len(sh), : len(sw)] = sh.double()[:, None] * sw.double()[None, :]
        self._s = s.to(dtype).expand(1, input_shape[0], -1, -1)

    @staticmethod
    def _sandwich(L, t, R):  # L · t · Rᵀ over the last two axes
        return L @ t @ R.mT

    def A(self, x):
        self.check(x)
        return self._sandwich(param(self.Wh, x), x, param(self.Ww, x))

    def At(self, y):
        self.check(y, self.output_shape, "y")
        return self._sandwich(param(self.Wh, y).mT, y, param(self.Ww, y).mT)

    def singulars(self):
        return self._s

    def Vt(self, x):
        return self._sandwich(param(self.Vh, x), x, param(self.Vw, x))

    def V(self, z):
        return self._sandwich(param(self.Vh, z).mT, z, param(self.Vw, z).mT)

    def Ut(self, y):
        h, w = self.output_shape[1:]
        z = y.new_zeros(y.shape[:2] + self.input_shape[1:])
        z[..., :h, :w] = self._sandwich(param(self.Uh, y).mT, y, param(self.Uw, y).mT)
        return z

    def U(self, z):
        h, w = self.output_shape[1:]
        return self._sandwich(param(self.Uh, z), z[..., :h, :w], param(self.Uw, z))


def SuperResolution(input_shape, factor: int = 4, filter: str = "avg", dtype=None):
    """×factor down-sampling: ``filter`` "avg" (DDRM) or "bicubic" (MATLAB-style, DPS)."""
    _, H, W = input_shape
    if H % factor or W % factor:
        raise ValueError(f"image size {H}x{W} is not divisible by factor {factor}")
    make = {"avg": avg_matrix, "bicubic": bicubic_matrix}.get(filter)
    if make is None:
        raise ValueError(f"filter must be 'avg' or 'bicubic', got {filter!r}")
    return SeparableDownsampling(make(H, factor), make(W, factor), input_shape, dtype)
