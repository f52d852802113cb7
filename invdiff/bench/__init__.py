"""Benchmark harness: tasks (operator + σ_y) × methods × NFE × seeds over a test set.

One module per job, imported on first use:

- :mod:`~invdiff.bench.spec`: :class:`Task`, :class:`Method`, :class:`Suite` (plain data), and
  :func:`parse_spec` for method specs such as ``"ddrm:start=biharmonic,sigma0=0.2"`` or ``"ddrm:mean8"``;
- :mod:`~invdiff.bench.suites`: the named suites (:func:`get_suite`: mnist, photo, photo256, ffhq256, smoke);
- :mod:`~invdiff.bench.runners`: how each kind of method runs (grid, applicability, keywords, the call);
- :mod:`~invdiff.bench.peers`: deepinv's DPS / DiffPIR / DDRM as peers (:func:`run_deepinv`);
- :mod:`~invdiff.bench.measure`: time, peak memory, PSNR/SSIM/LPIPS of one batch;
- :mod:`~invdiff.bench.store`: the JSONL results file (append, resume, torn-tail repair);
- :mod:`~invdiff.bench.run`: the loop, :func:`run_suite`;
- :mod:`~invdiff.bench.distributed`: the loop split over ``torchrun`` processes (shards, merge);
- :mod:`~invdiff.bench.report` and :mod:`~invdiff.bench.plots`: :func:`summarize`, :func:`headline`, figures.

Per row: PSNR and SSIM (:mod:`invdiff.metrics`, reconstruction clamped to [-1, 1]), NFE
(network calls counted by ``prior.nfe``), seconds per image, peak memory; a method that
fails has rows with status "error" and the exception's type and message.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Task": "spec",
    "Method": "spec",
    "Suite": "spec",
    "parse_spec": "spec",
    "select_methods": "run",
    "run_suite": "run",
    "resolve_suite": "run",
    "runner_for": "run",
    "RUNNERS": "run",
    "KEY": "store",
    "row_key": "store",
    "read_rows": "store",
    "aggregate": "report",
    "summarize": "report",
    "headline": "report",
    "lpips_metric": "measure",
    "get_suite": "suites",
    "SUITES": "suites",
    "run_deepinv": "peers",
    "run_distributed": "distributed",
}
_MODULES = ("spec", "suites", "runners", "peers", "measure", "store", "run", "distributed", "report", "plots")
__all__ = [
    "KEY",
    "RUNNERS",
    "SUITES",
    "Method",
    "Suite",
    "Task",
    "aggregate",
    "get_suite",
    "headline",
    "lpips_metric",
    "parse_spec",
    "read_rows",
    "resolve_suite",
    "row_key",
    "run_deepinv",
    "run_distributed",
    "run_suite",
    "runner_for",
    "select_methods",
    "summarize",
]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_EXPORTS, *_MODULES})
