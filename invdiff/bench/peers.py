"""deepinv's own DPS, DiffPIR and DDRM (Tachella et al., "DeepInverse", 2025) as benchmark peers.

:func:`run_deepinv` runs deepinv's sampler on our prior and operator, converting at the
boundary (:mod:`invdiff.interop.denoiser`, :mod:`invdiff.interop.physics`);
:class:`PeerRunner` is the runner of methods of kind "deepinv" (name ``deepinv-<m>``).

Known deviation (deepinv 0.5): ``DDRM.forward`` multiplies every noise draw by
``1/np.sqrt(2.0)`` while telling the denoiser the level is σ, so its iterates carry
σ/√2 of noise.  :func:`run_deepinv` runs deepinv as shipped; tests/test_interop.py
checks that with that factor removed deepinv's DDRM matches ours.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import Tensor

from operators import linalg

from ..rng import sample_seed
from .runners import Batch, GridPoint, Job, Runner, nfe_points

__all__ = ["DEEPINV_METHODS", "DEFAULT_STEPS", "DPS_WEIGHT", "PEER_KW", "PeerRunner", "run_deepinv"]

# deepinv's samplers that run as peers, and their default steps (= NFE per image)
DEFAULT_STEPS = {"dps": 1000, "diffpir": 100, "ddrm": 20}
DEEPINV_METHODS = tuple(DEFAULT_STEPS)
# deepinv's DPS guidance weight λ: its own default, 1.0, barely guides at our σ_y (chosen by a sweep
# on MNIST ×2 super-resolution; see benchmarks/results/deepinv_peers.md)
DPS_WEIGHT = 100.0
# the keywords a spec may give each peer (deepinv 0.5's constructor arguments that are weights)
PEER_KW = {"dps": ("weight",), "diffpir": ("lambda_", "zeta"), "ddrm": ("eta", "etab", "eta_b")}


def _check_linear(op, method):
    if not linalg.is_linear(op):
        raise TypeError(
            f"deepinv {method} needs a linear operator (A and At, or an SVD); {type(op).__name__} has only A"
        )
    if method == "ddrm" and not linalg.has_svd(op):
        raise TypeError(
            f"deepinv ddrm needs an operator with an SVD (U, Ut, V, Vt, singulars); {type(op).__name__} lacks it"
        )


@contextmanager
def _seeded_global_rng(seed: int, device: torch.device):
    """deepinv 0.5's DDRM and DiffPIR draw from torch's global generator and accept none of their own:
    they run on a fork of it seeded with ``seed``; the caller's global RNG state is restored on exit."""
    cuda = device.type == "cuda"
    with torch.random.fork_rng(devices=[device] if cuda else []):
        torch.random.default_generator.manual_seed(seed)
        if cuda:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


def _ddrm(denoiser, prior, y01, physics, sigma01, steps, seed, shape, kw, cls):
    import deepinv as dinv

    from ..samplers.common import default_sigmas

    sig = kw.pop("sigmas", None)
    sig = default_sigmas(prior, steps) if sig is None else torch.as_tensor(sig, dtype=torch.float64)
    eta, etab = kw.pop("eta", 0.85), kw.pop("eta_b", kw.pop("etab", 1.0))
    with _seeded_global_rng(seed, y01.device):
        model = (cls or dinv.sampling.DDRM)(denoiser, sigmas=(sig / 2).numpy(), eta=eta, etab=etab, **kw)
        return model(y01, physics)


def _diffpir(denoiser, prior, y01, physics, sigma01, steps, seed, shape, kw, cls):
    import deepinv as dinv

    with _seeded_global_rng(seed, y01.device):
        model = (cls or dinv.sampling.DiffPIR)(
            denoiser, dinv.optim.data_fidelity.L2(), sigma=sigma01, max_iter=steps, device=y01.device, **kw
        )
        return model(y01, physics)


def _dps(denoiser, prior, y01, physics, sigma01, steps, seed, shape, kw, cls):
    import deepinv as dinv

    g = torch.Generator(device=y01.device).manual_seed(seed)
    kw.setdefault("weight", DPS_WEIGHT)
    model = (cls or dinv.sampling.DPS)(denoiser, num_steps=steps + 1, rng=g, device=y01.device, **kw)
    return model(y01, physics, x_init=shape)


_SAMPLERS = {"ddrm": _ddrm, "diffpir": _diffpir, "dps": _dps}


def _one(method, denoiser, prior, op, y, sigma_y, steps, seed, x_shape, kw, cls=None):
    """Run deepinv's ``method`` on one measurement batch; returns x in [-1, 1]."""
    from ..interop.physics import measurement_01

    y01, physics = measurement_01(op, y, sigma_y, x_shape)
    x01 = _SAMPLERS[method](denoiser, prior, y01, physics, sigma_y / 2, steps, seed, (y.shape[0], *x_shape), kw, cls)
    return (2 * x01 - 1).detach()


