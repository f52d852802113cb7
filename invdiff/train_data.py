"""What a training step draws: its data batch, from one or several data streams.

A run's global batch is ``streams`` equal parts.  Stream r draws its part (images, then the
timesteps and noise of :func:`invdiff.train.diffusion_loss`) with its own generator, seeded
from ``(seed, r)``, from its own shard of the data (images r, r + streams, …; for ``photo``
the photos of the pool likewise).  With one stream this is the single generator seeded with
``seed`` drawing from all the data.  Under ``torchrun`` each of the P processes owns
``streams / P`` consecutive streams (``streams`` defaults to P when a run starts), so a run
gives the same batches — and, to float rounding, the same weights — on any number of
processes that divides its stream count; one process can resume a run started on several.
Every stream's generator state goes into the checkpoint.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .rng import sample_seed

__all__ = ["Data", "Streams", "resolve_streams", "stream_seed"]


class Data:
    """The training images (``cfg.data``: mnist, photo or a folder); :meth:`batch` draws from one shard."""

    def __init__(self, cfg):
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

    def size(self) -> int:
        return len(self.pool) if self.pool is not None else len(self.images)

    def batch(self, n: int, g: torch.Generator, shard: int = 0, shards: int = 1) -> Tensor:
        from .data import random_patches

        if self.pool is not None:
            return random_patches(self.pool[shard::shards], n, self.cfg.patch, g)
        images = self.images if shards == 1 else self.images[shard::shards]
        idx = torch.randint(len(images), (n,), generator=g)
        x = images[idx]
        if self.cfg.hflip:
            flip = torch.rand(n, generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x


def stream_seed(seed: int, r: int, streams: int) -> int:
    """Stream r's seed: ``seed`` itself for a one-stream run, else mixed from (seed, r)."""
    return int(seed) if streams == 1 else sample_seed(seed, r)


class Streams:
    """The streams this process owns: rank k of P owns streams k·S/P … (k+1)·S/P − 1."""

    def __init__(self, seed: int, streams: int, rank: int = 0, world: int = 1):
        if streams < 1 or streams % world:
            raise ValueError(f"{streams} data stream(s) cannot be split over {world} processes")
        k = streams // world
        self.streams, self.ids = streams, list(range(rank * k, (rank + 1) * k))
        self.gens = [torch.Generator().manual_seed(stream_seed(seed, r, streams)) for r in self.ids]

    @property
    def generator(self):
        """What :func:`invdiff.train.diffusion_loss` draws with: one generator, or one per stream."""
        return self.gens[0] if len(self.gens) == 1 else self.gens

    def batch(self, data: Data, global_batch: int) -> Tensor:
        """This process's part of the global batch: ``global_batch / streams`` images per stream."""
        if global_batch % self.streams:
            raise ValueError(f"batch {global_batch} is not divisible by the {self.streams} data streams")
        per = global_batch // self.streams
        if data.size() < self.streams:
            raise ValueError(f"{data.size()} training images cannot be split into {self.streams} data shards")
        return torch.cat([data.batch(per, g, r, self.streams) for r, g in zip(self.ids, self.gens)])

    def state(self, gather=None) -> Tensor:
        """Generator states: one stream's (1-D, as a one-stream run always saved), else (streams, n) with
        every process's rows (``gather``: list of this process's states -> everyone's, in rank order)."""
        mine = [g.get_state() for g in self.gens]
        rows = [s for part in gather(mine) for s in part] if gather is not None else mine
        return rows[0] if self.streams == 1 else torch.stack(rows)

    def load(self, state: Tensor) -> None:
        saved = 1 if state.ndim == 1 else state.shape[0]
        if saved != self.streams:
            raise ValueError(f"the checkpoint holds {saved} data stream state(s), this run has {self.streams}")
        for r, g in zip(self.ids, self.gens):
            g.set_state(
                (state if state.ndim == 1 else state[r]).cpu().clone()
            )  # a copy: set_state ignores a view's offset


def resolve_streams(cfg, ck, world: int, out) -> int:
    """The run's data streams: a resumed checkpoint's own (1 for checkpoints from before streams), else
    ``cfg.streams``, else the number of processes.  Refused (ResumeMismatch for a resumed run, ValueError
    for a new one) when ``world`` processes cannot share them equally."""
    from .resume import ResumeMismatch

    saved = None if ck is None else int(dict(ck["config"]).get("streams") or 1)
    if saved is not None and cfg.streams and cfg.streams != saved:
        raise ResumeMismatch(f"cannot resume {out} with streams={cfg.streams}: the run draws from {saved} data streams")
    n = saved or cfg.streams or world
    if n % world:
        if saved is None:
            raise ValueError(f"streams={n} cannot be split over {world} processes; use a multiple of {world}")
        ok = ", ".join(str(p) for p in range(1, n + 1) if n % p == 0)
        raise ResumeMismatch(
            f"cannot resume {out} on {world} processes: its global batch is drawn from {n} data streams "
            f"(a run has one per process it started on, unless --streams said otherwise); resume it on "
            f"{ok} process(es) (torchrun --nproc_per_node=N; 1 = without torchrun) for the same batches"
        )
    if cfg.batch % n:
        raise ValueError(f"batch {cfg.batch} must be divisible by the {n} data streams (equal parts)")
    return n
