"""Dense matrix operator y = M · vec(x), with its SVD computed once (small problems, tests).

This is the operator of the exact-posterior Gaussian-mixture test (MCGdiff,
Cardoso et al. 2024).  ``M`` is (m, d) shared or (B, m, d) per sample; inputs have
``input_shape`` (default (d,)) and are flattened.  SVD layout: ``Vt(x) = Vᵀ vec(x)``
reshaped to ``input_shape``; ``singulars`` holds the min(m, d) singular values then
zeros; ``Ut(y)`` holds Uᵀy in the first min(m, d) slots (directions of y beyond d are
outside the range and dropped).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import SVDOperator, param

__all__ = ["Matrix"]


class Matrix(SVDOperator):
    """y = M vec(x); exact SVD via ``torch.linalg.svd``; ``matrix()`` returns M."""

    def __init__(self, M: Tensor, input_shape=None, dtype=None):
        M = torch.as_tensor(M)
        M = M[None] if M.ndim == 2 else M
        if M.ndim != 3:
            raise ValueError(f"M must be (m, d) or (B, m, d), got {tuple(M.shape)}")
        m, d = M.shape[1:]
        input_shape = (d,) if input_shape is None else tuple(input_shape)
        if math.prod(input_shape) != d:
            raise ValueError(f"input_shape {input_shape} has {math.prod(input_shape)} entries but M has {d} columns")
        super().__init__(input_shape, M.shape[0])
        self.output_shape = (m,)
        dtype = dtype or (M.dtype if M.is_floating_point() else torch.float64)
        self.M = M.to(dtype)
        Uf, S, Vh = torch.linalg.svd(M.double(), full_matrices=True)
        k = min(m, d)
        self.Um, self.Vh = Uf[..., :k].to(dtype), Vh.to(dtype)
        self._s = torch.cat([S, S.new_zeros(M.shape[0], d - k)], 1).to(dtype).reshape(-1, *input_shape)

    def matrix(self) -> Tensor:
        """M as given: (m, d), or (B, m, d) for per-sample matrices."""
        return self.M[0] if self.batch == 1 else self.M

    @staticmethod
    def _mv(P, v):
        if P.ndim == 2 or P.shape[0] == 1:  # shared matrix: one GEMM, no broadcast copies
            return v @ P.reshape(P.shape[-2:]).mT
        return (P @ v.unsqueeze(-1)).squeeze(-1)

    def A(self, x):
        return self._mv(param(self.M, x), self.check(x).flatten(1))

    def At(self, y):
        self.check(y, self.output_shape, "y")
        return self._mv(param(self.M, y).mT, y).reshape(-1, *self.input_shape)

    def singulars(self):
        return self._s

    def Vt(self, x):
        return self._mv(param(self.Vh, x), x.flatten(1)).reshape(-1, *self.input_shape)

    def V(self, z):
        return self._mv(param(self.Vh, z).mT, z.flatten(1)).reshape(-1, *self.input_shape)

    def Ut(self, y):
        u = self._mv(param(self.Um, y).mT, y)
        d = math.prod(self.input_shape)
        return torch.cat([u, u.new_zeros(u.shape[0], d - u.shape[1])], 1).reshape(-1, *self.input_shape)

    def U(self, z):
        k = self.Um.shape[-1]
        return self._mv(param(self.Um, z), z.flatten(1)[:, :k])
