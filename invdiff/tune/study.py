"""Running a tuning cell on Optuna: a seeded TPE sampler, a median pruner, a resumable RDB study.

One study per cell (name ``prior/task/method/nfeN``) in an RDB storage: by default
``sqlite:///tune/<prior>.db`` (relative to the working folder).  A rerun loads the study and runs
only the trials still missing (finished = complete or pruned), so a killed search loses at most
the trials it was running; those are marked failed (heartbeat) and retried once with the same
parameters.  Any RDB URL works, and several processes (``workers``) share one study; each stops
once the study holds ``trials`` finished trials (a few more may finish while the last ones run).

Trial 0 is the benchmark's reference setting of the cell (:meth:`Cell.reference_kw`), trial 1 the
sampler's own defaults when they differ, so the best trial is never below either on the training
images.  The TPE sampler is seeded with
``seed``, the number of trials already in the study and the worker index, so a resumed or
parallel search does not redraw the parameters of the trials before it.
"""

from __future__ import annotations

import datetime as _dt
import multiprocessing
import time
from dataclasses import asdict, dataclass, replace

from .cells import Cell
from .objective import Objective, in_space

FINISHED = ("COMPLETE", "PRUNED")


class TuneMismatch(ValueError):
    """A stored study was run with other settings (images, batch, seed, steps or task definition)."""


@dataclass
class Settings:
    """How a cell is tuned; ``timeout`` (seconds) stops starting new trials after it."""

    trials: int = 30
    n_images: int = 16
    batch_size: int = 4
    seed: int = 0
    storage: str | None = None
    workers: int = 1
    device: str | None = None
    progress: bool = True
    timeout: float | None = None


def default_storage(prior: str) -> str:
    return f"sqlite:///tune/{prior}.db"


def storage(url: str):
    """An Optuna RDB storage for ``url`` (SQLite: its folder is created, a 60 s lock timeout).

    Trials send a heartbeat; one that stopped beating for 2 minutes (a killed process) is marked
    failed and re-queued once with its parameters.
    """
    import warnings
    from pathlib import Path

    import optuna

    kw = {}
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if str(path) not in ("", ":memory:"):
            path.parent.mkdir(parents=True, exist_ok=True)
        kw = {"connect_args": {"timeout": 60}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):  # optuna >= 4.9
            retry = {"heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)}
        else:
            retry = {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=1)}
        return optuna.storages.RDBStorage(url, engine_kwargs=kw, heartbeat_interval=30, grace_period=120, **retry)


def _attrs(cell: Cell, s: Settings) -> dict:
    from .cells import task_record

    return {
        "n_images": s.n_images,
        "batch_size": s.batch_size,
        "seed": s.seed,
        "steps": cell.steps,
        "task": task_record(cell.prior, cell.task_spec()),
    }


def open_study(cell: Cell, s: Settings, worker: int = 0):
    """The cell's study in ``s.storage`` (created when absent); ``TuneMismatch`` if its settings differ."""
    import optuna

    url = s.storage or default_storage(cell.prior)
    study = optuna.create_study(
        study_name=cell.study_name,
        storage=storage(url),
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        load_if_exists=True,
    )
    want, have = _attrs(cell, s), study.user_attrs
    if not have:
        for k, v in want.items():
            study.set_user_attr(k, v)
    else:
        diff = [k for k in want if have.get(k) != want[k]]
        if diff:
            raise TuneMismatch(
                f"study {cell.study_name} in {url} was run with other settings ("
                + ", ".join(f"{k}: stored {have.get(k)!r}, now {want[k]!r}" for k in diff)
                + "); use the stored settings or another --storage"
            )
    seed = s.seed * 1_000_003 + len(study.trials) + 7919 * worker
    study.sampler = optuna.samplers.TPESampler(seed=seed)
    return study


def n_finished(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=tuple(TrialState[s] for s in FINISHED)))


def _optimize(study, objective, s: Settings, bar=None) -> None:
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    remaining = s.trials - n_finished(study)
    if remaining <= 0:
        return
    callbacks = [MaxTrialsCallback(s.trials, states=tuple(TrialState[x] for x in FINISHED))]
    if bar is not None:

        def show(study, trial):
            bar.n = min(n_finished(study), s.trials)
            if any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
                bar.set_postfix_str(f"best {study.best_value:.2f} dB (trial {study.best_trial.number})")
            bar.refresh()

        callbacks.append(show)
    study.optimize(objective, n_trials=remaining, timeout=s.timeout, callbacks=callbacks, gc_after_trial=False)


def _load_prior(cell: Cell, device):
    from ..load import load_prior

    return load_prior(cell.prior, device=device)


