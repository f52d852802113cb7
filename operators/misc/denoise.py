"""Denoising: A = I (the DPS/DAPS "noise" task; DDRM's trivial SVD, Kawar et al. 2022)."""

from __future__ import annotations

import torch

from ..base import SVDOperator


class Denoising(SVDOperator):
    """Identity operator on inputs of shape ``input_shape``; singulars are all ones."""

    def __init__(self, input_shape, dtype=None):
        super().__init__(input_shape)
        self._s = torch.ones((1, *self.input_shape), dtype=dtype or torch.float64)

    def A(self, x):
        return self.check(x)

    def At(self, y):
        return self.check(y, what="y")

    def singulars(self):
        return self._s

    def U(self, z):
        return z

    Ut = V = Vt = U
