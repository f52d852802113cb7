"""Checks the command line runs before any work: argument types, output paths, devices, input images.

Two error classes carry the exit status: :class:`UsageError` (2: the command line asks for
something that cannot be done as asked) and :class:`RunError` (1: the inputs or the run failed).
``invdiff.cli.main`` prints either as one line ``error: ...`` on stderr.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from .io import IMAGE_TYPES

BLUR_TASKS = ("gaussian_blur", "motion_blur", "uniform_blur")


class UsageError(Exception):
    """The command line is wrong (exit status 2)."""


class RunError(Exception):
    """The inputs or the run failed (exit status 1)."""


# ---- argparse types: invalid values become one-line usage errors at parse time ----------------
def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return v


def non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return v


def positive_float(text: str) -> float:
    v = non_negative_float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


# ---- paths --------------------------------------------------------------------------------
from .io import free_path  # noqa: E402 - re-exported for the CLI


def check_out(
    path: str | Path, *, force: bool = False, free: bool = False, types=IMAGE_TYPES, option: str = "--out"
) -> Path:
    """Validate an output file before the work: its type, its folder, and an existing file.

    An existing file is refused unless ``force`` (replace it) or ``free`` (a free name
    ``NAME-1.png`` … is returned instead; the user's file is never touched).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name, e.g. {path / ('result' + types[0])}")
    if path.suffix.lower() not in types:
        what = f"type {path.suffix!r}" if path.suffix else "no file extension"
        raise UsageError(f"{option} {path}: unsupported {what}; use one of {', '.join(types)}")
    if not path.parent.is_dir():
        raise UsageError(f"{option} {path}: folder {path.parent} does not exist")
    if path.exists():
        if free:
            return free_path(path)
        if not force:
            raise UsageError(f"{option} {path} exists; pass --force to replace it (or choose another name)")
    return path


def check_input(path: str | Path, what: str = "image") -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        raise UsageError(f"{what} {path} is a folder, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    return path


def read_input_image(path, channels: int | None, what: str = "image"):
    """(1, C, H, W) in [-1, 1]; a file that is not an image is a RunError."""
    from .io import read_image

    path = check_input(path, what)
    try:
        return read_image(path, channels=channels)
    except ValueError as e:
        raise RunError(f"{what} {e}" if str(e).startswith(str(path)) else f"{what} {path}: {e}") from None


# ---- devices ------------------------------------------------------------------------------
def resolve_device(name: str | None):
    """A usable ``torch.device``: the default (CUDA when present, else CPU) or ``name`` after checking it."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise UsageError(f"--device {name!r}: unknown device; use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                f"--device {name}: no CUDA GPU is available on this machine "
                "(torch.cuda.is_available() is False); use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(f"--device {name}: Apple MPS is not available on this machine; use --device cpu")
    elif dev.type != "cpu":
        raise UsageError(f"--device {name}: unsupported device type {dev.type!r}; use cpu, cuda, cuda:N or mps")
    return dev


# ---- priors and results -------------------------------------------------------------------
def check_prior_weights(prior, name) -> None:
    """RunError when a prior's network holds NaN or Inf weights (a broken checkpoint)."""
    import torch

    net = getattr(prior, "net", None)
    params = list(net.parameters()) if hasattr(net, "parameters") else []
    bad = sum(int((~torch.isfinite(p)).sum()) for p in params if p.is_floating_point())
    if bad:
        raise RunError(
            f"prior {name}: {bad} network weight(s) are NaN or Inf; the checkpoint is broken "
            "(retrain or export it again)"
        )


def check_fits_prior(x, prior, name, image) -> None:
    """RunError when the image does not fit the prior (its fixed size, or its down-sampling factor)."""
    shape, got = getattr(prior, "image_shape", None), tuple(x.shape[1:])
    if shape and tuple(shape) != got:
        raise RunError(
            f"the {name} prior works on {'×'.join(map(str, shape))} (C×H×W) images; {image} is "
            f"{'×'.join(map(str, got))}"
        )
    factor = getattr(getattr(prior, "net", None), "factor", 1)
    if isinstance(factor, int) and (got[1] % factor or got[2] % factor):
        raise RunError(
            f"the {name} prior needs image sides divisible by {factor}; {image} is {got[1]}×{got[2]} (crop or pad it)"
        )


def check_finite(x, what: str, method: str, prior) -> None:
    import torch

    if not torch.isfinite(x).all():
        raise RunError(
            f"the {what} has NaN/Inf values ({method} with prior {prior}); nothing was written. "
            "The prior's weights may be broken, or the sampler diverged (try another --method or --steps)"
        )
