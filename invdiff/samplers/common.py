"""The one posterior head and the one unconditional head, and the helpers every sampler shares.

A posterior sampler starts with ``h = posterior_head(name, prior, op, y, ...)``, which checks
the operator's capability, ``y``, ``sigma_y``, ``steps`` and the shapes (:mod:`.checks`),
builds the σ grid (the sampler's own, truncated at ``sigma_start`` for a warm start,
:mod:`.warmstart`), the per-sample RNG and the start state, all before any network call.
Samplers import only from this module and from ``operators``; their search spaces use
``Param``/``Choice``/``with_grid_settings`` re-exported here from :mod:`.space`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from operators import linalg

from ..rng import PerSampleRNG
from ..schedule import ddpm_sigmas, karras_sigmas, pairwise
from .checks import (
    DivergenceError,
    check_against_operator,
    check_dtype,
    check_image,
    check_measurement,
    check_prior,
    check_sigma_y,
    check_steps,
    guard,
)
from .early_end import SigmaEndError, end_at, finish
from .space import Choice, Param, with_grid_settings
from .warmstart import initial_estimate, resolve_start, truncate

__all__ = [
    "DivergenceError", "SigmaEndError", "Head", "posterior_head", "unconditional_head", "default_sigmas", "ddpm_grid",
    "check_sigmas", "check_sigma_y", "check_image", "state_dtype", "real", "cg_tol", "spectral_data",
    "inpainting_mask", "clip_to_range", "pairwise", "guard", "linalg", "Param", "Choice", "with_grid_settings",
]  # fmt: skip

# σ range used for priors without a VP schedule (exact priors): EDM's defaults (Karras et al. 2022)
SIGMA_MIN, SIGMA_MAX = 0.002, 80.0


# --------------------------------------------------------------------------- σ grids
def default_sigmas(prior, steps: int, kind: str = "ddpm") -> Tensor:
    """A decreasing σ grid of ``steps`` levels ending in 0.

    ``kind="ddpm"``: uniform in DDPM t when the prior has a VP schedule (the
    papers' setting), else Karras.  ``kind="karras"``: EDM grid, ρ = 7.
    """
    sched = getattr(prior, "schedule", None)
    if kind == "ddpm" and sched is not None:
        return ddpm_sigmas(sched, steps)
    if kind not in ("ddpm", "karras"):
        raise ValueError(f"kind must be 'ddpm' or 'karras', got {kind!r}")
    lo = sched.sigma_min if sched is not None else SIGMA_MIN
    hi = sched.sigma_max if sched is not None else SIGMA_MAX
    return karras_sigmas(steps, lo, hi)


def ddpm_grid(prior, steps: int, top: float | None = None) -> Tensor:
    """``default_sigmas`` started at σ = ``top`` (uniform in continuous t below it; Karras without a schedule)."""
    if top is None:
        return default_sigmas(prior, steps)
    sched = getattr(prior, "schedule", None)
    if sched is None:
        return karras_sigmas(steps, min(SIGMA_MIN, top / 2), top)
    t0 = float(sched.sigma_to_t(top))
    t = torch.linspace(t0, 0, steps, dtype=torch.float64) if steps > 1 else torch.tensor([t0], dtype=torch.float64)
    return torch.cat([sched.t_to_sigma(t), torch.zeros(1, dtype=torch.float64)])


def check_sigmas(sigmas: Tensor) -> Tensor:
    s = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    if s.numel() < 2 or s[-1] != 0 or torch.any(s[1:] >= s[:-1]):
        raise ValueError("sigmas must be a decreasing 1-D tensor ending in 0")
    return s


# --------------------------------------------------------------------------- small helpers
def state_dtype(y: Tensor) -> torch.dtype:
    """The real dtype the sampler state runs in (y's, or its real part's)."""
    return y.real.dtype if y.is_complex() else (y.dtype if y.is_floating_point() else torch.float32)


def real(z: Tensor) -> Tensor:
    return z.real if z.is_complex() else z


def cg_tol(x: Tensor) -> float:
    """The CG tolerance for x's precision (``operators.linalg.default_tol``, the one rule)."""
    return linalg.default_tol(x.real.dtype if x.is_complex() else x.dtype)


def spectral_data(op, y: Tensor, like: Tensor, rcond: float = 1e-6):
    """``(s, keep, ȳ)``: singular values, the mask s > rcond·max s, and Uᵀy/s on it (0 elsewhere).

    The cut-off is a modelling choice of the spectral samplers (directions weaker than
    ``rcond`` carry no usable data and are treated as null space); ``linalg.keep_mask``
    applies it exactly as ``linalg.pinv_svd`` does.
    """
    uy = op.Ut(y)
    s = op.singulars().to(device=like.device, dtype=like.dtype)
    keep = linalg.keep_mask(s, like.ndim, rcond)
    zero = torch.zeros((), dtype=uy.dtype, device=uy.device)
    ybar = torch.where(keep, uy / torch.where(keep, s, 1).to(uy.dtype), zero)
    return s, keep, ybar


def inpainting_mask(op, like: Tensor) -> Tensor | None:
    """The 0/1 mask of an inpainting operator (``op.mask`` with A(x) = mask·x, real), else None."""
    m = getattr(op, "mask", None)
    if not torch.is_tensor(m) or m.is_complex():
        return None
    m = m.to(device=like.device, dtype=like.dtype)
    try:
        m = m.expand(like.shape)
        probe = torch.full_like(like, 2.0)
        ok = torch.equal(linalg.forward(op, probe), 2 * m)
    except (RuntimeError, ValueError):  # shapes that do not broadcast: not a pixel mask
        return None
    return m if ok else None


def clip_to_range(prior, x0: Tensor) -> Tensor:
    """x̂0 clipped to the prior's declared ``data_range`` (unchanged when it declares none)."""
    rng = getattr(prior, "data_range", None)
    return x0 if rng is None else x0.clamp(*rng)


# --------------------------------------------------------------------------- heads
@dataclass
class Head:
    """What every posterior sampler starts from."""

    name: str
    sigma_y: float
    sigmas: Tensor
    rng: PerSampleRNG
    x: Tensor  # the start state: x_init + σ0·z (σ0·z for a cold start)
    x_init: Tensor | None  # the warm-start estimate, None for a cold start
    shape: tuple  # (B, *event) of x
    sigma_end: float | None = None  # an early end's last level (:mod:`.early_end`), None for the full grid

    def guard(self, step: int, sigma: float, x: Tensor) -> None:
        guard(self.name, step, sigma, x)

    def finish(self, op, y: Tensor, x: Tensor) -> Tensor:
        """The sampler's output ``x``; after an early end, made consistent with y (:func:`.early_end.finish`)."""
        return finish(op, y, x, self.sigma_y, self.sigma_end)


def _require(op, needs: str, name: str) -> None:
    try:
        linalg.require(op, needs, name)
    except TypeError as e:
        from . import samplers_that_accept

        ok = samplers_that_accept(op)
        raise TypeError(f"{e}. Samplers that work with this operator: {', '.join(ok) or 'none'}") from None


def posterior_head(
    name: str, prior, op, y, *, needs: str, sigma_y, steps, seed: int, sigmas, x_shape, grid=ddpm_grid,
    offset: int = 0, start="noise", sigma_start=None, draw_start: bool = True, sigma_end=None,
) -> Head:  # fmt: skip
    """Check the inputs and return the sampler's :class:`Head`.

    ``grid(prior, steps, top)`` is the sampler's default grid (``top=None``: from σ_max);
    ``sigmas`` overrides it.  ``offset`` shifts the per-sample seeds (image i of a batch
    started at ``offset`` equals image offset+i of a larger batch).  ``start``/``sigma_start``
    set a warm start (:mod:`.warmstart`); ``sigma_end`` ends the grid early
    (:mod:`.early_end`; not with a given ``sigmas``).  ``draw_start=False`` (samplers that start from an
    estimate, not from x_σ) skips the start noise: ``Head.x`` is then x_init (None when cold).
    """
    check_prior(prior, name)
    _require(op, needs, name)
    given_sigma_start = sigma_start
    start, sigma_start = resolve_start(start, sigma_start, prior, op)
    check_image(y, "y", name)
    check_dtype(name, op, y)
    sigma_y = check_sigma_y(sigma_y, name)
    if sigmas is None:
        check_steps(steps, name)
        sigmas = truncate(check_sigmas(grid(prior, steps, None)), grid, prior, steps, sigma_start)
        sigmas = end_at(sigmas, sigma_end, name)
    elif sigma_end is not None:
        raise ValueError(f"{name}: pass sigma_end or sigmas, not both (sigma_end bends the sampler's own grid)")
    elif given_sigma_start is not None:  # a given grid, cut below σ0
        sigmas = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
        sigmas = sigmas[sigmas <= float(given_sigma_start)]
    sigmas = check_sigmas(sigmas)
    check_measurement(name, prior, op, y, x_shape)
    shape = resolve_shape(prior, op, y, x_shape)
    check_against_operator(name, prior, op, y, shape)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"{name}: offset must be an int >= 0, got {offset!r}")
    rng = PerSampleRNG(seed, shape[0], offset)
    like = torch.empty(0, device=y.device, dtype=state_dtype(y))
    x_init = initial_estimate(start, op, y, sigma_y, shape, like, name)
    if not draw_start:
        return Head(name, sigma_y, sigmas, rng, x_init, x_init, shape, sigma_end)
    x = start_noise(shape, float(sigmas[0]), rng, device=y.device, dtype=state_dtype(y))
    if x_init is not None:
        x = x_init + x
    return Head(name, sigma_y, sigmas, rng, x, x_init, shape, sigma_end)


