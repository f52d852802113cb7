"""Hyperparameter tuning of the posterior samplers (``invdiff tune``) and the tuned defaults of ``solve``.

- :mod:`~invdiff.tune.cells`: a cell = (shipped prior, suite task, sampler, NFE); training images only;
- :mod:`~invdiff.tune.objective`: mean training PSNR, reported per image batch (pruning);
- :mod:`~invdiff.tune.study`: Optuna studies (seeded TPE, median pruner, RDB storage, resume, workers),
  :func:`tune_cell` and :func:`tune_all` (the grid within a time budget);
- :mod:`~invdiff.tune.table`: the table ``invdiff/weights/<prior>.tuned.json``;
- :mod:`~invdiff.tune.defaults`: what :func:`invdiff.solve` takes from it.

The search spaces live beside the samplers (``f.search_space``, :mod:`invdiff.samplers.space`).
Optuna is imported only when a study runs.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Cell": "cells",
    "grid": "cells",
    "Settings": "study",
    "TuneMismatch": "study",
    "tune_cell": "study",
    "tune_all": "study",
    "Objective": "objective",
    "resolve": "defaults",
}
_MODULES = ("cells", "objective", "study", "table", "defaults")
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_EXPORTS, *_MODULES})
