"""The subcommands of ``invdiff``: every argument is checked before the work starts (:mod:`invdiff.cli_checks`)."""

from __future__ import annotations

import time
from pathlib import Path

from .cli_checks import (
    BLUR_TASKS,
    RunError,
    UsageError,
    check_finite,
    check_fits_prior,
    check_input,
    check_out,
    check_prior_weights,
    read_input_image,
    resolve_device,
)


def _prior_arg(name: str) -> None:
    """A prior given as a path must exist (shipped names are resolved by load_prior)."""
    from .load import SHIPPED

    if name not in SHIPPED and not Path(name).expanduser().exists():
        raise FileNotFoundError(f"--prior {name}: checkpoint does not exist (shipped priors: {', '.join(SHIPPED)})")


def _load_prior(name: str, dev):
    from .load import load_prior

    prior = load_prior(name, device=dev)
    check_prior_weights(prior, name)
    return prior


def _accelerate(prior, a):
    """--amp / --channels-last / --compile (invdiff.accel) on a loaded prior."""
    from .accel import accelerate

    try:
        return accelerate(prior, a.amp, a.channels_last, a.compile)
    except TypeError as e:
        raise UsageError(str(e)) from None


# ---- demo -----------------------------------------------------------------------------------
def cmd_demo(a) -> int:
    from .demo import run_demo

    out = check_out(a.out, free=True)
    dev = resolve_device(a.device)
    _prior_arg(a.prior)
    run_demo(out=out, n=a.n, seed=a.seed, device=dev, fast=a.fast, prior=a.prior, photo=not a.no_photo)
    return 0


# ---- restore --------------------------------------------------------------------------------
def _restore_args(a):
    from .samplers import POSTERIOR

    if a.method not in POSTERIOR:
        raise UsageError(f"--method {a.method!r}: not a posterior sampler; choose from {', '.join(POSTERIOR)}")
    if a.kernel_size is not None and a.task not in BLUR_TASKS:
        raise UsageError(f"--kernel-size applies to the blur tasks ({', '.join(BLUR_TASKS)}), not to {a.task}")
    if a.kernel_size is not None and a.task == "motion_blur" and a.kernel_size < 3:
        raise UsageError(f"--kernel-size {a.kernel_size}: a motion blur kernel needs at least 3 pixels")
    _start_args(a)
    out = check_out(a.out, force=a.force)
    std_out = out.with_name(f"{out.stem}_std{out.suffix}")
    std = check_out(std_out, force=a.force, option="the std map") if a.samples > 1 else None
    image = check_input(a.image, "image")
    measurement = check_input(a.measurement, "measurement") if a.measurement else None
    _prior_arg(a.prior)
    return out, std, image, measurement, POSTERIOR[a.method]


# the tasks each classical initializer of --start is made for (the others fit every task)
START_TASKS = {
    "wiener": BLUR_TASKS,
    "biharmonic": ("inpaint_box", "inpaint_random"),
    "bicubic": ("sr_avg", "sr_bicubic"),
}


def _start_args(a) -> None:
    """--start fits --task; --sigma-start is σ0 of a start the sampler can take."""
    fits = START_TASKS.get(a.start)
    if fits is not None and a.task not in fits:
        raise UsageError(
            f"--start {a.start} applies to {', '.join(fits)}, not to --task {a.task} "
            "(use auto, noise, pinv or tikhonov, which fit every task)"
        )


def _start_kw(a) -> dict:
    kw = {"start": a.start}
    if a.sigma_start is not None:
        kw["sigma_start"] = a.sigma_start
    if getattr(a, "sigma_end", None) is not None:
        kw["sigma_end"] = a.sigma_end
    return kw


