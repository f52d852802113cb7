"""``invdiff bench``: arguments checked before any folder is made; one process or several (torchrun)."""

from __future__ import annotations

from pathlib import Path

from .cli_checks import UsageError, resolve_device
from .cli_commands import _accelerate, _load_prior, _prior_arg


# ---- bench ----------------------------------------------------------------------------------
def _bench_methods(suite, names, label: str) -> None:
    """--methods: the suite's method names and well-formed specs of its samplers (checked before any work)."""
    from .bench.run import select_methods

    if names is None:
        return
    known = [m.name for m in suite.methods]
    unknown = sorted(n for n in set(names) if n not in known and ":" not in n)
    if unknown:
        raise UsageError(
            f"--methods: {', '.join(unknown)} not in suite {label} (it has {', '.join(known)}; "
            "variants of a sampler: NAME:key=value,..., NAME:meanK or NAME:tuned)"
        )
    try:
        select_methods(suite, names)
    except ValueError as e:
        raise UsageError(f"--methods: {e}") from None


def cmd_bench(a) -> int:
    from .bench.suites import SUITES, get_suite

    if a.suite not in SUITES:
        raise UsageError(f"unknown suite {a.suite!r}; choose from {', '.join(sorted(SUITES))}")
    suite = get_suite(a.suite)
    known = [t.name for t in suite.tasks]
    unknown = sorted(set(a.tasks or ()) - set(known))
    if unknown:
        raise UsageError(f"--tasks: {', '.join(unknown)} not in suite {a.suite} (it has {', '.join(known)})")
    _bench_methods(suite, a.methods, a.suite)
    out = Path(a.out or f"bench-{a.suite}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; bench writes a folder")
    if a.prior:
        _prior_arg(a.prior)
    from . import distributed as D
    from .accel import tags
    from .bench.distributed import run_distributed

    ctx = D.context()
    dev = D.device_for(ctx, resolve_device(a.device))
    prior = _load_prior(a.prior, dev) if a.prior else None
    accel = tags(a.amp, a.channels_last, a.compile)
    if accel:  # the suite's own prior, loaded here to be changed
        prior = _accelerate(prior if prior is not None else suite.prior(), a)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / "results.jsonl"
    run_distributed(
        suite,
        jsonl,
        methods=a.methods,
        nfe=a.nfe,
        seeds=list(range(a.seeds)),
        n_images=a.n_images,
        device=str(dev),
        tasks=a.tasks,
        batch_size=a.batch_size,
        prior=prior,
        tags=accel,
        summary_dir=None if a.no_summary else out,
    )
    if ctx.main:
        what = f"results: {jsonl}" if a.no_summary else f"summary: {out / 'results.md'}"
        print(what + (f" ({ctx.world} processes)" if ctx.distributed else ""))
    return 0
