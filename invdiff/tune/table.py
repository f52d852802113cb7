"""The tuned-defaults table shipped beside a prior: ``invdiff/weights/<prior>.tuned.json``.

A readable JSON file::

    {"format": "invdiff-tuned-v1", "prior": "mnist",
     "tasks": {"gaussian_blur": {"operator": "gaussian_blur", "params": {"size": 9, "std": 1.0, ...},
                                 "sigma_y": 0.05}, ...},
     "cells": {"gaussian_blur": {"ddrm": {"20": {"params": {...}, "train_psnr": 28.1,
                                                 "reference_train_psnr": 27.6, "trials": 30, ...}}}},
     "runs": [...]}

``tasks`` holds what defines each suite task (the registry operator name, its parameters as
``operators.build`` records them, and σ_y), so :func:`invdiff.solve` can tell which task an
operator is; ``cells`` is keyed by task, sampler and NFE.  ``runs`` records the
``invdiff tune --all`` runs (budget, which cells finished).  Parameter values are rounded to
4 significant digits.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

FORMAT = "invdiff-tuned-v1"


def empty(prior: str) -> dict:
    return {"format": FORMAT, "prior": prior, "tasks": {}, "cells": {}, "runs": []}


def read(path) -> dict | None:
    """The table at ``path`` (None when there is none); ``ValueError`` for a file that is not one."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        table = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not a tuned-defaults table (invalid JSON: {e})") from None
    if not isinstance(table, dict) or table.get("format") != FORMAT:
        raise ValueError(f"{path}: not a tuned-defaults table (format is not {FORMAT!r})")
    return table


def write(path, table: dict) -> Path:
    """Write ``table`` to ``path`` atomically (a temporary file renamed over it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(table, f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def rounded(v, digits: int = 4):
    """Floats to ``digits`` significant digits (recursively in dicts and lists); other values unchanged."""
    if isinstance(v, float) and math.isfinite(v) and v != 0:
        return round(v, digits - 1 - int(math.floor(math.log10(abs(v)))))
    if isinstance(v, dict):
        return {k: rounded(x, digits) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [rounded(x, digits) for x in v]
    return v


def record(path, prior: str, task: str, task_def: dict, method: str, nfe: int, entry: dict) -> dict:
    """Add (or replace) the cell (task, method, nfe) of ``prior``'s table at ``path``; returns the table."""
    table = read(path) or empty(prior)
    if table.get("prior") != prior:
        raise ValueError(f"{path} is the table of the {table.get('prior')!r} prior, not {prior!r}")
    table["tasks"][task] = task_def
    cells = table["cells"].setdefault(task, {}).setdefault(method, {})
    cells[str(int(nfe))] = {**entry, "params": rounded(entry["params"])}
    table["cells"][task][method] = dict(sorted(cells.items(), key=lambda kv: int(kv[0])))
    write(path, table)
    return table


def add_run(path, prior: str, run: dict) -> None:
    table = read(path) or empty(prior)
    table.setdefault("runs", []).append(run)
    write(path, table)


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def match_task(table: dict, op, sigma_y) -> str | None:
    """The task of ``table`` whose operator (registry name and parameters) and σ_y ``op``/``sigma_y`` are."""
    name, params = getattr(op, "registry_name", None), getattr(op, "registry_params", None)
    if name is None or not isinstance(params, dict) or sigma_y is None:
        return None
    for task, d in table.get("tasks", {}).items():
        p = d.get("params", {})
        if (
            d.get("operator") == name
            and set(p) == set(params)
            and all(_same(p[k], params[k]) for k in p)
            and _same(float(d.get("sigma_y", -1)), float(sigma_y))
        ):
            return task
    return None


def nearest(table: dict, task: str, method: str, nfe: float) -> tuple[int, dict] | None:
    """``(tuned NFE, entry)`` of the cell nearest to ``nfe`` on a log scale (ties: the larger NFE), or None."""
    cells = table.get("cells", {}).get(task, {}).get(method, {})
    if not cells:
        return None
    nfes = sorted(int(k) for k in cells)
    best = min(nfes, key=lambda n: (abs(math.log(n) - math.log(max(nfe, 1e-9))), -n))
    return best, cells[str(best)]
