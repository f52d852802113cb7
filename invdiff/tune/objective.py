"""The objective of a tuning cell: mean PSNR on training images, reported batch by batch for pruning.

A trial's keywords are the cell's fixed ones (:meth:`Cell.fixed_kw`) plus one draw from the
sampler's ``search_space`` (:mod:`invdiff.samplers.space`; a ``when=(name, value)`` entry is
drawn only when ``name`` took ``value``).  Every trial uses the same sampler seed, images,
operators and measurement noise (common random numbers), so trials differ only by their
keywords.  After each image batch the running mean PSNR is reported to the trial
(``trial.report``), which lets the median pruner stop a poor trial early.  A run that diverges
(:class:`invdiff.samplers.DivergenceError`, or a non-finite result) scores 0 dB.
"""

from __future__ import annotations

import math

import torch

from ..samplers.space import Choice, Param
from .cells import Cell, sampler

DIVERGED_PSNR = 0.0


def suggest(trial, space: dict) -> dict:
    """One draw of ``space`` from an Optuna ``trial`` (conditional entries only when their condition holds)."""
    out: dict = {}
    pending = dict(space)
    while pending:  # entries whose condition names an entry not drawn yet wait for it
        progressed = False
        for name, p in list(pending.items()):
            cond = p.when
            if cond is not None and cond[0] in pending:
                continue
            del pending[name]
            progressed = True
            if cond is not None and out.get(cond[0]) != cond[1]:
                continue
            if isinstance(p, Choice):
                out[name] = trial.suggest_categorical(name, list(p.values))
            elif isinstance(p, Param) and p.integer:
                out[name] = trial.suggest_int(name, int(p.low), int(p.high), log=p.log)
            elif isinstance(p, Param):
                out[name] = trial.suggest_float(name, p.low, p.high, log=p.log)
            else:
                raise TypeError(f"search space entry {name!r} is {type(p).__name__}, not Param or Choice")
        if not progressed:
            raise ValueError(f"search space conditions form a cycle: {sorted(pending)}")
    return out


def in_space(space: dict, params: dict) -> dict:
    """The entries of ``params`` that ``space`` can hold (for enqueuing the reference values as trial 0)."""
    out = {}
    for name, v in params.items():
        p = space.get(name)
        if p is None or not p.contains(v):
            continue
        if p.when is not None and params.get(p.when[0]) != p.when[1]:
            continue
        out[name] = v
    return out


class Objective:
    """Mean PSNR (dB, reconstructions clamped to [-1, 1]) of a cell's sampler on ``n_images`` training images.

    ``first`` > 0 scores training images from ``first`` on instead of the first ``n_images`` (a check of
    an entry on images its search did not see).  ``fn`` replaces the cell's sampler by any function with
    the sampler signature and a ``search_space`` (benchmarks/tune_deepinv.py tunes deepinv's samplers so)."""

    def __init__(self, cell: Cell, prior, n_images: int, batch_size: int, seed: int = 0, device=None, fn=None, first=0):
        self.cell, self.prior, self.seed = cell, prior, int(seed)
        self.fn = sampler(cell.method) if fn is None else fn
        self.space = self.fn.search_space
        self.steps = cell.steps
        self.sigma_y = cell.task_spec().sigma_y
        self.batches = cell.training_batches(n_images, batch_size, device, first)

    def params(self, trial) -> dict:
        return {**self.cell.fixed_kw(), **suggest(trial, self.space)}

    def evaluate(self, params: dict, trial=None) -> float:
        """Mean PSNR with ``params``; reports the running mean to ``trial`` and prunes through it."""
        from ..metrics import psnr
        from ..samplers import DivergenceError
        from ..samplers.common import SigmaEndError

        total, n = 0.0, 0
        for k, (x, op, y, offset) in enumerate(self.batches):
            try:
                xh = self.fn(self.prior, op, y, sigma_y=self.sigma_y, steps=self.steps, seed=self.seed,
                             x_shape=tuple(x.shape[1:]), offset=offset, **params)  # fmt: skip
                ok = bool(torch.isfinite(xh).all())
            except DivergenceError:
                ok = False
            except SigmaEndError:  # sigma_end at or above this trial's sigma_start: no such sampler run
                if trial is None:
                    raise
                import optuna

                trial.set_user_attr("invalid", "sigma_end >= sigma_start")
                raise optuna.TrialPruned() from None
            if not ok:
                if trial is not None:
                    trial.set_user_attr("diverged", True)
                return DIVERGED_PSNR
            total += float(psnr(xh.clamp(-1, 1), x).sum())
            n += len(x)
            if trial is not None:
                trial.report(total / n, k)
                if trial.should_prune():
                    import optuna

                    raise optuna.TrialPruned()
        value = total / max(n, 1)
        return value if math.isfinite(value) else DIVERGED_PSNR

    def __call__(self, trial) -> float:
        return self.evaluate(self.params(trial), trial)
