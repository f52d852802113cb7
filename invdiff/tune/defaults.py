"""Tuned defaults for :func:`invdiff.solve`: which hyperparameters a call gets from the shipped table.

The table ``invdiff/weights/<prior>.tuned.json`` (:mod:`.table`) is used when

- the prior is a shipped one (``load_prior("mnist")`` records ``prior.shipped_name``),
- the operator came from the registry (``operators.build`` records ``op.registry_name`` and
  ``op.registry_params``) and, with σ_y, matches one of the table's tasks, and
- the table has the sampler on that task (at the NFE nearest the call's on a log scale).

Only hyperparameters the caller did not pass are filled in: a user-given value always wins.
The grid's settings go together: a caller who sets one of ``start``, ``sigma_start``, ``sigma_end`` and
``sigmas`` gets none of them from the table (a tuned σ_end may not fit the caller's σ0 or grid).
``hyperparameters="reference"`` skips the table: the sampler's own defaults (the papers' values).
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import table as _table

log = logging.getLogger("invdiff")
MODES = ("tuned", "reference")
COUPLED = (("start", "sigma_start", "sigma_end", "sigmas"),)
TABLE_DIR = Path(__file__).resolve().parents[1] / "weights"
_cache: dict = {}


def table_for(name: str) -> tuple[Path, dict | None]:
    """The tuned table of shipped prior ``name`` (cached until the file changes) and its path."""
    path = TABLE_DIR / f"{name}.tuned.json"
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return path, None
    if _cache.get(path, (None,))[0] != stamp:
        _cache[path] = (stamp, _table.read(path))
    return path, _cache[path][1]


def call_nfe(fn, kw: dict) -> int:
    """Network evaluations of a call with keywords ``kw`` (steps, or the given grid, × calls per step)."""
    from ..bench.runners import nfe_per_step

    per = nfe_per_step(fn, kw)
    if kw.get("sigmas") is not None:
        import torch

        return per * max(1, torch.as_tensor(kw["sigmas"]).numel() - 1)
    return per * int(kw.get("steps") or getattr(fn, "default_steps", 100))


def resolve(method: str, fn, prior, op, kw: dict, hyperparameters: str = "tuned") -> tuple[dict, dict]:
    """``(keywords for the sampler, info)``: ``kw`` with the tuned values it lacks, and what was used.

    ``info``: ``hyperparameters`` ("tuned" when table values were applied, else "reference"),
    ``requested``, ``task``, ``nfe``, ``tuned_nfe``, ``applied`` (the table values used),
    ``user`` (searched hyperparameters the caller gave), ``table`` (its path) and ``reason``
    (why no table value was used, else None).
    """
    if hyperparameters not in MODES:
        raise ValueError(f"hyperparameters must be one of {', '.join(map(repr, MODES))}, got {hyperparameters!r}")
    space = getattr(fn, "search_space", {})
    info = {"method": method, "requested": hyperparameters, "hyperparameters": "reference", "task": None,
            "nfe": call_nfe(fn, kw), "tuned_nfe": None, "applied": {}, "user": sorted(k for k in kw if k in space),
            "table": None, "reason": None}  # fmt: skip
    applied, info["reason"] = _lookup(method, fn, prior, op, kw, hyperparameters, info)
    if applied:
        info["hyperparameters"], info["applied"] = "tuned", applied
        log.info("solve: %s on task %s at NFE %d: tuned values %s (tuned at NFE %d; %s)", method, info["task"],
                 info["nfe"], applied, info["tuned_nfe"], info["table"])  # fmt: skip
    else:
        log.info("solve: %s uses its reference hyperparameters (%s)", method, info["reason"])
    return {**kw, **applied}, info


def _lookup(method, fn, prior, op, kw, mode, info) -> tuple[dict, str | None]:
    if mode == "reference":
        return {}, "hyperparameters='reference'"
    name = getattr(prior, "shipped_name", None)
    if name is None:
        return {}, "the prior is not a shipped one (load_prior('mnist') or 'photo')"
    path, table = table_for(name)
    if table is None:
        return {}, f"no tuned table {path.name} for the {name} prior"
    info["table"] = str(path)
    if getattr(op, "registry_name", None) is None:
        return {}, "the operator did not come from operators.build"
    task = _table.match_task(table, op, kw.get("sigma_y"))
    if task is None:
        return {}, (f"operator {op.registry_name} {op.registry_params} with sigma_y={kw.get('sigma_y')} "
                    f"matches no tuned task of the {name} prior")  # fmt: skip
    info["task"] = task
    hit = _table.nearest(table, task, method, info["nfe"])
    if hit is None:
        return {}, f"{method} was not tuned on task {task} of the {name} prior"
    info["tuned_nfe"], entry = hit
    import inspect

    accepted = inspect.signature(fn).parameters
    blocked = {k for group in COUPLED if any(g in kw for g in group) for k in group}
    applied = {k: v for k, v in entry["params"].items() if k not in kw and k not in blocked and k in accepted}
    return applied, None if applied else "every tuned hyperparameter was given by the caller"
