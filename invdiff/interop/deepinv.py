"""The deepinv bridges in one import (Tachella et al., "DeepInverse", 2025).

They live in single-purpose modules: :mod:`invdiff.interop.denoiser` (Prior <-> deepinv
``Denoiser``), :mod:`invdiff.interop.physics` (deepinv physics <-> operators) and
:mod:`invdiff.interop.sample_view` (one sample of a batched operator).  deepinv's own
samplers run as benchmark peers in :mod:`invdiff.bench.peers`; ``run_deepinv`` and its
constants are still reachable here.
"""

from __future__ import annotations

from .denoiser import DeepinvDenoiserPrior, PriorDenoiser
from .physics import operator_to_physics, physics_to_operator

__all__ = ["DeepinvDenoiserPrior", "PriorDenoiser", "operator_to_physics", "physics_to_operator"]
# and, imported on use from invdiff.bench.peers: run_deepinv, DEEPINV_METHODS, DEFAULT_STEPS, DPS_WEIGHT

_PEERS = ("run_deepinv", "DEEPINV_METHODS", "DEFAULT_STEPS", "DPS_WEIGHT")


def __getattr__(name):
    if name in _PEERS:  # imported on use: the benchmark package is not a dependency of interop
        from ..bench import peers

        return getattr(peers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
