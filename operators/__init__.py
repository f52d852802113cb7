"""Forward operators for imaging inverse problems (torch only; usable without invdiff).

Every operator is pure, batch-first ((B, C, H, W) images or (B, d) vectors) and
follows its input's device and dtype.  Capabilities are duck-typed: ``A``; linear
ones add ``At``; SVD ones add ``U, Ut, V, Vt, singulars`` (DESIGN.md).  ``linalg``
derives ``pinv``, ``prox`` and ``solve_AAt`` for any of them.

    op = operators.build("gaussian_blur", shape=(3, 64, 64), batch=4, seed=0)
    y = operators.measure(op, x, sigma_y=0.05, seed=0)
    operators.check(op)          # adjoint dot test + SVD identities; ValueError naming a failure

``OPERATORS`` maps each name to a builder ``(shape, batch=1, seed=0, offset=0, **params)``;
``build(name, shape, batch, seed, offset, device, dtype, **params)`` calls it and
moves the parameters to ``device``/``dtype`` (they are computed in float64).
Defaults follow the DPS protocol on 256² images, scaled to the image side
(kernel and hole sizes in proportion).  Random parameters (kernels, masks,
signs) are per sample: sample i's come from seed (seed, offset + i).
"""

from __future__ import annotations

import math
import numbers

import torch

from . import linalg
from .base import LinearOperator, Operator, SVDOperator
from .blur import Blur, CircularBlur, GaussianBlur, MotionBlur, ReflectBlur, UniformBlur
from .callables import from_callables
from .fourier import FourierSubsampling, cartesian_masks
from .inpaint import BoxInpainting, Inpainting, RandomInpainting, box_masks, random_masks
from .kernels import gaussian_kernel, motion_kernel, scaled_size, uniform_kernel
from .linalg import adjoint, cg, has_svd, is_linear, pinv, prox, require, solve_AAt
from .matrix import Matrix
from .misc import Colorization, CompressedSensing, Denoising, PhaseRetrieval
from .noise import measure, randn, sample_seed
from .resample import SeparableDownsampling, SuperResolution
from .verify import CheckReport, check, default_tol, dot_test

__all__ = [
    "OPERATORS",
    "Blur",
    "BoxInpainting",
    "CheckReport",
    "CircularBlur",
    "Colorization",
    "CompressedSensing",
    "Denoising",
    "FourierSubsampling",
    "GaussianBlur",
    "Inpainting",
    "LinearOperator",
    "Matrix",
    "MotionBlur",
    "Operator",
    "PhaseRetrieval",
    "RandomInpainting",
    "ReflectBlur",
    "SVDOperator",
    "SeparableDownsampling",
    "SuperResolution",
    "UniformBlur",
    "adjoint",
    "box_masks",
    "build",
    "cartesian_masks",
    "cg",
    "check",
    "default_tol",
    "dot_test",
    "from_callables",
    "gaussian_kernel",
    "has_svd",
    "is_linear",
    "linalg",
    "measure",
    "motion_kernel",
    "pinv",
    "prox",
    "random_masks",
    "registry_params",
    "require",
    "sample_seed",
    "solve_AAt",
    "uniform_kernel",
]


def _side(shape) -> int:
    return min(shape[-2:])


def _blur(kind):
    def builder(shape, batch=1, seed=0, offset=0, boundary="circular", size=None, **kw):
        size = size or scaled_size({"gaussian": 61, "uniform": 9, "motion": 61}[kind], _side(shape))
        if kind == "gaussian":
            return GaussianBlur(shape, size, kw.pop("std", max(0.5, 3.0 * size / 61)), boundary, **kw)
        if kind == "uniform":
            return UniformBlur(shape, size, boundary, **kw)
        return MotionBlur(shape, size, kw.pop("intensity", 0.5), seed, batch, offset, boundary, **kw)

    builder.__doc__ = f"{kind} blur; size scaled from the 256² protocol (61, std 3.0 / 9 / 61, intensity 0.5)"
    return builder


