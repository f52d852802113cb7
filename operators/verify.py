"""Checks that an operator is what it claims: the adjoint dot test and the SVD identities.

``check(op)`` draws a seeded random input and measures, as relative errors,

- ``adjoint``:    ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ (the dot test of deepinv's ``adjointness_test``), for
  y = A x + r with r random of the same norm, so a sign-flipped Aᵀ fails by O(1);
- ``svd``:        A x = U(s · Vᵀ x);
- ``V Vt``:       V(Vᵀ x) = x;
- ``U Ut``:       U(Uᵀ y) = y for y = A x in the range;
- ``V norm``:     ‖Vᵀ x‖ = ‖x‖ (V orthonormal);

each one only where the operator has the methods (duck-typed, DESIGN.md).  Inner products and
norms are taken in float64 on the operator's outputs, so the tolerance reflects the operator's own
rounding: ``default_tol(dtype)`` = min(1000·eps, √eps) (1.2e-4 in float32, 2.2e-13 in float64,
3e-2 in float16); the registry's operators stay below 10·eps.
A failed identity raises ``ValueError`` naming it and its relative error (or, with
``strict=False``, is reported in the returned :class:`CheckReport`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .linalg import _dot, adjoint, forward, has_svd, is_linear

__all__ = ["CheckReport", "check", "default_tol", "dot_test"]


def default_tol(dtype: torch.dtype) -> float:
    """Relative tolerance of the identities for inputs of ``dtype``: min(1000·eps, √eps) of its real precision."""
    real = {torch.complex64: torch.float32, torch.complex128: torch.float64}.get(dtype, dtype)
    eps = torch.finfo(real).eps
    return min(1000 * eps, math.sqrt(eps))


@dataclass
class CheckReport:
    """Relative error of each identity tested, the tolerance, and the inputs' dtype and batch."""

    errors: dict = field(default_factory=dict)
    tol: float = 0.0
    dtype: torch.dtype = torch.float32
    batch: int = 1

    @property
    def ok(self) -> bool:
        return all(e <= self.tol for e in self.errors.values())

    @property
    def failed(self) -> list[str]:
        return [k for k, e in self.errors.items() if not e <= self.tol]  # NaN fails too

    def __str__(self) -> str:
        rows = [f"  {k:<8} {e:.2e} {'ok' if e <= self.tol else 'FAILED'}" for k, e in self.errors.items()]
        head = f"operator check ({str(self.dtype).replace('torch.', '')}, batch {self.batch}, tol {self.tol:.1e})"
        return "\n".join([head, *rows]) if rows else head + ": nothing to test (A only)"


def _real(t: Tensor) -> Tensor:
    return (torch.view_as_real(t) if t.is_complex() else t).flatten(1).double()


def _rel(a: Tensor, b: Tensor) -> float:
    """max over samples of ‖a − b‖ / ‖b‖ (0 when both vanish)."""
    a, b = _real(a), _real(b)
    num, den = (a - b).norm(dim=1), b.norm(dim=1)
    scale = den.clamp_min(torch.finfo(torch.float64).tiny)
    return float(torch.where(num == 0, torch.zeros_like(num), num / scale).max())


def _randn(shape, g: torch.Generator, like: Tensor) -> Tensor:
    if like.is_complex():
        return torch.view_as_complex(torch.randn(*shape, 2, generator=g, dtype=torch.float64)).to(like)
    return torch.randn(tuple(shape), generator=g, dtype=torch.float64).to(like)


def dot_test(op, x: Tensor, seed: int = 0) -> tuple[float, Tensor, Tensor]:
    """``(relative error, ⟨Ax, y⟩, ⟨x, Aᵀy⟩)`` of the dot test at ``x`` with y = Ax + r (per sample, float64).

    The error is |⟨Ax, y⟩ − ⟨x, Aᵀy⟩| / max(‖Ax‖‖y‖, ‖x‖‖Aᵀy‖), its maximum over the batch.
    """
    g = torch.Generator().manual_seed(int(seed) + 1)
    ax = forward(op, x)
    r = _randn(ax.shape, g, ax)
    nax, nr = _real(ax).norm(dim=1), _real(r).norm(dim=1).clamp_min(1e-300)
    scale = torch.where(nax > 0, nax / nr, torch.ones_like(nax)).to(ax.real.dtype)
    y = ax + scale.reshape(-1, *[1] * (ax.ndim - 1)) * r
    aty = adjoint(op, y, x)
    lhs = _dot(
        ax.to(torch.complex128 if ax.is_complex() else torch.float64),
        y.to(torch.complex128 if y.is_complex() else torch.float64),
    )
    rhs = _dot(x.double(), aty.double())
    den = torch.maximum(_real(ax).norm(dim=1) * _real(y).norm(dim=1), _real(x).norm(dim=1) * _real(aty).norm(dim=1))
    err = (lhs - rhs).abs() / den.clamp_min(torch.finfo(torch.float64).tiny)
    err = torch.where((lhs - rhs) == 0, torch.zeros_like(err), err)
    return float(err.max()), lhs, rhs


