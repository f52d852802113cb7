"""Compressed sensing: y = S·T x, T = orthonormal 2-D DCT after random sign flips, S keeps m rows.

A structured random orthogonal sensing matrix (random demodulation / subsampled
orthogonal transforms, Candès & Tao 2006; Do et al. 2012): T = D_H diag(±1) D_Wᵀ per
channel is orthogonal, so the SVD is exact with ``Vt = T`` (layout = shape of x),
``singulars`` = 1 on the m kept coefficients and 0 elsewhere, ``Ut`` scatters y
(B, m) into the layout, ``U`` gathers it back.  Signs and kept rows are per sample,
drawn from seed ``(seed, offset + i)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..base import SVDOperator, param
from ..noise import generators


def dct_matrix(n: int) -> Tensor:
    """Orthonormal DCT-II matrix (n, n), float64; row 0 is constant 1/√n."""
    k, i = torch.arange(n, dtype=torch.float64)[:, None], torch.arange(n, dtype=torch.float64)[None, :]
    D = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    D[0] /= math.sqrt(2)
    return D


class CompressedSensing(SVDOperator):
    """y = (D_H (σ ⊙ x) D_Wᵀ).flatten()[rows]; ``signs`` (B, C, H, W) of ±1, ``rows`` (B, m) long."""

    def __init__(self, signs: Tensor, rows: Tensor, input_shape, dtype=None):
        if len(input_shape) != 3 or signs.ndim != 4 or tuple(signs.shape[1:]) != tuple(input_shape):
            raise ValueError(
                f"need input_shape (C, H, W) and signs (B, C, H, W), got {tuple(input_shape)}, {tuple(signs.shape)}"
            )
        if rows.ndim != 2 or rows.shape[0] not in (1, signs.shape[0]):
            raise ValueError(f"rows must be (B, m), got {tuple(rows.shape)}")
        super().__init__(input_shape, max(signs.shape[0], rows.shape[0]))
        self.output_shape = (rows.shape[1],)
        dtype = dtype or torch.float64
        self.signs, self.rows = signs.to(dtype), rows.long()
        self.DH, self.DW = dct_matrix(input_shape[1]).to(dtype), dct_matrix(input_shape[2]).to(dtype)
        s = torch.zeros(rows.shape[0], math.prod(input_shape), dtype=dtype).scatter_(1, self.rows, 1.0)
        self._s = s.reshape(-1, *input_shape)

    @classmethod
    def random(cls, input_shape, ratio: float = 0.25, seed: int = 0, batch: int = 1, offset: int = 0, dtype=None):
        """Seeded random signs and m = round(ratio·d) kept rows per sample."""
        d = math.prod(input_shape)
        m = max(1, int(round(ratio * d)))
        signs, rows = [], []
        for g in generators(seed, batch, offset):
            signs.append(torch.randint(0, 2, tuple(input_shape), generator=g) * 2.0 - 1)
            rows.append(torch.randperm(d, generator=g)[:m].sort().values)
        return cls(torch.stack(signs), torch.stack(rows), input_shape, dtype)

    def _idx(self, t):
        return self.rows.to(t.device).expand(t.shape[0], -1)

    def A(self, x):
        return self.U(self.Vt(self.check(x)))

    def At(self, y):
        return self.V(self.Ut(self.check(y, self.output_shape, "y")))

    def singulars(self):
        return self._s

    def Vt(self, x):
        return param(self.DH, x) @ (param(self.signs, x) * x) @ param(self.DW, x).mT

    def V(self, z):
        return param(self.signs, z) * (param(self.DH, z).mT @ z @ param(self.DW, z))

    def Ut(self, y):
        z = y.new_zeros(y.shape[0], math.prod(self.input_shape)).scatter(1, self._idx(y), y)
        return z.reshape(-1, *self.input_shape)

    def U(self, z):
        return z.flatten(1).gather(1, self._idx(z))