def unconditional_head(prior, shape, *, steps: int, seed: int, sigmas, device, dtype, kind: str = "ddpm"):
    """Head of the unconditional samplers: ``(sigmas, rng, x)`` with x = σ_max·z drawn per sample."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2 or shape[0] < 1:
        raise ValueError(f"shape must be the full (B, *event) shape with B >= 1, got {shape}")
    check_prior(prior)
    img = getattr(prior, "image_shape", None)
    if img is not None and tuple(shape[1:]) != tuple(img):
        raise ValueError(f"shape {shape}: the prior makes images of shape (B, {', '.join(map(str, img))})")
    if sigmas is None:
        sigmas = default_sigmas(prior, check_steps(steps, "sampler"), kind)
    sigmas = check_sigmas(sigmas)
    if device is None:
        p = getattr(prior, "_net_param", lambda: None)()
        device = p.device if p is not None else None
    rng = PerSampleRNG(seed, shape[0])
    x = start_noise(shape, float(sigmas[0]), rng, device=device, dtype=dtype)
    return sigmas, rng, x


def start_noise(shape, sigma: float, rng: PerSampleRNG, device=None, dtype=torch.float32) -> Tensor:
    """x_{σ_max} = σ_max · z with per-sample z (the VE prior at the top of the grid)."""
    like = torch.empty(0, device=device, dtype=dtype)
    return sigma * rng.randn(tuple(shape[1:]), like)


def resolve_shape(prior, op, y: Tensor, x_shape=None) -> tuple[int, ...]:
    """The (B, *event) shape of x for measurement ``y`` (batch B = y.shape[0]).

    The event shape comes from ``x_shape`` when given, else ``prior.image_shape``, else
    ``op.input_shape`` (all event shapes, without the batch dimension).
    """
    for cand in (x_shape, getattr(prior, "image_shape", None), getattr(op, "input_shape", None)):
        if cand is not None:
            return (y.shape[0], *(int(c) for c in cand))
    raise ValueError(
        "cannot tell the shape of x: pass x_shape=(C, H, W), or use a prior with image_shape "
        "or an operator with input_shape"
    )
