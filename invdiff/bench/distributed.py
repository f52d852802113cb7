"""A benchmark split over the processes of ``torchrun --nproc_per_node=N [--nnodes=M] -m invdiff bench SUITE``.

The work list — every :class:`~invdiff.bench.run.Unit` (task × image batch × method × NFE ×
seed) not yet in the results — is split over the ranks by :func:`assign`: greedy, longest
first, on the expected cost (images × NFE, ×3 for samplers that backpropagate through the
network; a classical baseline's units of one task stay together, so its weight is tuned once).
Each rank appends its rows to its own shard ``shards/<name>.rank<r>.jsonl`` next to the
results file (:mod:`invdiff.bench.store`: one fsynced write per batch).  When all are done,
rank 0 merges the shards into ``<name>.jsonl`` (:func:`merge`: one row per row key, in the
order a single process writes them), removes them and writes the meta file; the ranks then
draw the summary's figures between them (:func:`invdiff.bench.report.summarize` ``part=``).

Resume: a killed rank loses at most its batch in flight.  A rerun, with any number of
processes, counts as done every row of the results file and of every shard there, and splits
what is left again (one process merges the shards first).  Every image's operator, noise and
sampler seeds depend only on (seed, image index), so the merged rows equal a single
process's, image by image (timing and memory fields aside).  The results folder must be
one all ranks see (one filesystem when ``--nnodes`` > 1).
"""

from __future__ import annotations

import heapq
import json
import os
from pathlib import Path

from .. import distributed as D
from . import store
from .run import Plan, Unit, plan_run, run_suite

__all__ = ["GRADIENT_METHODS", "assign", "cost", "merge", "run_distributed", "shard_path", "shards"]

# methods that backpropagate through the network at every step: about 3 network evaluations' cost per NFE
GRADIENT_METHODS = {"dps", "deepinv-dps"}
BASELINE_COST = 1.0  # a classical baseline image, in network evaluations


def shard_path(out_jsonl, rank: int) -> Path:
    out = Path(out_jsonl)
    return out.parent / "shards" / f"{out.stem}.rank{rank}.jsonl"


def shards(out_jsonl) -> list[Path]:
    """Every shard of ``out_jsonl`` on disk (from runs with any number of processes)."""
    out = Path(out_jsonl)
    d = out.parent / "shards"
    return sorted(d.glob(f"{out.stem}.rank*.jsonl"), key=lambda p: int(p.stem.rsplit("rank", 1)[1]))


def cost(u: Unit, todo: int | None = None) -> float:
    """Expected cost of unit ``u`` with ``todo`` images left (default all), in network evaluations."""
    n = u.n if todo is None else todo
    if u.kind == "baseline" or u.nfe == 0:
        return BASELINE_COST * n
    return n * u.nfe * (3.0 if u.method in GRADIENT_METHODS else 1.0)


def _group(u: Unit) -> tuple:
    """Units that must run in one process: a baseline's batches of a task (its tuned weight is cached)."""
    return (u.task, u.method, u.seed) if u.kind == "baseline" else u.key


def assign(units: list[Unit], world: int, done: set = frozenset()) -> dict[tuple, int]:
    """{unit key: rank} for the units with rows not in ``done``: groups by decreasing cost, each to the
    least loaded rank (ties: the lowest rank).  Deterministic: every rank computes the same split."""
    groups: dict[tuple, list] = {}
    for i, u in enumerate(units):
        left = sum(1 for k in u.row_keys() if k not in done)
        if left:
            groups.setdefault(_group(u), []).append((i, u, cost(u, left)))
    order = sorted(groups.values(), key=lambda g: (-sum(c for _, _, c in g), g[0][0]))
    heap = [(0.0, r) for r in range(world)]
    out = {}
    for g in order:
        load, r = heapq.heappop(heap)
        out.update({u.key: r for _, u, _ in g})
        heapq.heappush(heap, (load + sum(c for _, _, c in g), r))
    return out


def _done(out_jsonl, retry_errors: bool) -> set:
    rows = [r for p in [Path(out_jsonl), *shards(out_jsonl)] for r in store.read_rows(p)]
    return {store.row_key(r) for r in rows if not retry_errors or r.get("status") != "error"}


def merge(out_jsonl, plan: Plan | None = None) -> int:
    """Fold the shards into ``out_jsonl`` and remove them; returns the rows added.

    One row per key: a row already in the results file stays, unless it is an error a shard
    has rerun; new rows follow in the order of ``plan``'s units (then any others, as found)."""
    out = Path(out_jsonl)
    parts = shards(out)
    if not parts:
        return 0
    store.repair(out)
    rows = store.read_rows(out)
    at = {store.row_key(r): i for i, r in enumerate(rows)}
    new: dict[tuple, dict] = {}
    for p in parts:
        for r in store.read_rows(p):
            k = store.row_key(r)
            if k in at and (rows[at[k]].get("status") != "error" or r.get("status") == "error"):
                continue
            new[k] = r
    pos = {k: j for j, k in enumerate(k for u in (plan.units() if plan else []) for k in u.row_keys())}
    added = 0
    for k, r in sorted(new.items(), key=lambda kv: pos.get(kv[0], len(pos))):
        if k in at:
            rows[at[k]] = r
        else:
            rows.append(r)
            added += 1
    tmp = out.with_name(f".{out.name}.merge.tmp")
    with open(tmp, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)
    for p in parts:
        p.unlink()
    try:
        parts[0].parent.rmdir()
    except OSError:
        pass
    return added


def run_distributed(
    suite,
    out_jsonl,
    methods=None,
    nfe=None,
    seeds=None,
    n_images=None,
    device=None,
    progress: bool = True,
    *,
    tasks=None,
    batch_size=None,
    prior=None,
    retry_errors=False,
    tags=None,
    summary_dir=None,
) -> Path:
    """:func:`invdiff.bench.run.run_suite` on this rank's share, then the merge (rank 0) and, with
    ``summary_dir``, the summary (figures drawn by all ranks).  Joins the process group itself;
    as one process (no torchrun) it is :func:`run_suite` followed by the summary."""
    ctx = D.start("gloo")
    out = Path(out_jsonl)
    dev = D.device_for(ctx, device)
    plan = plan_run(suite, methods, nfe, seeds, n_images, tasks, batch_size)
    kw = dict(device=str(dev), prior=prior, retry_errors=retry_errors, plan=plan, tags=tags)
    if not ctx.distributed:
        merge(out, plan)  # shards of an earlier multi-process run (none is running now) count as done
        run_suite(suite, out, progress=progress, **kw)
    else:
        D.barrier(ctx)  # every rank reads the same files, before any writes
        done = _done(out, retry_errors)
        D.barrier(ctx)
        split = assign(plan.units(), ctx.world, done)
        mine = {k for k, r in split.items() if r == ctx.rank}
        shard = shard_path(out, ctx.rank)
        others = [out, *(p for p in shards(out) if p != shard)]
        run_suite(
            suite,
            shard,
            progress=progress and ctx.main,
            only=mine,
            also_done=others,
            images_to=store.images_dir(out),
            meta_for=out if ctx.main else False,
            **kw,
        )
        D.barrier(ctx)  # all shards complete
        if ctx.main:
            merge(out, plan)
        D.barrier(ctx)
    if summary_dir is not None:
        from .report import summarize

        summarize(out, summary_dir, part=(ctx.rank, ctx.world))
    D.finish(ctx)
    return out
