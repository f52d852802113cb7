"""Denoisers across the deepinv boundary: our Prior as a deepinv ``Denoiser`` and back.

A deepinv ``Denoiser`` is ``forward(x, sigma)`` with ``x`` in **[0, 1]** (up to the noise)
and ``sigma`` the noise std **on the [0, 1] scale**; it returns the denoised image in
[0, 1] (deepinv 0.5).  Our priors work on [-1, 1] with VE σ, so ``x = 2·x01 − 1`` and
**σ = 2·σ01** at the boundary.  deepinv's samplers call their denoiser so:

- ``DDRM`` calls ``denoiser(V(x̄), sigmas[t])`` for every entry of its ``sigmas`` list
  (σ on [0, 1]; the last entry is usually 0);
- ``DiffPIR`` calls ``model(x01, σ̄_t / 2)`` with x01 = x_t/(2√ᾱ_t) + 1/2 once per iteration;
- ``DPS`` runs a VP SDE on [-1, 1] whose denoiser is wrapped by ``MinusOneOneDenoiserWrapper``
  (so it too calls ``denoiser(x01, σ/2)``) and differentiates through it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..prior import PriorBase, sigma_like

try:
    from deepinv.models import Denoiser as _DeepinvDenoiser
except ImportError as e:  # pragma: no cover - deepinv is an optional dependency
    raise ImportError("invdiff.interop.denoiser needs deepinv (pip install deepinv)") from e

__all__ = ["DeepinvDenoiserPrior", "PriorDenoiser"]

_RANGES = ("[0,1]", "[-1,1]")


class PriorDenoiser(_DeepinvDenoiser):
    """Our :class:`~invdiff.prior.Prior` as a deepinv ``Denoiser`` on [0, 1] images.

    ``forward(x01, sigma01) = (prior.x0(2·x01 − 1, 2·sigma01) + 1) / 2``; where σ = 0 the
    input is returned unchanged (x0 at σ = 0 is x itself; deepinv's DDRM asks for it on
    its last step).  Gradients flow through (deepinv's DPS differentiates the denoiser).
    No clipping is applied.
    """

    def __init__(self, prior):
        super().__init__()
        self.prior = prior

    def forward(self, x: Tensor, sigma, *args, **kwargs) -> Tensor:
        s01 = self._handle_sigma(sigma, batch_size=x.shape[0], device=x.device, dtype=x.real.dtype)
        s = 2 * torch.as_tensor(s01, device=x.device, dtype=x.dtype).reshape(x.shape[0])
        xm = 2 * x - 1
        pos = s > 0
        if bool(pos.all()):
            x0 = self.prior.x0(xm, s)
        elif not bool(pos.any()):
            x0 = xm
        else:
            x0 = xm.clone()
            x0[pos] = self.prior.x0(xm[pos], s[pos]).to(x0)
        return (x0 + 1) / 2


class DeepinvDenoiserPrior(PriorBase):
    """A deepinv ``Denoiser`` (any callable ``(x, sigma) -> denoised``) used as our Prior.

    ``data_range`` says what the denoiser expects: ``"[0,1]"`` (all of deepinv's
    denoisers) or ``"[-1,1]"``.  On [0, 1] the conversion is x01 = (x + 1)/2 and
    σ01 = σ/2 (σ on [-1, 1] is twice σ on [0, 1]); the output is mapped back.
    ``eps``/``score`` follow from Tweedie's formula.
    """

    def __init__(self, denoiser, data_range: str = "[0,1]", image_shape=None, name: str = "deepinv-denoiser"):
        rng = data_range.replace(" ", "")
        if rng not in _RANGES:
            raise ValueError(f"data_range must be '[0,1]' or '[-1,1]', got {data_range!r}")
        self.denoiser, self.data_range, self.name = denoiser, rng, name
        self.image_shape = tuple(image_shape) if image_shape is not None else None
        self.nfe = 0

    def x0(self, x: Tensor, sigma) -> Tensor:
        s = sigma_like(sigma, x).reshape(-1)
        if torch.any(s <= 0):
            raise ValueError("DeepinvDenoiserPrior needs sigma > 0")
        xin = (x + 1) / 2 if self.data_range == "[0,1]" else x
        sin = s / 2 if self.data_range == "[0,1]" else s
        p = next(iter(self.denoiser.parameters()), None) if hasattr(self.denoiser, "parameters") else None
        if p is not None and p.is_floating_point():  # run a network in its own dtype and device
            xin, sin = xin.to(device=p.device, dtype=p.dtype), sin.to(device=p.device, dtype=p.dtype)
        out = self.denoiser(xin, sin).to(x)
        self.nfe += 1
        return 2 * out - 1 if self.data_range == "[0,1]" else out

    def eps(self, x: Tensor, sigma) -> Tensor:
        return (x - self.x0(x, sigma)) / sigma_like(sigma, x)

    def score(self, x: Tensor, sigma) -> Tensor:
        s = sigma_like(sigma, x)
        return (self.x0(x, sigma) - x) / s**2
