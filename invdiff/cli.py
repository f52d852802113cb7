"""The ``invdiff`` command line: demo, restore, sample, train, export, bench, tune.

Every user error is one line ``error: ...`` on stderr, with exit status 2 for a wrong
command line (bad option values or combinations, paths, devices) and 1 for inputs or runs
that fail (an unreadable image or checkpoint, a measurement of the wrong size, a NaN
result, a non-finite training loss); ``--debug`` adds the traceback.  Arguments are checked
before any work starts and no existing file is overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import sys

from .cli_checks import (
    RunError,
    UsageError,
    free_path,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)

_free_path = free_path  # the name earlier code and tests use

TASKS = (
    "gaussian_blur",
    "motion_blur",
    "uniform_blur",
    "inpaint_box",
    "inpaint_random",
    "sr_avg",
    "sr_bicubic",
    "denoise",
)


# --start: the warm-start initializers (invdiff/samplers/warmstart.py INITIALIZERS, "noise" first) and "auto"
START_CHOICES = ("auto", "noise", "pinv", "tikhonov", "wiener", "biharmonic", "bicubic")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Appends ``(default: X)`` to each option's help once: not when the help already states its default,
    nor for flags, required options and suppressed defaults."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "(default" in text or action.default is argparse.SUPPRESS or action.nargs == 0 or action.required:
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)".strip()
        return text


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, exit status 2."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see '{self.prog} --help')\n")


def _debug_flag(p, top: bool = False) -> None:
    p.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="show the traceback of an error",
    )


def _sub(sub, name: str, help: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help, formatter_class=_Formatter)
    _debug_flag(p)
    return p


def _accel_flags(p) -> None:
    """The GPU-path switches of invdiff.accel (network prior only)."""
    p.add_argument("--amp", choices=("bf16", "fp16"), default=None, help="run the network under autocast")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory for the network")
    p.add_argument("--compile", action="store_true", help="torch.compile the prior's network")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="invdiff", description=__doc__, formatter_class=_Formatter)
    _debug_flag(p, top=True)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND", parser_class=_Parser)
    pos, nonneg = positive_int, non_negative_int

    d = _sub(sub, "demo", "restore held-out digits with several samplers; print a table, save a figure")
    d.add_argument("--out", default="invdiff-demo.png", help="figure path (a free name is chosen if it exists)")
    d.add_argument("--n", type=pos, default=8, help="held-out digits")
    d.add_argument("--seed", type=nonneg, default=0, help="random seed")
    d.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda when present, else cpu)")
    d.add_argument("--fast", action="store_true", help="one tenth of the steps (for tests)")
    d.add_argument("--prior", default="mnist", help="'mnist' or a checkpoint of a 28×28 gray prior")
    d.add_argument("--no-photo", action="store_true", help="skip the photo restoration (shipped photo prior)")

    r = _sub(sub, "restore", "restore one image (PNG, JPEG, TIFF or BMP)")
    r.add_argument("image", help="the image to measure and restore (or the clean reference with --measurement)")
    r.add_argument("--task", default="gaussian_blur", choices=TASKS, help="forward model")
    r.add_argument(
        "--method", default="diffpir", help="posterior sampler (dps, pigdm, ddrm, ddnm, diffpir, reddiff, daps)"
    )
    r.add_argument("--out", required=True, help="output image (.png, .jpg, .tif, .bmp; required)")
    r.add_argument("--prior", default="mnist", help="'mnist', 'photo', a checkpoint file or a diffusers folder")
    r.add_argument("--sigma-y", type=non_negative_float, default=0.05, help="measurement noise on [-1, 1]")
    r.add_argument("--steps", type=pos, default=None, help="sampler steps (default: the sampler's own)")
    r.add_argument(
        "--kernel-size",
        type=pos,
        default=None,
        help="blur kernel size, blur tasks only (default: the DPS size scaled to the image)",
    )
    r.add_argument(
        "--measurement",
        default=None,
        help="use this image as y instead of measuring IMAGE (default: none, IMAGE is measured)",
    )
    r.add_argument(
        "--start",
        default="auto",
        choices=START_CHOICES,
        help="warm start (Come-Closer-Diffuse-Faster): 'auto' = the classical estimate that fits the task "
        "(biharmonic, wiener, bicubic, tikhonov) at σ0 = 0.5; 'noise' = the cold start from σ_max",
    )
    r.add_argument(
        "--sigma-start",
        type=positive_float,
        default=None,
        help="σ0, the noise level the sampler starts at (default: 0.5 for a warm start, σ_max for 'noise')",
    )
    r.add_argument(
        "--sigma-end",
        type=positive_float,
        default=None,
        help="end the sampler's grid early at this σ and return its estimate there, made consistent with y "
        "(smoother, higher PSNR; default: the full grid)",
    )
    r.add_argument("--samples", type=pos, default=1, help="K > 1: write the posterior mean and a std map")
    r.add_argument("--seed", type=nonneg, default=0, help="random seed")
    r.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda when present, else cpu)")
    r.add_argument("--force", action="store_true", help="overwrite --out (and its _std map)")
    _accel_flags(r)

    s = _sub(sub, "sample", "unconditional samples from a prior")
    s.add_argument("--prior", default="mnist", help="'mnist', 'photo', a checkpoint file or a diffusers folder")
    s.add_argument(
        "--method",
        default="ddim",
        choices=("ddpm", "ddim", "heun", "gradient_estimation"),
        help="unconditional sampler",
    )
    s.add_argument("--n", type=pos, default=64, help="number of samples")
    s.add_argument("--steps", type=pos, default=50, help="sampler steps")
    s.add_argument("--size", type=pos, default=None, help="image side, fully convolutional priors only (default: 64)")
    s.add_argument("--seed", type=nonneg, default=0, help="random seed")
    s.add_argument("--out", default="invdiff-samples.png", help="grid image (a free name is chosen if it exists)")
    s.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda when present, else cpu)")
    _accel_flags(s)

    t = _sub(
        sub,
        "train",
        "train an ε-UNet (resumable); under torchrun --nproc_per_node=N: DistributedDataParallel over N processes",
    )
    t.add_argument("--data", default="mnist", help="'mnist', 'photo' or an image folder")
    t.add_argument("--out", default="runs/train.ckpt", help="training checkpoint")
    t.add_argument("--steps", type=pos, default=20000, help="total optimisation steps")
    t.add_argument("--batch", type=pos, default=64, help="batch size")
    t.add_argument("--lr", type=positive_float, default=1e-3, help="peak learning rate (AdamW)")
    t.add_argument("--ema", type=non_negative_float, default=0.999, help="EMA decay of the weights, in [0, 1)")
    t.add_argument("--save-every", type=pos, default=250, help="steps between checkpoints")
    t.add_argument("--seed", type=nonneg, default=0, help="random seed")
    t.add_argument("--channels", type=pos, default=1, help="image channels")
    t.add_argument("--width", type=pos, default=16, help="base channel count")
    t.add_argument("--multipliers", type=pos, nargs="+", default=[1, 2, 4], help="channel multiplier per level")
    t.add_argument(
        "--attention", type=nonneg, nargs="*", default=[2], help="levels with attention (none: fully convolutional)"
    )
    t.add_argument("--hflip", action="store_true", help="random horizontal flips")
    t.add_argument("--patch", type=pos, default=None, help="patch size, --data photo only (default: 32)")
    t.add_argument("--threads", type=nonneg, default=0, help="CPU threads (0: torch's default)")
    t.add_argument(
        "--streams",
        type=nonneg,
        default=0,
        help="data streams the global --batch is drawn from (0: one per process; a run keeps its own on --resume)",
    )
    t.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda when present, else cpu)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out (same architecture and data)")
    t.add_argument(
        "--override",
        action="store_true",
        help="with --resume: accept changed --lr/--batch/--ema/… (recorded in the checkpoint's history)",
    )

    e = _sub(sub, "export", "write the EMA weights of a training checkpoint")
    e.add_argument("checkpoint", help="training checkpoint (runs/*.ckpt)")
    e.add_argument("out", help="model file: .pt, or .safetensors (+ .json beside it)")
    e.add_argument("--force", action="store_true", help="overwrite OUT")

    b = _sub(
        sub,
        "bench",
        "run a benchmark suite (resumable) and summarise it; under torchrun --nproc_per_node=N the work is "
        "split over the N processes (invdiff.bench.distributed)",
    )
    b.add_argument("suite", help="mnist, photo (128²), photo256, ffhq256 or smoke")
    b.add_argument("--out", default=None, help="output folder (default: bench-SUITE)")
    b.add_argument(
        "--methods",
        nargs="*",
        default=None,
        help="subset of the suite's methods, and variants of its samplers: NAME:key=value,... "
        "(e.g. 'ddrm:start=biharmonic,sigma0=0.2'), NAME:meanK (the mean of K draws, charged K × NFE) or "
        "NAME:tuned (the prior's shipped tuned values, as solve uses them) (default: all)",
    )
    b.add_argument("--nfe", type=pos, nargs="*", default=None, help="NFE list for every sampler (default: the suite's)")
    b.add_argument("--tasks", nargs="*", default=None, help="subset of the suite's tasks (default: all)")
    b.add_argument("--prior", default=None, help="checkpoint overriding the suite's prior (default: the suite's)")
    b.add_argument("--seeds", type=pos, default=1, help="number of seeds")
    b.add_argument("--n-images", type=pos, default=None, help="first N test images (default: all)")
    b.add_argument("--batch-size", type=pos, default=None, help="images per batch (default: the suite's)")
    b.add_argument("--no-summary", action="store_true", help="only the results file (no results.md, no figures)")
    b.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, cuda:N or mps (default: cuda when present, else cpu; under torchrun cuda:LOCAL_RANK)",
    )
    _accel_flags(b)

    from .tune.command import add_arguments as tune_arguments

    tune_arguments(_sub(sub, "tune", "tune a sampler's hyperparameters on training images (Optuna, resumable)"))
    return p


def _exit_status(e: BaseException) -> int:
    from .resume import ResumeMismatch

    if isinstance(e, (UsageError, FileNotFoundError, FileExistsError, ResumeMismatch)):
        return 2
    return 1


def _one_line(e: BaseException) -> str:
    text = " ".join(line.strip() for line in str(e).strip().splitlines() if line.strip())
    known = (UsageError, RunError, OSError, ValueError, TypeError, RuntimeError, KeyError)
    if isinstance(e, RuntimeError) and "out of memory" in text.lower():
        return f"out of memory: {text[:300]} (try a smaller image, fewer --samples or another --device)"
    if not isinstance(e, known) or not text:
        return f"internal error ({type(e).__name__}: {text[:300]}); rerun with --debug for the traceback"
    return text[:600] if not isinstance(e, KeyError) else text.strip("'\"")[:600]


def run(argv=None) -> int:
    """Parse ``argv`` and run the command; returns the exit status (0, 1 or 2)."""
    from . import cli_bench
    from . import cli_commands as C

    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error, already printed on one line (2)
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    fn = {
        "demo": C.cmd_demo,
        "restore": C.cmd_restore,
        "sample": C.cmd_sample,
        "train": C.cmd_train,
        "export": C.cmd_export,
        "bench": cli_bench.cmd_bench,
        "tune": C.cmd_tune,
    }[args.cmd]
    try:
        return int(fn(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every error becomes one line (and a status), the traceback on --debug
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return _exit_status(e)


def main(argv=None) -> int:
    """``main(argv)`` returns the exit status; ``main()`` (the command line) exits with it."""
    if argv is None:
        sys.exit(run())
    return run(argv)


if __name__ == "__main__":
    sys.exit(run())