def _inpaint_box(shape, batch=1, seed=0, offset=0, size=None, margin=None, **kw):
    """128×128 hole with 16 px margin on 256², scaled."""
    side = _side(shape)
    return BoxInpainting(
        shape, size or max(1, side // 2), side // 16 if margin is None else margin, seed, batch, offset, **kw
    )


def _inpaint_random(shape, batch=1, seed=0, offset=0, fraction=0.7, **kw):
    return RandomInpainting(shape, fraction, seed, batch, offset, **kw)


def _sr(filter):
    def builder(shape, batch=1, seed=0, offset=0, factor=None, **kw):
        factor = factor or next(f for f in (4, 2, 1) if shape[-1] % f == 0 and shape[-2] % f == 0)
        return SuperResolution(shape, factor, filter, **kw)

    builder.__doc__ = f"×4 {filter} down-sampling (×2 when the size is not divisible by 4)"
    return builder


def _mri(shape, batch=1, seed=0, offset=0, acceleration=4, center_fraction=0.08, **kw):
    return FourierSubsampling(
        cartesian_masks(*shape[-2:], acceleration, center_fraction, seed, batch, offset), shape, **kw
    )


def _matrix(shape, batch=1, seed=0, offset=0, rows=None, **kw):
    """Gaussian random M (d/2 × d, entries N(0, 1/d)) on flattened inputs, per sample."""
    d = math.prod(shape)
    return Matrix(randn((rows or max(1, d // 2), d), seed, batch, offset) / d**0.5, shape, **kw)


def _callable(shape, batch=1, seed=0, offset=0, **kw):
    """A user-style operator: 3×3 Gaussian blur (reflect) via from_callables, adjoint by autograd."""
    blur = ReflectBlur(gaussian_kernel(3, 0.7), shape, **kw)
    return from_callables(blur.A, input_shape=shape)


OPERATORS = {
    "denoise": lambda shape, batch=1, seed=0, offset=0, **kw: Denoising(shape, **kw),
    "gaussian_blur": _blur("gaussian"),
    "uniform_blur": _blur("uniform"),
    "motion_blur": _blur("motion"),
    "gaussian_blur_reflect": lambda shape, **kw: _blur("gaussian")(shape, boundary="reflect", **kw),
    "inpaint_box": _inpaint_box,
    "inpaint_random": _inpaint_random,
    "sr_avg": _sr("avg"),
    "sr_bicubic": _sr("bicubic"),
    "colorize": lambda shape, batch=1, seed=0, offset=0, **kw: Colorization(shape, **kw),
    "mri": _mri,
    "compressed_sensing": lambda shape, batch=1, seed=0, offset=0, ratio=0.25, **kw: CompressedSensing.random(
        shape, ratio, seed, batch, offset, **kw
    ),
    "phase_retrieval": lambda shape, batch=1, seed=0, offset=0, oversampling=2.0: PhaseRetrieval(shape, oversampling),
    "matrix": _matrix,
    "callable": _callable,
}


def build(
    name: str,
    shape=(3, 256, 256),
    batch: int = 1,
    seed: int = 0,
    offset: int = 0,
    device=None,
    dtype=torch.float32,
    **overrides,
):
    """Build ``OPERATORS[name]`` for images of ``shape`` with defaults, on ``device`` in ``dtype``.

    ``batch`` > 1 draws per-sample random parameters (sample i from seed (seed, offset + i));
    ``overrides`` are the builder's keyword parameters (unknown ones raise TypeError).
    The result records where it came from: ``op.registry_name`` (``name``) and
    ``op.registry_params`` (``overrides`` over the builder's keyword defaults; not shape, batch, seeds),
    so a caller can tell which registered operator, with which parameters, it was given.
    """
    if name not in OPERATORS:
        raise KeyError(f"unknown operator {name!r}; choose from {sorted(OPERATORS)}")
    if not all(isinstance(v, numbers.Integral) and v > 0 for v in tuple(shape)):
        raise ValueError(f"build: shape must be a tuple of positive ints (C, H, W), got {tuple(shape)}")
    for arg, v, least in (("batch", batch, 1), ("seed", seed, 0), ("offset", offset, 0)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < least:
            raise ValueError(f"build: {arg} must be an int >= {least}, got {v!r}")
    op = OPERATORS[name](tuple(shape), batch=batch, seed=seed, offset=offset, **overrides)
    op = op.to(device=device, dtype=dtype)
    op.registry_name, op.registry_params = name, registry_params(name, overrides)
    return op


def registry_params(name: str, overrides: dict) -> dict:
    """``overrides`` over the keyword defaults of builder ``OPERATORS[name]`` (shape, batch, seed, offset left out)."""
    import inspect

    params = inspect.signature(OPERATORS[name]).parameters
    skip = {"shape", "batch", "seed", "offset"}
    defaults = {
        k: p.default
        for k, p in params.items()
        if k not in skip and p.default is not inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD
    }
    return {**defaults, **overrides}
