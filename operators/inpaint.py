"""Inpainting: y = m ⊙ x, with a box, random or user mask (DPS, DDRM, DAPS tasks).

The SVD is exact and trivial: ``V = I``, ``singulars = m`` (the mask in the shape
of x), ``U = Ut = m ⊙ ·``; y has the shape of x with zeros at dropped pixels.
Masks are (H, W) shared, (B, H, W) per sample, or (B or 1, C or 1, H, W);
nonzero = kept, 0 = dropped.

Box (DPS): a size×size hole at a random position at least ``margin`` pixels from
the border (128 px, margin 16 on 256²).  Random (DAPS): a fraction of pixels
dropped (70 %), the same pixels in every channel.  Sample i's mask is drawn from
seed ``(seed, offset + i)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import SVDOperator, param
from .noise import generators

__all__ = ["Inpainting", "box_masks", "random_masks", "BoxInpainting", "RandomInpainting"]


class Inpainting(SVDOperator):
    """y = mask ⊙ x with exact SVD (singulars = mask)."""

    def __init__(self, mask: Tensor, input_shape, dtype=None):
        if len(input_shape) != 3:
            raise ValueError(f"inpainting needs an image input_shape (C, H, W), got {tuple(input_shape)}")
        C, H, W = input_shape
        m = torch.as_tensor(mask)
        m = m[None, None] if m.ndim == 2 else m[:, None] if m.ndim == 3 else m
        if m.ndim != 4 or m.shape[1] not in (1, C) or tuple(m.shape[2:]) != (H, W):
            raise ValueError(
                f"mask must be ({H}, {W}), (B, {H}, {W}) or (B, 1 or {C}, {H}, {W}), got {tuple(mask.shape)}"
            )
        dtype = dtype or (m.dtype if m.is_floating_point() else torch.float64)
        super().__init__(input_shape, m.shape[0])
        self.mask = (m != 0).to(dtype).expand(-1, C, -1, -1)

    def A(self, x):
        self.check(x)
        return x * param(self.mask, x)

    def At(self, y):
        self.check(y, what="y")
        return y * param(self.mask, y)

    def singulars(self):
        return self.mask

    def Vt(self, x):
        return x

    def V(self, z):
        return z

    def Ut(self, y):
        return y * param(self.mask, y)

    def U(self, z):
        return z * param(self.mask, z)


def box_masks(H: int, W: int, size: int, margin: int = 0, seed: int = 0, batch: int = 1, offset: int = 0) -> Tensor:
    """(batch, 1, H, W) masks with a size×size hole at a seeded random position ≥ margin from the border."""
    if size + 2 * margin > min(H, W):
        raise ValueError(f"a {size}px hole with margin {margin} does not fit in {H}x{W}")
    m = torch.ones(batch, 1, H, W)
    for i, g in enumerate(generators(seed, batch, offset)):
        top = int(torch.randint(margin, H - margin - size + 1, (), generator=g))
        left = int(torch.randint(margin, W - margin - size + 1, (), generator=g))
        m[i, :, top : top + size, left : left + size] = 0
    return m


def random_masks(H: int, W: int, fraction: float = 0.7, seed: int = 0, batch: int = 1, offset: int = 0) -> Tensor:
    """(batch, 1, H, W) masks dropping round(fraction·H·W) seeded random pixels."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    drop = int(round(fraction * H * W))
    m = torch.ones(batch, H * W)
    for i, g in enumerate(generators(seed, batch, offset)):
        m[i, torch.randperm(H * W, generator=g)[:drop]] = 0
    return m.reshape(batch, 1, H, W)


def BoxInpainting(
    input_shape, size: int = 128, margin: int = 16, seed: int = 0, batch: int = 1, offset: int = 0, dtype=None
):
    """Box inpainting (DPS protocol: 128×128 hole, 16 px margin on 256²)."""
    return Inpainting(box_masks(*input_shape[-2:], size, margin, seed, batch, offset), input_shape, dtype)


def RandomInpainting(input_shape, fraction: float = 0.7, seed: int = 0, batch: int = 1, offset: int = 0, dtype=None):
    """Random-pixel inpainting (DAPS protocol: 70 % dropped)."""
    return Inpainting(random_masks(*input_shape[-2:], fraction, seed, batch, offset), input_shape, dtype)
