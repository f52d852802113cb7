"""Classical (non-learned) reconstructions, scored by the benchmark next to the samplers.

Every baseline is ``f(op, y, sigma_y, task_info) -> x`` with ``x`` shaped like the
image (``task_info["x_shape"]`` = (C, H, W)) in [-1, 1] (not clipped; the harness
clamps every method alike before scoring).  Operators are duck-typed: the
baselines use only ``A``/``At`` (or the SVD methods, through
:mod:`operators.linalg`), never an operator's internals.

- ``pinv`` — the pseudo-inverse A⁺y (exact via SVD, else CG), for every linear task.
- ``wiener`` — Wiener deconvolution, ``skimage.restoration.wiener`` with the
  Laplacian regulariser; the PSF is read off the operator as the response to a
  centred impulse, A(δ), so any shift-invariant blur works.  Computed on [0, 1]
  images (the MNIST background is then 0).  ``balance`` is tuned.
- ``biharmonic`` — ``skimage.restoration.inpaint_biharmonic`` (Damelin & Hoang
  2018); the kept pixels are those with Aᵀ A 1 > ½, the image is Aᵀy there.
- ``bicubic`` — bicubic up-sampling of an image-shaped low-resolution y
  (``torch.nn.functional.interpolate``, ``align_corners=False``).
- ``tv_denoise`` — Chambolle's TV denoising (``skimage.restoration.denoise_tv_chambolle``)
  on [0, 1]; ``weight`` is tuned.

Tuned weights: :func:`tune` picks the value of a baseline's ``param`` that gives the
best mean PSNR on a few *training* images (the harness does this per task, when a
suite provides training images, and records the value).  Without tuning the
``default`` below is used; the defaults are the values :func:`tune` picked on 16
MNIST training digits at σ_y = 0.05 on [-1, 1] (Wiener ``balance`` = 0.002 for both the
9×9 std-1 Gaussian and the 7×7 motion blur; TV ``weight`` = 0.015 for denoising).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from operators import linalg


@dataclass(frozen=True)
class Param:
    """A tunable weight: its name in ``task_info``, documented default and search grid."""

    name: str
    default: float
    grid: tuple[float, ...]


def _np(x: Tensor) -> np.ndarray:
    return x.detach().cpu().double().numpy()


def _back(a: np.ndarray, like: Tensor) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(device=like.device, dtype=torch.float32)


def _x_like(y: Tensor, info: dict) -> Tensor:
    return torch.zeros((y.shape[0], *info["x_shape"]), device=y.device, dtype=y.dtype)


# --------------------------------------------------------------------------- baselines
def pinv(op, y: Tensor, sigma_y: float, info: dict) -> Tensor:
    """A⁺y."""
    return linalg.pinv(op, y)


def psf(op, x_like: Tensor) -> Tensor:
    """The point-spread function of a shift-invariant blur: A(δ) with δ at pixel (H//2, W//2)."""
    d = torch.zeros_like(x_like)
    d[..., d.shape[-2] // 2, d.shape[-1] // 2] = 1
    k = linalg.forward(op, d)
    if k.shape != d.shape:
        raise ValueError(
            f"wiener needs an image-shaped blur (y shape {tuple(k.shape[1:])} != x shape {tuple(d.shape[1:])})"
        )
    return k


def wiener(op, y: Tensor, sigma_y: float, info: dict) -> Tensor:
    """Wiener–Hunt deconvolution with a Laplacian regulariser, per image and channel."""
    from skimage.restoration import wiener as sk_wiener

    balance = float(info.get("balance", wiener.param.default))
    k, y01 = _np(psf(op, _x_like(y, info))), (_np(y) + 1) / 2
    out = np.empty_like(y01)
    for b in range(y01.shape[0]):
        for c in range(y01.shape[1]):
            out[b, c] = sk_wiener(y01[b, c], k[b, c], balance, clip=False)
    return _back(out * 2 - 1, y)


wiener.param = Param("balance", 0.002, (3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 0.01, 0.03, 0.1, 0.3))


def kept_mask(op, x_like: Tensor) -> Tensor:
    """Boolean (B, C, H, W): pixels that the inpainting operator observes (Aᵀ A 1 > ½)."""
    ones = torch.ones_like(x_like)
    return linalg.adjoint(op, linalg.forward(op, ones), ones) > 0.5


def biharmonic(op, y: Tensor, sigma_y: float, info: dict) -> Tensor:
    """Biharmonic inpainting of the unobserved pixels, per image and channel."""
    from skimage.restoration import inpaint_biharmonic

    xl = _x_like(y, info)
    known = _np(kept_mask(op, xl)) > 0.5
    img = _np(linalg.adjoint(op, y, xl))
    out = img.copy()
    for b in range(img.shape[0]):
        for c in range(img.shape[1]):
            hole = ~known[b, c]
            if hole.any() and (~hole).any():
                out[b, c] = inpaint_biharmonic(img[b, c], hole)
    return _back(out, y)


def bicubic(op, y: Tensor, sigma_y: float, info: dict) -> Tensor:
    """Bicubic up-sampling of a low-resolution image y to the image size."""
    C, H, W = info["x_shape"]
    if y.ndim != 4 or y.shape[1] != C:
        raise ValueError(f"bicubic needs an image-shaped low-resolution y (B, {C}, h, w), got {tuple(y.shape)}")
    return F.interpolate(y.float(), size=(H, W), mode="bicubic", align_corners=False).to(y)


def tv_denoise(op, y: Tensor, sigma_y: float, info: dict) -> Tensor:
    """Chambolle TV denoising of an image-shaped y (on [0, 1])."""
    from skimage.restoration import denoise_tv_chambolle

    w = float(info.get("weight", tv_denoise.param.default))
    y01 = (_np(y) + 1) / 2
    out = np.stack([denoise_tv_chambolle(im, weight=w, channel_axis=0) for im in y01])
    return _back(out * 2 - 1, y)


tv_denoise.param = Param("weight", 0.015, (0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.08, 0.12))

BASELINES = {"pinv": pinv, "wiener": wiener, "biharmonic": biharmonic, "bicubic": bicubic, "tv_denoise": tv_denoise}
# which baselines make sense for which kind of task (pinv for every linear task)
FOR_KIND = {
    "blur": ("wiener", "pinv"),
    "inpaint": ("biharmonic", "pinv"),
    "sr": ("bicubic", "pinv"),
    "denoise": ("tv_denoise", "pinv"),
}


def tune(fn, op, x: Tensor, y: Tensor, sigma_y: float, info: dict) -> float | None:
    """The value of ``fn.param`` (from its grid) with the best mean PSNR against ``x``; None if untunable."""
    from .metrics import psnr

    p = getattr(fn, "param", None)
    if p is None:
        return None
    scores = [float(psnr(fn(op, y, sigma_y, {**info, p.name: v}).clamp(-1, 1), x).mean()) for v in p.grid]
    return p.grid[int(np.argmax(scores))]
