"""The ``invdiff`` command line: demo, restore, sample, train, export, bench."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

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


def _free_path(path: Path) -> Path:
    from .io import free_path  # imported on use: the CLI starts without torch

    return free_path(path)


def _device(name: str | None):
    import torch

    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


# ---- demo -----------------------------------------------------------------------------------
def cmd_demo(a) -> int:
    from .demo import run_demo

    run_demo(
        out=_free_path(Path(a.out)),
        n=a.n,
        seed=a.seed,
        device=_device(a.device),
        fast=a.fast,
        prior=a.prior,
        photo=not a.no_photo,
    )
    return 0


# ---- restore --------------------------------------------------------------------------------
def cmd_restore(a) -> int:
    import operators

    from .api import posterior_stats, solve
    from .io import read_image, write_image
    from .load import load_prior

    out = Path(a.out)
    if out.exists() and not a.force:
        raise SystemExit(f"error: {out} exists; pass --force to replace it")
    dev = _device(a.device)
    prior = load_prior(a.prior, device=dev)
    C = prior.image_shape[0] if prior.image_shape else 1
    x = read_image(a.image, channels=C).to(dev)
    if prior.image_shape and tuple(x.shape[1:]) != tuple(prior.image_shape) and a.prior == "mnist":
        raise SystemExit(
            f"error: the mnist prior works on {prior.image_shape} images; {a.image} is {tuple(x.shape[1:])}"
        )
    params = {}
    if a.kernel_size:
        params["size"] = a.kernel_size
    op = operators.build(a.task, shape=tuple(x.shape[1:]), batch=1, seed=a.seed, device=dev, **params)
    if a.measurement:
        y = read_image(a.measurement, channels=C).to(dev)
    else:
        y = operators.measure(op, x, a.sigma_y, seed=a.seed)
    kw = dict(sigma_y=a.sigma_y, seed=a.seed, x_shape=tuple(x.shape[1:]))
    if a.steps:
        kw["steps"] = a.steps
    t0 = time.perf_counter()
    if a.samples > 1:
        mean, std = posterior_stats(y, op, prior, method=a.method, samples=a.samples, **kw)
        write_image(out, mean, overwrite=a.force)
        s = std / std.max().clamp(min=1e-12) * 2 - 1
        write_image(_free_path(out.with_name(out.stem + "_std" + out.suffix)), s)
        print(f"wrote {out} (posterior mean of {a.samples}) and its std map; max std {float(std.max()):.3f}")
    else:
        xh = solve(y, op, prior, method=a.method, **kw)
        write_image(out, xh, overwrite=a.force)
        print(f"wrote {out}")
    if not a.measurement:
        from .metrics import psnr

        res = mean if a.samples > 1 else xh
        print(f"PSNR vs input image: {float(psnr(res, x)[0]):.2f} dB ({time.perf_counter() - t0:.1f} s)")
    return 0


# ---- sample ---------------------------------------------------------------------------------
def cmd_sample(a) -> int:
    from .load import load_prior
    from .samplers import UNCONDITIONAL
    from .viz import save_grid

    dev = _device(a.device)
    prior = load_prior(a.prior, device=dev)
    shape = (a.n, *(prior.image_shape or (1, a.size, a.size)))
    x = UNCONDITIONAL[a.method](prior, shape, steps=a.steps, seed=a.seed, device=dev)
    out = _free_path(Path(a.out))
    save_grid(x, out)
    print(f"wrote {out} ({a.n} {a.method} samples, {a.steps} steps)")
    return 0


# ---- train / export -------------------------------------------------------------------------
def cmd_train(a) -> int:
    from .nets.unet import UNetConfig
    from .train import TrainConfig, train

    net = UNetConfig(
        in_channels=a.channels, channels=a.width, multipliers=tuple(a.multipliers), attention_levels=tuple(a.attention)
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
        patch=a.patch,
        channels=a.channels,
        net=net.to_dict(),
        threads=a.threads,
    )
    train(cfg, resume=a.resume, device=a.device)
    return 0


def cmd_export(a) -> int:
    from .train import export

    print(f"wrote {export(a.checkpoint, a.out, overwrite=a.force)}")
    return 0


# ---- bench ----------------------------------------------------------------------------------
def cmd_bench(a) -> int:
    from .bench import run_suite, summarize

    out = Path(a.out or f"bench-{a.suite}")
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / "results.jsonl"
    prior = None
    if a.prior:
        from .load import load_prior

        prior = load_prior(a.prior, device=_device(a.device))
    run_suite(
        a.suite,
        jsonl,
        methods=a.methods,
        nfe=a.nfe,
        seeds=list(range(a.seeds)),
        n_images=a.n_images,
        device=a.device,
        tasks=a.tasks,
        prior=prior,
    )
    print(f"summary: {summarize(jsonl, out)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = argparse.ArgumentParser(prog="invdiff", description=__doc__, formatter_class=fmt)
    sub = p.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser(
        "demo", help="restore held-out digits with several samplers; print a table, save a figure", formatter_class=fmt
    )
    d.add_argument("--out", default="invdiff-demo.png", help="figure path (a free name is chosen if it exists)")
    d.add_argument("--n", type=int, default=8, help="held-out digits")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--device", default=None, help="cuda when present, else cpu")
    d.add_argument("--fast", action="store_true", help="one tenth of the steps (for tests)")
    d.add_argument("--prior", default="mnist", help="'mnist' or a checkpoint of a 28×28 gray prior")
    d.add_argument("--no-photo", action="store_true", help="skip the photo restoration (shipped photo prior)")
    d.set_defaults(fn=cmd_demo)

    r = sub.add_parser("restore", help="restore one PNG/JPEG image", formatter_class=fmt)
    r.add_argument("image")
    r.add_argument("--task", default="gaussian_blur", choices=TASKS)
    r.add_argument("--method", default="diffpir", help="posterior sampler (see invdiff.SAMPLERS)")
    r.add_argument("--out", required=True)
    r.add_argument("--prior", default="mnist", help="'mnist', 'photo' or a checkpoint path")
    r.add_argument("--sigma-y", type=float, default=0.05, help="measurement noise on [-1, 1]")
    r.add_argument("--steps", type=int, default=None, help="sampler steps (default: the sampler's own)")
    r.add_argument("--kernel-size", type=int, default=None, help="blur kernel size (default: scaled DPS)")
    r.add_argument("--measurement", default=None, help="use this image as y instead of measuring IMAGE")
    r.add_argument("--samples", type=int, default=1, help="K > 1: write the posterior mean and a std map")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", default=None)
    r.add_argument("--force", action="store_true", help="overwrite --out")
    r.set_defaults(fn=cmd_restore)

    s = sub.add_parser("sample", help="unconditional samples from a prior", formatter_class=fmt)
    s.add_argument("--prior", default="mnist")
    s.add_argument("--method", default="ddim", choices=("ddpm", "ddim", "heun", "gradient_estimation"))
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--steps", type=int, default=50)
    s.add_argument("--size", type=int, default=64, help="image side for fully convolutional priors")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="invdiff-samples.png")
    s.add_argument("--device", default=None)
    s.set_defaults(fn=cmd_sample)

    t = sub.add_parser("train", help="train an ε-UNet (resumable)", formatter_class=fmt)
    t.add_argument("--data", default="mnist", help="'mnist', 'photo' or an image folder")
    t.add_argument("--out", default="runs/train.ckpt")
    t.add_argument("--steps", type=int, default=20000)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--ema", type=float, default=0.999)
    t.add_argument("--save-every", type=int, default=250)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--channels", type=int, default=1, help="image channels")
    t.add_argument("--width", type=int, default=16, help="base channel count")
    t.add_argument("--multipliers", type=int, nargs="+", default=[1, 2, 4])
    t.add_argument("--attention", type=int, nargs="*", default=[2], help="levels with attention (none: fully conv)")
    t.add_argument("--hflip", action="store_true")
    t.add_argument("--patch", type=int, default=32, help="patch size for --data photo")
    t.add_argument("--threads", type=int, default=0)
    t.add_argument("--device", default=None)
    t.add_argument("--resume", action="store_true")
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("export", help="write the EMA weights of a training checkpoint", formatter_class=fmt)
    e.add_argument("checkpoint")
    e.add_argument("out")
    e.add_argument("--force", action="store_true")
    e.set_defaults(fn=cmd_export)

    b = sub.add_parser("bench", help="run a benchmark suite (resumable) and summarise it", formatter_class=fmt)
    b.add_argument("suite", help="mnist, photo (128²), photo256, ffhq256 or smoke")
    b.add_argument("--out", default=None, help="output folder (default bench-SUITE)")
    b.add_argument("--methods", nargs="*", default=None)
    b.add_argument("--nfe", type=int, nargs="*", default=None, help="NFE list for every sampler (default: the suite's)")
    b.add_argument("--tasks", nargs="*", default=None, help="subset of the suite's tasks")
    b.add_argument("--prior", default=None, help="checkpoint overriding the suite's prior")
    b.add_argument("--seeds", type=int, default=1)
    b.add_argument("--n-images", type=int, default=None)
    b.add_argument("--device", default=None)
    b.set_defaults(fn=cmd_bench)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (FileNotFoundError, FileExistsError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