def run_deepinv(
    method: str,
    prior,
    op,
    y: Tensor,
    sigma_y: float,
    steps: int | None = None,
    seed: int = 0,
    *,
    x_shape=None,
    batched: bool = False,
    sampler_cls=None,
    **kw,
) -> Tensor:
    """deepinv's own ``DPS`` / ``DiffPIR`` / ``DDRM`` on our prior and operator; x in [-1, 1].

    ``y = A(x) + σ_y·n`` in our convention ([-1, 1] images, ``sigma_y`` in the units of
    y).  It is converted to deepinv's ([0, 1] images, ``y01 = (y + A(1))/2``,
    ``σ01 = σ_y/2``; for a nonlinear A, DPS only, ``A01(x01) = A(2·x01 − 1)/2`` and
    ``y01 = y/2``: :func:`invdiff.interop.physics.measurement_01`) and the prior is wrapped by
    :class:`invdiff.interop.denoiser.PriorDenoiser`.

    NFE (network evaluations per image) equals ``steps`` (default :data:`DEFAULT_STEPS`) for all three:

    - ``"ddrm"``: ``DDRM(sigmas=σ/2)`` on our DDPM-uniform grid of ``steps`` levels plus
      the final 0 (deepinv calls the denoiser once per entry; the call at σ = 0 is the
      identity and costs no network evaluation).  ``eta`` (0.85), ``eta_b`` (1.0) or
      ``sigmas`` (our [-1, 1] scale) may be passed.
    - ``"diffpir"``: ``DiffPIR(max_iter=steps)``: one call per iteration, deepinv's own
      schedule (linear β, quadratic t spacing); ``zeta`` (deepinv default 0.1) and
      ``lambda_`` (7.0) may be passed.
    - ``"dps"``: ``DPS(num_steps=steps + 1)``: ``steps`` ancestral (DDPM) steps with one
      network evaluation and its gradient each; the last step lands on t = 0 where the
      sample is the Tweedie estimate (no extra call).  ``weight`` λ (here :data:`DPS_WEIGHT`
      by default; deepinv's own default 1.0 barely guides: its guidance is
      −λ·∇‖A·D(x_t) − y01‖ added to the score) and ``guidance`` may be passed.

    Randomness: sample i is run on its own with seed ``sample_seed(seed, i)`` (so image i
    is the same whatever the batch size), DPS through deepinv's ``rng`` generator, DDRM and
    DiffPIR (which draw from the global RNG) on a seeded fork of the global RNG; the
    global RNG state is unchanged afterwards.  ``batched=True`` runs the whole batch in one
    call with seed ``sample_seed(seed, 0)`` (faster; needs shared operator parameters).
    ``sampler_cls`` replaces deepinv's class by a subclass with the same constructor
    (for diagnostics, e.g. a patched sampler); keyword arguments go to its constructor.
    """
    from ..interop.denoiser import PriorDenoiser
    from ..interop.sample_view import SampleView
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
        raise ValueError(
            "deepinv's DiffPIR needs sigma_y > 0 (its data weight rho_t = lambda*sigma_y^2/sigma_t^2 "
            "would be 0 and its proximal step divide by zero)"
        )
    shape = resolve_shape(prior, op, y, x_shape)[1:]
    denoiser = PriorDenoiser(prior)
    n = y.shape[0]
    per_sample = int(getattr(op, "batch", 1)) > 1
    if batched:
        if per_sample:
            raise ValueError("batched=True needs an operator with shared parameters (op.batch == 1)")
        out = [_one(method, denoiser, prior, op, y, sigma_y, steps, sample_seed(seed, 0), shape, dict(kw), sampler_cls)]
    else:
        out = []
        for i in range(n):
            op_i = SampleView(op, i, n) if per_sample else op
            out.append(
                _one(
                    method,
                    denoiser,
                    prior,
                    op_i,
                    y[i : i + 1],
                    sigma_y,
                    steps,
                    sample_seed(seed, i),
                    shape,
                    dict(kw),
                    sampler_cls,
                )
            )
    return torch.cat(out).to(device=y.device, dtype=y.real.dtype)


class PeerRunner(Runner):
    """Methods of kind "deepinv": ``Method("deepinv-<m>", "deepinv")`` runs :func:`run_deepinv` (m in
    :data:`DEEPINV_METHODS`) with the method's and the task's keywords for ``deepinv-<m>``."""

    def __init__(self, method):
        super().__init__(method)
        self.peer = method.key.split("-", 1)[-1]
        if self.peer not in DEFAULT_STEPS:
            raise ValueError(
                f"unknown deepinv peer {method.name!r}; choose from {[f'deepinv-{m}' for m in DEEPINV_METHODS]}"
            )
        bad = sorted(set(method.kw) - set(PEER_KW[self.peer]))
        if bad:
            raise ValueError(
                f"method {method.name!r}: deepinv's {self.peer} takes no keyword {bad}; "
                f"it takes {', '.join(PEER_KW[self.peer])}"
            )

    def grid(self, nfe=None) -> list[GridPoint]:
        return nfe_points(DEFAULT_STEPS[self.peer], 1, nfe, self.method.nfe)

    def __call__(self, batch: Batch, job: Job) -> Tensor:
        return run_deepinv(
            self.peer, job.prior, batch.op, batch.y, batch.task.sigma_y, job.point.steps, job.seed, **job.params
        )

    def nfe_used(self, prior, n: int) -> float | None:
        used = getattr(prior, "nfe", None)
        if used and not self.method.kw.get("batched"):
            return used / n  # run_deepinv runs one image at a time
        return used
