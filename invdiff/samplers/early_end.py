"""Ending the reverse process early: the σ grid bent to stop at σ_end > 0, then one step to 0.

A sampler's last step goes from the grid's last positive level to 0 and returns its estimate
x̂0 at that level, built on the denoiser's E[x0 | x_σ] (Tweedie's formula, Efron 2011).  At the
usual last level (σ ≈ 0.01) that is a posterior sample; at a larger σ_end it is a mean over the
detail the remaining levels would have drawn: smoother, and nearer in squared error to the
posterior mean.  The prior's denoiser smooths the measured part too, so the output is then made
consistent with y (:func:`finish`): the mean of x0 given y under ΠGDM's Gaussian approximation
x0 | x_σ ~ N(x̂0, r² I), r² = σ²/(1 + σ²) (Song, Vahdat, Mardani & Kautz, ICLR 2023), that is
argmin ½‖y − A x‖² + (σ_y²/2r²)‖x − x̂0‖² (x̂0 + A⁺(y − A x̂0) when σ_y = 0).  Nonlinear operators
get x̂0 as it is.  ``sigma_end`` trades sample fidelity for PSNR at no extra NFE; ``None`` (every
sampler's default) leaves the grid and the output as they are.

The grid keeps its shape: its positive levels s_0 > … > s_{n-1} are mapped to
s_i' = s_0·(s_i/s_0)^α with α = log(σ_end/s_0) / log(s_{n-1}/s_0), so every gap in log σ is
scaled by α, s_0' = s_0 and s_{n-1}' = σ_end exactly; the number of levels (NFE) is unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from operators import linalg


class SigmaEndError(ValueError):
    """``sigma_end`` does not lie strictly inside the grid (``invdiff tune`` prunes such a trial)."""


def end_at(sigmas: Tensor, sigma_end, name: str) -> Tensor:
    """``sigmas`` (decreasing, ending in 0) with its positive levels mapped to end at ``sigma_end``."""
    if sigma_end is None:
        return sigmas
    if isinstance(sigma_end, bool) or not isinstance(sigma_end, (int, float)) or not 0 < sigma_end < math.inf:
        raise ValueError(f"{name}: sigma_end must be a finite number > 0 or None, got {sigma_end!r}")
    pos = sigmas[:-1]
    top, last, s_end = float(pos[0]), float(pos[-1]), float(sigma_end)
    if not s_end < top:
        raise SigmaEndError(
            f"{name}: sigma_end={s_end:g} must lie below the grid's first level σ = {top:.4g} "
            "(the start: σ_max, or sigma_start for a warm start)"
        )
    if not s_end > last:
        raise SigmaEndError(f"{name}: sigma_end={s_end:g} must lie above the grid's last level σ = {last:.4g}")
    alpha = math.log(s_end / top) / math.log(last / top)
    bent = top * (pos / top) ** alpha
    bent[0], bent[-1] = top, s_end
    return torch.cat([bent, sigmas.new_zeros(1)])


def finish(op, y: Tensor, x: Tensor, sigma_y: float, sigma_end: float | None) -> Tensor:
    """``x`` after an early end at ``sigma_end``: ΠGDM's posterior mean given x̂0 = x and y (linear ``op``)."""
    if sigma_end is None or not linalg.is_linear(op):
        return x
    r2 = sigma_end**2 / (1 + sigma_end**2)
    if sigma_y > 0:
        out = linalg.prox(op, x, y, sigma_y**2 / r2)
    else:
        out = x + linalg.pinv(op, y - linalg.forward(op, x))
    return (out.real if out.is_complex() and not x.is_complex() else out).to(x)
