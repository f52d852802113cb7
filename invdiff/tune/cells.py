"""What one tuning cell is: a shipped prior, a suite task, a posterior sampler and a target NFE.

The tasks are the benchmark suites' (:mod:`invdiff.bench.suites`): ``mnist_tasks()`` for the
``mnist`` prior, ``photo_tasks(128)`` for the ``photo`` prior.  The images are *training*
images only (``invdiff.data.mnist("train")``; ``invdiff.data.PHOTO_TRAIN`` photos at 128²) —
the suites' held-out digits and photos are never seen.  Each training image gets its operator
(box position, motion kernel, mask) and measurement noise from the task seed + 10 000 / 10 001,
the convention the benchmark uses when it tunes the classical baselines
(:class:`invdiff.bench.runners.BaselineRunner`), so no test-image operator is reused either.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

TUNED_PRIORS = ("mnist", "photo")
PHOTO_SIZE = 128  # the photo suite's image side
MATCHED_NFE = (20, 100)  # the NFEs of `invdiff tune --all` (the benchmark's matched NFEs)
OP_SEED, NOISE_SEED = 10_000, 10_001  # offsets of the task seed for training images (as the baselines' tuning)


def check_prior(prior: str) -> str:
    if prior not in TUNED_PRIORS:
        raise ValueError(f"tuning needs a shipped prior with a suite: {', '.join(TUNED_PRIORS)}; got {prior!r}")
    return prior


def tasks(prior: str) -> list:
    """The suite tasks of ``prior`` (:class:`invdiff.bench.spec.Task`)."""
    from ..bench.suites import mnist_tasks, photo_tasks

    return mnist_tasks() if check_prior(prior) == "mnist" else photo_tasks(PHOTO_SIZE)


def image_shape(prior: str) -> tuple[int, int, int]:
    return (1, 28, 28) if check_prior(prior) == "mnist" else (1, PHOTO_SIZE, PHOTO_SIZE)


def get_task(prior: str, name: str):
    for t in tasks(prior):
        if t.name == name:
            return t
    names = ", ".join(t.name for t in tasks(prior))
    raise KeyError(f"unknown task {name!r} for the {prior} prior; choose from {names}")


def n_train(prior: str) -> int:
    from .. import data

    return data.MNIST_N_TRAIN if check_prior(prior) == "mnist" else len(data.PHOTO_TRAIN)


def train_images(prior: str, n: int, first: int = 0) -> torch.Tensor:
    """Training images ``first`` … ``first + n − 1`` of ``prior``'s data, (n, C, H, W) in [-1, 1]."""
    from .. import data

    if not (n >= 1 and first >= 0 and first + n <= n_train(prior)):
        raise ValueError(f"the {prior} prior has {n_train(prior)} training images; asked for {first}..{first + n - 1}")
    if prior == "mnist":
        return data.mnist("train")[first : first + n]
    return torch.cat([data.photo(name, PHOTO_SIZE) for name in data.PHOTO_TRAIN[first : first + n]])


def sampler(method: str):
    from ..samplers import POSTERIOR

    if method not in POSTERIOR:
        raise KeyError(f"unknown posterior sampler {method!r}; choose from {', '.join(POSTERIOR)}")
    return POSTERIOR[method]


