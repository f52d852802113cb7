"""The exact posterior mean of denoising in one network evaluation, by Tweedie's formula.

For y = x + σ_y·n (the identity operator; VE noise in the units of x) the measurement is itself a draw
of the prior diffused to level σ_y, so E[x | y] = D(y, σ_y) = y − σ_y·ε̂(y, σ_y) (Robbins 1956; Efron,
"Tweedie's formula and selection bias", JASA 2011).  This is the MMSE estimate under the prior, the
quantity PSNR rewards: a posterior *sample* pays about 3 dB against it, since for two independent draws
x, x' of the posterior E‖x − x'‖² = 2·E‖x − E[x | y]‖².  It applies to denoising only; every other
operator needs a sampler (:mod:`invdiff.samplers`) or a mean of draws (:func:`invdiff.posterior_stats`).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["tweedie_denoise"]


def _is_identity(op, y: Tensor) -> bool:
    """Whether ``op.A`` returns its input: checked on one random probe shaped like ``y``."""
    a = getattr(op, "A", None)
    if not callable(a):
        return False
    g = torch.Generator(device=y.device).manual_seed(0)
    probe = torch.randn(y.shape, generator=g, device=y.device, dtype=y.dtype)
    try:
        out = a(probe)
    except Exception:
        return False
    return isinstance(out, Tensor) and out.shape == probe.shape and bool(torch.allclose(out, probe))


@torch.no_grad()
def tweedie_denoise(prior, op, y: Tensor, *, sigma_y: float, steps: int = 1, seed: int = 0, x_shape=None,
                    offset: int = 0, callback=None) -> Tensor:  # fmt: skip
    """E[x | y] = D(y, σ_y) for y = x + σ_y·n: one network evaluation, deterministic.

    The sampler signature lets the benchmark run it as a method (``tweedie`` in the suites, denoising
    tasks only); ``steps``, ``seed``, ``offset`` and ``callback`` have no effect (nothing is drawn, and
    the cost is one NFE whatever ``steps`` says).  ``op`` must be the identity and ``sigma_y`` > 0, else
    a ``ValueError`` names the problem.
    """
    if not isinstance(y, Tensor) or not y.is_floating_point() or y.dim() < 2:
        raise ValueError(f"y must be a float tensor (N, ...), got {getattr(y, 'shape', type(y).__name__)}")
    if not isinstance(sigma_y, (int, float)) or isinstance(sigma_y, bool) or not sigma_y > 0:
        raise ValueError(f"sigma_y must be a number > 0 (Tweedie's formula denoises at that level), got {sigma_y!r}")
    if x_shape is not None and tuple(y.shape[1:]) != tuple(x_shape):
        raise ValueError(f"tweedie_denoise: y has shape {tuple(y.shape[1:])} per image, x_shape is {tuple(x_shape)}")
    if not bool(torch.isfinite(y).all()):
        raise ValueError("y has NaN or infinite entries")
    if not _is_identity(op, y):
        raise ValueError(
            f"tweedie_denoise needs the identity operator (denoising), got {type(op).__name__}: for other "
            "operators use a posterior sampler or a mean of its draws (invdiff.posterior_stats)"
        )
    return prior.x0(y, float(sigma_y))


tweedie_denoise.needs = "any"
tweedie_denoise.fixed_nfe = 1  # one network evaluation per image, whatever the steps
tweedie_denoise.task_kinds = ("denoise",)  # the benchmark runs it on denoising tasks only
