"""What a benchmark is made of: tasks, methods and suites (plain data; nothing here runs).

A :class:`Suite` crosses its :class:`Task` list (operator + σ_y) with its :class:`Method`
list (× target NFEs × seeds) over a test set.  How a method runs is chosen by its ``kind``
in :data:`invdiff.bench.run.RUNNERS` (one runner class per kind).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["Method", "Suite", "Task"]


@dataclass
class Task:
    """An operator from ``operators.OPERATORS`` with its parameters, and the noise level σ_y (units of y).

    ``kind`` (blur | inpaint | sr | denoise | other) picks the classical baselines;
    ``method_kw`` holds per-method keyword overrides (e.g. ``{"dps": {"zeta": 0.3}}``).
    ``seed`` seeds image i's operator parameters and measurement noise (with i), shared by all methods.
    """

    name: str
    operator: str
    sigma_y: float
    kind: str = "other"
    params: dict = field(default_factory=dict)
    seed: int = 0
    method_kw: dict = field(default_factory=dict)

    def build(self, shape, batch: int, offset: int, device=None):
        """The operator for images ``offset … offset+batch-1``."""
        import operators

        return operators.build(
            self.operator,
            shape=tuple(shape),
            batch=batch,
            seed=self.seed,
            offset=offset,
            device=device,
            dtype=torch.float32,
            **self.params,
        )


@dataclass
class Method:
    """A row label and how to run it.

    ``kind``: "sampler" (``invdiff.samplers.POSTERIOR[name]``), "custom" (``fn`` with the
    sampler signature), "deepinv" (name "deepinv-<m>", deepinv's own sampler through
    :func:`invdiff.bench.peers.run_deepinv`) or "baseline" (``invdiff.baselines.BASELINES[name]``
    or ``fn``).  ``nfe``: target NFEs besides the default; empty = the method's default only.
    ``kw``: extra keywords for the method.
    """

    name: str
    kind: str = "sampler"
    nfe: tuple[int, ...] = ()
    fn: Callable | None = None
    kw: dict = field(default_factory=dict)


@dataclass
class Suite:
    """Everything a benchmark run needs; ``images``/``prior``/``train_images`` are loaded lazily."""

    name: str
    shape: tuple[int, int, int]
    tasks: list[Task]
    methods: list[Method]
    images: Callable[[], Tensor]
    prior: Callable[[], object] | None = None
    train_images: Callable[[], Tensor] | None = None  # for tuning the baselines' weights
    seeds: tuple[int, ...] = (0,)
    batch_size: int = 25
    n_show: int = 4
    nfe: tuple[int, ...] | None = None  # target NFEs replacing every sampler's list (e.g. a smoke suite)
    notes: str = ""