def steps_for(method: str, nfe: int, kw: dict | None = None) -> int:
    """Sampler steps giving ``nfe`` network evaluations (as the benchmark: NFE // calls per step, ≥ 1)."""
    from ..bench.runners import nfe_per_step

    return max(1, int(nfe) // nfe_per_step(sampler(method), kw or {}))


def applicable(prior: str, task, method: str) -> bool:
    """Whether ``method``'s operator capability is met by ``task``'s operator."""
    from operators import linalg

    op = task.build(image_shape(prior), 1, 0)
    return sampler(method).needs in linalg.capabilities(op)


def task_record(prior: str, task) -> dict:
    """The (operator name, normalised parameters, σ_y) that define ``task``: what ``solve`` matches."""
    op = task.build(image_shape(prior), 1, 0)
    return {"operator": op.registry_name, "params": dict(op.registry_params), "sigma_y": task.sigma_y}


@dataclass(frozen=True)
class Cell:
    """One tuning problem: ``method`` at ``nfe`` on suite task ``task`` of shipped prior ``prior``."""

    prior: str
    task: str
    method: str
    nfe: int

    @property
    def study_name(self) -> str:
        return f"{self.prior}/{self.task}/{self.method}/nfe{self.nfe}"

    @property
    def label(self) -> str:
        return f"{self.task} {self.method}@{self.nfe}"

    @property
    def space(self) -> dict:
        """The sampler's search space (``f.search_space``, :mod:`invdiff.samplers.space`)."""
        return sampler(self.method).search_space

    def task_spec(self):
        return get_task(self.prior, self.task)

    def fixed_kw(self) -> dict:
        """The task's reference keywords for the sampler that are not searched (e.g. DPS ``zeta_scaling``)."""
        kw = dict(self.task_spec().method_kw.get(self.method, {}))
        return {k: v for k, v in kw.items() if k not in sampler(self.method).search_space}

    def reference_kw(self, paper: bool = False) -> dict:
        """Reference values of the searched keywords: the benchmark's (the task's keywords over the sampler's
        defaults), or with ``paper`` the sampler's own defaults (``solve(..., hyperparameters="reference")``)."""
        import inspect

        from ..samplers.warmstart import WARM_SIGMA

        fn = sampler(self.method)
        defaults = {k: p.default for k, p in inspect.signature(fn).parameters.items()}
        ref = {**defaults, **({} if paper else self.task_spec().method_kw.get(self.method, {}))}
        out = {k: ref.get(k) for k in fn.search_space}
        if out.get("start") != "noise" and out.get("sigma_start") is None:
            out["sigma_start"] = WARM_SIGMA  # what start="auto" resolves σ0 to
        return out

    @property
    def steps(self) -> int:
        return steps_for(self.method, self.nfe, self.task_spec().method_kw.get(self.method))

    def check(self) -> Cell:
        """Raise ``KeyError``/``ValueError`` naming what is wrong with this cell."""
        t = get_task(self.prior, self.task)
        fn = sampler(self.method)
        if not applicable(self.prior, t, self.method):
            raise ValueError(f"{self.method} needs the {fn.needs!r} capability, which task {self.task} lacks")
        if int(self.nfe) < 1:
            raise ValueError(f"nfe must be >= 1, got {self.nfe}")
        return self

    def training_batches(self, n_images: int, batch_size: int, device=None, first: int = 0):
        """``[(x, op, y, offset)]`` for ``n_images`` training images from ``first``, ``batch_size`` at a time.

        Image ``first + i`` gets the operator and noise of offset ``first + i`` (``first > 0``: other
        training images than a search's, to check a tuned entry on images it was not chosen on)."""
        import operators

        t = self.task_spec()
        shape = image_shape(self.prior)
        x_all = train_images(self.prior, n_images, first)
        t_train = dataclasses.replace(t, seed=t.seed + OP_SEED)
        out = []
        for b0 in range(0, n_images, batch_size):
            x = x_all[b0 : b0 + batch_size].to(device)
            op = t_train.build(shape, len(x), first + b0, device)
            y = operators.measure(op, x, t.sigma_y, seed=t.seed + NOISE_SEED, offset=first + b0)
            out.append((x, op, y, first + b0))
        return out


def grid(prior: str, nfes=MATCHED_NFE, methods=None, task_names=None) -> list[Cell]:
    """Every applicable (task × sampler × NFE) cell of ``prior``'s suite."""
    from ..samplers import POSTERIOR

    out = []
    for t in tasks(prior):
        if task_names is not None and t.name not in task_names:
            continue
        for m in POSTERIOR if methods is None else methods:
            if applicable(prior, t, m):
                out += [Cell(prior, t.name, m, int(n)) for n in nfes]
    return out
