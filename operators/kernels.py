"""Blur kernels: Gaussian, uniform (box) and random motion kernels.

- Gaussian, 61×61 with std 3.0 on 256² images: the DPS protocol (Chung et al., 2023).
- Uniform 9×9: the DDRM deblurring task (Kawar et al., 2022).
- Motion: a random camera-shake trajectory rasterised into a kernel, the kind of
  kernel DPS draws with the ``motionblur`` package (size 61, intensity 0.5, a new
  kernel per image).  Our own generator: a 2-D random walk whose heading turns by
  N(0, (π·intensity/4)²) per step and whose speed jitters log-normally, scaled to a
  random fraction of the kernel width, splatted bilinearly and normalised to sum 1.
  intensity 0 gives a straight line; larger values give curlier paths.
All kernels are float64 (size, size) tensors summing to 1.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["gaussian_kernel", "uniform_kernel", "motion_kernel", "scaled_size"]


def scaled_size(size_256: int, side: int, minimum: int = 3) -> int:
    """A kernel size of ``size_256`` on 256-pixel images scaled to ``side`` pixels (odd, ≥ minimum)."""
    k = max(minimum, int(round(size_256 * side / 256)))
    return k if k % 2 else k + 1


def gaussian_kernel(size: int, std: float) -> Tensor:
    """Isotropic Gaussian sampled on a size×size grid, centred, normalised."""
    if size < 1 or std <= 0:
        raise ValueError(f"need size >= 1 and std > 0, got size={size}, std={std}")
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * std**2))
    k = g[:, None] * g[None, :]
    return k / k.sum()


def uniform_kernel(size: int) -> Tensor:
    """Box kernel: all taps 1/size²."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    return torch.full((size, size), 1.0 / size**2, dtype=torch.float64)


def motion_kernel(size: int, intensity: float = 0.5, seed: int = 0) -> Tensor:
    """Random motion-blur kernel (random-walk trajectory), seeded; see the module docstring."""
    if size < 3 or not 0 <= intensity <= 1:
        raise ValueError(f"need size >= 3 and 0 <= intensity <= 1, got size={size}, intensity={intensity}")
    rng = np.random.default_rng(seed)
    steps = max(32, 4 * size)
    heading = rng.uniform(0, 2 * math.pi) + np.cumsum(rng.normal(0, math.pi * intensity / 4, steps))
    speed = np.exp(np.cumsum(rng.normal(0, 0.1 * intensity, steps)))
    path = np.concatenate([[0j], np.cumsum(speed * np.exp(1j * heading))])
    path -= (path.real.max() + path.real.min()) / 2 + 1j * (path.imag.max() + path.imag.min()) / 2
    extent = max(np.ptp(path.real), np.ptp(path.imag), 1e-12)
    path *= rng.uniform(0.4, 0.9) * (size - 1) / extent
    # densify the polyline so every pixel it crosses gets mass, then splat bilinearly
    t = np.linspace(0, len(path) - 1, 8 * len(path))
    pts = np.interp(t, np.arange(len(path)), path.real) + 1j * np.interp(t, np.arange(len(path)), path.imag)
    r, c = pts.imag + (size - 1) / 2, pts.real + (size - 1) / 2
    r0, c0 = np.clip(np.floor(r), 0, size - 2).astype(int), np.clip(np.floor(c), 0, size - 2).astype(int)
    fr, fc = np.clip(r - r0, 0, 1), np.clip(c - c0, 0, 1)
    k = np.zeros((size, size))
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        np.add.at(k, (r0 + dr, c0 + dc), w)
    return torch.from_numpy(k / k.sum())
