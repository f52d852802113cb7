"""Exact references: dense operator matrices and the sliced Wasserstein distance."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def dense_matrix(op, shape: tuple[int, ...]) -> Tensor:
    """The (m, d) float64 matrix of a linear operator on inputs of ``shape`` (event shape, no batch).

    Uses ``op.matrix()`` when the operator has one, else applies ``op.A`` to the basis.
    """
    if hasattr(op, "matrix") and callable(op.matrix):
        M = torch.as_tensor(op.matrix(), dtype=torch.float64)
        return M.reshape(M.shape[0], -1)
    d = math.prod(shape)
    if d > 20000:
        raise ValueError(f"dense_matrix on {d} inputs is too large")
    eye = torch.eye(d, dtype=torch.float64).reshape(d, *shape)
    cols = []
    for i in range(0, d, 512):
        cols.append(op.A(eye[i : i + 512]).reshape(min(512, d - i), -1))
    out = torch.cat(cols)
    if out.is_complex():
        raise ValueError("dense_matrix needs a real-valued operator")
    return out.T.contiguous()


def sliced_wasserstein(a: Tensor, b: Tensor, projections: int = 200, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance between two equal-size sample sets (N, …) over random directions."""
    a = a.reshape(a.shape[0], -1).double().cpu()
    b = b.reshape(b.shape[0], -1).double().cpu()
    if a.shape != b.shape:
        raise ValueError(f"sample sets must have equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(a.shape[1], projections, generator=g, dtype=torch.float64)
    dirs /= dirs.norm(dim=0, keepdim=True)
    pa, _ = (a @ dirs).sort(0)
    pb, _ = (b @ dirs).sort(0)
    return float(((pa - pb) ** 2).mean().sqrt())
