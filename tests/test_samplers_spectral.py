"""DDRM on small images (blur, inpainting): it beats the pseudo-inverse.

The exactness tests of DDRM, DDNM+ and DiffPIR (Gaussian and Gaussian-mixture posteriors) are
registry-driven, with every other posterior sampler: tests/test_samplers_exactness.py.
"""

from __future__ import annotations

import pytest
import torch

from invdiff.prior import GaussianMixturePrior
from invdiff.samplers import ddrm
from operators.blur import GaussianBlur
from operators.inpaint import RandomInpainting
from operators.linalg import pinv
from operators.noise import measure


def image_gmm(seed=0, K=4):
    g = torch.Generator().manual_seed(seed)
    return GaussianMixturePrior(0.5 * torch.randn(K, 1, 8, 8, generator=g, dtype=torch.float64), std=0.2)


@pytest.mark.parametrize("kind", ["blur", "inpaint"])
def test_ddrm_images_beat_pinv(kind):
    prior = image_gmm()
    op = GaussianBlur((1, 8, 8), size=5, std=1.0) if kind == "blur" else RandomInpainting((1, 8, 8), fraction=0.5)
    x = prior.sample(8, seed=1)
    sy = 0.05
    y = measure(op, x, sy, seed=2).float()
    out = ddrm(prior, op, y, sigma_y=sy, seed=0)
    assert out.shape == x.shape and not out.is_complex() and torch.isfinite(out).all()
    err, err_pinv = float((out - x).norm()), float((pinv(op, y) - x).norm())
    print(f"ddrm {kind}: error {err:.3f}, pinv error {err_pinv:.3f}")
    assert err < err_pinv
