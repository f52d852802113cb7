"""Shared pieces of the sampler head: σ grids, start noise, input checks."""
from __future__ import annotations

import torch
from torch import Tensor

from ..rng import PerSampleRNG
from ..schedule import ddpm_sigmas, karras_sigmas

# σ range used for priors without a VP schedule (exact priors): EDM's defaults (Karras et al. 2022)
SIGMA_MIN, SIGMA_MAX = 0.002, 80.0


def default_sigmas(prior, steps: int, kind: str = "ddpm") -> Tensor:
    """A decreasing σ grid of ``steps`` levels ending in 0.

    ``kind="ddpm"``: uniform in DDPM t when the prior has a VP schedule (the
    papers' setting), else Karras.  ``kind="karras"``: EDM grid, ρ = 7.
    """
    sched = getattr(prior, "schedule", None)
    if kind == "ddpm" and sched is not None:
        return ddpm_sigmas(sched, steps)
    if kind not in ("ddpm", "karras"):
        raise ValueError(f"kind must be 'ddpm' or 'karras', got {kind!r}")
    lo = sched.sigma_min if sched is not None else SIGMA_MIN
    hi = sched.sigma_max if sched is not None else SIGMA_MAX
    return karras_sigmas(steps, lo, hi)


def check_sigmas(sigmas: Tensor) -> Tensor:
    s = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    if s.numel() < 2 or s[-1] != 0 or torch.any(s[1:] >= s[:-1]):
        raise ValueError("sigmas must be a decreasing 1-D tensor ending in 0")
    return s


def start_noise(shape, sigma: float, rng: PerSampleRNG, device=None, dtype=torch.float32) -> Tensor:
    """x_{σ_max} = σ_max · z with per-sample z (the VE prior at the top of the grid)."""
    like = torch.empty(0, device=device, dtype=dtype)
    return sigma * rng.randn(tuple(shape[1:]), like)


def check_image(x: Tensor, name: str = "y") -> Tensor:
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return x


def resolve_shape(prior, op, y: Tensor, x_shape=None) -> tuple[int, ...]:
    """The (B, *event) shape of x for measurement ``y`` (batch B = y.shape[0]).

    The event shape comes from ``x_shape`` when given, else ``prior.image_shape``, else
    ``op.input_shape`` (all event shapes, without the batch dimension).
    """
    for cand in (x_shape, getattr(prior, "image_shape", None), getattr(op, "input_shape", None)):
        if cand is not None:
            return (y.shape[0], *(int(c) for c in cand))
    raise ValueError("cannot tell the shape of x: pass x_shape=(C, H, W), or use a prior with image_shape "
                     "or an operator with input_shape")
