"""The results file: one JSON row per (task, method, nfe_target, seed, index), appended as batches finish.

Rows of a batch are appended in one write followed by flush + fsync, so a killed run loses
at most the batch in flight.  A kill during that write can leave a torn last line (no
newline, not JSON); :func:`resume` truncates it away and returns the keys already done,
which a rerun skips.  Next to ``<name>.jsonl`` live ``<name>_meta.json`` (suite, notes, task
definitions) and ``<name>_images/`` (reconstructions of the first images, for the grids).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

__all__ = [
    "KEY",
    "append",
    "image_file",
    "images_dir",
    "meta_path",
    "read_meta",
    "read_rows",
    "repair",
    "resume",
    "row_key",
    "write_meta",
]

KEY = ("task", "method", "nfe_target", "seed", "index")
_BLOCK = 1 << 16


def row_key(r: dict) -> tuple:
    """The row's identity: its values of :data:`KEY`."""
    return tuple(r[k] for k in KEY)


def meta_path(jsonl) -> Path:
    jsonl = Path(jsonl)
    return jsonl.parent / f"{jsonl.stem}_meta.json"


def image_file(method: str, target) -> str:
    """The file name of a method's shown reconstructions at NFE ``target``: ``<method>@<target>.pt``, with
    characters that some file systems refuse (a spec's ':', '/', …) replaced by '_'."""
    safe = "".join(c if c.isalnum() or c in "._=,+-" else "_" for c in str(method))
    return f"{safe}@{target}.pt"


def images_dir(jsonl) -> Path:
    jsonl = Path(jsonl)
    return jsonl.parent / f"{jsonl.stem}_images"


def read_rows(path) -> list[dict]:
    """All complete rows of a JSONL file ([] if there is none).

    A torn last line (no newline and not JSON: a run killed mid-write, or one still writing)
    is not a row.  A complete line that is not JSON is skipped with a warning naming it.
    """
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                if line.endswith(b"\n"):
                    warnings.warn(f"{path}:{n}: skipped a line that is not JSON ({e})", stacklevel=2)
    return rows


def _complete_size(f, size: int) -> int:
    """Bytes up to and including the last newline of the open file ``f`` of ``size`` bytes."""
    end = size
    while end > 0:
        start = max(0, end - _BLOCK)
        f.seek(start)
        k = f.read(end - start).rfind(b"\n")
        if k >= 0:
            return start + k + 1
        end = start
    return 0


def _is_json(b: bytes) -> bool:
    try:
        json.loads(b)
    except json.JSONDecodeError:
        return False
    return True


def repair(path) -> int:
    """Truncate a torn last line (bytes after the last newline that are not JSON) away; returns how
    many bytes went.  A last line that is complete JSON only lacks its newline, which is added."""
    path = Path(path)
    if not path.is_file():
        return 0
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        keep = _complete_size(f, size)
        if keep == size:
            return 0
        f.seek(keep)
        if _is_json(f.read()):
            f.write(b"\n")
            keep = size
        else:
            f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return size - keep


def resume(path, retry_errors: bool = False) -> set[tuple]:
    """Repair ``path`` (:func:`repair`) and return the keys of its rows (rows with status "error"
    left out when ``retry_errors``, so they are run again)."""
    repair(path)
    return {row_key(r) for r in read_rows(path) if not retry_errors or r.get("status") != "error"}


def append(path, rows: list[dict]) -> None:
    """Append ``rows`` in one write, then flush and fsync (a torn last line is repaired first)."""
    if not rows:
        return
    path = Path(path)
    repair(path)
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    with open(path, "ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def read_meta(jsonl) -> dict:
    m = meta_path(jsonl)
    return json.loads(m.read_text()) if m.is_file() else {}


def write_meta(jsonl, suite: str, notes: str, lpips: str, tasks: dict) -> Path:
    """Write ``<name>_meta.json``; task definitions of earlier runs into the same file are kept."""
    m = meta_path(jsonl)
    old = read_meta(jsonl).get("tasks", {})
    m.write_text(json.dumps({"suite": suite, "notes": notes, "lpips": lpips, "tasks": {**old, **tasks}}, indent=1))
    return m
