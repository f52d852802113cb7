"""One sample of a batched operator, as an operator on batches of 1 (torch only).

Operators with per-sample parameters (a mask or kernel per image) have ``op.batch > 1``;
code that handles one image at a time (deepinv's DDRM needs a shared ``mask``) runs
``SampleView(op, i, n)`` on image i.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["SampleView"]


class SampleView:
    """Sample ``i`` of an operator with per-sample parameters, as an operator on batches of 1.

    Inputs are embedded at row i of a zero batch of ``n`` (exact for operators that act row by row);
    the methods present on ``op`` (A, At, U, Ut, V, Vt, singulars) are present on the view.
    """

    def __init__(self, op, i: int, n: int):
        self.op, self.i, self.n = op, i, n
        self.input_shape = getattr(op, "input_shape", None)
        for name in ("A", "At", "U", "Ut", "V", "Vt"):
            if callable(getattr(op, name, None)):
                setattr(self, name, self._wrap(getattr(op, name)))
        if callable(getattr(op, "singulars", None)):
            self.singulars = self._singulars

    def _wrap(self, f):
        def g(t: Tensor) -> Tensor:
            z = t.new_zeros((self.n, *t.shape[1:]))
            z[self.i] = t[0]
            return f(z)[self.i : self.i + 1]

        return g

    def _singulars(self):
        s = self.op.singulars()
        return s[self.i : self.i + 1] if s.ndim > 0 and s.shape[0] == self.n else s