def cmd_restore(a) -> int:
    import operators

    from .api import posterior_stats, solve
    from .cli_estimate import Progress, warn_if_large
    from .io import write_image

    out, std_path, image, measurement, fn = _restore_args(a)
    dev = resolve_device(a.device)
    prior = _accelerate(_load_prior(a.prior, dev), a)
    C = prior.image_shape[0] if prior.image_shape else 1
    x = read_input_image(image, C).to(dev)
    check_fits_prior(x, prior, a.prior, image)
    if a.kernel_size is not None and a.kernel_size > min(x.shape[-2:]):
        raise UsageError(f"--kernel-size {a.kernel_size} is larger than the image ({x.shape[-2]}×{x.shape[-1]})")
    params = {"size": a.kernel_size} if a.kernel_size is not None else {}
    op = operators.build(a.task, shape=tuple(x.shape[1:]), batch=1, seed=a.seed, device=dev, **params)
    if measurement is not None:
        y = read_input_image(measurement, C, "measurement").to(dev)
        want = tuple(op.output_shape)
        if tuple(y.shape[1:]) != want:
            raise RunError(
                f"measurement {measurement} is {y.shape[-2]}×{y.shape[-1]} with {y.shape[1]} channel(s); "
                f"task {a.task} on a {x.shape[-2]}×{x.shape[-1]} image measures {want[-2]}×{want[-1]} "
                f"with {want[0]} channel(s)"
            )
    else:
        y = operators.measure(op, x, a.sigma_y, seed=a.seed)
    steps = a.steps or fn.default_steps
    kw = {"sigma_y": a.sigma_y, "x_shape": tuple(x.shape[1:]), **_start_kw(a)}
    if a.steps:
        kw["steps"] = a.steps
    warn_if_large(prior, x, a.method, steps, a.samples)
    t0 = time.perf_counter()
    with Progress(steps * a.samples, f"{a.method} {a.task}") as bar:
        if a.samples > 1:
            res, std = posterior_stats(
                y, op, prior, method=a.method, samples=a.samples, seed=a.seed, progress=False, callback=bar, **kw
            )
            check_finite(std, "posterior std", a.method, a.prior)
        else:
            res = solve(y, op, prior, method=a.method, seed=a.seed, callback=bar, **kw)
    check_finite(res, "restored image", a.method, a.prior)
    write_image(out, res, overwrite=a.force)
    if a.samples > 1:
        write_image(std_path, std / std.max().clamp(min=1e-12) * 2 - 1, overwrite=a.force)
        print(f"wrote {out} (posterior mean of {a.samples}) and {std_path} (std map); max std {float(std.max()):.3f}")
    else:
        print(f"wrote {out}")
    if measurement is None:
        from .metrics import psnr

        print(f"PSNR vs input image: {float(psnr(res, x)[0]):.2f} dB ({time.perf_counter() - t0:.1f} s)")
    return 0


# ---- sample ---------------------------------------------------------------------------------
def cmd_sample(a) -> int:
    from .samplers import UNCONDITIONAL
    from .viz import save_grid

    out = check_out(a.out, free=True)
    dev = resolve_device(a.device)
    _prior_arg(a.prior)
    prior = _accelerate(_load_prior(a.prior, dev), a)
    if prior.image_shape and a.size is not None:
        raise UsageError(
            f"--size applies to fully convolutional priors; the {a.prior} prior makes "
            f"{'×'.join(map(str, prior.image_shape[1:]))} images"
        )
    size = a.size or 64
    factor = getattr(prior.net, "factor", 1)
    if not prior.image_shape and size % factor:
        raise UsageError(f"--size {size}: the {a.prior} prior needs a multiple of {factor}")
    shape = (a.n, *(prior.image_shape or (1, size, size)))
    x = UNCONDITIONAL[a.method](prior, shape, steps=a.steps, seed=a.seed, device=dev)
    check_finite(x, "samples", a.method, a.prior)
    save_grid(x, out)
    print(f"wrote {out} ({a.n} {a.method} samples, {a.steps} steps)")
    return 0


# ---- train / export -------------------------------------------------------------------------
def cmd_train(a) -> int:
    from .nets.unet import UNetConfig
    from .train import TrainConfig, train

    if a.override and not a.resume:
        raise UsageError("--override changes the settings of a resumed run; it needs --resume")
    if a.patch is not None and a.data != "photo":
        raise UsageError(f"--patch applies to --data photo, not to --data {a.data}")
    if a.data not in ("mnist", "photo") and not Path(a.data).is_dir():
        raise UsageError(f"--data {a.data}: not 'mnist', 'photo' or an existing image folder")
    out = Path(a.out)
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a checkpoint file name, e.g. {out / 'train.ckpt'}")
    if out.exists() and not a.resume:
        raise UsageError(f"--out {out} exists; pass --resume to continue that run, or choose another --out")
    dev = resolve_device(a.device)
    try:
        net = UNetConfig(
            in_channels=a.channels,
            channels=a.width,
            multipliers=tuple(a.multipliers),
            attention_levels=tuple(a.attention),
        )
        cfg = TrainConfig(
            data=a.data,
            out=a.out,
            steps=a.steps,
            batch=a.batch,
            lr=a.lr,
            ema=a.ema,
            save_every=a.save_every,
            seed=a.seed,
            hflip=a.hflip,
            patch=a.patch or 32,
            channels=a.channels,
            net=net.to_dict(),
            threads=a.threads,
            streams=a.streams,
        ).validate()
    except ValueError as e:
        raise UsageError(str(e)) from None
    if a.resume and out.exists():  # settings that differ from the run's: refused before any work
        from .io import safe_load
        from .resume import ResumeMismatch, check_resume

        try:
            check_resume(dict(safe_load(out).get("config", {})), cfg, out, a.override)
        except ResumeMismatch as e:
            raise UsageError(str(e)) from None
    train(cfg, resume=a.resume, device=str(dev), override=a.override)
    return 0


def cmd_export(a) -> int:
    from .train import export

    check_input(a.checkpoint, "checkpoint")
    out = check_out(a.out, force=a.force, types=(".pt", ".safetensors"), option="OUT")
    print(f"wrote {export(a.checkpoint, out, overwrite=a.force)}")
    return 0


# ---- tune -----------------------------------------------------------------------------------
def cmd_tune(a) -> int:
    from .tune.command import run

    return run(a)
