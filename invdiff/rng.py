"""Injected, per-sample randomness.

Sample i of a batch draws from its own ``torch.Generator`` seeded from
``(seed, i)``, so image i is the same whatever the batch size.  No global RNG.
"""

from __future__ import annotations

import operator

import numpy as np
import torch
from torch import Tensor


def sample_seed(seed: int, index: int) -> int:
    """A 63-bit seed for sample ``index`` of run ``seed`` (NumPy SeedSequence mixing)."""
    try:
        ok = not isinstance(seed, bool) and operator.index(seed) >= 0  # ints, NumPy ints, integer 0-d tensors
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def sample_generators(seed: int, n: int, offset: int = 0) -> list[torch.Generator]:
    """CPU generators for samples ``offset … offset+n-1``."""
    return [torch.Generator().manual_seed(sample_seed(seed, offset + i)) for i in range(n)]


class PerSampleRNG:
    """Per-sample noise for a batch: ``rng.randn_like(x)`` draws row i from generator i."""

    def __init__(self, seed: int, batch: int, offset: int = 0):
        self.gens = sample_generators(seed, batch, offset)

    def randn(self, shape, like: Tensor) -> Tensor:
        z = torch.stack([torch.randn(tuple(shape), generator=g, dtype=torch.float64) for g in self.gens])
        return z.to(device=like.device, dtype=like.dtype if like.is_floating_point() else torch.float32)

    def randn_like(self, x: Tensor) -> Tensor:
        if x.shape[0] != len(self.gens):
            raise ValueError(f"batch of {x.shape[0]} but {len(self.gens)} generators")
        if x.is_complex():
            re = self.randn(x.shape[1:], x.real)
            im = self.randn(x.shape[1:], x.real)
            return torch.complex(re, im) / 2**0.5
        return self.randn(x.shape[1:], x)

    def rand(self, shape, like: Tensor) -> Tensor:
        z = torch.stack([torch.rand(tuple(shape), generator=g, dtype=torch.float64) for g in self.gens])
        return z.to(device=like.device, dtype=like.dtype)
