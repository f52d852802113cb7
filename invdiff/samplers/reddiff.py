"""RED-diff — variational posterior sampling with a diffusion regulariser.

Mardani, Song, Kautz, Vahdat, "A Variational Perspective on Solving Inverse
Problems with Diffusion Models", ICLR 2024 (reference code: NVlabs/RED-diff,
``algos/reddiff.py`` and ``_configs/algo/reddiff.yaml``).

RED-diff fits the mean μ of q(x0 | y) = N(μ, 0) by Adam (betas 0.9, 0.99) on, per
step at noise level σ (descending)::

    x = μ + σ ε,   ε ~ N(0, I),   ε̂ = sg(ε̂(x, σ))          (one network call, no backprop)
    loss = λ σ ⟨ε̂ − ε, μ⟩ / d  +  ½ ‖y − A(μ)‖² / m

σ is the reference's weight √(1−ᾱ)/√ᾱ ("linear" SNR⁻¹ weighting), which is the VE
σ.  The reference takes the means over all entries of the batch; here each sample's
loss is normalised by its own sizes d = numel(x_i), m = numel(y_i) and the
per-sample losses are summed, so the balance of the two terms is the reference's
and a sample does not depend on its batch mates (Adam acts entrywise).
σ_y does not enter the loss: the reference's observation weight is 1 and λ
absorbs 1/σ_y² (``sigma_y`` sets only the start).  μ starts, for linear operators,
at the Tikhonov inverse argmin ½‖y − Aμ‖² + (σ_y²/2)‖μ‖² (A⁺y when σ_y = 0), else at
a per-sample N(0, I) draw.  The reference starts at ``H_pinv(y)``, whose SVD drops
tiny singular values; an exact A⁺y on a circular Gaussian blur amplifies the noise
by 1/s_min (values ~100) and Adam never recovers (3.4 dB on the mnist suite's blur,
20 held-out digits, NFE 100).  The result is μ (σ_x0 = 0 in the reference).  Defaults: λ = 0.25, lr = 0.1 (the
reference config; its README example uses lr 0.25–0.5 with 100 steps; InverseBench
2e-2 with 1000).  NFE = steps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .common import Param, linalg, pairwise, posterior_head, state_dtype, with_grid_settings
from .warmstart import auto_initializer


def reddiff(
    prior,
    op,
    y: Tensor,
    *,
    sigma_y,
    steps: int = 1000,
    seed: int = 0,
    callback=None,
    sigmas=None,
    x_shape=None,
    offset: int = 0,
    start="auto",
    sigma_start=None,
    sigma_end=None,
    lambda_: float = 0.25,
    lr: float = 0.1,
    betas=(0.9, 0.99),
) -> Tensor:
    """Posterior samples (x0 estimates) for y = A(x0) + σ_y n by RED-diff; nonlinear A allowed.

    ``start`` is μ's start (:mod:`.warmstart`: "auto", an initializer name or a tensor); where
    "auto" gives a cold start, μ starts at "tikhonov" for linear operators (full grid) and at a
    per-sample N(0, I) draw otherwise.
    ``sigma_start`` truncates the σ grid.  ``callback(i, sigma, x, x0_hat)`` is called at every
    step with x = μ + σε (the network's input) and μ before the step's update.
    """
    for name, v in (("lambda_", lambda_), ("lr", lr)):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"reddiff: {name} must be a finite number >= 0, got {v!r}")
    if start == "auto" and auto_initializer(prior, op) == "noise" and linalg.is_linear(op):
        start = "tikhonov"
        sigma_start = math.inf if sigma_start is None else sigma_start  # the full grid, as the reference
    h = posterior_head("reddiff", prior, op, y, needs=reddiff.needs, sigma_y=sigma_y, steps=steps, seed=seed,
                       sigmas=sigmas, x_shape=x_shape, offset=offset, start=start, sigma_start=sigma_start,
        sigma_end=sigma_end,
                       draw_start=False)  # fmt: skip
    sig, rng, shape = h.sigmas, h.rng, h.shape
    like = torch.empty(0, device=y.device, dtype=state_dtype(y))
    mu = h.x if h.x is not None else rng.randn(shape[1:], like)
    mu = mu.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([mu], lr=lr, betas=tuple(betas))
    d, m = math.prod(shape[1:]), y[0].numel()
    for i, (s, _) in enumerate(pairwise(sig)):
        eps = rng.randn_like(mu)
        with torch.no_grad():
            x = mu + s * eps
            eps_hat = prior.eps(x, s)
            if callback is not None:
                callback(i, s, x, mu.detach().clone())
        with torch.enable_grad():
            resid = (y - linalg.forward(op, mu)).flatten(1)
            fit = 0.5 * (resid.abs() ** 2).sum(1) / m
            reg = lambda_ * s * ((eps_hat - eps) * mu).flatten(1).sum(1) / d
            opt.zero_grad(set_to_none=True)
            (fit + reg).sum().backward()
        opt.step()
        h.guard(i, s, mu.detach())
    return h.finish(op, y, mu.detach())


reddiff.needs = "any"
reddiff.default_steps = 1000
# hyperparameters worth searching (invdiff tune; Param/Choice: invdiff/samplers/space.py)
reddiff.search_space = with_grid_settings(lambda_=Param(0.01, 10.0, log=True), lr=Param(0.01, 1.0, log=True))
