"""Search spaces: the hyperparameters of a posterior sampler worth tuning, declared beside its code.

Each sampler file sets ``f.search_space = {keyword: Param | Choice, ...}`` (``invdiff tune``,
:mod:`invdiff.tune`, reads it).  Every key is a keyword-only argument of the sampler.

- :class:`Param` ``(low, high, log=False, integer=False)``: a number in [low, high], searched on a
  log scale when ``log``;
- :class:`Choice` ``(values)``: one of a few values;
- ``when=(name, value)`` on either: searched only when hyperparameter ``name`` took ``value``
  (otherwise the sampler's default is kept).

:data:`WARM_START` is the part every sampler shares (:mod:`.warmstart`): a cold start from noise
at σ_max, or the classical estimate of ``start="auto"`` started at a searched σ0.  :data:`EARLY_END`
(:mod:`.early_end`) is shared too: the grid's own end, or an early end at a searched σ_end.  Nothing here
imports a tuning library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Choice", "EARLY_END", "Param", "WARM_START", "with_grid_settings"]


@dataclass(frozen=True)
class Param:
    """A number in [low, high] (log scale when ``log``; an int when ``integer``)."""

    low: float
    high: float
    log: bool = False
    integer: bool = False
    when: tuple | None = None

    def __post_init__(self):
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"Param needs finite low < high, got {self.low}, {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale Param needs low > 0, got {self.low}")

    def contains(self, v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and self.low <= v <= self.high


@dataclass(frozen=True)
class Choice:
    """One of ``values`` (strings, numbers, booleans or None)."""

    values: tuple
    when: tuple | None = None

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(self.values))
        if len(self.values) < 1:
            raise ValueError("Choice needs at least one value")

    def contains(self, v) -> bool:
        return v in self.values


# σ0 of a warm start on images in [-1, 1]: from a light touch-up (0.05) to well above the data scale (3)
WARM_START = {
    "start": Choice(("noise", "auto")),
    "sigma_start": Param(0.05, 3.0, log=True, when=("start", "auto")),
}


# σ_end of an early end (:mod:`.early_end`): None (the sampler's own grid) or a level on the data scale
EARLY_END = {"sigma_end": Choice((None, 0.05, 0.1, 0.2, 0.3, 0.5))}


def with_grid_settings(**space) -> dict:
    """``space`` plus the grid's settings every non-SMC posterior sampler shares: where it starts
    (:data:`WARM_START`) and where it ends (:data:`EARLY_END`)."""
    return {**space, **WARM_START, **EARLY_END}
