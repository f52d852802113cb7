"""A user's own operator from plain functions (adjoint by autograd when not given).

``from_callables(A, At=None, input_shape=...)`` wraps a function of batched inputs.
With ``linear=True`` (default) the result has ``At``: the given one, or the
vector–Jacobian product of ``A`` (exact for linear A), so ``pinv``/``prox``/
``solve_AAt`` work by conjugate gradients.  ``linear=False`` gives an ``A``-only
operator (for DPS-style samplers).

A linear one is checked once when it is built: the dot test ⟨Ax, y⟩ = ⟨x, Aᵀy⟩ on seeded random
input (:func:`operators.verify.dot_test`); a wrong ``At`` (a kernel not flipped, a sign, a
transposed shape) raises ``ValueError`` with the relative error and the dtype-derived tolerance.
The test input is float32 on the CPU, or float64 when ``A`` refuses float32 (float64
parameters); pass ``dtype=``/``device=`` to choose, or ``check=False`` to skip it.
"""

from __future__ import annotations

import torch

from .base import LinearOperator, Operator, real_dtype

__all__ = ["CallableLinearOperator", "CallableOperator", "check_adjoint", "from_callables"]


class CallableOperator(Operator):
    """Operator from a function ``A`` (input shape checked)."""

    def __init__(self, A, input_shape, output_shape=None):
        super().__init__(input_shape)
        self.output_shape = None if output_shape is None else tuple(output_shape)
        self._A = A

    def A(self, x):
        return self._A(self.check(x))


class CallableLinearOperator(CallableOperator, LinearOperator):
    """Linear operator from ``A`` and optionally ``At`` (else the VJP of ``A``)."""

    def __init__(self, A, At=None, input_shape=None, output_shape=None):
        super().__init__(A, input_shape, output_shape)
        self._At = At

    def At(self, y):
        if self.output_shape is not None:
            self.check(y, self.output_shape, "y")
        if self._At is not None:
            return self._At(y)
        x0 = torch.zeros((y.shape[0], *self.input_shape), dtype=real_dtype(y), device=y.device, requires_grad=True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(self._A(x0), x0, grad_outputs=y, create_graph=y.requires_grad)
        return g


def _probe(op, dtype, device):
    """A random (1, *input_shape) input on which ``op.A`` runs: (x, None) or (None, reasons)."""
    if dtype is not None or device is not None:
        tries = [(dtype or torch.float32, torch.device(device or "cpu"))]
    else:
        tries = [(torch.float32, torch.device("cpu")), (torch.float64, torch.device("cpu"))]
        if torch.cuda.is_available():
            tries += [(torch.float32, torch.device("cuda"))]
    g = torch.Generator().manual_seed(0)
    x64 = torch.randn(1, *op.input_shape, generator=g, dtype=torch.float64)
    reasons = []
    for dt, dev in tries:
        x = x64.to(device=dev, dtype=dt)
        try:
            with torch.no_grad():
                op.A(x)
            return x, None
        except (RuntimeError, TypeError, ValueError) as e:
            msg = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            reasons.append(f"{str(dt).replace('torch.', '')} on {dev}: {msg}")
    return None, reasons


def check_adjoint(op, dtype=None, device=None) -> float:
    """Run the dot test once on ``op`` (a linear callable operator); ValueError when At is not A's adjoint."""
    from .verify import default_tol, dot_test

    x, reasons = _probe(op, dtype, device)
    if x is None:
        raise ValueError(
            "from_callables: could not run A on a random (1, "
            + ", ".join(map(str, op.input_shape))
            + ") input to test its adjoint ("
            + "; ".join(reasons)
            + "). Check input_shape, pass dtype=/device= that A accepts, or check=False"
        )
    err, lhs, rhs = dot_test(op, x)
    tol = default_tol(x.dtype)
    if not err <= tol:
        test = (
            f"dot test <A x, y> = {float(lhs[0]):.6g} but <x, At y> = {float(rhs[0]):.6g}, relative error "
            f"{err:.2e} > tolerance {tol:.1e} ({str(x.dtype).replace('torch.', '')} random input)"
        )
        if op._At is not None:
            raise ValueError(
                f"from_callables: At is not the adjoint of A: {test}. Fix At (a transposed convolution "
                "needs the flipped kernel), or omit At to get it by autograd"
            )
        raise ValueError(
            f"from_callables: A is not linear (its autograd adjoint fails the {test}); "
            "pass linear=False for a nonlinear A (DPS-style samplers)"
        )
    return err


def from_callables(
    A, At=None, input_shape=None, output_shape=None, linear: bool = True, *, check: bool = True, dtype=None, device=None
):
    """Wrap ``A`` (and ``At``) acting on (B, *input_shape) tensors as an operator.

    A linear operator is dot-tested once on random input (``dtype``/``device``, see the module
    docstring); ``check=False`` skips the test.
    """
    if input_shape is None:
        raise ValueError("from_callables needs input_shape, e.g. (C, H, W) or (d,)")
    if not callable(A) or (At is not None and not callable(At)):
        raise TypeError("from_callables: A (and At when given) must be callables of batched tensors")
    if not linear:
        if At is not None:
            raise ValueError("At given for a nonlinear operator (linear=False)")
        return CallableOperator(A, input_shape, output_shape)
    op = CallableLinearOperator(A, At, input_shape, output_shape)
    if check:
        check_adjoint(op, dtype, device)
    return op
