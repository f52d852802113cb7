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

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from . import store
from .measure import display, jsonable, lpips_metric, peak_memory, reset_peak, score, sync
from .peers import PeerRunner
from .runners import BaselineRunner, Batch, Job, Runner, SamplerRunner
from .select import select_methods
from .spec import Method, Suite

__all__ = ["RUNNERS", "Plan", "Unit", "plan_run", "resolve_suite", "run_suite", "runner_for", "select_methods"]


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


def resolve_suite(suite) -> Suite:
    """A :class:`Suite`, or one by name from :mod:`invdiff.bench.suites` (mnist, photo, photo256, ffhq256, smoke)."""
    if isinstance(suite, Suite):
        return suite
    from .suites import get_suite

    return get_suite(suite)


def _save(path: Path, t: torch.Tensor):
    from ..io import atomic_save

    atomic_save(t.detach().cpu().float(), path)


@dataclass(frozen=True)
class Unit:
    """One method at one grid point and seed on one image batch: the unit of work split over processes
    (:mod:`invdiff.bench.distributed`).  ``key`` names it; its rows are images ``b0 … b0+n-1``."""

    task: str
    b0: int
    n: int
    method: str
    kind: str
    nfe: int
    seed: int

    @property
    def key(self) -> tuple:
        return (self.task, self.b0, self.method, self.nfe, self.seed)

    def row_keys(self) -> list[tuple]:
        return [(self.task, self.method, self.nfe, self.seed, i) for i in range(self.b0, self.b0 + self.n)]


@dataclass
class Plan:
    """What a run covers: tasks, methods with their runners, grid points and seeds, images and batches."""

    suite: Suite
    tasks: list
    methods: list  # (Method, Runner, grid points, seeds)
    seeds: list[int]
    images: torch.Tensor
    n: int
    batch_size: int

    def units(self) -> list[Unit]:
        """Every unit of the run, in the order a single process runs them (task, batch, method, NFE, seed)."""
        return [
            Unit(t.name, b0, min(self.batch_size, self.n - b0), m.name, m.kind, p.target, s)
            for t in self.tasks
            for b0 in range(0, self.n, self.batch_size)
            for m, r, grid, ss in self.methods
            if r.in_grid(t)
            for p in grid
            for s in ss
        ]


def plan_run(suite, methods=None, nfe=None, seeds=None, n_images=None, tasks=None, batch_size=None) -> Plan:
    """The :class:`Plan` of :func:`run_suite` with these arguments (images loaded, runners made)."""
    suite = resolve_suite(suite)
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds or suite.seeds)
    task_list = [t for t in suite.tasks if tasks is None or t.name in tasks]
    method_list = select_methods(suite, methods, runner_for)
    x_all = suite.images()
    n = len(x_all) if n_images is None else min(int(n_images), len(x_all))
    nfe = suite.nfe if nfe is None else nfe
    plan = []
    for m in method_list:
        r = runner_for(m)
        plan.append((m, r, r.grid(nfe), r.seeds(seeds)))
    return Plan(suite, task_list, plan, seeds, x_all, n, int(batch_size or suite.batch_size))


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
    plan: Plan | None = None,
    only=None,
    also_done=(),
    images_to=None,
    meta_for=None,
    tags=None,
) -> Path:
    """Run (or resume) a suite; returns the JSONL path.

    ``suite``: a :class:`Suite` or a name from :mod:`invdiff.bench.suites`.  ``methods``/``tasks``:
    names to keep; ``methods`` may add specs of the suite's samplers (:func:`select_methods`).
    ``nfe``: target NFEs replacing every sampler's list (per draw for a posterior mean).
    ``seeds``: an int n (seeds 0..n-1) or a list.  ``n_images``: the first n test images.  ``device``: defaults to
    CUDA when present.  ``prior``: overrides the suite's prior.  ``retry_errors``: rerun rows
    with status "error".  Reconstructions of the first ``suite.n_show`` images (first seed) go
    to ``<out>_images/`` for :func:`invdiff.bench.report.summarize`'s grids.

    For a process among several (:mod:`invdiff.bench.distributed`): ``plan`` (from :func:`plan_run`)
    replaces the arguments above it; ``only``: the :attr:`Unit.key` s to run (None: all); ``also_done``:
    other results files whose rows count as done (read only); ``images_to``: the reconstructions'
    folder; ``meta_for``: the JSONL whose ``_meta.json`` is written (False: none).  ``tags``: fields
    added to every row (e.g. the network's precision).
    """
    from tqdm.auto import tqdm

    import operators

    p = plan or plan_run(suite, methods, nfe, seeds, n_images, tasks, batch_size)
    suite, seeds, n, bs = p.suite, p.seeds, p.n, p.batch_size
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out = Path(out_jsonl)
    out.parent.mkdir(parents=True, exist_ok=True)
    img_dir = Path(images_to) if images_to is not None else store.images_dir(out)
    lp, lp_reason = lpips_metric(device)

    done = store.resume(out, retry_errors)
    for other in also_done:
        done.update(store.row_key(r) for r in store.read_rows(other) if not retry_errors or r.get("status") != "error")
    mine = [u for u in p.units() if only is None or u.key in only]
    bar = tqdm(total=sum(u.n for u in mine), disable=not progress, desc=f"bench {suite.name}", unit="img")
    bar.update(sum(1 for u in mine for k in u.row_keys() if k in done))
    pr = None
    for task in p.tasks:
        for b0 in range(0, n, bs):
            idx = list(range(b0, min(b0 + bs, n)))
            todo = [
                (m, r, pt, s)
                for m, r, grid, ss in p.methods
                if r.in_grid(task)
                for pt in grid
                for s in ss
                if (only is None or (task.name, b0, m.name, pt.target, s) in only)
                and any((task.name, m.name, pt.target, s, i) not in done for i in idx)
            ]
            if not todo:
                continue
            x = p.images[idx].to(device)
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
                    **(tags or {}),
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
    if meta_for is not False:
        tdefs = {t.name: jsonable(t.__dict__) for t in p.tasks}
        store.write_meta(meta_for or out, suite.name, suite.notes, lp_reason or "reported", tdefs)
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
    runner.last_params = None  # set by a runner whose keywords differ from job.params (SamplerRunner)
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
        "params": jsonable(job.params if runner.last_params is None else runner.last_params),
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
