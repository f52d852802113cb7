"""Measuring one method's run on an image batch: time, peak memory, PSNR/SSIM (LPIPS when local).

Seconds per image = wall time of the batch / batch size; peak memory is CUDA
``max_memory_allocated`` of the batch, or on CPU the process's peak RSS so far from
``getrusage`` (which only grows).  Reconstructions are clamped to [-1, 1] before scoring.
"""

from __future__ import annotations

import math
import resource
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["display", "jsonable", "lpips_metric", "num", "peak_memory", "reset_peak", "score", "sync"]


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory(device: torch.device) -> tuple[float, str]:
    """(MiB, what was measured)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process_peak_rss"


def lpips_metric(device=None):
    """``(fn, None)`` with fn(x, y) -> (B,) LPIPS when the ``lpips`` package and its weights are on disk,
    else ``(None, reason)``.  Nothing is downloaded."""
    try:
        import lpips
    except ImportError:
        return None, (
            "LPIPS is not reported: the `lpips` package is not installed, and torchmetrics' LPIPS "
            "downloads its weights at run time (nothing is downloaded here)."
        )
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    lin = Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth"
    if not lin.is_file() or not list(hub.glob("alexnet-*.pth")):
        return None, f"LPIPS is not reported: AlexNet weights are not in {hub} (nothing is downloaded here)."
    net = lpips.LPIPS(net="alex", verbose=False).to(device).eval()
    return (lambda x, y: net(x.float(), y.float()).flatten().detach().cpu()), None


def display(op, y: Tensor, shape) -> Tensor:
    """The measurement as an image: y itself, y upsampled (nearest), A⁺y for a linear operator whose y
    is not image-shaped, else zeros (a nonlinear measurement has no image to show)."""
    import torch.nn.functional as F

    from operators import linalg

    C, H, W = shape
    if tuple(y.shape[1:]) == (C, H, W):
        return y.real if y.is_complex() else y
    if y.ndim == 4 and y.shape[1] == C and not y.is_complex():
        return F.interpolate(y, size=(H, W), mode="nearest")
    if "pinv" in linalg.capabilities(op) or callable(getattr(op, "pinv", None)):
        return linalg.pinv(op, y)
    return torch.zeros((y.shape[0], C, H, W), device=y.device)


def score(xh: Tensor, x: Tensor, lpips_fn=None) -> tuple[Tensor, list[dict]]:
    """The clamped reconstruction and per image ``{"status", "psnr", "ssim"[, "lpips"]}``;
    status "nan" (and no scores) for a reconstruction with non-finite values."""
    from ..metrics import psnr, ssim

    xh = xh.detach().to(x)
    ok = torch.isfinite(xh).flatten(1).all(1)
    xh = xh.clamp(-1, 1)
    p, q = psnr(xh, x).cpu(), ssim(xh, x).cpu()
    lv = lpips_fn(xh, x) if lpips_fn is not None else None
    out = []
    for j in range(len(x)):
        r = {
            "status": "ok" if ok[j] else "nan",
            "psnr": num(p[j]) if ok[j] else None,
            "ssim": num(q[j]) if ok[j] else None,
        }
        if lv is not None and ok[j]:
            r["lpips"] = num(lv[j])
        out.append(r)
    return xh, out


def num(v) -> float | None:
    """A finite value rounded to 5 decimals, else None."""
    v = float(v)
    return round(v, 5) if math.isfinite(v) else None


def jsonable(d: dict) -> dict:
    """``d`` with values JSON cannot hold replaced by their ``repr``."""
    return {k: (v if isinstance(v, (int, float, str, bool, type(None), list, dict)) else repr(v)) for k, v in d.items()}
