"""Figures: image grids and comparison panels (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor


def to_display(x: Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] → (H, W) or (H, W, 3) in [0, 1] for display (clipped for display only)."""
    a = ((x.detach().cpu().float().clamp(-1, 1) + 1) / 2).numpy()
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)


def save_grid(x: Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """Save a batch (B, C, H, W) in [-1, 1] as one PNG grid."""
    from skimage.io import imsave

    b, c, h, w = x.shape
    nrow = nrow or int(np.ceil(np.sqrt(b)))
    rows = int(np.ceil(b / nrow))
    grid = np.ones((rows * (h + 2) + 2, nrow * (w + 2) + 2, c))
    for i in range(b):
        r, k = divmod(i, nrow)
        img = to_display(x[i])
        grid[2 + r * (h + 2) : 2 + r * (h + 2) + h, 2 + k * (w + 2) : 2 + k * (w + 2) + w] = (
            img[..., None] if img.ndim == 2 else img
        )
    out = (grid * 255).round().astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(str(path), out[..., 0] if c == 1 else out, check_contrast=False)
    return path


def comparison_figure(
    panels: list[tuple[str, list[tuple[str, Tensor]]]], path: str | Path, n_show: int = 4, captions: dict | None = None
) -> Path:
    """One block per task: rows = images, columns = (title, batch) pairs; captions[(task, title)] under column heads."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncol = max(len(cols) for _, cols in panels)
    nrow = sum(min(n_show, cols[0][1].shape[0]) for _, cols in panels)
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.5 * ncol, 1.5 * nrow + 0.6 * len(panels)), squeeze=False)
    r = 0
    for task, cols in panels:
        k = min(n_show, cols[0][1].shape[0])
        for i in range(k):
            for j in range(ncol):
                ax = axes[r + i, j]
                ax.axis("off")
                if j >= len(cols):
                    continue
                title, batch = cols[j]
                img = to_display(batch[i])
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
                if i == 0:
                    cap = (captions or {}).get((task, title), "")
                    ax.set_title(f"{task}\n{title}{cap}" if j == 0 else f"{title}{cap}", fontsize=7)
        r += k
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def loss_curve(log: Tensor, path: str | Path) -> Path:
    """Plot a training log, (N, 2) rows of (step, mean loss over the last 50 steps), on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(log[:, 0].numpy(), log[:, 1].numpy(), lw=0.8)
    ax.set_xlabel("step (batch 64)")
    ax.set_ylabel("ε-MSE (mean of 50 steps)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
