"""The front door: ``solve`` runs one posterior sampler by name; ``posterior_stats`` summarises K samples.

    x = solve(y, op, prior, method="diffpir", sigma_y=0.05)
    x = solve(y, op, prior, method="ddrm", sigma_y=0.05, samples=8)      # posterior-mean estimate of 8 draws
    x, info = solve(y, op, prior, method="dps", sigma_y=0.05, return_info=True)
    mean, std = posterior_stats(y, op, prior, method="ddrm", samples=16, sigma_y=0.05)

Keyword arguments go to the sampler unchanged; one it does not take is a
``TypeError`` naming it and the ones it does take (never silently ignored).

Tuned defaults: with a shipped prior (``load_prior("mnist")``) and an operator from
``operators.build`` that is one of the prior's benchmark tasks, hyperparameters the caller does
not pass come from ``invdiff/weights/<prior>.tuned.json`` (``invdiff tune``; see
:mod:`invdiff.tune.defaults`); a value the caller passes always wins, and
``hyperparameters="reference"`` gives the sampler's own defaults (the papers' values).  What was
used is logged at INFO (logger ``invdiff``) and returned with ``return_info=True``.
"""

from __future__ import annotations

import inspect

import torch
from torch import Tensor

from .rng import sample_seed
from .samplers import POSTERIOR, SAMPLERS, UNCONDITIONAL


def _sampler(method: str):
    if method not in SAMPLERS:
        raise ValueError(
            f"unknown method {method!r}; posterior samplers: {', '.join(POSTERIOR)} "
            f"(all samplers: {', '.join(SAMPLERS)})"
        )
    if method in UNCONDITIONAL:
        raise ValueError(
            f"{method!r} is an unconditional sampler (call invdiff.samplers.{method}(prior, shape)); "
            f"solve needs a posterior sampler: {', '.join(POSTERIOR)}"
        )
    return POSTERIOR[method]


def _check_kwargs(fn, method: str, kw: dict) -> None:
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise TypeError(
            f"{method} got unexpected keyword argument(s) {', '.join(unknown)}; it accepts: {', '.join(accepted)}"
        )


def solve(
    y: Tensor,
    op,
    prior,
    method: str = "diffpir",
    *,
    samples: int = 1,
    reduce: str = "mean",
    hyperparameters: str = "tuned",
    return_info: bool = False,
    **kw,
):
    """x0 estimates for measurements ``y`` (batch B) with the posterior sampler ``method``.

    ``kw`` (``sigma_y`` is required; ``steps``, ``seed``, the sampler's hyperparameters …)
    is passed to ``invdiff.samplers.POSTERIOR[method]``, completed by the tuned defaults
    (module docstring; ``hyperparameters="reference"`` turns them off).
    ``samples`` K > 1: K draws, draw k with seed ``sample_seed(seed, k)`` as in
    :func:`posterior_stats`; ``reduce="mean"`` returns their mean (a posterior-mean estimate,
    shape of one draw), ``reduce="none"`` all of them stacked, shape (K, B, ...).
    ``return_info=True`` returns ``(x, info)``: the hyperparameters used and where they came from
    (:func:`invdiff.tune.defaults.resolve`), plus ``samples`` and ``reduce``.
    """
    from .tune.defaults import resolve

    fn = _sampler(method)
    _check_kwargs(fn, method, kw)
    _check_samples(samples)
    if reduce not in ("mean", "none"):
        raise ValueError(f"reduce must be 'mean' or 'none', got {reduce!r}")
    kw, info = resolve(method, fn, prior, op, kw, hyperparameters)
    if samples == 1:
        x = fn(prior, op, y, **kw)
    else:
        seed = kw.pop("seed", 0)
        if reduce == "mean":
            x, _ = _moments(_draws(fn, prior, op, y, samples, seed, False, method, kw), samples)
        else:
            x = torch.stack(list(_draws(fn, prior, op, y, samples, seed, False, method, kw)))
    info.update(samples=samples, reduce=reduce if samples > 1 else None)
    return (x, info) if return_info else x


def _check_samples(samples) -> None:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive int, got {samples!r}")


def _draws(fn, prior, op, y, samples: int, seed: int, progress: bool, method: str, kw: dict):
    """Draw k (k = 0 … samples−1) with seed ``sample_seed(seed, k)``, one at a time."""
    it = range(samples)
    if progress and samples > 1:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"{method} samples", leave=False)
    for k in it:
        yield fn(prior, op, y, seed=sample_seed(seed, k), **kw)


def _moments(draws, samples: int) -> tuple[Tensor, Tensor]:
    """Mean and unbiased std of the draws (Welford, in float64), in the draws' dtype."""
    mean = m2 = None
    for k, xk in enumerate(draws):
        x = xk.double()
        if mean is None:
            mean, m2 = torch.zeros_like(x), torch.zeros_like(x)
        d = x - mean
        mean += d / (k + 1)
        m2 += d * (x - mean)
    std = (m2 / (samples - 1)).sqrt() if samples > 1 else torch.zeros_like(mean)
    return mean.to(xk.dtype), std.to(xk.dtype)


def posterior_stats(
    y: Tensor,
    op,
    prior,
    method: str = "diffpir",
    samples: int = 8,
    seed: int = 0,
    progress: bool = True,
    hyperparameters: str = "tuned",
    **kw,
) -> tuple[Tensor, Tensor]:
    """Per-pixel posterior mean and standard deviation from ``samples`` draws per measurement.

    Draw k uses seed ``sample_seed(seed, k)`` for the whole batch, so draw k of image i does not
    depend on how many draws are taken or on the other images.  The std is the unbiased
    sample std (0 when ``samples`` is 1).  A tqdm bar shows progress when ``samples`` > 1.
    Hyperparameters not in ``kw`` come from the tuned defaults as in :func:`solve`.

    Samplers with ``f.weighted_population`` (the SMC samplers ``mcgdiff``, ``tds``) run once with
    ``particles=samples`` (unless ``particles`` is given) and ``seed``; mean and std are those of the
    final weighted population, the variance with the reliability-weights correction 1/(1 − Σw²).
    """
    from .tune.defaults import resolve

    fn = _sampler(method)
    if "seed" in kw:
        raise TypeError("posterior_stats takes seed as its own argument (draw k uses a seed derived from it)")
    _check_kwargs(fn, method, kw)
    _check_samples(samples)
    kw, _ = resolve(method, fn, prior, op, kw, hyperparameters)
    if getattr(fn, "weighted_population", False):  # SMC: one run, K = particles weighted particles
        return _population_stats(fn(prior, op, y, seed=seed, return_info=True, **{"particles": samples, **kw}))
    return _moments(_draws(fn, prior, op, y, samples, seed, progress, method, kw), samples)


def _population_stats(res) -> tuple[Tensor, Tensor]:
    """Weighted mean and std of an ``SMCResult``'s (B, K, …) particles."""
    w = res.log_weights.exp()  # (B, K), rows sum to 1
    p = res.particles.double()
    wb = w.reshape(*w.shape, *[1] * (p.ndim - 2)).to(p.device)
    mean = (wb * p).sum(1)
    var = (wb * (p - mean[:, None]) ** 2).sum(1)
    denom = (1 - (w**2).sum(1)).reshape(-1, *[1] * (p.ndim - 2)).to(p.device)
    var = torch.where(denom > 1e-12, var / denom.clamp_min(1e-12), torch.zeros_like(var))
    return mean.to(res.x.dtype), var.sqrt().to(res.x.dtype)
