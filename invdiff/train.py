"""Training of the ε-UNet (DDPM loss, Ho et al. 2020; v-prediction, Salimans & Ho 2022).

AdamW, EMA of the weights, gradient clipping, optional flips; checkpoints every
``save_every`` steps written atomically with model, EMA, optimizer, step and RNG
state, so ``resume=True`` continues a killed run exactly (same weights as an
uninterrupted run on the same device and thread count).  All randomness comes
from one ``torch.Generator`` whose state is checkpointed.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from .io import atomic_save, safe_load, save_model
from .nets.unet import UNet, UNetConfig
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


class _Data:
    """Batches drawn with the training generator (so resume is exact)."""

    def __init__(self, cfg: TrainConfig):
        from . import data as D

        self.cfg = cfg
        self.pool = None
        if cfg.data == "mnist":
            self.images = D.mnist("train")
        elif cfg.data == "photo":
            self.images = None
            self.pool = D.photo_pool("train", channels=cfg.channels)
        else:
            self.images = D.image_folder(cfg.data, cfg.image_size, cfg.channels)

    def batch(self, n: int, g: torch.Generator) -> Tensor:
        from .data import random_patches

        if self.pool is not None:
            return random_patches(self.pool, n, self.cfg.patch, g)
        idx = torch.randint(len(self.images), (n,), generator=g)
        x = self.images[idx]
        if self.cfg.hflip:
            flip = torch.rand(n, generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x


def diffusion_loss(net, x0: Tensor, schedule: VPSchedule, g: torch.Generator, parameterization="eps") -> Tensor:
    """MSE of the network's ε (or v) prediction at a uniformly drawn DDPM timestep."""
    b = x0.shape[0]
    t = torch.randint(schedule.T, (b,), generator=g)
    eps = torch.randn(x0.shape, generator=g).to(x0)
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
) -> UNet:
    """Train (or resume) and return the EMA network; ``stop_after`` ends early (for tests)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(cfg.out)
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # weight init only
    net = UNet(UNetConfig.from_dict(dict(cfg.net))).to(device)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, log = 0, []
    if resume and out.exists():
        ck = safe_load(out, map_location=device)
        net.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["optimizer"])
        g.set_state(ck["rng"].cpu())
        step, log = int(ck["step"]), [tuple(r) for r in ck["log"].tolist()]
    elif out.exists() and not resume:
        raise FileExistsError(f"{out} exists; pass resume=True (--resume) to continue it, or choose another --out")
    schedule = VPSchedule.from_name(cfg.schedule)
    data = _Data(cfg)
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step", dynamic_ncols=True)
    window, t0 = [], time.perf_counter()

    def save():
        atomic_save(
            {
                "model": net.state_dict(),
                "ema": ema.state_dict(),
                "optimizer": opt.state_dict(),
                "rng": g.get_state(),
                "step": step,
                "config": asdict(cfg),
                "log": torch.tensor(log, dtype=torch.float64).reshape(-1, 2),
            },
            out,
        )

    net.train()
    while step < end:
        x0 = data.batch(cfg.batch, g).to(device)
        for pg in opt.param_groups:
            pg["lr"] = _lr(cfg, step)
        loss = diffusion_loss(net, x0, schedule, g, cfg.parameterization)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
        opt.step()
        step += 1
        decay = min(cfg.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.lerp_(p, 1 - decay)
            for be, b in zip(ema.buffers(), net.buffers()):
                be.copy_(b)
        window.append(float(loss.detach()))
        if len(window) == 50 or step == end:
            log.append((step, sum(window) / len(window)))
            window = []
        if bar is not None:
            dt = time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}", img_s=f"{cfg.batch / max(dt, 1e-9):.0f}")
            t0 = time.perf_counter()
        if step % cfg.save_every == 0 or step == end:
            save()
    if bar is not None:
        bar.close()
    return ema.eval()


def export(checkpoint: str | Path, path: str | Path, overwrite: bool = False) -> Path:
    """Write the EMA weights of a training checkpoint in the shipped-model format."""
    ck = safe_load(checkpoint)
    cfg = TrainConfig(**ck["config"])
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
        extra={"steps": int(ck["step"]), "data": cfg.data, "batch": cfg.batch, "log": ck["log"]},
    )


def loss_log(checkpoint: str | Path) -> Tensor:
    """(N, 2) tensor of (step, mean loss over the last 50 steps)."""
    return safe_load(checkpoint)["log"]
