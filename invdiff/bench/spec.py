"""What a benchmark is made of: tasks, methods and suites (plain data; nothing here runs).

A :class:`Suite` crosses its :class:`Task` list (operator + σ_y) with its :class:`Method`
list (× target NFEs × seeds) over a test set.  How a method runs is chosen by its ``kind``
in :data:`invdiff.bench.run.RUNNERS` (one runner class per kind).

A method *spec* names a variant of a sampler in one string (:func:`parse_spec`)::

    ddrm:start=biharmonic,sigma0=0.2   keywords for the sampler (sigma0 = sigma_start, the warm start's σ0)
    ddrm:mean8                         the posterior mean of 8 draws, charged 8 × NFE
    dps:mean4,start=noise,zeta=0.5     both
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["KEY_ALIASES", "Method", "Suite", "Task", "parse_spec"]


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
    ``kw``: extra keywords for the method (over the task's ``method_kw`` for it).
    ``samples`` > 1 (samplers): the posterior mean of that many draws, seeds derived as
    :func:`invdiff.posterior_stats` does; a grid point of target NFE N per draw is the row
    ``nfe_target`` samples·N.  ``base``: the registry name when ``name`` is a spec label
    ("ddrm" for "ddrm:mean8"); :attr:`key` is the name the registries and ``method_kw`` use.
    """

    name: str
    kind: str = "sampler"
    nfe: tuple[int, ...] = ()
    fn: Callable | None = None
    kw: dict = field(default_factory=dict)
    samples: int = 1
    base: str | None = None
    tuned: bool = False

    @property
    def key(self) -> str:
        """The registry name: ``base`` for a spec label, else ``name``."""
        return self.base or self.name


# spec keys that stand for a sampler keyword
KEY_ALIASES = {"sigma0": "sigma_start"}
_SPEC_FORM = (
    "expected NAME:ITEM[,ITEM...] with ITEM 'meanK' (K >= 2), 'tuned' or 'key=value', "
    "e.g. ddrm:start=biharmonic,sigma0=0.2, ddrm:mean8 or ddrm:tuned"
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MEAN = re.compile(r"mean(\d+)\Z")
_INT = re.compile(r"[+-]?\d+\Z")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


def _value(text: str):
    """A spec value: int, float (inf, 1e-3), true/false, none, or a bare word."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    if _INT.match(text):
        return int(text)
    try:
        v = float(text)
    except ValueError:
        v = None
    if v is not None:
        if math.isnan(v):
            raise ValueError("NaN is not a value")
        return v
    if _WORD.match(text):
        return text
    raise ValueError(f"value {text!r} is not a number, true/false, none or a word")


def parse_spec(text: str, kind: str = "sampler") -> Method:
    """The :class:`Method` a spec string names (its ``name`` is the string, ``base`` the sampler).

    ``NAME:ITEM[,ITEM...]``: ``meanK`` sets ``samples`` = K (K >= 2); ``tuned`` takes the shipped
    tuned table's values (``Method.tuned``); ``key=value`` adds a keyword (``sigma0`` is
    ``sigma_start``).  Only the form is checked here; the runner checks the sampler and its
    keywords.  A malformed spec is a ``ValueError`` in one line.
    """
    if not isinstance(text, str):
        raise ValueError(f"method spec must be a string, got {type(text).__name__}")
    spec = text.strip()
    name, sep, rest = spec.partition(":")
    name = name.strip()

    def bad(what: str):
        return ValueError(f"method spec {text!r}: {what}; {_SPEC_FORM}")

    if not sep:
        raise bad("no ':' after the method name")
    if not _NAME.match(name):
        raise bad(f"{name!r} is not a method name")
    kw: dict = {}
    samples, tuned = None, False
    for item in rest.split(","):
        item = item.strip()
        if not item:
            raise bad("an empty item")
        if item == "tuned":
            if tuned:
                raise bad("'tuned' given twice")
            tuned = True
            continue
        if "=" not in item:
            m = _MEAN.match(item)
            if m is None:
                raise bad(f"item {item!r} is neither 'meanK', 'tuned' nor 'key=value'")
            if samples is not None:
                raise bad("'meanK' given twice")
            samples = int(m.group(1))
            if samples < 2:
                raise bad(f"{item!r}: a posterior mean needs K >= 2 draws")
            continue
        key, _, val = (p.strip() for p in item.partition("="))
        if not _KEY.match(key):
            raise bad(f"{key!r} is not a keyword name")
        key = KEY_ALIASES.get(key, key)
        if key in kw:
            raise bad(f"keyword {key!r} given twice")
        if not val:
            raise bad(f"keyword {key!r} has no value")
        try:
            kw[key] = _value(val)
        except ValueError as e:
            raise bad(f"keyword {key!r}: {e}") from None
    return Method(spec, kind, kw=kw, samples=samples or 1, base=name, tuned=tuned)


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
