"""Input checks shared by every sampler's head: one place, errors in a user's words.

Each check raises ``TypeError``/``ValueError`` naming the sampler and the problem before
any network call.  ``DivergenceError`` is what a sampler raises when its state stops
being finite.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor


class DivergenceError(RuntimeError):
    """A sampler's state became non-finite (NaN/Inf); the message names sampler, step and σ."""


def check_prior(prior, name: str = "sampler") -> None:
    """TypeError unless ``prior`` is a prior object (a denoiser ``x0`` or a noise predictor ``eps``)."""
    if not any(callable(getattr(prior, m, None)) for m in ("x0", "eps")):
        hint = f"; load one with invdiff.load_prior({str(prior)!r})" if isinstance(prior, str) else ""
        raise TypeError(f"{name}: prior must be a prior object with x0/eps methods, got {type(prior).__name__}{hint}")


def check_sigma_y(sigma_y, name: str = "sampler", positive: bool = False) -> float:
    """``sigma_y`` as a float; finite and ≥ 0 (> 0 when ``positive``)."""
    if (
        isinstance(sigma_y, bool)
        or not isinstance(sigma_y, (int, float))
        and not (torch.is_tensor(sigma_y) and sigma_y.numel() == 1)
    ):
        raise TypeError(f"{name}: sigma_y must be a number, got {type(sigma_y).__name__}")
    s = float(sigma_y)
    if not math.isfinite(s) or s < 0 or (positive and s == 0):
        raise ValueError(f"{name}: sigma_y must be a finite number {'>' if positive else '>='} 0, got {sigma_y!r}")
    return s


def check_steps(steps, name: str) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{name}: steps must be a positive int, got {steps!r}")
    return steps


def check_image(x, name: str = "y", who: str = "sampler") -> Tensor:
    """A non-empty, floating (or complex), finite tensor."""
    if not torch.is_tensor(x):
        raise TypeError(f"{who}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(
            f"{who}: {name} has integer dtype {x.dtype}; convert images to float in [-1, 1] "
            f"(e.g. x.float() / 127.5 - 1 for uint8)"
        )
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{who}: {name} is an empty batch (shape {tuple(x.shape)})")
    if not torch.isfinite(x).all():
        raise ValueError(f"{who}: {name} contains NaN or Inf")
    return x


def _fmt(shape) -> str:
    return "(B, " + ", ".join(str(int(s)) for s in shape) + ")"


def _check_shape(name: str, y: Tensor, out: tuple) -> None:
    """ValueError unless y is (B, *out); the message names a missing batch dimension or a channels-last y."""
    if tuple(y.shape[1:]) != out:
        hint = ""
        if y.ndim == len(out):
            hint = " (it has no batch dimension: add one with y[None])"
        elif len(out) == 3 and y.ndim == 4 and tuple(y.shape[1:]) == (out[1], out[2], out[0]):
            hint = " (it looks channels-last (B, H, W, C): use y.permute(0, 3, 1, 2))"
        raise ValueError(f"{name}: y has shape {tuple(y.shape)} but the operator measures {_fmt(out)}{hint}")


def check_measurement(name: str, prior, op, y: Tensor, x_shape) -> None:
    """Shape, rank, batch and range of ``y`` against the operator and the prior."""
    out = getattr(op, "output_shape", None)
    if out is not None:
        _check_shape(name, y, tuple(int(s) for s in out))
    batch = int(getattr(op, "batch", 1) or 1)
    if batch > 1 and y.shape[0] != batch:
        raise ValueError(
            f"{name}: the operator has per-sample parameters for a batch of {batch}, but y holds "
            f"{y.shape[0]} measurements; build the operator with batch={y.shape[0]}"
        )
    inp = getattr(op, "input_shape", None)
    img = getattr(prior, "image_shape", None)
    if inp is not None and img is not None and tuple(inp) != tuple(img):
        raise ValueError(
            f"{name}: the operator works on images of shape {tuple(inp)}, the prior on {tuple(img)}; "
            f"build the operator with shape={tuple(img)}"
        )
    if x_shape is not None and inp is not None and tuple(x_shape) != tuple(inp):
        raise ValueError(f"{name}: x_shape {tuple(x_shape)} does not match the operator's input {tuple(inp)}")
    rng = getattr(prior, "data_range", None)
    if rng is not None and not y.is_complex():
        lo, hi = rng
        width = hi - lo
        ymax = float(y.abs().max())
        if ymax > hi + 4 * width:
            warnings.warn(
                f"{name}: y reaches {ymax:.3g}, far outside the prior's data range [{lo:g}, {hi:g}] "
                f"(were images given in [0, 255]?)",
                UserWarning,
                stacklevel=4,
            )


def check_against_operator(name: str, prior, op, y: Tensor, shape) -> None:
    """What one probe ``A(±1)`` on the batch's shape tells about ``y``: its shape (for operators that declare
    no ``output_shape``), complex y for real measurements, and data in [0, 1] given to a [-1, 1] prior (the
    operator maps constant images to the same constant, up to a per-pixel gain ``A(1)``, so ``y / A(1)``
    shows the range of the image behind y)."""
    from operators.linalg import forward

    like = y.real if y.is_complex() else y
    try:
        with torch.no_grad():
            ones = torch.ones(shape, dtype=like.dtype, device=y.device)
            a, b = forward(op, ones), forward(op, -ones)
    except (RuntimeError, ValueError, TypeError):  # an operator that cannot take this probe fails in the sampler
        return
    if a.shape != y.shape:
        _check_shape(name, y, tuple(a.shape[1:]))
        raise ValueError(f"{name}: y has shape {tuple(y.shape)} but A maps the batch to {tuple(a.shape)}")
    if y.is_complex() and not a.is_complex():
        raise TypeError(f"{name}: y is complex ({y.dtype}) but the operator's measurements are real")
    rng = getattr(prior, "data_range", None)
    if rng is None or y.is_complex() or a.is_complex() or not torch.allclose(b, -a):
        return
    lo, hi = rng
    gain = a > 0.5 * float(a.max())  # pixels the operator passes (A(1) > 0 where it does)
    if lo >= 0 or float(a.min()) < -1e-6 or not gain.any():
        return
    z = y[gain] / a[gain]
    if float(z.min()) > lo + (hi - lo) / 8:  # no pixel in the darkest eighth (images in [0, 1] + noise)
        warnings.warn(
            f"{name}: y lies in [{float(z.min()):.2g}, {float(z.max()):.2g}] and never reaches the darkest eighth "
            f"of the prior's data range [{lo:g}, {hi:g}] (were images given in [0, 1]? use 2 * x - 1)",
            UserWarning,
            stacklevel=4,
        )


def check_dtype(name: str, op, y: Tensor) -> None:
    """Half precision runs only where the operator can (the FFT blurs cannot on CPU)."""
    if y.dtype in (torch.float16, torch.bfloat16) and y.device.type == "cpu":
        raise TypeError(
            f"{name}: y is {y.dtype}; samplers keep their state in float32 or float64 on CPU. "
            f"Pass y.float() (the network may still run in half precision)"
        )


def guard(name: str, step: int, sigma: float, x: Tensor) -> None:
    """Raise ``DivergenceError`` when ``x`` holds NaN or Inf."""
    if not torch.isfinite(x).all():
        raise DivergenceError(
            f"{name} diverged at step {step} (σ = {sigma:.4g}): the state holds NaN/Inf. Likely causes: a step "
            f"size (zeta, lr, lambda_) too large for this number of steps, a wrong adjoint At, or a network "
            f"returning NaN (check the checkpoint)"
        )
