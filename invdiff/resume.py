"""What a resumed training run may change: nothing of its architecture or data; its optimisation
settings only with ``override`` (the change is then recorded in the checkpoint's ``history``).
"""

from __future__ import annotations

from dataclasses import asdict


class ResumeMismatch(ValueError):
    """A resumed run's settings differ from its checkpoint's (architecture, data, or unconfirmed optimisation)."""


# settings a resumed run must keep; settings it may change only with override=True (recorded)
ARCHITECTURE = ("net", "data", "channels", "schedule", "parameterization", "image_size", "patch")
OPTIMISATION = ("lr", "batch", "ema", "warmup", "weight_decay", "clip", "hflip", "seed")
_OPTION = {
    "lr": "--lr",
    "batch": "--batch",
    "ema": "--ema",
    "hflip": "--hflip",
    "seed": "--seed",
    "channels": "--channels",
    "net.channels": "--width",
    "net.multipliers": "--multipliers",
    "net.attention_levels": "--attention",
    "net.in_channels": "--channels",
    "data": "--data",
    "patch": "--patch",
}


def _diff(old: dict, new: dict, keys) -> dict:
    """{key: (old, new)} for keys present in both whose values differ (nested net keys as net.KEY)."""
    out = {}
    for k in keys:
        if k not in old or k not in new:
            continue
        a, b = old[k], new[k]
        if isinstance(a, dict) and isinstance(b, dict):
            out.update({f"{k}.{kk}": v for kk, v in _diff(a, b, sorted(set(a) | set(b))).items()})
        elif (list(a) if isinstance(a, tuple) else a) != (list(b) if isinstance(b, tuple) else b):
            out[k] = (a, b)
    return out


def _fmt_changes(changes: dict) -> str:
    parts = []
    for k, (a, b) in changes.items():
        opt = _OPTION.get(k)
        parts.append(f"{k} {a!r} -> {b!r}" + (f" ({opt})" if opt else ""))
    return "; ".join(parts)


def check_resume(saved: dict, cfg, out, override: bool = False) -> dict:
    """The optimisation settings ``cfg`` changes relative to a checkpoint's config ``saved``.

    A different architecture or data raises :class:`ResumeMismatch` (a ValueError); changed
    optimisation settings raise it unless ``override`` (then they are returned, to be recorded).
    """
    new = asdict(cfg)
    arch = _diff(saved, new, ARCHITECTURE)
    if arch:
        raise ResumeMismatch(
            f"cannot resume {out}: it was trained with a different architecture or data: "
            f"{_fmt_changes(arch)}. Rerun with the run's own settings, or start a new run "
            "with another --out"
        )
    changes = _diff(saved, new, OPTIMISATION)
    if changes and not override:
        raise ResumeMismatch(
            f"resuming {out} with different optimisation settings: {_fmt_changes(changes)}. "
            "Rerun with the run's settings, or pass --override (override=True) to change them; "
            "the change is recorded in the checkpoint's config history"
        )
    return changes
