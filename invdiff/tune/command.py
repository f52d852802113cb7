"""``invdiff tune``: its options (:func:`add_arguments`) and the command (:func:`run`), checks first.

invdiff tune mnist --task gaussian_blur --method ddrm --nfe 20 --trials 30
invdiff tune mnist --all --budget-minutes 600 --table invdiff/weights/mnist.tuned.json
"""

from __future__ import annotations

from pathlib import Path

from ..cli_checks import RunError, UsageError, non_negative_int, positive_float, positive_int


def add_arguments(p) -> None:
    pos = positive_int
    p.add_argument("prior", help="shipped prior whose suite tasks and training images are used: mnist or photo")
    p.add_argument("--task", default=None, help="suite task, e.g. gaussian_blur (bench suite of the prior)")
    p.add_argument("--method", default=None, help="posterior sampler (dps, pigdm, ddrm, ddnm, diffpir, reddiff, daps)")
    p.add_argument("--nfe", type=pos, default=None, help="network evaluations per image")
    p.add_argument("--all", action="store_true", help="every task × sampler × NFE {20, 100} within --budget-minutes")
    p.add_argument(
        "--budget-minutes",
        type=positive_float,
        default=None,
        help="wall-clock budget, split evenly over the cells (required with --all; one cell: no new trial after it)",
    )
    p.add_argument("--trials", type=pos, default=30, help="finished trials per cell (complete or pruned)")
    p.add_argument("--n-images", type=pos, default=16, help="training images scored per trial")
    p.add_argument("--batch-size", type=pos, default=4, help="images per batch; the pruner sees each batch's mean")
    p.add_argument("--storage", default=None, help="Optuna RDB URL (default: sqlite:///tune/PRIOR.db)")
    p.add_argument("--workers", type=pos, default=1, help="processes sharing the study (one cell)")
    p.add_argument(
        "--table",
        default=None,
        help="tuned-defaults table to update (default: tune/PRIOR.tuned.json; solve reads "
        "invdiff/weights/PRIOR.tuned.json)",
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="sampler and TPE seed")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda when present, else cpu)")


def _check(a):
    from . import cells
    from .study import Settings, default_storage

    if a.prior not in cells.TUNED_PRIORS:
        names = ", ".join(cells.TUNED_PRIORS)
        raise UsageError(f"PRIOR {a.prior!r}: tuning runs on a shipped prior with a suite: {names}")
    if a.all:
        given = [o for o, v in (("--task", a.task), ("--method", a.method), ("--nfe", a.nfe)) if v is not None]
        if given:
            raise UsageError(f"--all runs every task × sampler × NFE {{20, 100}}; drop {', '.join(given)}")
        if a.budget_minutes is None:
            raise UsageError("--all needs --budget-minutes")
        cell = None
    else:
        missing = [o for o, v in (("--task", a.task), ("--method", a.method), ("--nfe", a.nfe)) if v is None]
        if missing:
            raise UsageError(f"give {', '.join(missing)} (one cell), or --all --budget-minutes M (the grid)")
        cell = cells.Cell(a.prior, a.task, a.method, a.nfe)
        try:
            cell.check()
        except (KeyError, ValueError) as e:
            raise UsageError(str(e).strip("'\"")) from None
        if a.workers > 1 and a.storage and a.storage.startswith("sqlite:///:memory:"):
            raise UsageError("--workers > 1 needs a storage shared between processes, not an in-memory SQLite")
    if a.all and a.workers > 1:
        raise UsageError("--workers applies to one cell; --all runs the cells one after the other")
    if a.n_images > cells.n_train(a.prior):
        raise UsageError(f"--n-images {a.n_images}: the {a.prior} prior has {cells.n_train(a.prior)} training images")
    url = a.storage or default_storage(a.prior)
    if "://" not in url:
        raise UsageError(f"--storage {url!r}: expected a database URL such as sqlite:///tune/{a.prior}.db")
    table_path = Path(a.table or f"tune/{a.prior}.tuned.json")
    if table_path.is_dir():
        raise UsageError(f"--table {table_path} is a folder; give a .json file")
    from . import table

    try:
        t = table.read(table_path)
    except ValueError as e:
        raise UsageError(f"--table: {e}") from None
    if t is not None and t.get("prior") != a.prior:
        raise UsageError(f"--table {table_path} is the table of the {t.get('prior')!r} prior, not {a.prior!r}")
    from ..cli_checks import resolve_device

    dev = resolve_device(a.device)
    timeout = None if a.budget_minutes is None else 60 * a.budget_minutes
    s = Settings(trials=a.trials, n_images=a.n_images, batch_size=a.batch_size, seed=a.seed, storage=url,
                 workers=a.workers, device=str(dev), timeout=timeout)  # fmt: skip
    return cell, s, table_path


def run(a) -> int:
    cell, s, table_path = _check(a)
    try:
        import optuna
    except ImportError:
        raise RunError("invdiff tune needs optuna (pip install optuna)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from .study import TuneMismatch, save, tune_all, tune_cell

    try:
        if cell is None:
            r = tune_all(a.prior, s, a.budget_minutes, table_path)
            print(f"{len(r['finished'])} cells finished, {len(r['partial'])} partial, {len(r['not_run'])} not run "
                  f"in {r['minutes']} min; table {table_path}")  # fmt: skip
            for k in ("partial", "not_run"):
                if r[k]:
                    print(f"{k.replace('_', ' ')}: {'; '.join(r[k])}")
            return 0
        entry = tune_cell(cell, s)
    except TuneMismatch as e:
        raise UsageError(str(e)) from None
    if entry is None:
        raise RunError(f"{cell.study_name}: no trial completed (every trial was pruned or stopped by the budget)")
    save(table_path, cell, entry)
    ref = entry["reference_train_psnr"]
    print(f"{cell.label}: best {entry['train_psnr']:.2f} dB on {entry['n_images']} training images "
          f"(reference {'n/a' if ref is None else f'{ref:.2f} dB'}) after {entry['trials']} trials "
          f"({entry['pruned']} pruned): {entry['params']}; table {table_path}")  # fmt: skip
    return 0
