"""Cost estimates for large images and a progress bar for long restorations (command line only).

Above ``LARGE_PIXELS`` (256×256, the DPS protocol size; the environment variable
``INVDIFF_LARGE_PIXELS`` changes it) ``restore`` times one network evaluation, sums the sizes of
its activations, and warns with the time and memory the run will take (measured, not guessed: the
time scales that of one evaluation by the number of steps).  A fully convolutional network is timed
on a 256² crop and scaled by the pixel count, so the warning comes in a second, before the work.
The bar (tqdm) counts sampler steps and appears only when a run lasts over 2 s on a
terminal.
"""

from __future__ import annotations

import os
import sys
import time

LARGE_PIXELS = 256 * 256
CROP = 256  # side of the crop a fully convolutional network is timed on
# samplers that back-propagate through the network (activations kept for the backward pass)
NETWORK_GRAD = {"dps", "pigdm"}


def large_pixels() -> int:
    try:
        return int(os.environ.get("INVDIFF_LARGE_PIXELS", LARGE_PIXELS))
    except ValueError:
        return LARGE_PIXELS


def _fmt_time(s: float) -> str:
    return (
        f"{s:.1f} s"
        if s < 10
        else f"{s:.0f} s"
        if s < 120
        else f"{s / 60:.0f} min"
        if s < 7200
        else f"{s / 3600:.1f} h"
    )


def _fmt_bytes(b: float) -> str:
    return f"{b / 2**20:.0f} MB" if b < 2**30 else f"{b / 2**30:.1f} GB"


def measure_eval(prior, x) -> tuple[float, float, float]:
    """(seconds, activation bytes, parameter bytes) of one network evaluation of ``prior`` at ``x``."""
    import torch

    net = getattr(prior, "net", None)
    acts = [0]
    hooks = []
    if isinstance(net, torch.nn.Module):

        def hook(_m, _i, out):
            if torch.is_tensor(out):
                acts[0] += out.numel() * out.element_size()

        hooks = [m.register_forward_hook(hook) for m in net.modules() if not list(m.children())]
    params = sum(p.numel() * p.element_size() for p in net.parameters()) if hooks else 0.0
    try:
        with torch.no_grad():
            t0 = time.perf_counter()
            prior.eps(x, 1.0)
            if x.device.type == "cuda":
                torch.cuda.synchronize(x.device)
            dt = time.perf_counter() - t0
    finally:
        for h in hooks:
            h.remove()
        if hasattr(prior, "nfe"):
            prior.nfe = max(0, prior.nfe - 1)
    return dt, float(acts[0]), float(params)


def _probe_crop(prior, x):
    """``(crop, pixels of x / pixels of crop)``: a fully convolutional network is timed on a crop of at most
    ``CROP``² pixels (its cost grows with the pixel count), so the estimate itself stays cheap."""
    if getattr(prior, "image_shape", None):  # a fixed-size network runs at its own size only
        return x, 1.0
    factor = getattr(getattr(prior, "net", None), "factor", 1)
    factor = factor if isinstance(factor, int) and factor > 0 else 1
    h, w = (min(s, max(factor, CROP // factor * factor)) for s in x.shape[-2:])
    crop = x[..., :h, :w]
    return crop, x.shape[-2] * x.shape[-1] / (h * w)


def warn_if_large(prior, x, method: str, steps: int, samples: int = 1, stream=None) -> str | None:
    """Print (and return) a warning with a time/memory estimate when ``x`` is above the size threshold."""
    h, w = x.shape[-2:]
    limit = large_pixels()
    if h * w <= limit:
        return None
    crop, scale = _probe_crop(prior, x)
    dt, acts, params = measure_eval(prior, crop)
    dt, acts = dt * scale, acts * scale
    grad = method in NETWORK_GRAD
    seconds = dt * steps * samples * (3.0 if grad else 1.0)
    # back-propagating samplers keep every activation of an evaluation; the others free them as they go,
    # so the sum of activations bounds their peak from above
    memory = f"about {_fmt_bytes(params + acts)}" if grad else f"at most {_fmt_bytes(params + acts)}"
    side = int(limit**0.5)
    msg = (
        f"warning: {h}×{w} image (above {side}×{side}): {method} with {steps} steps"
        f"{f' × {samples} samples' if samples > 1 else ''} needs about {_fmt_time(seconds)} and {memory} "
        f"of memory on {x.device.type} (one network evaluation: {dt:.2f} s"
        f"{f', scaled from a {crop.shape[-2]}×{crop.shape[-1]} crop' if scale > 1 else ''})"
    )
    if x.device.type == "cpu":
        msg += "; a smaller image or --device cuda is faster"
    print(msg, file=stream or sys.stderr)
    return msg


class Progress:
    """A sampler ``callback`` that advances a tqdm bar (shown after 2 s, on a terminal only)."""

    def __init__(self, total: int, desc: str):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="step", delay=2.0, leave=False, disable=None, dynamic_ncols=True)

    def __call__(self, *args):
        self.bar.update(1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()
