"""Seeded measurements ``y = A(x) + σ_y·n`` with per-sample noise (DPS protocol noise model).

Sample i draws from its own ``torch.Generator`` seeded from ``(seed, offset + i)``
through NumPy's ``SeedSequence`` (the same mixing as ``invdiff.rng``), so image i
gets the same noise, and the same random mask or kernel, whatever the batch size.
"""

from __future__ import annotations

import operator

import numpy as np
import torch
from torch import Tensor

from .linalg import _bc, forward

__all__ = ["generators", "measure", "randn", "sample_seed"]


def sample_seed(seed: int, index: int) -> int:
    """A 63-bit seed for sample ``index`` of run ``seed``."""
    try:
        ok = not isinstance(seed, bool) and operator.index(seed) >= 0  # ints, NumPy ints, integer 0-d tensors
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def generators(seed: int, n: int, offset: int = 0) -> list[torch.Generator]:
    """CPU generators for samples ``offset … offset+n-1``."""
    return [torch.Generator().manual_seed(sample_seed(seed, offset + i)) for i in range(n)]


def randn(shape, seed: int, n: int, offset: int = 0) -> Tensor:
    """(n, *shape) float64 CPU normals, row i from generator (seed, offset+i)."""
    return torch.stack(
        [torch.randn(tuple(shape), generator=g, dtype=torch.float64) for g in generators(seed, n, offset)]
    )


def _show(s: Tensor):
    return float(s) if s.numel() == 1 else [round(float(v), 6) for v in s.flatten()]


def _check_sigma(sigma_y) -> None:
    """ValueError unless σ_y is a finite, non-negative number or tensor."""
    try:
        s = torch.as_tensor(sigma_y, dtype=torch.float64) if not torch.is_tensor(sigma_y) else sigma_y.detach()
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"sigma_y must be a float or a (B,) tensor, got {type(sigma_y).__name__}") from None
    if s.is_complex() or not (s.is_floating_point() or s.dtype in (torch.int64, torch.int32)):
        raise TypeError(f"sigma_y must be a real float or a (B,) tensor, got dtype {s.dtype}")
    if not torch.isfinite(s).all():
        raise ValueError(f"sigma_y must be finite, got {_show(s)}")
    if (s < 0).any():
        raise ValueError(f"sigma_y must be >= 0 (a noise standard deviation), got {_show(s)}")


def measure(op, x: Tensor, sigma_y, seed: int, offset: int = 0) -> Tensor:
    """``y = A(x) + σ_y·n`` with n ~ N(0, I) per sample, seeded by ``(seed, offset + i)``.

    ``sigma_y`` (float or (B,)) is in the units of y.  For complex measurements
    (Fourier subsampling) the real and imaginary parts each get variance σ_y².
    A negative or non-finite ``sigma_y``, or a non-finite ``x``, raises ``ValueError``.
    """
    _check_sigma(sigma_y)
    if not torch.is_tensor(x):
        raise TypeError(f"measure: x must be a torch.Tensor, got {type(x).__name__}")
    if not torch.isfinite(x).all():
        raise ValueError("measure: x contains NaN or Inf")
    y = forward(op, x)
    with torch.no_grad():
        n = randn(y.shape[1:] + ((2,) if y.is_complex() else ()), seed, y.shape[0], offset)
        n = torch.view_as_complex(n) if y.is_complex() else n
        n = n.to(device=y.device, dtype=y.dtype)
    return y + _bc(sigma_y, n) * n
