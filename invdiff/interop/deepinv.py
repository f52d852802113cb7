"""Bridges to deepinv (Tachella et al., "DeepInverse", 2025): denoisers, physics, samplers.

Conventions on the two sides (read from deepinv 0.5's source):

- a deepinv ``Denoiser`` is ``forward(x, sigma)`` with ``x`` in **[0, 1]** (up to the
  noise) and ``sigma`` the noise std **on the [0, 1] scale**; it returns the
  denoised image in [0, 1].  Our priors work on [-1, 1] with VE σ, so
  ``x = 2·x01 − 1`` and **σ = 2·σ01** at the boundary;
- deepinv's ``DDRM`` calls ``denoiser(V(x̄), sigmas[t])`` for every entry of its
  ``sigmas`` list (σ on [0, 1]; the last entry is usually 0);  ``DiffPIR`` calls
  ``model(x01, σ̄_t / 2)`` with x01 = x_t/(2√ᾱ_t) + 1/2 once per iteration; ``DPS``
  runs a VP SDE on [-1, 1] whose denoiser is wrapped by ``MinusOneOneDenoiserWrapper``
  (so it too calls ``denoiser(x01, σ/2)``) and differentiates through it;
- deepinv's measurements live with [0, 1] images: ``y01 = A(x01) + σ01·n``.  For a
  linear ``A`` and our ``y = A(x) + σ_y·n`` on [-1, 1] images this is exactly
  ``y01 = (y + A(1))/2`` with ``σ01 = σ_y/2``; :func:`run_deepinv` converts so.

:func:`physics_to_operator` / :func:`operator_to_physics` translate forward models
(a linear map is the same matrix on either range, so no range switch hides in them);
the SVD layouts agree: deepinv's ``A = U(mask · V_adjoint(x))`` is our
``A = U(singulars() · Vt(x))``.

Known deviation (deepinv 0.5): ``DDRM.forward`` multiplies every noise draw by
``1/np.sqrt(2.0)`` while telling the denoiser the level is σ, so its iterates carry
σ/√2 of noise.  :func:`run_deepinv` runs deepinv as shipped; on MNIST this gives
about 2 dB higher PSNR than the paper's update (smoother samples), and with that
factor removed deepinv's DDRM matches ours within 0.2 dB (tests/test_interop.py).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from operators import linalg

from ..prior import PriorBase, sigma_like
from ..rng import sample_seed

try:
    from deepinv.models import Denoiser as _DeepinvDenoiser
    from deepinv.physics import DecomposablePhysics as _DecomposablePhysics
except ImportError as e:  # pragma: no cover - deepinv is an optional dependency
    raise ImportError("invdiff.interop.deepinv needs deepinv (pip install deepinv)") from e

__all__ = ["PriorDenoiser", "DeepinvDenoiserPrior", "physics_to_operator", "operator_to_physics",
           "run_deepinv", "DEEPINV_METHODS"]

DEEPINV_METHODS = ("dps", "diffpir", "ddrm")
DEFAULT_STEPS = {"dps": 1000, "diffpir": 100, "ddrm": 20}
# deepinv's DPS guidance weight λ (its own default, 1.0, barely guides).  MNIST SR×2, σ_y = 0.05, dev
# prior, PSNR: 100 steps: λ = 1 → 10.0 dB, 30 → 23.0, 100 → 25.5, 300 → 13.1;
# 1000 steps: 30 → 21.9, 100 → 22.7, 300 → 22.8
DPS_WEIGHT = 100.0
_RANGES = ("[0,1]", "[-1,1]")


# ---------------------------------------------------------------------------------- denoisers
class PriorDenoiser(_DeepinvDenoiser):
    """Our :class:`~invdiff.prior.Prior` as a deepinv ``Denoiser`` on [0, 1] images.

    ``forward(x01, sigma01) = (prior.x0(2·x01 − 1, 2·sigma01) + 1) / 2``; where σ = 0 the
    input is returned unchanged (x0 at σ = 0 is x itself; deepinv's DDRM asks for it on
    its last step).  Gradients flow through (deepinv's DPS differentiates the denoiser).
    No clipping is applied.
    """

    def __init__(self, prior):
        super().__init__()
        self.prior = prior

    def forward(self, x: Tensor, sigma, *args, **kwargs) -> Tensor:
        s01 = self._handle_sigma(sigma, batch_size=x.shape[0], device=x.device, dtype=x.real.dtype)
        s = 2 * torch.as_tensor(s01, device=x.device, dtype=x.dtype).reshape(x.shape[0])
        xm = 2 * x - 1
        pos = s > 0
        if bool(pos.all()):
            x0 = self.prior.x0(xm, s)
        elif not bool(pos.any()):
            x0 = xm
        else:
            x0 = xm.clone()
            x0[pos] = self.prior.x0(xm[pos], s[pos]).to(x0)
        return (x0 + 1) / 2


class DeepinvDenoiserPrior(PriorBase):
    """A deepinv ``Denoiser`` (any callable ``(x, sigma) -> denoised``) used as our Prior.

    ``data_range`` says what the denoiser expects: ``"[0,1]"`` (all of deepinv's
    denoisers) or ``"[-1,1]"``.  On [0, 1] the conversion is x01 = (x + 1)/2 and
    σ01 = σ/2 (σ on [-1, 1] is twice σ on [0, 1]); the output is mapped back.
    ``eps``/``score`` follow from Tweedie's formula.
    """

    def __init__(self, denoiser, data_range: str = "[0,1]", image_shape=None, name: str = "deepinv-denoiser"):
        rng = data_range.replace(" ", "")
        if rng not in _RANGES:
            raise ValueError(f"data_range must be '[0,1]' or '[-1,1]', got {data_range!r}")
        self.denoiser, self.data_range, self.name = denoiser, rng, name
        self.image_shape = tuple(image_shape) if image_shape is not None else None
        self.nfe = 0

    def x0(self, x: Tensor, sigma) -> Tensor:
        s = sigma_like(sigma, x).reshape(-1)
        if torch.any(s <= 0):
            raise ValueError("DeepinvDenoiserPrior needs sigma > 0")
        xin = (x + 1) / 2 if self.data_range == "[0,1]" else x
        sin = s / 2 if self.data_range == "[0,1]" else s
        p = next(iter(self.denoiser.parameters()), None) if hasattr(self.denoiser, "parameters") else None
        if p is not None and p.is_floating_point():  # run a network in its own dtype and device
            xin, sin = xin.to(device=p.device, dtype=p.dtype), sin.to(device=p.device, dtype=p.dtype)
        out = self.denoiser(xin, sin).to(x)
        self.nfe += 1
        return 2 * out - 1 if self.data_range == "[0,1]" else out

    def eps(self, x: Tensor, sigma) -> Tensor:
        return (x - self.x0(x, sigma)) / sigma_like(sigma, x)

    def score(self, x: Tensor, sigma) -> Tensor:
        s = sigma_like(sigma, x)
        return (self.x0(x, sigma) - x) / s**2


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
def _noise_model(sigma):
    from deepinv.physics import GaussianNoise

    # always a GaussianNoise: deepinv's DDRM assumes sigma = 0.01 when the noise model has no sigma
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
    The maps are used as they are (no range conversion; see :func:`run_deepinv`).
    ``mask`` is ``op.singulars()`` with a leading batch dimension; deepinv's ``DDRM``
    needs it shared (batch 1): :func:`run_deepinv` runs per-sample operators one sample
    at a time.
    """
    from deepinv.physics import LinearPhysics, Physics

    shape = tuple(input_shape) if input_shape is not None else getattr(op, "input_shape", None)
    fwd = lambda x, **kw: linalg.forward(op, x)  # noqa: E731
    noise = _noise_model(sigma)
    if linalg.has_svd(op):
        s = torch.as_tensor(op.singulars())
        layout_ndim = None
        if shape is not None:
            probe = torch.zeros((max(1, int(getattr(op, "batch", 1))), *shape), dtype=s.real.dtype, device=s.device)
            layout_ndim = op.Vt(probe).ndim
        phys = _SVDPhysics(op, _with_batch(s, layout_ndim), img_size=shape, noise_model=noise)
    elif linalg.is_linear(op):
        phys = LinearPhysics(A=fwd, A_adjoint=lambda y, **kw: linalg.adjoint(op, y), img_size=shape,
                             noise_model=noise)
    else:
        phys = Physics(A=fwd, noise_model=noise)
    phys.invdiff_operator = op
    return phys


class _SVDPhysics(_DecomposablePhysics):
    """Our SVD operator as a deepinv ``DecomposablePhysics`` (``mask`` = singular values)."""

    def __init__(self, op, mask, img_size=None, noise_model=None):
        super().__init__(U=op.U, U_adjoint=op.Ut, V=op.V, V_adjoint=op.Vt, mask=mask, img_size=img_size,
                         noise_model=noise_model)
        self._op = op

    def A(self, x, mask=None, **kwargs):
        return linalg.forward(self._op, x)

    def A_adjoint(self, y, mask=None, **kwargs):
        return linalg.adjoint(self._op, y)

    def V(self, x, **kwargs):
        z = self._op.V(x)
        return z.real if z.is_complex() else z


# ---------------------------------------------------------------------------------- one sample of a batch
class _SampleView:
    """Sample ``i`` of an operator with per-sample parameters, as an operator on batches of 1.

    Inputs are embedded at row i of a zero batch of ``n`` (exact for operators that act row by row).
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
            return f(z)[self.i:self.i + 1]
        return g

    def _singulars(self):
        s = self.op.singulars()
        return s[self.i:self.i + 1] if s.ndim > 0 and s.shape[0] == self.n else s


# ---------------------------------------------------------------------------------- samplers
def _check_linear(op, method):
    if not linalg.is_linear(op):
        raise TypeError(f"deepinv {method} needs a linear operator (A and At, or an SVD); "
                        f"{type(op).__name__} has only A")
    if method == "ddrm" and not linalg.has_svd(op):
        raise TypeError(f"deepinv ddrm needs an operator with an SVD (U, Ut, V, Vt, singulars); "
                        f"{type(op).__name__} lacks it")


def _range_physics(op, sigma01):
    """Nonlinear A on [-1, 1] seen from [0, 1]: A01(x01) = A(2·x01 − 1)/2, so y01 = y/2 (DPS only)."""
    from deepinv.physics import Physics

    return Physics(A=lambda x, **kw: linalg.forward(op, 2 * x - 1) / 2, noise_model=_noise_model(sigma01))


def _one(method, denoiser, prior, op, y, sigma_y, steps, seed, x_shape, kw, cls=None):
    """Run deepinv's ``method`` on one measurement batch; returns x in [-1, 1]."""
    import deepinv as dinv

    dev = y.device
    shape = (y.shape[0], *x_shape)
    linear = linalg.is_linear(op)
    if linear:
        ones = torch.ones(shape, device=dev, dtype=y.real.dtype)
        y01 = (y + linalg.forward(op, ones)) / 2
        physics = operator_to_physics(op, sigma=sigma_y / 2, input_shape=x_shape)
    else:
        y01, physics = y / 2, _range_physics(op, sigma_y / 2)
    devices = [dev] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)  # deepinv's DDRM/DiffPIR draw from the global RNG; restored on exit
        if method == "ddrm":
            from ..samplers.common import default_sigmas

            sig = kw.pop("sigmas", None)
            sig = default_sigmas(prior, steps) if sig is None else torch.as_tensor(sig, dtype=torch.float64)
            model = (cls or dinv.sampling.DDRM)(denoiser, sigmas=(sig / 2).numpy(), eta=kw.pop("eta", 0.85),
                                       etab=kw.pop("eta_b", kw.pop("etab", 1.0)), **kw)
            x01 = model(y01, physics)
        elif method == "diffpir":
            model = (cls or dinv.sampling.DiffPIR)(denoiser, dinv.optim.data_fidelity.L2(), sigma=sigma_y / 2,
                                          max_iter=steps, device=dev, **kw)
            x01 = model(y01, physics)
        else:
            g = torch.Generator(device=dev).manual_seed(seed)
            kw.setdefault("weight", DPS_WEIGHT)
            model = (cls or dinv.sampling.DPS)(denoiser, num_steps=steps + 1, rng=g, device=dev, **kw)
            x01 = model(y01, physics, x_init=shape)
    return (2 * x01 - 1).detach()


