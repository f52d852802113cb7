"""Training of the ε-UNet (DDPM loss, Ho et al. 2020; v-prediction, Salimans & Ho 2022).

AdamW, EMA of the weights, gradient clipping, optional flips; checkpoints every
``save_every`` steps written atomically with model, EMA, optimizer, step and RNG
state, so ``resume=True`` continues a killed run exactly (same weights as an
uninterrupted run on the same device and thread count).  All randomness comes
from generators whose states are checkpointed (:mod:`invdiff.train_data`: one per data stream).

Under ``torchrun --nproc_per_node=P -m invdiff train`` the network is wrapped in
DistributedDataParallel (NCCL on CUDA, one GPU per process by ``LOCAL_RANK``; gloo on CPU);
each process draws its part of the global batch ``batch`` from its own data streams and
shard, and rank 0 writes the checkpoints.  A run keeps its stream count, so it resumes on
any number of processes that divides it (same batches) and is refused on others.

Guards: a config with a non-positive batch, steps, lr … is refused before anything runs
(:meth:`TrainConfig.validate`); a non-finite loss or gradient stops the run with
:class:`TrainingError` before the weights change, leaving the last good checkpoint on disk;
``resume`` refuses a different architecture or data, and different optimisation settings
unless ``override=True``, which records the change in the checkpoint's ``history``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from .io import CheckpointError, atomic_save, safe_load, save_model
from .nets.unet import UNet, UNetConfig
from .resume import check_resume
from .schedule import VPSchedule


@dataclass
class TrainConfig:
    data: str = "mnist"  # "mnist", "photo" or a folder path
    out: str = "runs/mnist.ckpt"  # training checkpoint (full state)
    steps: int = 20000
    batch: int = 64
    lr: float = 5e-4
    warmup: int = 500
    weight_decay: float = 0.0
    ema: float = 0.999
    clip: float = 1.0
    save_every: int = 500
    seed: int = 0
    schedule: str = "linear"
    parameterization: str = "eps"  # "eps" or "v"
    hflip: bool = False  # random horizontal flips (off for digits)
    patch: int = 32  # patch size for "photo"
    image_size: int = 64  # resize for image folders
    channels: int = 1
    net: dict = field(default_factory=lambda: UNetConfig().to_dict())
    threads: int = 0  # torch threads on CPU (0 = torch default)
    streams: int = 0  # data streams (invdiff.train_data); 0 = the number of processes when the run starts

    def validate(self) -> TrainConfig:
        """ValueError naming the first invalid setting (checked before any work)."""
        positive = {
            "steps": self.steps,
            "batch": self.batch,
            "save_every": self.save_every,
            "patch": self.patch,
            "image_size": self.image_size,
            "channels": self.channels,
        }
        for name, v in positive.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name, v in {"warmup": self.warmup, "threads": self.threads, "streams": self.streams}.items():
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema!r}")
        if not (math.isfinite(self.clip) and self.clip > 0) or not (
            math.isfinite(self.weight_decay) and self.weight_decay >= 0
        ):
            raise ValueError(f"clip must be > 0 and weight_decay >= 0, got {self.clip!r}, {self.weight_decay!r}")
        if self.parameterization not in ("eps", "v"):
            raise ValueError(f"parameterization must be 'eps' or 'v', got {self.parameterization!r}")
        if self.streams and self.batch % self.streams:
            raise ValueError(f"batch {self.batch} must be divisible by streams={self.streams} (equal parts)")
        VPSchedule.from_name(self.schedule)
        net = UNetConfig.from_dict(dict(self.net))
        if net.in_channels != self.channels:
            raise ValueError(f"the network takes {net.in_channels} channel(s) but channels={self.channels}")
        return self


class TrainingError(RuntimeError):
    """Training stopped (a non-finite loss or gradient); the checkpoint on disk is the last good one."""


def diffusion_loss(net, x0: Tensor, schedule: VPSchedule, g, parameterization="eps") -> Tensor:
    """MSE of the network's ε (or v) prediction at a uniformly drawn DDPM timestep.

    ``g``: a generator, or a list of k generators each drawing the timesteps and noise of its
    1/k of the batch (the data streams of :mod:`invdiff.train_data`)."""
    gens = g if isinstance(g, (list, tuple)) else [g]
    parts = x0.chunk(len(gens))
    t = torch.cat([torch.randint(schedule.T, (len(p),), generator=gi) for p, gi in zip(parts, gens)])
    eps = torch.cat([torch.randn(p.shape, generator=gi) for p, gi in zip(parts, gens)]).to(x0)
    ab = schedule.alphas_cumprod[t].to(x0)[:, None, None, None]
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    target = eps if parameterization == "eps" else ab.sqrt() * eps - (1 - ab).sqrt() * x0
    return F.mse_loss(net(xt, t.to(x0.device)), target)


def _lr(cfg: TrainConfig, step: int) -> float:
    return cfg.lr * min(1.0, (step + 1) / max(cfg.warmup, 1))


def train(
    cfg: TrainConfig,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    override: bool = False,
) -> UNet:
    """Train (or resume) and return the EMA network; ``stop_after`` ends early (for tests).

    ``override`` lets a resumed run change its optimisation settings (lr, batch, ema, …);
    each change is appended to the checkpoint's ``history``.
    """
    from . import distributed as D
    from .train_data import Data, Streams, resolve_streams

    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ctx = D.context()
    dev = D.device_for(ctx, device)
    D.start("nccl" if dev.type == "cuda" else "gloo")
    out = Path(cfg.out)
    torch.manual_seed(cfg.seed)  # weight init only
    net = UNet(UNetConfig.from_dict(dict(cfg.net))).to(dev)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, log, history, ck = 0, [], [], None
    if resume and out.exists():
        ck = safe_load(out, map_location=dev)
        if not all(k in ck for k in ("model", "ema", "optimizer", "rng", "step", "config", "log")):
            raise CheckpointError(f"cannot resume {out}: it is not an invdiff training checkpoint")
        history = list(ck.get("history", []))
        changes = check_resume(dict(ck["config"]), cfg, out, override)
        if changes:
            history.append({"step": int(ck["step"]), "changes": {k: [a, b] for k, (a, b) in changes.items()}})
        net.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["optimizer"])
        for pg in opt.param_groups:
            pg["weight_decay"] = cfg.weight_decay
        step, log = int(ck["step"]), [tuple(r) for r in ck["log"].tolist()]
    elif out.exists() and not resume:
        raise FileExistsError(f"{out} exists; pass resume=True (--resume) to continue it, or choose another --out")
    cfg = replace(cfg, streams=resolve_streams(cfg, ck, ctx.world, out))
    streams = Streams(cfg.seed, cfg.streams, ctx.rank, ctx.world)
    if ck is not None:
        streams.load(ck["rng"])
    model = (
        net if not ctx.distributed else DistributedDataParallel(net, device_ids=[dev] if dev.type == "cuda" else None)
    )
    schedule = VPSchedule.from_name(cfg.schedule)
    data = Data(cfg)
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    bar = None
    if progress and ctx.main:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step", dynamic_ncols=True)
    window, t0 = [], time.perf_counter()
    saved = step if out.exists() else None

    def save():  # every process gives its stream states; rank 0 writes
        rng = streams.state(D.gather if ctx.distributed else None)
        if ctx.main:
            atomic_save(
                {
                    "model": net.state_dict(),
                    "ema": ema.state_dict(),
                    "optimizer": opt.state_dict(),
                    "rng": rng,
                    "step": step,
                    "config": asdict(cfg),
                    "history": history,
                    "log": torch.tensor(log, dtype=torch.float64).reshape(-1, 2),
                },
                out,
            )

    def stop(what: str, value: float):
        if bar is not None:
            bar.close()
        kept = (
            f"{out} keeps step {saved}, the last good checkpoint" if saved is not None else "no checkpoint was written"
        )
        raise TrainingError(
            f"non-finite {what} ({value}) at step {step + 1} (lr {_lr(cfg, step):.3g}); stopped "
            f"before updating the weights: {kept}. Lower --lr (resume with --override) or check "
            "the data"
        )

    net.train()
    while step < end:
        x0 = streams.batch(data, cfg.batch).to(dev)
        for pg in opt.param_groups:
            pg["lr"] = _lr(cfg, step)
        loss = diffusion_loss(model, x0, schedule, streams.generator, cfg.parameterization)
        loss_all = D.mean(loss.detach(), ctx)  # the global batch's mean loss, the same on every process
        if not torch.isfinite(loss_all):
            stop("loss", float(loss_all))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
        if not torch.isfinite(gnorm):
            stop("gradient norm", float(gnorm))
        opt.step()
        step += 1
        decay = min(cfg.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.lerp_(p, 1 - decay)
            for be, b in zip(ema.buffers(), net.buffers()):
                be.copy_(b)
        window.append(float(loss_all))
        if len(window) == 50 or step == end:
            log.append((step, sum(window) / len(window)))
            window = []
        if bar is not None:
            dt = time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss_all):.4f}", img_s=f"{cfg.batch / max(dt, 1e-9):.0f}")
            t0 = time.perf_counter()
        if step % cfg.save_every == 0 or step == end:
            save()
            saved = step
    if bar is not None:
        bar.close()
    D.finish(ctx)
    return ema.eval()


def export(checkpoint: str | Path, path: str | Path, overwrite: bool = False) -> Path:
    """Write the EMA weights of a training checkpoint in the shipped-model format."""
    ck = safe_load(checkpoint)
    missing = [k for k in ("ema", "config", "step") if k not in ck]
    if missing:
        raise CheckpointError(
            f"{checkpoint} is not a training checkpoint (it has no {', '.join(missing)}); export takes the file "
            "that invdiff train writes (runs/*.ckpt)"
        )
    known = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in ck["config"].items() if k in known})
    net = UNet(UNetConfig.from_dict(dict(cfg.net)))
    net.load_state_dict(ck["ema"])
    # the size the network was trained on: MNIST digits, resized folder images; photo patches -> any size
    shape = (
        (1, 28, 28)
        if cfg.data == "mnist"
        else ()
        if cfg.data == "photo"
        else (cfg.channels, cfg.image_size, cfg.image_size)
    )
    return save_model(
        path,
        net,
        schedule=cfg.schedule,
        parameterization=cfg.parameterization,
        overwrite=overwrite,
        image_shape=shape,
        extra={
            "steps": int(ck["step"]),
            "data": cfg.data,
            "batch": cfg.batch,
            "log": ck["log"],
            **({"history": ck["history"]} if ck.get("history") else {}),
        },
    )


def loss_log(checkpoint: str | Path) -> Tensor:
    """(N, 2) tensor of (step, mean loss over the last 50 steps)."""
    return safe_load(checkpoint)["log"]
