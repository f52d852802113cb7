"""Colorization: y = mean of the RGB channels (DDRM, Kawar et al. 2022: H = [1/3, 1/3, 1/3]).

SVD: ``Vt`` applies the orthonormal 3-point DCT across channels (first row 1/√3),
``singulars = 1/√3`` in spectral channel 0 and 0 in channels 1–2; ``Ut`` writes the
gray image y (B, 1, H, W) into channel 0, ``U`` reads it back.
"""

from __future__ import annotations

import torch

from ..base import SVDOperator, param
from .compressed import dct_matrix


class Colorization(SVDOperator):
    """RGB (B, 3, H, W) → gray (B, 1, H, W), y = (r + g + b)/3."""

    def __init__(self, input_shape, dtype=None):
        if len(input_shape) != 3 or input_shape[0] != 3:
            raise ValueError(f"colorization needs input_shape (3, H, W), got {tuple(input_shape)}")
        super().__init__(input_shape)
        self.output_shape = (1, *self.input_shape[1:])
        dtype = dtype or torch.float64
        self.Q = dct_matrix(3).to(dtype)
        s = torch.zeros(1, *self.input_shape, dtype=dtype)
        s[:, 0] = 3**-0.5
        self._s = s

    def A(self, x):
        return self.check(x).mean(1, keepdim=True)

    def At(self, y):
        return self.check(y, self.output_shape, "y").expand(-1, 3, -1, -1) / 3

    def singulars(self):
        return self._s

    def Vt(self, x):
        return torch.einsum("pc,bchw->bphw", param(self.Q, x), x)

    def V(self, z):
        return torch.einsum("pc,bphw->bchw", param(self.Q, z), z)

    def Ut(self, y):
        return torch.cat([y, y.new_zeros(y.shape[0], 2, *y.shape[2:])], 1)

    def U(self, z):
        return z[:, :1]