def _worker(cell: Cell, settings: dict, index: int) -> None:
    """A second (third, …) process on the same study: no bar, its own TPE seed."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = Settings(**settings)
    study = open_study(cell, s, worker=index)
    objective = Objective(cell, _load_prior(cell, s.device), s.n_images, s.batch_size, s.seed, s.device)
    _optimize(study, objective, s)


def tune_cell(cell: Cell, s: Settings | None = None, prior=None) -> dict | None:
    """Run (or resume) ``cell``'s study up to ``s.trials`` finished trials; returns :func:`summary`."""
    s = s or Settings()
    cell.check()
    if s.workers < 1 or s.trials < 1 or s.n_images < 1 or s.batch_size < 1:
        raise ValueError("workers, trials, n_images and batch_size must be >= 1")
    study = open_study(cell, s)
    space = cell.space
    if not study.trials:
        bench, paper = in_space(space, cell.reference_kw()), in_space(space, cell.reference_kw(paper=True))
        study.enqueue_trial(bench, user_attrs={"reference": "bench"})
        if paper != bench:
            study.enqueue_trial(paper, user_attrs={"reference": "paper"})
    if n_finished(study) < s.trials:
        procs = []
        if s.workers > 1:
            ctx = multiprocessing.get_context("spawn")
            for i in range(1, s.workers):
                p = ctx.Process(target=_worker, args=(cell, asdict(replace(s, progress=False)), i), daemon=False)
                p.start()
                procs.append(p)
        prior = prior if prior is not None else _load_prior(cell, s.device)
        objective = Objective(cell, prior, s.n_images, s.batch_size, s.seed, s.device)
        from tqdm.auto import tqdm

        with tqdm(total=s.trials, initial=n_finished(study), desc=cell.label, disable=not s.progress) as bar:
            _optimize(study, objective, s, bar)
        for p in procs:
            p.join()
        bad = [p.exitcode for p in procs if p.exitcode]
        if bad:
            raise RuntimeError(f"{len(bad)} tuning worker(s) of {cell.study_name} failed (exit status {bad})")
    return summary(cell, study)


def summary(cell: Cell, study) -> dict | None:
    """The table entry of ``study``: best parameters (with the cell's fixed keywords), PSNRs, counts, date."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        return None
    best = max(complete, key=lambda t: (t.value, -t.number))
    ref = next((t for t in complete if t.user_attrs.get("reference") in ("bench", True)), None)
    same = in_space(cell.space, cell.reference_kw()) == in_space(cell.space, cell.reference_kw(paper=True))
    paper = next((t for t in complete if t.user_attrs.get("reference") == "paper"), ref if same else None)
    durations = [t.duration.total_seconds() for t in complete if t.duration is not None]
    attrs = study.user_attrs
    return {
        "params": {**cell.fixed_kw(), **best.params},
        "train_psnr": round(best.value, 3),
        "reference_train_psnr": round(ref.value, 3) if ref is not None else None,
        "paper_train_psnr": round(paper.value, 3) if paper is not None else None,
        "trials": sum(t.state.name in FINISHED for t in trials),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "best_trial": best.number,
        "steps": attrs.get("steps", cell.steps),
        "n_images": attrs.get("n_images"),
        "seconds_per_trial": round(sum(durations) / len(durations), 2) if durations else None,
        "date": (best.datetime_complete or _dt.datetime.now()).date().isoformat(),
        "study": cell.study_name,
    }


def save(table_path, cell: Cell, entry: dict) -> None:
    """Record ``entry`` for ``cell`` in the table at ``table_path``."""
    from . import table
    from .cells import task_record

    table.record(table_path, cell.prior, cell.task, task_record(cell.prior, cell.task_spec()), cell.method,
                 cell.nfe, entry)  # fmt: skip


def tune_all(prior: str, s: Settings, budget_minutes: float, table_path, nfes=None, cells=None) -> dict:
    """Every applicable task × sampler × NFE cell of ``prior`` within ``budget_minutes``.

    The time left is split evenly over the cells not yet run (a cell that stops early leaves its
    time to the others); a cell stops starting trials at its share (the running trial finishes).
    Each cell's result goes into the table as soon as it ends; the run is recorded in its ``runs``.
    """
    from .cells import MATCHED_NFE, grid

    cells = cells if cells is not None else grid(prior, nfes or MATCHED_NFE)
    t0 = time.monotonic()
    end = t0 + 60 * budget_minutes
    done, partial, missed = [], [], []
    loaded = None
    for i, cell in enumerate(cells):
        left = end - time.monotonic()
        if left <= 0:
            missed.append(cell.label)
            continue
        loaded = loaded if loaded is not None else _load_prior(cell, s.device)
        entry = tune_cell(cell, replace(s, timeout=left / (len(cells) - i)), prior=loaded)
        if entry is None:
            missed.append(cell.label)
            continue
        save(table_path, cell, entry)
        (done if entry["trials"] >= s.trials else partial).append(f"{cell.label} ({entry['trials']} trials)")
    run = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "budget_minutes": budget_minutes,
        "minutes": round((time.monotonic() - t0) / 60, 1),
        "trials_per_cell": s.trials,
        "n_images": s.n_images,
        "finished": done,
        "partial": partial,
        "not_run": missed,
    }
    from . import table

    table.add_run(table_path, prior, run)
    return run
