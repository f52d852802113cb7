"""Figures of a results file: PSNR vs NFE, PSNR vs seconds per image (the Pareto view), image grids.

Every method is a curve over its NFEs; a method spec (a warm start such as "ddrm:start=noise", or a
posterior mean "ddrm:mean8", drawn at its true cost: 8 × NFE and 8 draws' seconds) is one too.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .store import image_file

__all__ = ["CURVES", "curves", "grid"]

# marker and line style by the rows' "kind" (our samplers: the default)
STYLE = {"baseline": {"marker": "s", "ls": "-"}, "deepinv": {"marker": "^", "ls": "--"}}
_DEFAULT_STYLE = {"marker": "o", "ls": "-"}


def _style(method: str, kind) -> dict:
    """Marker and line style: by kind; a spec ("ddrm:mean8", "ddrm:start=noise") gets its own marker
    (diamond for a posterior mean, down-triangle for other keywords) and a dash-dot line."""
    if ":" in method and kind in (None, "sampler", "custom"):
        items = method.split(":", 1)[1].split(",")
        mean = any(i.strip().startswith("mean") and "=" not in i for i in items)
        return {"marker": "D" if mean else "v", "ls": "-."}
    return STYLE.get(kind, _DEFAULT_STYLE)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


CURVES = {"psnr_vs_nfe": ("nfe", "NFE (measured)"), "pareto": ("time_s", "seconds per image")}


def curves(agg: dict, tasks: list[str], out_dir: Path, names=tuple(CURVES)) -> dict[str, list[str]]:
    """``psnr_vs_nfe.png`` (PSNR vs measured NFE) and ``pareto.png`` (PSNR vs seconds per image), one panel
    per task; methods without a network (measured NFE 0) are a horizontal line in the first.  ``names``:
    which of the two to draw.  Returns the methods drawn in each figure ({"psnr_vs_nfe": [...], ...})."""
    drawn: dict[str, list[str]] = {}
    if not names:
        return drawn
    plt = _pyplot()
    methods = list(dict.fromkeys(m for (_, m, _) in agg))
    kinds = {m: s["kind"] for (_, m, _), s in agg.items()}
    cmap = plt.get_cmap("tab20")
    style = {m: dict(color=cmap(i % 20), **_style(m, kinds[m])) for i, m in enumerate(methods)}
    for name in names:
        xkey, xlabel = CURVES[name]
        seen: dict[str, None] = {}
        cols = min(len(tasks), 4) or 1
        rws = max(1, math.ceil(len(tasks) / cols))
        fig, axes = plt.subplots(rws, cols, figsize=(4.2 * cols, 3.4 * rws), squeeze=False)
        for ax, t in zip(axes.flat, tasks):
            for m in methods:
                pts = sorted(
                    (s[xkey][0], s["psnr"][0], s["psnr"][1])
                    for (tt, mm, _), s in agg.items()
                    if tt == t and mm == m and "psnr" in s and xkey in s
                )
                if not pts:
                    continue
                xs, ys, es = zip(*pts)
                st = style[m]
                seen[m] = None
                if xkey == "nfe" and max(xs) == 0:  # no network: a horizontal reference line
                    ax.axhline(ys[0], ls=":", lw=1, color=st["color"])
                    continue
                ax.errorbar(
                    [max(v, 1e-5) for v in xs],
                    ys,
                    yerr=[e if math.isfinite(e) else 0 for e in es],
                    ms=4,
                    capsize=2,
                    lw=1,
                    **st,
                )
            ax.set_xscale("log")
            ax.set_title(t, fontsize=9)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel("PSNR (dB)", fontsize=8)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(tasks) :]:
            ax.axis("off")
        handles = [plt.Line2D([], [], **style[m]) for m in methods]
        fig.legend(handles, methods, loc="lower center", ncol=min(len(methods), 8), fontsize=7)
        fig.tight_layout(rect=(0, 0.06 + 0.03 * math.ceil(len(methods) / 8), 1, 1))
        fig.savefig(out_dir / f"{name}.png", dpi=110)
        plt.close(fig)
        drawn[name] = list(seen)
    return drawn


def grid(d: Path, task: str, agg: dict, path: Path) -> None:
    """Rows = shown images; columns = ground truth, measurement, each method (its default NFE, else the
    largest), from the tensors :func:`invdiff.bench.run.run_suite` saved in ``d``."""
    if not (d / "_gt.pt").is_file():
        return
    plt = _pyplot()
    cols = [("ground truth", d / "_gt.pt"), ("measurement", d / "_measurement.pt")]
    chosen: dict = {}
    for (t, m, g), s in agg.items():
        if t != task or not (d / image_file(m, g)).is_file():
            continue
        if m not in chosen or s["default"] or (not agg[(t, m, chosen[m])]["default"] and g > chosen[m]):
            chosen[m] = g
    cols += [(f"{m}@{g}\n{agg[(task, m, g)]['psnr'][0]:.1f} dB", d / image_file(m, g)) for m, g in chosen.items()]
    ims = [torch.load(p, weights_only=True) for _, p in cols]
    k = min(len(i) for i in ims)
    fig, axes = plt.subplots(k, len(cols), figsize=(1.3 * len(cols), 1.3 * k + 0.4), squeeze=False)
    for c, ((title, _), im) in enumerate(zip(cols, ims)):
        for r in range(k):
            a = ((im[r].clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()
            ax = axes[r, c]
            ax.imshow(a[..., 0] if a.shape[-1] == 1 else a, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=6)
    fig.suptitle(task, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
