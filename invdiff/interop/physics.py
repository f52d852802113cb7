"""Forward models across the deepinv boundary: deepinv physics <-> our operators.

A linear map is the same matrix on [0, 1] and on [-1, 1] images, so no range switch
hides in :func:`physics_to_operator` / :func:`operator_to_physics`; the SVD layouts
agree: deepinv's ``A = U(mask · V_adjoint(x))`` is our ``A = U(singulars() · Vt(x))``.

Measurements do depend on the range: deepinv's live with [0, 1] images,
``y01 = A(x01) + σ01·n``.  For a linear ``A`` and our ``y = A(x) + σ_y·n`` on [-1, 1]
images this is exactly ``y01 = (y + A(1))/2`` with ``σ01 = σ_y/2``; for a nonlinear ``A``
the physics itself is rewritten, ``A01(x01) = A(2·x01 − 1)/2`` and ``y01 = y/2``
(:func:`measurement_01`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from operators import linalg

try:
    from deepinv.physics import DecomposablePhysics as _DecomposablePhysics
except ImportError as e:  # pragma: no cover - deepinv is an optional dependency
    raise ImportError("invdiff.interop.physics needs deepinv (pip install deepinv)") from e

__all__ = [
    "PhysicsLinearOperator",
    "PhysicsOperator",
    "PhysicsSVDOperator",
    "gaussian_noise",
    "measurement_01",
    "operator_to_physics",
    "physics_to_operator",
]


# ---------------------------------------------------------------------------------- physics -> operator
def _input_shape(physics, input_shape):
    if input_shape is not None:
        return tuple(int(s) for s in input_shape)
    size = getattr(physics, "img_size", None)
    return tuple(int(s) for s in size) if size is not None else None


class PhysicsOperator:
    """A deepinv ``Physics`` as our operator: ``A`` only (noise and sensor models are not applied)."""

    def __init__(self, physics, input_shape=None):
        self.physics = physics
        self.input_shape = _input_shape(physics, input_shape)

    def A(self, x: Tensor) -> Tensor:
        return self.physics.A(x)

    def __repr__(self):
        return f"{type(self).__name__}({type(self.physics).__name__}, input_shape={self.input_shape})"


class PhysicsLinearOperator(PhysicsOperator):
    """A deepinv ``LinearPhysics``: ``A`` and ``At`` (= ``A_adjoint``)."""

    def At(self, y: Tensor) -> Tensor:
        return self.physics.A_adjoint(y)


class PhysicsSVDOperator(PhysicsLinearOperator):
    """A deepinv ``DecomposablePhysics`` in our SVD layout.

    deepinv's ``mask`` may be complex or negative (e.g. ``BlurFFT``); our singular values
    are ``|mask|`` and the phase ``mask/|mask|`` is folded into ``Vt`` (and its conjugate
    into ``V``), so ``A(x) == U(singulars() · Vt(x))`` holds with real s ≥ 0.  A scalar
    mask (``Denoising``) is expanded to the spectral layout when the input shape is known.
    """

    def __init__(self, physics, input_shape=None):
        super().__init__(physics, input_shape)
        m = torch.as_tensor(physics.mask)
        if m.ndim == 0 and self.input_shape is not None:
            ref = physics.V_adjoint(torch.zeros((1, *self.input_shape), device=m.device))
            m = m.expand(ref.shape)
        self._s = m.abs() if (m.is_complex() or bool((m < 0).any())) else m
        self._phase = None
        if m.is_complex() or bool((m < 0).any()):
            self._phase = torch.where(self._s > 0, m / torch.where(self._s > 0, self._s, 1), torch.ones_like(m))

    def singulars(self) -> Tensor:
        return self._s

    def Vt(self, x: Tensor) -> Tensor:
        z = self.physics.V_adjoint(x)
        return z if self._phase is None else self._phase.to(z.device) * z

    def V(self, z: Tensor) -> Tensor:
        if self._phase is not None:
            z = self._phase.to(z.device).conj() * z
        return self.physics.V(z)

    def Ut(self, y: Tensor) -> Tensor:
        return self.physics.U_adjoint(y)

    def U(self, z: Tensor) -> Tensor:
        return self.physics.U(z)


def _square_v(physics, shape) -> bool:
    """False for an "economic" deepinv SVD whose ``V_adjoint`` loses information (``Decolorize``):
    probed with a random image, V(Vᵀx) must give x back."""
    if shape is None:
        return True
    m = torch.as_tensor(physics.mask)
    x = torch.randn((1, *shape), generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(m.device)
    back = physics.V(physics.V_adjoint(x))
    back = back.real if back.is_complex() else back
    return bool(torch.allclose(back.to(x.dtype), x, atol=1e-4, rtol=1e-4))


def physics_to_operator(physics, input_shape=None):
    """deepinv physics → our operator: ``DecomposablePhysics`` → SVD operator,
    ``LinearPhysics`` → linear operator (A, At), other ``Physics`` → A only.

    ``input_shape`` (C, H, W) defaults to ``physics.img_size``.  An "economic" deepinv SVD
    whose ``V`` is not square (``Decolorize``) cannot be written in our layout (V square,
    orthonormal) and becomes a linear operator (A, At) without the SVD methods.
    """
    from deepinv.physics import DecomposablePhysics, LinearPhysics

    if isinstance(physics, DecomposablePhysics) and _square_v(physics, _input_shape(physics, input_shape)):
        return PhysicsSVDOperator(physics, input_shape)
    if isinstance(physics, LinearPhysics):
        return PhysicsLinearOperator(physics, input_shape)
    return PhysicsOperator(physics, input_shape)


# ---------------------------------------------------------------------------------- operator -> physics
def gaussian_noise(sigma):
    """deepinv's ``GaussianNoise(sigma)``: always a sigma-carrying model, because deepinv's DDRM
    assumes sigma = 0.01 when the noise model has none."""
    from deepinv.physics import GaussianNoise

    return GaussianNoise(sigma=float(sigma))


def _with_batch(s: Tensor, layout_ndim: int | None) -> Tensor:
    """Singular values with a leading batch dimension (deepinv's DDRM concatenates ``mask`` along dim 0)."""
    if layout_ndim is not None and s.ndim == layout_ndim - 1:
        return s[None]
    return s


def operator_to_physics(op, sigma: float = 0.0, input_shape=None):
    """Our operator → deepinv physics: ``DecomposablePhysics`` when ``op`` has an SVD,
    ``LinearPhysics`` when it is linear, plain ``Physics`` otherwise.

    ``sigma`` is the std of the Gaussian noise model, in the units of the physics'
    measurements (deepinv's samplers read it from ``physics.noise_model.sigma``).
    The maps are used as they are (no range conversion; see :func:`measurement_01`).
    ``mask`` is ``op.singulars()`` with a leading batch dimension; deepinv's ``DDRM``
    needs it shared (batch 1): run per-sample operators one sample at a time
    (:class:`invdiff.interop.sample_view.SampleView`).
    """
    from deepinv.physics import LinearPhysics, Physics

    shape = tuple(input_shape) if input_shape is not None else getattr(op, "input_shape", None)
    fwd = lambda x, **kw: linalg.forward(op, x)
    noise = gaussian_noise(sigma)
    if linalg.has_svd(op):
        s = torch.as_tensor(op.singulars())
        layout_ndim = None
        if shape is not None:
            probe = torch.zeros((max(1, int(getattr(op, "batch", 1))), *shape), dtype=s.real.dtype, device=s.device)
            layout_ndim = op.Vt(probe).ndim
        phys = _SVDPhysics(op, _with_batch(s, layout_ndim), img_size=shape, noise_model=noise)
    elif linalg.is_linear(op):
        phys = LinearPhysics(A=fwd, A_adjoint=lambda y, **kw: linalg.adjoint(op, y), img_size=shape, noise_model=noise)
    else:
        phys = Physics(A=fwd, noise_model=noise)
    phys.invdiff_operator = op
    return phys


class _SVDPhysics(_DecomposablePhysics):
    """Our SVD operator as a deepinv ``DecomposablePhysics`` (``mask`` = singular values)."""

    def __init__(self, op, mask, img_size=None, noise_model=None):
        super().__init__(
            U=op.U, U_adjoint=op.Ut, V=op.V, V_adjoint=op.Vt, mask=mask, img_size=img_size, noise_model=noise_model
        )
        self._op = op

    def A(self, x, mask=None, **kwargs):
        return linalg.forward(self._op, x)

    def A_adjoint(self, y, mask=None, **kwargs):
        return linalg.adjoint(self._op, y)

    def V(self, x, **kwargs):
        z = self._op.V(x)
        return z.real if z.is_complex() else z


# ---------------------------------------------------------------------------------- measurements
def measurement_01(op, y: Tensor, sigma_y: float, x_shape) -> tuple[Tensor, object]:
    """Our measurement ``y = A(x) + σ_y·n`` of a [-1, 1] image as deepinv's ``(y01, physics)`` of the
    [0, 1] image: linear ``A``: ``y01 = (y + A(1))/2`` with ``operator_to_physics(op, σ_y/2)``;
    nonlinear ``A``: ``y01 = y/2`` with the physics ``A01(x01) = A(2·x01 − 1)/2``."""
    from deepinv.physics import Physics

    if linalg.is_linear(op):
        ones = torch.ones((y.shape[0], *x_shape), device=y.device, dtype=y.real.dtype)
        return (y + linalg.forward(op, ones)) / 2, operator_to_physics(op, sigma=sigma_y / 2, input_shape=x_shape)
    physics = Physics(A=lambda x, **kw: linalg.forward(op, 2 * x - 1) / 2, noise_model=gaussian_noise(sigma_y / 2))
    return y / 2, physics
