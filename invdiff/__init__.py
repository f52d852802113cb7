"""invdiff: imaging inverse problems with diffusion priors.

    import invdiff, operators
    prior = invdiff.load_prior("mnist")
    op = operators.build("inpaint_random", shape=(1, 28, 28), batch=4, seed=0)
    y = operators.measure(op, x, sigma_y=0.05, seed=0)
    x_hat = invdiff.solve(y, op, prior, method="ddrm", sigma_y=0.05)

Conventions: images (B, C, H, W) in [-1, 1]; VE noise x = x0 + σ ε; per-sample seeds.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "solve": ("api", "solve"),
    "posterior_stats": ("api", "posterior_stats"),
    "load_prior": ("load", "load_prior"),
    "SAMPLERS": ("samplers", "SAMPLERS"),
    "POSTERIOR": ("samplers", "POSTERIOR"),
    "UNCONDITIONAL": ("samplers", "UNCONDITIONAL"),
    "EpsPrior": ("prior", "EpsPrior"),
    "GaussianMixturePrior": ("prior", "GaussianMixturePrior"),
    "Prior": ("prior", "Prior"),
    "VPSchedule": ("schedule", "VPSchedule"),
    "psnr": ("metrics", "psnr"),
    "ssim": ("metrics", "ssim"),
    "DivergenceError": ("samplers.checks", "DivergenceError"),
    "tweedie_denoise": ("tweedie", "tweedie_denoise"),
}
__all__ = sorted(_LAZY)
# submodules reachable as attributes after a bare ``import invdiff`` (imported on first use)
_SUBMODULES = (
    "samplers",
    "nets",
    "interop",
    "data",
    "bench",
    "metrics",
    "viz",
    "prior",
    "schedule",
    "load",
    "io",
    "train",
    "api",
    "exact",
    "rng",
    "baselines",
    "demo",
)


def __getattr__(name):
    import importlib

    if name in _LAZY:
        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{mod}", __name__), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'invdiff' has no attribute {name!r}")
