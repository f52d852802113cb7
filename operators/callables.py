"""A user's own operator from plain functions (adjoint by autograd when not given).

``from_callables(A, At=None, input_shape=...)`` wraps a function of batched inputs.
With ``linear=True`` (default) the result has ``At``: the given one, or the
vector–Jacobian product of ``A`` (exact for linear A), so ``pinv``/``prox``/
``solve_AAt`` work by conjugate gradients.  ``linear=False`` gives an ``A``-only
operator (for DPS-style samplers).
"""
from __future__ import annotations

import torch

from .base import LinearOperator, Operator, real_dtype

__all__ = ["from_callables", "CallableOperator", "CallableLinearOperator"]


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


def from_callables(A, At=None, input_shape=None, output_shape=None, linear: bool = True):
    """Wrap ``A`` (and ``At``) acting on (B, *input_shape) tensors as an operator."""
    if input_shape is None:
        raise ValueError("from_callables needs input_shape, e.g. (C, H, W) or (d,)")
    if not linear:
        if At is not None:
            raise ValueError("At given for a nonlinear operator (linear=False)")
        return CallableOperator(A, input_shape, output_shape)
    return CallableLinearOperator(A, At, input_shape, output_shape)