def run_deepinv(method: str, prior, op, y: Tensor, sigma_y: float, steps: int | None = None, seed: int = 0,
                *, x_shape=None, batched: bool = False, sampler_cls=None, **kw) -> Tensor:
    """deepinv's own ``DPS`` / ``DiffPIR`` / ``DDRM`` on our prior and operator; x in [-1, 1].

    ``y = A(x) + σ_y·n`` in our convention ([-1, 1] images, ``sigma_y`` in the units of
    y).  It is converted to deepinv's ([0, 1] images, ``y01 = (y + A(1))/2``,
    ``σ01 = σ_y/2``; for a nonlinear A, DPS only, ``A01(x01) = A(2·x01 − 1)/2`` and
    ``y01 = y/2``) and the prior is wrapped by :class:`PriorDenoiser`.

    NFE (network evaluations per image) equals ``steps`` for all three:

    - ``"ddrm"``: ``DDRM(sigmas=σ/2)`` on our DDPM-uniform grid of ``steps`` levels plus
      the final 0 (deepinv calls the denoiser once per entry; the call at σ = 0 is the
      identity and costs no network evaluation).  ``eta`` (0.85), ``eta_b`` (1.0) or
      ``sigmas`` (our [-1, 1] scale) may be passed.
    - ``"diffpir"``: ``DiffPIR(max_iter=steps)``: one call per iteration, deepinv's own
      schedule (linear β, quadratic t spacing); ``zeta`` (deepinv default 0.1) and
      ``lambda_`` (7.0) may be passed.
    - ``"dps"``: ``DPS(num_steps=steps + 1)``: ``steps`` ancestral (DDPM) steps with one
      network evaluation and its gradient each; the last step lands on t = 0 where the
      sample is the Tweedie estimate (no extra call).  ``weight`` λ (here 100 by default,
      :data:`DPS_WEIGHT`; deepinv's own default 1.0 barely guides: its guidance is
      −λ·∇‖A·D(x_t) − y01‖ added to the score) and ``guidance`` may be passed.

    Randomness: sample i is run on its own with seed ``sample_seed(seed, i)`` (so image i
    is the same whatever the batch size), DPS through deepinv's ``rng`` generator, DDRM and
    DiffPIR (which draw from the global RNG) inside a ``torch.random.fork_rng`` scope; the
    global RNG state is unchanged afterwards.  ``batched=True`` runs the whole batch in one
    call with seed ``sample_seed(seed, 0)`` (faster; needs shared operator parameters).
    ``sampler_cls`` replaces deepinv's class by a subclass with the same constructor
    (for diagnostics, e.g. a patched sampler); keyword arguments go to its constructor.
    """
    from ..samplers.common import resolve_shape

    method = method.lower()
    if method not in DEEPINV_METHODS:
        raise ValueError(f"method must be one of {DEEPINV_METHODS}, got {method!r}")
    steps = DEFAULT_STEPS[method] if steps is None else int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    sigma_y = float(sigma_y)
    if not math.isfinite(sigma_y) or sigma_y < 0:
        raise ValueError(f"sigma_y must be finite and >= 0, got {sigma_y}")
    if method != "dps":
        _check_linear(op, method)
    if method == "diffpir" and sigma_y == 0:
        raise ValueError("deepinv's DiffPIR needs sigma_y > 0 (its data weight rho_t = lambda*sigma_y^2/sigma_t^2 "
                         "would be 0 and its proximal step divide by zero)")
    shape = resolve_shape(prior, op, y, x_shape)[1:]
    denoiser = PriorDenoiser(prior)
    n = y.shape[0]
    per_sample = int(getattr(op, "batch", 1)) > 1
    if batched:
        if per_sample:
            raise ValueError("batched=True needs an operator with shared parameters (op.batch == 1)")
        out = [_one(method, denoiser, prior, op, y, sigma_y, steps, sample_seed(seed, 0), shape, dict(kw),
                    sampler_cls)]
    else:
        out = []
        for i in range(n):
            op_i = _SampleView(op, i, n) if per_sample else op
            out.append(_one(method, denoiser, prior, op_i, y[i:i + 1], sigma_y, steps, sample_seed(seed, i), shape,
                            dict(kw), sampler_cls))
    return torch.cat(out).to(device=y.device, dtype=y.real.dtype)
