"""Warm starts (Chung, Sim & Ye 2022, CVPR, "Come-Closer-Diffuse-Faster"): begin the reverse
process at a lower level σ0 from a classical estimate, x_σ0 = x_init + σ0·z.

``start`` is ``"noise"`` (x_init = 0, the usual cold start when σ0 = σ_max), the name of an
initializer below, a tensor of the image shape, or ``"auto"`` (the default of every posterior
sampler): for a prior that declares an image ``data_range``, the classical estimate that fits
the operator (biharmonic for masks, Wiener for blurs, bicubic for super-resolution, Tikhonov
for other linear operators) at σ0 = 0.5; a cold start otherwise (exact priors such as the
Gaussian mixture, and nonlinear operators).  Measured on MNIST (benchmarks/results/warmstart.md, NFE 10–20):
cold DDRM, DDNM, DiffPIR, RED-diff and DAPS lose to biharmonic on 70 % inpainting, warm ones (σ0 = 0.5) beat
it, and warm starts lift every sampler's mean PSNR over the 7 tasks by 0.6–5.7 dB.
``sigma_start=None`` means σ_max for a cold start and 0.5 for a warm one.  Initializers use only the operator's
duck-typed methods (``operators.linalg``) or the classical baselines:

- ``pinv``: A⁺y (SVD or CG);
- ``tikhonov``: argmin ½‖y − Ax‖² + (σ_y²/2)‖x‖² (SVD or CG), A⁺y when σ_y = 0;
- ``wiener``, ``biharmonic``, ``bicubic``: :mod:`invdiff.baselines` (blur, masks, SR).
"""

from __future__ import annotations

import torch
from torch import Tensor

from operators import linalg

INITIALIZERS = ("noise", "pinv", "tikhonov", "wiener", "biharmonic", "bicubic")
WARM_SIGMA = 0.5  # σ0 of a warm start when none is given (images on [-1, 1])


def resolve_start(start, sigma_start, prior, op):
    """``(start, sigma_start)`` with ``"auto"`` and a missing σ0 made explicit."""
    if isinstance(start, str) and start == "auto":
        start = auto_initializer(prior, op)
    if sigma_start is None and not (isinstance(start, str) and start == "noise"):
        sigma_start = WARM_SIGMA
    return start, sigma_start


def auto_initializer(prior, op) -> str:
    """The classical initializer that fits ``op`` for an image prior, else ``"noise"``."""
    import operators

    if getattr(prior, "data_range", None) is None or not linalg.is_linear(op):
        return "noise"
    if isinstance(op, operators.Inpainting):
        return "biharmonic"
    if isinstance(op, (operators.CircularBlur, operators.ReflectBlur)):
        return "wiener"
    if isinstance(op, operators.SeparableDownsampling):
        return "bicubic"
    return "tikhonov"


def initial_estimate(start, op, y: Tensor, sigma_y: float, shape, like: Tensor, name: str) -> Tensor | None:
    """x_init for ``start`` (None for ``"noise"``), shaped ``shape`` like ``like``."""
    if torch.is_tensor(start):
        if tuple(start.shape) not in (tuple(shape), tuple(shape[1:]), (1, *shape[1:])):
            raise ValueError(f"{name}: start tensor has shape {tuple(start.shape)}, expected {tuple(shape)}")
        if not torch.isfinite(start).all():
            raise ValueError(f"{name}: start tensor contains NaN or Inf")
        return start.to(like).expand(shape).clone()
    if start not in INITIALIZERS:
        raise ValueError(f"{name}: start must be a tensor, 'auto' or one of {', '.join(INITIALIZERS)}, got {start!r}")
    if start == "noise":
        return None
    if start in ("pinv", "tikhonov"):
        linalg.require(op, "linear", f"{name} (start={start!r})")
        if start == "tikhonov" and sigma_y > 0:
            x = linalg.prox(op, torch.zeros(shape, dtype=like.dtype, device=like.device), y, sigma_y**2)
        else:
            x = linalg.pinv(op, y)
        return x.real.reshape(shape).to(like) if x.is_complex() else x.reshape(shape).to(like)
    from .. import baselines

    try:
        x = baselines.BASELINES[start](op, y, sigma_y, {"x_shape": tuple(shape[1:])})
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: start={start!r} does not apply to this operator ({e})") from None
    return x.reshape(shape).to(like)


def truncate(sigmas: Tensor, grid, prior, steps: int, sigma_start) -> Tensor:
    """The grid ``grid(prior, steps, top)`` started at σ0 = ``sigma_start`` (unchanged when σ0 ≥ its top)."""
    if sigma_start is None:
        return sigmas
    s0 = float(sigma_start)
    if not s0 > 0:
        raise ValueError(f"sigma_start must be > 0, got {sigma_start!r}")
    if s0 >= float(sigmas[0]):
        return sigmas
    return grid(prior, steps, s0)
