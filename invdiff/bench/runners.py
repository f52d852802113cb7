"""How each kind of :class:`~invdiff.bench.spec.Method` runs: one runner class per kind.

A runner is bound to one method for one run.  It says which grid points (target NFE →
steps) and seeds the method runs at, on which tasks and operators, with which keywords,
and runs it on an image :class:`Batch`.  :data:`invdiff.bench.run.RUNNERS` maps
``Method.kind`` to the runner class; the deepinv peers' runner is in :mod:`invdiff.bench.peers`.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass

from torch import Tensor

from .spec import Method, Suite, Task

__all__ = [
    "HARNESS_KW",
    "BaselineRunner",
    "Batch",
    "GridPoint",
    "Job",
    "Runner",
    "SamplerRunner",
    "check_sampler_kw",
    "nfe_per_step",
    "nfe_points",
]


@dataclass(frozen=True)
class GridPoint:
    """A target NFE (the row's ``nfe_target``), the sampler steps giving it, and whether it is the default."""

    target: int
    steps: int
    default: bool


@dataclass
class Batch:
    """Images ``index`` of a task with their operator and measurement, shared by every method."""

    task: Task
    shape: tuple[int, int, int]
    index: list[int]
    x: Tensor
    y: Tensor
    op: object

    @property
    def offset(self) -> int:
        return self.index[0]


@dataclass
class Job:
    """One method at one grid point and seed: its keywords and the prior (None until one is needed)."""

    point: GridPoint
    seed: int
    params: dict
    prior: object | None = None


def nfe_points(default: int, per_step: int, nfe=None, extra=()) -> list[GridPoint]:
    """Grid points for targets ``nfe`` (or the default and ``extra``), ``per_step`` network calls per step."""
    targets = list(nfe) if nfe is not None else [default, *extra]
    out: dict[int, GridPoint] = {}
    for t in map(int, targets):
        out.setdefault(t, GridPoint(t, max(1, t // per_step), t == default))
    return sorted(out.values(), key=lambda p: p.target)


class Runner:
    """The interface; subclasses override what differs for their kind."""

    uses_prior = True  # False: the run never loads the suite's prior for this method
    averages = False  # True: the runner can average ``Method.samples`` draws

    def __init__(self, method: Method):
        self.method = method
        if method.samples != 1 and not self.averages:
            raise ValueError(f"method {method.name!r}: a posterior mean (meanK) applies to our samplers only")
        if method.tuned and not self.averages:
            raise ValueError(f"method {method.name!r}: 'tuned' (the shipped tuned table) applies to our samplers only")

    def grid(self, nfe=None) -> list[GridPoint]:
        """The grid points; ``nfe`` (target NFEs) replaces the method's own list."""
        raise NotImplementedError

    def seeds(self, seeds: list[int]) -> list[int]:
        return list(seeds)

    def in_grid(self, task: Task) -> bool:
        """False: the method has no rows for ``task`` (not even skipped ones)."""
        return True

    def applicable(self, op) -> str | None:
        """None if the method can run on ``op``; else why not (recorded in skipped rows)."""
        return None

    def params(self, task: Task, suite: Suite, device) -> tuple[dict, str | None]:
        """The method's keywords on ``task`` and a note (None, or why a tuning step failed): the task's
        ``method_kw`` for it, then the method's own ``kw`` (a spec's keywords win)."""
        m = self.method
        return {**task.method_kw.get(m.key, {}), **m.kw}, None

    def __call__(self, batch: Batch, job: Job) -> Tensor:
        """The reconstruction of ``batch`` ([-1, 1], unclamped)."""
        raise NotImplementedError

    def nfe_used(self, prior, n: int) -> float | None:
        """Network evaluations per image, read after the call from the prior's counter."""
        return getattr(prior, "nfe", None)


def nfe_per_step(fn, kw: dict) -> int:
    """Network calls per sampler step: ``fn.nfe_per_step``, else ``ode_steps`` (DAPS), else 1 (public:
    invdiff.tune and invdiff.solve turn steps into NFE with it)."""
    if hasattr(fn, "nfe_per_step"):
        return int(fn.nfe_per_step)
    p = inspect.signature(fn).parameters.get("ode_steps")
    return int(kw.get("ode_steps", p.default)) if p is not None else 1


# keywords the harness passes to every sampler itself (a spec may not set them)
HARNESS_KW = ("sigma_y", "steps", "seed", "x_shape", "offset", "callback")


def check_sampler_kw(fn, label: str, kw: dict) -> None:
    """ValueError (one line) for a keyword ``fn`` does not take, one the harness sets, or a bad warm start."""
    from ..samplers.warmstart import INITIALIZERS

    params = inspect.signature(fn).parameters
    open_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY and n not in HARNESS_KW]
    for k, v in kw.items():
        if k in HARNESS_KW:
            raise ValueError(f"method {label!r}: {k} is set by the benchmark (use --nfe for steps, --seeds for seeds)")
        if k not in accepted and not open_kw:
            raise ValueError(f"method {label!r}: the sampler takes no keyword {k!r}; it takes {', '.join(accepted)}")
        if k == "start" and not (isinstance(v, str) and v in ("auto", *INITIALIZERS)):
            raise ValueError(f"method {label!r}: start={v!r}; choose from auto, {', '.join(INITIALIZERS)}")
        if k == "sigma_start" and v is not None:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ValueError(f"method {label!r}: sigma0 (sigma_start) must be a number > 0 (inf: σ_max), got {v!r}")


class SamplerRunner(Runner):
    """Our posterior samplers (``invdiff.samplers.POSTERIOR``) or ``Method.fn`` with their signature.

    ``Method.samples`` = K > 1: the mean of K draws, draw k with seed ``sample_seed(seed, k)``
    (as :func:`invdiff.posterior_stats`), so NFE and time are K times one draw's.
    """

    averages = True

    def __init__(self, method: Method):
        super().__init__(method)
        if method.fn is not None:
            self.fn = method.fn
        else:
            from ..samplers import POSTERIOR

            if method.key not in POSTERIOR:
                raise ValueError(f"unknown sampler {method.key!r}; choose from {sorted(POSTERIOR)} or pass fn=")
            self.fn = POSTERIOR[method.key]
        if isinstance(method.samples, bool) or not isinstance(method.samples, int) or method.samples < 1:
            raise ValueError(f"method {method.name!r}: samples must be an int >= 1, got {method.samples!r}")
        check_sampler_kw(self.fn, method.name, method.kw)

    def grid(self, nfe=None) -> list[GridPoint]:
        """Targets per draw (``nfe``, or the default and ``Method.nfe``); a mean of K draws is charged K × it."""
        per = nfe_per_step(self.fn, self.method.kw)
        k = self.method.samples
        if getattr(self.fn, "fixed_nfe", None) is not None:  # a one-shot estimate: one point at its own cost
            return [GridPoint(int(self.fn.fixed_nfe) * k, 1, True)]
        pts = nfe_points(int(getattr(self.fn, "default_steps", 100)) * per, per, nfe, self.method.nfe)
        return [GridPoint(p.target * k, p.steps, p.default) for p in pts]

    def in_grid(self, task: Task) -> bool:
        kinds = getattr(self.fn, "task_kinds", None)  # e.g. Tweedie's posterior mean: denoising only
        return kinds is None or task.kind in kinds

    def applicable(self, op) -> str | None:
        from operators import linalg

        need = getattr(self.fn, "needs", "any")
        return None if need in linalg.capabilities(op) else f"{self.method.name} needs the {need!r} capability"

    def call_kw(self, batch: Batch, job: Job) -> dict:
        """The sampler's keywords: ``job.params``, with ``Method.tuned`` the tuned table's values over the
        task's ``method_kw`` (the spec's own keywords win, as a caller's do in :func:`invdiff.solve`)."""
        kw = dict(job.params)
        if self.method.tuned:
            from ..tune.defaults import resolve

            call = {**self.method.kw, "sigma_y": batch.task.sigma_y, "steps": job.point.steps}
            kw.update(resolve(self.method.key, self.fn, job.prior, batch.op, call, "tuned")[1]["applied"])
        return kw

    def __call__(self, batch: Batch, job: Job) -> Tensor:
        kw = self.last_params = self.call_kw(batch, job)  # the row records what ran
        kw = dict(kw)
        if "offset" in inspect.signature(self.fn).parameters:
            kw["offset"] = batch.offset

        def draw(seed: int) -> Tensor:
            return self.fn(
                job.prior,
                batch.op,
                batch.y,
                sigma_y=batch.task.sigma_y,
                steps=job.point.steps,
                seed=seed,
                x_shape=batch.shape,
                **kw,
            )

        if self.method.samples == 1:
            return draw(job.seed)
        from ..rng import sample_seed

        mean = None
        for k in range(self.method.samples):  # the running mean of posterior_stats, in float64
            xk = draw(sample_seed(job.seed, k))
            mean = xk.double() if mean is None else mean + (xk.double() - mean) / (k + 1)
        return mean.to(xk.dtype)


class BaselineRunner(Runner):
    """Classical baselines (``invdiff.baselines.BASELINES`` or ``Method.fn``): no network, one seed.

    They run only on the task kinds they are made for (``baselines.FOR_KIND``), unless given as
    ``fn``; a tunable weight (``fn.param``) is tuned per task on up to 16 training images.
    """

    uses_prior = False

    def __init__(self, method: Method):
        super().__init__(method)
        from ..baselines import BASELINES

        if method.fn is None and method.name not in BASELINES:
            raise ValueError(f"unknown baseline {method.name!r}; choose from {sorted(BASELINES)} or pass fn=")
        self.fn = method.fn or BASELINES[method.name]
        self._tuned: dict[str, tuple[dict, str | None]] = {}

    def grid(self, nfe=None) -> list[GridPoint]:
        return [GridPoint(0, 0, True)]

    def seeds(self, seeds: list[int]) -> list[int]:
        return list(seeds)[:1]

    def in_grid(self, task: Task) -> bool:
        from ..baselines import FOR_KIND

        return self.method.fn is not None or self.method.name in FOR_KIND.get(task.kind, ())

    def applicable(self, op) -> str | None:
        from operators import linalg

        if self.method.name == "pinv" and not linalg.is_linear(op):
            return "pinv needs a linear operator"
        return None

    def params(self, task: Task, suite: Suite, device) -> tuple[dict, str | None]:
        if task.name not in self._tuned:
            self._tuned[task.name] = self._tune(task, suite, device)
        params, note = self._tuned[task.name]
        return dict(params), note

    def _tune(self, task: Task, suite: Suite, device) -> tuple[dict, str | None]:
        """The tuned weight on the suite's training images (own operator and noise seeds), or the documented
        default with the reason when there are none or tuning fails."""
        import operators

        from ..baselines import tune

        p = getattr(self.fn, "param", None)
        if p is None or suite.train_images is None:
            return ({} if p is None else {p.name: p.default}), None
        try:
            x = suite.train_images()[:16].to(device)
            op = dataclasses.replace(task, seed=task.seed + 10_000).build(suite.shape, len(x), 0, device)
            y = operators.measure(op, x, task.sigma_y, seed=task.seed + 10_001)
            return {p.name: tune(self.fn, op, x, y, task.sigma_y, {"x_shape": suite.shape, "task": task.name})}, None
        except Exception as e:  # noqa: BLE001 - the documented default is used; the failure goes in every row
            return {p.name: p.default}, f"{type(e).__name__}: {e}"[:500]

    def __call__(self, batch: Batch, job: Job) -> Tensor:
        t = batch.task
        info = {"x_shape": batch.shape, "task": t.name, "kind": t.kind, **job.params}
        return self.fn(batch.op, batch.y, t.sigma_y, info)

    def nfe_used(self, prior, n: int) -> float | None:
        return 0
