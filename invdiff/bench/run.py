"""The benchmark loop: tasks × methods × NFE × seeds over a suite's test images, resumable.

:func:`run_suite` appends one JSON row per (task, method, nfe_target, seed, image) to a
JSONL file as soon as each image batch finishes (:mod:`invdiff.bench.store`), and on a
rerun skips every key already there, so a killed run loses nothing it finished.  A method
that raises on a batch gets rows with status "error" and the exception's type and message;
the run goes on.  Each method runs through the runner of its kind (:data:`RUNNERS`).

Randomness: image i's operator parameters (box position, motion kernel) and its
measurement noise are seeded by (task seed, i) and shared by all methods and seeds;
``seed`` is the samplers' seed.  Batches are aligned (images [k·b, (k+1)·b)); a
sampler draws its noise per sample, so an image's result does not depend on the other
images of its batch.  Samplers that take an ``offset`` keyword get the batch start,
which makes results independent of the batch size too; others depend on (seed,
position in the batch), so the batch size is recorded in every row.

Methods may be specs of the suite's samplers (:func:`select_methods`): ``"ddrm:start=noise,sigma0=0.2"``
runs DDRM with those keywords; ``"ddrm:mean8"`` averages 8 draws (rows carry ``draws``: 8), at
``nfe_target`` 8 × the per-draw target and the measured NFE and time of all 8.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from . import store
from .measure import display, jsonable, lpips_metric, peak_memory, reset_peak, score, sync
from .peers import PeerRunner
from .runners import BaselineRunner, Batch, Job, Runner, SamplerRunner
from .spec import Method, Suite, parse_spec

__all__ = ["RUNNERS", "resolve_suite", "run_suite", "runner_for", "select_methods"]

# Method.kind -> the runner class that runs it
RUNNERS: dict[str, type[Runner]] = {
    "sampler": SamplerRunner,
    "custom": SamplerRunner,
    "baseline": BaselineRunner,
    "deepinv": PeerRunner,
}


def runner_for(m: Method) -> Runner:
    """A fresh runner for ``m`` (one per run: baselines cache their tuned weights in it)."""
    if m.kind not in RUNNERS:
        raise ValueError(f"method {m.name!r} has unknown kind {m.kind!r}; choose from {sorted(RUNNERS)}")
    return RUNNERS[m.kind](m)


def select_methods(suite: Suite, names=None) -> list[Method]:
    """The methods to run: the suite's (all when ``names`` is None, else those named, in the suite's
    order), then each method spec among ``names`` (``"ddrm:start=noise"``, ``"ddrm:mean8"``:
    :func:`invdiff.bench.spec.parse_spec`) in the order given.  A spec's base must be one of the
    suite's samplers; it inherits that method's NFE list, function and keywords.  Unknown names,
    malformed specs and keywords the sampler does not take are a ``ValueError`` (one line)."""
    if names is None:
        return list(suite.methods)
    if isinstance(names, str):
        names = [names]
    names = list(dict.fromkeys(str(n).strip() for n in names))
    by_name = {m.name: m for m in suite.methods}
    unknown = [n for n in names if n not in by_name and ":" not in n]
    if unknown:
        raise ValueError(
            f"unknown methods {sorted(unknown)} for suite {suite.name!r} (it has {', '.join(by_name)}; "
            "variants of a sampler: NAME:ITEM,... e.g. ddrm:start=noise, ddrm:mean8)"
        )
    out = [m for m in suite.methods if m.name in names]
    samplers = [m.name for m in suite.methods if m.kind in ("sampler", "custom")]
    for n in names:
        if n in by_name:
            continue
        spec = parse_spec(n)
        base = by_name.get(spec.key)
        if base is None or base.kind not in ("sampler", "custom"):
            raise ValueError(
                f"method spec {n!r}: {spec.key!r} is not a sampler of suite {suite.name!r} "
                f"(its samplers: {', '.join(samplers) or 'none'})"
            )
        m = dataclasses.replace(base, name=spec.name, kw={**base.kw, **spec.kw}, samples=spec.samples, base=base.key)
        runner_for(m)  # checks the sampler's keywords now, before any work
        out.append(m)
    return out


def resolve_suite(suite) -> Suite:
    """A :class:`Suite`, or one by name from :mod:`invdiff.bench.suites` (mnist, photo, photo256, ffhq256, smoke)."""
    if isinstance(suite, Suite):
        return suite
    from .suites import get_suite

    return get_suite(suite)


def _save(path: Path, t: torch.Tensor):
    from ..io import atomic_save

    atomic_save(t.detach().cpu().float(), path)


def run_suite(
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
) -> Path:
    """Run (or resume) a suite; returns the JSONL path.

    ``suite``: a :class:`Suite` or a name from :mod:`invdiff.bench.suites`.  ``methods``/``tasks``:
    names to keep; ``methods`` may add specs of the suite's samplers (:func:`select_methods`).
    ``nfe``: target NFEs replacing every sampler's list (per draw for a posterior mean).
    ``seeds``: an int n (seeds 0..n-1) or a list.  ``n_images``: the first n test images.  ``device``: defaults to
    CUDA when present.  ``prior``: overrides the suite's prior.  ``retry_errors``: rerun rows
    with status "error".  Reconstructions of the first ``suite.n_show`` images (first seed) go
    to ``<out>_images/`` for :func:`invdiff.bench.report.summarize`'s grids.
    """
    from tqdm.auto import tqdm

    import operators

    suite = resolve_suite(suite)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out = Path(out_jsonl)
    out.parent.mkdir(parents=True, exist_ok=True)
    img_dir = store.images_dir(out)
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds or suite.seeds)
    task_list = [t for t in suite.tasks if tasks is None or t.name in tasks]
    method_list = select_methods(suite, methods)
    bs = int(batch_size or suite.batch_size)
    x_all = suite.images()
    n = len(x_all) if n_images is None else min(int(n_images), len(x_all))
    nfe = suite.nfe if nfe is None else nfe
    plan = []  # (method, runner, grid points, seeds)
    for m in method_list:
        r = runner_for(m)
        plan.append((m, r, r.grid(nfe), r.seeds(seeds)))
    lp, lp_reason = lpips_metric(device)

    done = store.resume(out, retry_errors)
    cells = [
        (t.name, m.name, p.target, s)
        for t in task_list
        for m, r, grid, ss in plan
        if r.in_grid(t)
        for p in grid
        for s in ss
    ]
    bar = tqdm(total=n * len(cells), disable=not progress, desc=f"bench {suite.name}", unit="img")
    bar.update(sum(1 for c in cells for i in range(n) if (*c, i) in done))
    pr = None
    for task in task_list:
        for b0 in range(0, n, bs):
            idx = list(range(b0, min(b0 + bs, n)))
            todo = [
                (m, r, p, s)
                for m, r, grid, ss in plan
                if r.in_grid(task)
                for p in grid
                for s in ss
                if any((task.name, m.name, p.target, s, i) not in done for i in idx)
            ]
            if not todo:
                continue
            x = x_all[idx].to(device)
            op = task.build(suite.shape, len(idx), b0, device)
            y = operators.measure(op, x, task.sigma_y, seed=task.seed, offset=b0)
            batch = Batch(task, suite.shape, idx, x, y, op)
            show = b0 == 0 and suite.n_show > 0
            if show:
                k = min(suite.n_show, len(idx))
                _save(img_dir / task.name / "_gt.pt", x[:k])
                _save(img_dir / task.name / "_measurement.pt", display(op, y, suite.shape)[:k])
            for m, r, point, seed in todo:
                base = {
                    "suite": suite.name,
                    "task": task.name,
                    "operator": task.operator,
                    "sigma_y": task.sigma_y,
                    "method": m.name,
                    "kind": m.kind,
                    "nfe_target": point.target,
                    "steps": point.steps,
                    "default": point.default,
                    "seed": seed,
                    "batch_size": len(idx),
                    "device": str(device),
                    **({"draws": m.samples} if m.samples != 1 else {}),
                }
                reason = r.applicable(op)
                if reason is not None:
                    rows, xh = [{**base, "index": i, "status": "skipped", "error": reason} for i in idx], None
                else:
                    params, note = r.params(task, suite, device)
                    if note is not None:
                        base["tune_error"] = note
                    if r.uses_prior and pr is None:
                        pr = _load_prior(suite, prior, device)
                    rows, xh = _run_batch(r, batch, Job(point, seed, params, pr), base, lp, device)
                if xh is not None and show and seed == seeds[0]:
                    _save(img_dir / task.name / store.image_file(m.name, point.target), xh[: suite.n_show])
                rows = [row for row in rows if store.row_key(row) not in done]
                store.append(out, rows)
                done.update(store.row_key(row) for row in rows)
                bar.update(len(rows))
                bar.set_postfix_str(f"{task.name} {m.name}@{point.target}")
    bar.close()
    store.write_meta(
        out, suite.name, suite.notes, lp_reason or "reported", {t.name: jsonable(t.__dict__) for t in task_list}
    )
    return out


def _load_prior(suite: Suite, prior, device):
    pr = prior if prior is not None else suite.prior()
    if hasattr(pr, "to"):
        pr.to(device)
    return pr


def _run_batch(runner: Runner, batch: Batch, job: Job, base: dict, lpips_fn, device) -> tuple[list[dict], object]:
    """Run one method on one image batch; returns (rows, clamped reconstruction or None)."""
    if job.prior is not None and hasattr(job.prior, "nfe"):
        job.prior.nfe = 0
    reset_peak(device)
    sync(device)
    t0 = time.perf_counter()
    try:
        xh, err = runner(batch, job), None
        sync(device)
    except Exception as e:  # noqa: BLE001 - recorded in the batch's rows (type and message); the grid goes on
        xh, err = None, f"{type(e).__name__}: {e}"[:500]
    dt = time.perf_counter() - t0
    mem, mem_kind = peak_memory(device)
    n = len(batch.index)
    common = {
        **base,
        "params": jsonable(job.params),
        "time_s": dt / n,
        "batch_time_s": dt,
        "nfe": runner.nfe_used(job.prior, n),
        "peak_mem_mib": round(mem, 1),
        "mem_kind": mem_kind,
    }
    if err is not None:
        return [{**common, "index": i, "status": "error", "error": err} for i in batch.index], None
    xh, scores = score(xh, batch.x, lpips_fn)
    return [{**common, "index": i, **s} for i, s in zip(batch.index, scores)], xh
