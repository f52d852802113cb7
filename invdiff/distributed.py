"""Processes launched by ``torchrun``: who am I, which device, the process group, collectives.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them this is one process
(rank 0 of 1) and nothing here talks to anyone.  With CUDA each process takes GPU
``LOCAL_RANK`` (modulo the GPUs present, so several processes may share one); the bench uses
gloo for its few barriers whatever the device, training uses NCCL on CUDA and gloo on CPU.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist

__all__ = ["Ctx", "barrier", "context", "device_for", "finish", "gather", "mean", "start"]

# a rank waits at a barrier for the slowest one: a long benchmark shard must not time it out
TIMEOUT = timedelta(seconds=float(os.environ.get("INVDIFF_DIST_TIMEOUT", 7 * 24 * 3600)))


class Ctx:
    """``rank``, ``world`` and ``local_rank`` of this process (0, 1, 0 when not launched by torchrun)."""

    def __init__(self, rank: int = 0, world: int = 1, local_rank: int = 0):
        self.rank, self.world, self.local_rank = rank, world, local_rank

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def __repr__(self) -> str:
        return f"Ctx(rank={self.rank}, world={self.world}, local_rank={self.local_rank})"


def context() -> Ctx:
    """This process's place, from torchrun's environment variables."""
    env = os.environ
    world = int(env.get("WORLD_SIZE", "1"))
    if world < 1:
        raise ValueError(f"WORLD_SIZE={world}: must be >= 1")
    rank = int(env.get("RANK", "0"))
    return Ctx(rank, world, int(env.get("LOCAL_RANK", str(rank))))


def device_for(ctx: Ctx, device=None) -> torch.device:
    """``device`` as given, except that a bare ``cuda`` (or none, with CUDA present) becomes
    ``cuda:<LOCAL_RANK mod GPUs>`` in a distributed run: one process per GPU."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None and ctx.distributed:
        dev = torch.device("cuda", ctx.local_rank % max(torch.cuda.device_count(), 1))
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return dev


def start(backend: str = "gloo") -> Ctx:
    """Join the process group when launched with WORLD_SIZE > 1 (``backend``: gloo or nccl)."""
    ctx = context()
    if ctx.distributed and not dist.is_initialized():
        dist.init_process_group(backend, timeout=TIMEOUT)
        if dist.get_world_size() != ctx.world or dist.get_rank() != ctx.rank:  # pragma: no cover - torchrun's job
            raise RuntimeError(f"process group {dist.get_rank()}/{dist.get_world_size()} disagrees with {ctx}")
    return ctx


def barrier(ctx: Ctx) -> None:
    if ctx.distributed:
        dist.barrier()


def mean(t: torch.Tensor, ctx: Ctx) -> torch.Tensor:
    """The mean of ``t`` over the processes (``t`` itself in one process)."""
    if not ctx.distributed:
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t / ctx.world


def gather(mine: list) -> list:
    """Every process's ``mine`` (picklable), in rank order."""
    parts = [None] * dist.get_world_size()
    dist.all_gather_object(parts, mine)
    return parts


def finish(ctx: Ctx) -> None:
    """Leave the process group (after a last barrier, so no rank exits while another still needs it)."""
    if ctx.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
