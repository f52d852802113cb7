"""DiffPIR (Zhu, Zhang, Liang, Cao, Wen, Timofte & Van Gool 2023, CVPRW, "Denoising Diffusion
Models for Plug-and-Play Image Restoration", Alg. 1; reference code ``main_ddpir_*.py``).

Written in the variance-exploding σ convention ``x = x0 + σ ε`` (the paper's σ̄_t =
√(1−ᾱ_t)/√ᾱ_t is our σ).  One step σ → σ' (half-quadratic splitting, one iteration):

    x̂0      = Tweedie estimate at σ                                 (prior sub-problem)
    ρ       = λ·σ_y²/σ²                                             (σ: the level x̂0 was denoised from)
    x̂0_data = argmin_z ½‖y − Az‖² + (ρ/2)‖z − x̂0‖²                  (data sub-problem: prox, SVD/FFT/CG)
    ε̂       = (x − x̂0_data)/σ
    x'      = x̂0_data + σ'·(√(1−ζ)·ε̂ + √ζ·z),   z ~ N(0, I)

The paper writes the data step as argmin ‖y − Az‖² + ρ‖z − x̂0‖²: the same minimiser.
With σ_y = 0 the data step is the hard projection x̂0 + A†(y − A x̂0) (the ρ → 0 limit).

x̂0 is clipped to the prior's data range before the data step (``clip=True``, as the
reference's ``clip_denoised=True`` and deepinv do; a prior without ``data_range``, such as the
exact Gaussian mixture, is not clipped).  ``rho="noise_aware"`` uses ρ = λσ_y²(1+σ²)/σ²
(ΠGDM's r_σ² in place of σ²), which stops the data step from amplifying measurement noise
on a coarse grid; ``rho="paper"`` is the formula above.

Defaults: λ = 1, ζ = 0.1 (SR, deblurring; the paper uses ζ = 1.0 for inpainting),
100 steps on the reference's ``quad`` grid: t_k = (T−1)(1 − √(k/(N−1))), dense at low
noise, when the prior has a VP schedule; an exact prior without one gets the Karras grid.
Units: σ_y is in the units of y on [−1, 1] (DESIGN.md), so λ = 1 is the Bayesian weight;
the reference code puts σ_y on [0, 1] into ρ with x on [−1, 1], i.e. its λ equals 4× ours.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .common import Param, cg_tol, clip_to_range, default_sigmas, linalg, pairwise, posterior_head, with_grid_settings


def quad_sigmas(prior, steps: int, top: float | None = None) -> Tensor:
    """DiffPIR's ``skip_type="quad"`` grid (quadratic in t, dense near t = 0) from σ = ``top`` (σ_max), then 0.

    Without a VP schedule the Karras grid is used.
    """
    sched = getattr(prior, "schedule", None)
    if sched is None:
        from .common import ddpm_grid

        return ddpm_grid(prior, steps, top)
    if steps < 1:
        raise ValueError("steps must be >= 1")
    t0 = sched.T - 1 if top is None else float(sched.sigma_to_t(top))
    t = t0 * (1 - torch.linspace(0, 1, steps, dtype=torch.float64).sqrt())
    return torch.cat([sched.t_to_sigma(t), torch.zeros(1, dtype=torch.float64)])


def _uniform(prior, steps: int, top: float | None = None) -> Tensor:
    from .common import ddpm_grid

    return ddpm_grid(prior, steps, top) if top is not None else default_sigmas(prior, steps)


@torch.no_grad()
def diffpir(
    prior,
    op,
    y: Tensor,
    *,
    sigma_y: float,
    steps: int = 100,
    seed: int = 0,
    callback=None,
    sigmas=None,
    x_shape=None,
    offset: int = 0,
    start="auto",
    sigma_start=None,
    sigma_end=None,
    lambda_: float = 1.0,
    zeta: float = 0.1,
    skip_type: str = "quad",
    rho: str = "noise_aware",
    clip: bool = True,
) -> Tensor:
    """Posterior samples of x0 given ``y = A x0 + σ_y n`` with DiffPIR (needs the prox of ½‖y − Ax‖²).

    ``skip_type`` picks the default grid ("quad" as in the reference, or "uniform" in DDPM t);
    ``sigmas`` overrides both.  ``callback(i, sigma, x, x0_hat)`` is called at every step.
    """
    if skip_type not in ("quad", "uniform"):
        raise ValueError(f"diffpir: skip_type must be 'quad' or 'uniform', got {skip_type!r}")
    if rho not in ("paper", "noise_aware"):
        raise ValueError(f"diffpir: rho must be 'paper' or 'noise_aware', got {rho!r}")
    if not 0 <= zeta <= 1 or not lambda_ > 0:
        raise ValueError(f"diffpir: need 0 <= zeta <= 1 and lambda_ > 0, got zeta={zeta}, lambda_={lambda_}")
    h = posterior_head("diffpir", prior, op, y, needs=diffpir.needs, sigma_y=sigma_y, steps=steps, seed=seed,
                       sigmas=sigmas, x_shape=x_shape, grid=quad_sigmas if skip_type == "quad" else _uniform,
                       offset=offset, start=start, sigma_start=sigma_start, sigma_end=sigma_end)  # fmt: skip
    sigma_y, sigmas, rng, x = h.sigma_y, h.sigmas, h.rng, h.x
    a, b, tol = math.sqrt(1 - zeta), math.sqrt(zeta), cg_tol(x)
    for i, (sig, sig_next) in enumerate(pairwise(sigmas)):
        x0 = prior.x0(x, sig)
        if clip:
            x0 = clip_to_range(prior, x0)
        if callback is not None:
            callback(i, sig, x, x0)
        r = lambda_ * sigma_y**2 / sig**2 * ((1 + sig**2) if rho == "noise_aware" else 1.0)
        if r > 1e-30:
            x0d = linalg.prox(op, x0, y, r, tol=tol)
        else:  # noiseless: project onto {A z = y}
            x0d = x0 + linalg.pinv(op, y - linalg.forward(op, x0), tol=tol)
        x0d = x0d.to(x)
        if sig_next == 0:
            x = x0d
            break
        eps = (x - x0d) / sig
        x = x0d + sig_next * (a * eps + b * rng.randn_like(x))
        h.guard(i, sig, x)
    return h.finish(op, y, x)


diffpir.needs = "prox"
diffpir.default_steps = 100
# hyperparameters worth searching (invdiff tune; Param/Choice: invdiff/samplers/space.py)
diffpir.search_space = with_grid_settings(lambda_=Param(0.05, 50.0, log=True), zeta=Param(0.01, 1.0, log=True))
