"""``invdiff demo``: the main job on the shipped MNIST prior.

Takes held-out digits (the 500-digit test split), measures them with two tasks
of the mnist benchmark suite (70 % random inpainting; 9×9 Gaussian blur, std 1.0),
σ_y = 0.05 on [-1, 1], with the suite's per-task hyperparameters (DPS ζ, DiffPIR ζ),
restores them with several posterior samplers (at their default start: a warm start from
the classical estimate), prints a PSNR/SSIM table and writes one figure (ground truth, the
measurement y as measured, the classical answer, each sampler).  Missing pixels of an
inpainting measurement are shown in neutral gray.

With the shipped photo prior it also restores one held-out photo (``camera``,
PHOTO_SIZE², gray) from a Gaussian blur (the photo suite's kernel) and from 70 %
random inpainting with PHOTO_METHOD: the posterior mean and per-pixel std of
PHOTO_SAMPLES draws (``invdiff.posterior_stats``), shown as ground truth /
measurement / mean / std rows of the same figure.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

DEMO_TASKS = ("inpaint_random", "gaussian_blur")
DEMO_METHODS = {"ddrm": 20, "ddnm": 100, "diffpir": 100, "pigdm": 100, "dps": 100}
SIGMA_Y = 0.05
PHOTO = "skimage:camera"
PHOTO_SIZE = 128
PHOTO_TASKS = ("gaussian_blur", "inpaint_random")
PHOTO_METHOD, PHOTO_STEPS, PHOTO_SAMPLES = "ddrm", 20, 4
CLASSICAL = {"inpaint": "biharmonic", "blur": "wiener"}  # the classical answer shown per task kind


def shown_measurement(op, y):
    """y as an image: itself when image-shaped, with an inpainting mask's missing pixels in neutral gray (0)."""
    from .samplers.common import inpainting_mask

    mask = inpainting_mask(op, y)
    return y if mask is None else torch.where(mask > 0, y, torch.zeros_like(y))


def run_demo(
    out: Path, n: int = 8, seed: int = 0, device=None, fast: bool = False, prior="mnist", photo: bool = True
) -> dict:
    import operators

    from .api import solve
    from .baselines import BASELINES
    from .bench.suites import mnist_tasks
    from .data import mnist
    from .load import load_prior
    from .metrics import psnr, ssim
    from .viz import comparison_figure

    torch.set_grad_enabled(True)
    device = device or torch.device("cpu")
    prior = load_prior(prior, device=device)
    x = mnist("test")[:n].to(device)
    shape = tuple(x.shape[1:])
    methods = {m: max(5, s // 10) for m, s in DEMO_METHODS.items()} if fast else DEMO_METHODS
    print(f"invdiff demo: {n} held-out MNIST digits, sigma_y = {SIGMA_Y} on [-1, 1], device {device}")
    table, panels, captions = [], [], {}
    tasks = {t.name: t for t in mnist_tasks(SIGMA_Y)}
    for task in DEMO_TASKS:
        spec = tasks[task]
        op = operators.build(spec.operator, shape=shape, batch=n, seed=seed, device=device, **spec.params)
        y = operators.measure(op, x, SIGMA_Y, seed=seed)
        base = CLASSICAL[spec.kind]
        t0 = time.perf_counter()
        xb = BASELINES[base](op, y, SIGMA_Y, {"x_shape": shape}).clamp(-1, 1)
        cols = [("truth", x), ("measurement y", shown_measurement(op, y)), (base, xb)]
        results = {base: (xb, time.perf_counter() - t0, 0)}
        for m, steps in methods.items():
            prior.nfe = 0
            t0 = time.perf_counter()
            kw = spec.method_kw.get(m, {})
            xh = solve(y, op, prior, method=m, sigma_y=SIGMA_Y, steps=steps, seed=seed, **kw)
            results[m] = (xh.detach(), time.perf_counter() - t0, prior.nfe)
            cols.append((m, xh.detach()))
        for name, (xh, sec, nfe) in results.items():
            p, s = float(psnr(xh, x).mean()), float(ssim(xh, x).mean())
            table.append((task, name, p, s, nfe, sec / n))
            if name in methods or name == base:
                captions[(task, name)] = f"\n{p:.1f} dB"
        panels.append((task, cols))
    if photo:
        photo_rows, photo_panels, photo_caps = _photo_part(device, seed, fast)
        table += photo_rows
        panels += photo_panels
        captions.update(photo_caps)
    print(f"\n{'task':<22}{'method':<14}{'PSNR':>7}{'SSIM':>7}{'NFE':>6}{'s/img':>8}")
    for task, name, p, s, nfe, sec in table:
        print(f"{task:<22}{name:<14}{p:>7.2f}{s:>7.3f}{nfe:>6d}{sec:>8.3f}")
    path = comparison_figure(panels, out, n_show=min(4, n), captions=captions)
    print(f"\nfigure: {path}")
    return {"table": table, "figure": path}


def _photo_part(device, seed: int, fast: bool):
    """Restore one held-out photo with the photo prior: mean and std of PHOTO_SAMPLES draws per task."""
    import operators

    from .api import posterior_stats
    from .bench.suites import photo_tasks
    from .data import photo
    from .load import load_prior
    from .metrics import psnr, ssim

    prior = load_prior("photo", device=device)
    size = PHOTO_SIZE // 2 if fast else PHOTO_SIZE
    steps = max(4, PHOTO_STEPS // 4) if fast else PHOTO_STEPS
    x = photo(PHOTO, size).to(device)
    tasks = {t.name: t for t in photo_tasks(size, SIGMA_Y)}
    print(f"photo: {PHOTO} at {size}² gray, {PHOTO_METHOD} {steps} steps, mean/std of {PHOTO_SAMPLES} posterior draws")
    rows, panels, caps = [], [], {}
    for name in PHOTO_TASKS:
        spec = tasks[name]
        op = operators.build(spec.operator, shape=tuple(x.shape[1:]), batch=1, seed=seed, device=device, **spec.params)
        y = operators.measure(op, x, SIGMA_Y, seed=seed)
        prior.nfe = 0
        t0 = time.perf_counter()
        mean, std = posterior_stats(
            y,
            op,
            prior,
            method=PHOTO_METHOD,
            samples=PHOTO_SAMPLES,
            seed=seed,
            sigma_y=SIGMA_Y,
            steps=steps,
            **spec.method_kw.get(PHOTO_METHOD, {}),
        )
        sec = time.perf_counter() - t0
        task = f"photo {name}"
        p, s = float(psnr(mean, x).mean()), float(ssim(mean, x).mean())
        rows.append((task, f"{PHOTO_METHOD} mean", p, s, prior.nfe, sec))
        smax = float(std.max())
        caps[(task, "posterior mean")] = f"\n{p:.1f} dB"
        caps[(task, "posterior std")] = f"\n(white = {smax:.2f})"
        panels.append(
            (
                task,
                [
                    ("truth", x),
                    ("measurement y", shown_measurement(op, y)),
                    ("posterior mean", mean),
                    ("posterior std", std / max(smax, 1e-8) * 2 - 1),
                ],
            )
        )
    return rows, panels, caps
