"""Base classes: Operator (A), LinearOperator (A, At; CG-derived solves), SVDOperator.

Capabilities are duck-typed (DESIGN.md): these classes are conveniences, not
requirements.  ``LinearOperator`` derives ``pinv``/``prox``/``solve_AAt`` by
conjugate gradients; ``SVDOperator`` derives ``A``/``At`` from the SVD
``A = U diag(s) Vᵀ`` and overrides the solves with exact spectral formulas
(the SVD view of degradations is that of DDRM, Kawar et al. 2022).

Every operator is pure (``A`` changes no state), batch-first, and follows the
device and dtype of its input.  Parameters with a leading batch dimension B > 1
are per sample (sample i uses parameter i); batch 1 is shared.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import linalg

_COMPLEX = {
    torch.float64: torch.complex128,
    torch.float32: torch.complex64,
    torch.float16: torch.complex32,
    torch.bfloat16: torch.complex64,
}


def real_dtype(like: Tensor) -> torch.dtype:
    return like.real.dtype if like.is_complex() else like.dtype


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    return dtype if dtype.is_complex else _COMPLEX[dtype]


def param(t: Tensor, like: Tensor) -> Tensor:
    """A stored parameter on ``like``'s device, in ``like``'s (real or complex) precision."""
    if not (t.is_floating_point() or t.is_complex()):
        return t.to(device=like.device)
    r = real_dtype(like)
    return t.to(device=like.device, dtype=complex_dtype(r) if t.is_complex() else r)


def _fmt(shape) -> str:
    return "(B, " + ", ".join(str(s) for s in shape) + ")"


class Operator:
    """A forward model ``y = A(x)`` on inputs of shape ``(B, *input_shape)``.

    ``batch`` is the parameter batch: 1 (shared) or B (one parameter set per sample).
    """

    output_shape: tuple

    def __init__(self, input_shape, batch: int = 1):
        self.input_shape = tuple(int(s) for s in input_shape)
        self.batch = int(batch)
        self.output_shape = self.input_shape

    def __call__(self, x: Tensor) -> Tensor:
        return self.A(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(input_shape={self.input_shape}, batch={self.batch})"

    def to(self, device=None, dtype=None):
        """Move (and cast floating) tensor parameters in place; returns self (like nn.Module.to)."""
        for k, v in vars(self).items():
            if torch.is_tensor(v):
                if dtype is not None and (v.is_floating_point() or v.is_complex()):
                    v = v.to(complex_dtype(dtype) if v.is_complex() else dtype)
                setattr(self, k, v.to(device) if device is not None else v)
        return self

    def check(self, x: Tensor, shape=None, what: str = "x") -> Tensor:
        """Raise ValueError unless ``x`` is ``(B, *shape)`` with B matching per-sample parameters."""
        shape = self.input_shape if shape is None else tuple(shape)
        name = type(self).__name__
        if not torch.is_tensor(x):
            raise TypeError(f"{name}: {what} must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            raise ValueError(f"{name}: expected {what} of shape {_fmt(shape)}, got {tuple(x.shape)}")
        if self.batch > 1 and x.shape[0] != self.batch:
            raise ValueError(
                f"{name} has per-sample parameters for a batch of {self.batch}: "
                f"expected {what} of shape {_fmt(shape).replace('B', str(self.batch), 1)}, "
                f"got {tuple(x.shape)}"
            )
        return x

    def A(self, x: Tensor) -> Tensor:
        raise NotImplementedError


class LinearOperator(Operator):
    """Linear operator with an exact adjoint ``At``; solves by batched CG (``linalg``)."""

    def At(self, y: Tensor) -> Tensor:
        raise NotImplementedError

    def pinv(self, y: Tensor, tol: float | None = None, maxiter: int | None = None) -> Tensor:
        return linalg.pinv_cg(self, y, tol=tol, maxiter=maxiter)

    def prox(self, x: Tensor, y: Tensor, rho, tol: float | None = None, maxiter: int | None = None) -> Tensor:
        return linalg.prox_cg(self, x, y, rho, tol=tol, maxiter=maxiter)

    def solve_AAt(self, r: Tensor, c, tol: float | None = None, maxiter: int | None = None) -> Tensor:
        return linalg.solve_AAt_cg(self, r, c, tol=tol, maxiter=maxiter)


class SVDOperator(LinearOperator):
    """``A = U diag(s) Vᵀ`` in the spectral layout of DESIGN.md; exact pinv, prox, (AAᵀ+cI)⁻¹.

    Subclasses implement ``U, Ut, V, Vt, singulars`` (and may override ``A``/``At``
    with direct formulas).  ``V`` is square orthonormal; ``U`` has orthonormal columns.
    """

    def A(self, x: Tensor) -> Tensor:
        self.check(x)
        return linalg.forward_svd(self, x)

    def At(self, y: Tensor) -> Tensor:
        self.check(y, self.output_shape, "y")
        return linalg.adjoint_svd(self, y)

    def pinv(self, y: Tensor) -> Tensor:
        self.check(y, self.output_shape, "y")
        return linalg.pinv_svd(self, y)

    def prox(self, x: Tensor, y: Tensor, rho) -> Tensor:
        self.check(x)
        self.check(y, self.output_shape, "y")
        return linalg.prox_svd(self, x, y, rho)

    def solve_AAt(self, r: Tensor, c) -> Tensor:
        self.check(r, self.output_shape, "r")
        return linalg.solve_AAt_svd(self, r, c)
