"""Sampler registries.

``POSTERIOR``: samplers ``f(prior, op, y, *, sigma_y, steps, seed, callback, sigmas, x_shape, ...)``
returning x0 estimates for measurements ``y``; each has ``f.needs`` (the operator
capability it requires: "any", "linear", "svd", "pinv" or "prox") and ``f.default_steps``.
The sequential Monte Carlo samplers (``mcgdiff``, ``tds``) also take ``particles`` and ``return_info``
and carry ``f.weighted_population = True`` (``posterior_stats`` then uses one run's weighted particles).
``UNCONDITIONAL``: samplers ``f(prior, shape, *, steps, seed, ...)``.
``SAMPLERS`` holds both.  Adding a sampler = one file + one line here.
"""

from __future__ import annotations

from operators import linalg

from .checks import DivergenceError
from .daps import daps
from .ddim import ddim  # bind the functions, not the submodules of the same name
from .ddnm import ddnm
from .ddpm import ddpm
from .ddrm import ddrm
from .diffpir import diffpir
from .dps import dps
from .gradient_estimation import gradient_estimation
from .heun import heun
from .mcgdiff import mcgdiff
from .pigdm import pigdm
from .reddiff import reddiff
from .tds import tds

POSTERIOR = {
    "dps": dps,
    "pigdm": pigdm,
    "ddrm": ddrm,
    "ddnm": ddnm,
    "diffpir": diffpir,
    "reddiff": reddiff,
    "daps": daps,
    "mcgdiff": mcgdiff,  # sequential Monte Carlo (particles), asymptotically exact
    "tds": tds,
}
UNCONDITIONAL = {"ddpm": ddpm, "ddim": ddim, "heun": heun, "gradient_estimation": gradient_estimation}
SAMPLERS = {**POSTERIOR, **UNCONDITIONAL}


def approximate_samplers() -> list[str]:
    """Names in ``POSTERIOR`` but the SMC samplers (``f.weighted_population``: NFE = steps × particles),
    read when called; the suites and the robustness matrix run these."""
    return [n for n, f in POSTERIOR.items() if not getattr(f, "weighted_population", False)]


def samplers_that_accept(op) -> list[str]:
    """Names of the posterior samplers whose ``needs`` the operator ``op`` satisfies."""
    caps = linalg.capabilities(op)
    return [name for name, f in POSTERIOR.items() if f.needs in caps]


__all__ = [
    "POSTERIOR",
    "UNCONDITIONAL",
    "SAMPLERS",
    "DivergenceError",
    "samplers_that_accept",
    "approximate_samplers",
    *POSTERIOR,
    *UNCONDITIONAL,
]