def _like(op):
    """dtype and device of the operator's first floating tensor parameter (float32 / CPU when none)."""
    for v in vars(op).values() if hasattr(op, "__dict__") else ():
        if torch.is_tensor(v) and (v.is_floating_point() or v.is_complex()):
            return (v.real.dtype if v.is_complex() else v.dtype), v.device
    return torch.float32, torch.device("cpu")


def check(
    op,
    x: Tensor | None = None,
    *,
    shape=None,
    batch: int | None = None,
    dtype=None,
    device=None,
    seed: int = 0,
    tol: float | None = None,
    strict: bool = True,
) -> CheckReport:
    """Test the adjoint and SVD identities of ``op`` on seeded random input (or on ``x``).

    ``shape`` is the per-sample input shape (default ``op.input_shape``); ``batch`` defaults to the
    operator's parameter batch (2 for shared parameters); ``dtype``/``device`` default to those of
    the operator's parameters.  Returns a :class:`CheckReport`; with ``strict`` (default) a failed
    identity raises ``ValueError`` naming it, its relative error and the tolerance.
    """
    if x is None:
        shape = getattr(op, "input_shape", None) if shape is None else shape
        if shape is None:
            raise ValueError("check needs the input shape: pass shape=(C, H, W) or x=, or give op an input_shape")
        pdtype, pdevice = _like(op)
        dtype, device = dtype or pdtype, device or pdevice
        op_batch = int(getattr(op, "batch", 1) or 1)
        batch = batch or (op_batch if op_batch > 1 else 2)
        g = torch.Generator().manual_seed(int(seed))
        x = torch.randn(batch, *tuple(shape), generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
    report = CheckReport(tol=default_tol(x.dtype) if tol is None else float(tol), dtype=x.dtype, batch=x.shape[0])
    with torch.no_grad():
        ax = forward(op, x)
    if not torch.isfinite(ax).all():
        report.errors["finite"] = math.inf
    if is_linear(op):
        report.errors["adjoint"] = dot_test(op, x, seed)[0]
    if has_svd(op):
        with torch.no_grad():
            s, vx = op.singulars(), op.Vt(x)
            try:
                torch.broadcast_shapes(s.shape, vx.shape)
            except RuntimeError:
                raise ValueError(
                    f"{type(op).__name__}: singulars() has shape {tuple(s.shape)}, which does not broadcast with "
                    f"Vt(x) of shape {tuple(vx.shape)} (the SVD methods do not fit together)"
                ) from None
            report.errors["svd"] = _rel(op.U(s.to(vx.real.dtype) * vx), ax)
            report.errors["V Vt"] = _rel(op.V(vx), x)
            report.errors["U Ut"] = _rel(op.U(op.Ut(ax)), ax)
            nv, nx = _real(vx).norm(dim=1), _real(x).norm(dim=1)
            report.errors["V norm"] = float(((nv - nx).abs() / nx.clamp_min(1e-300)).max())
    if strict and not report.ok:
        name = report.failed[0]
        what = {
            "finite": "A(x) is finite",
            "adjoint": "<A x, y> == <x, At y> (adjoint dot test)",
            "svd": "A x == U(s * Vt x)",
            "V Vt": "V(Vt x) == x",
            "U Ut": "U(Ut y) == y for y = A x",
            "V norm": "|Vt x| == |x| (V orthonormal)",
        }[name]
        raise ValueError(
            f"{type(op).__name__}: identity {what} fails: relative error {report.errors[name]:.2e} > "
            f"tolerance {report.tol:.1e} ({str(report.dtype).replace('torch.', '')} input, "
            f"batch {report.batch})"
        )
    return report
