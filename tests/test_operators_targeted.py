"""Targeted operator tests: user-written classes through linalg, kernels, bicubic, conventions."""

import pytest
import torch
import torch.nn.functional as F

import operators as O
from operators import linalg

F64 = torch.float64
G = torch.Generator().manual_seed(0)


def _M(B=2, m=5, d=12):
    return torch.randn(B, m, d, generator=G, dtype=F64)


class OnlyAAt:
    """A user's operator with only A and At (per-sample matrices)."""

    def __init__(self, M):
        self.M = M

    def A(self, x):
        return torch.einsum("bmd,bd->bm", self.M, x)

    def At(self, y):
        return torch.einsum("bmd,bm->bd", self.M, y)


class OnlySVD:
    """A user's operator with only the SVD methods (m < d: Ut pads, U truncates)."""

    def __init__(self, M):
        self.Uf, S, self.Vh = torch.linalg.svd(M, full_matrices=True)
        self.m, self.d = M.shape[1:]
        self.s = torch.cat([S, S.new_zeros(M.shape[0], self.d - self.m)], 1)

    def singulars(self):
        return self.s

    def Vt(self, x):
        return torch.einsum("bij,bj->bi", self.Vh, x)

    def V(self, z):
        return torch.einsum("bji,bj->bi", self.Vh, z)

    def Ut(self, y):
        return F.pad(torch.einsum("bji,bj->bi", self.Uf, y), (0, self.d - self.m))

    def U(self, z):
        return torch.einsum("bij,bj->bi", self.Uf, z[:, : self.m])


@pytest.mark.parametrize("cls", [OnlyAAt, OnlySVD])
def test_user_classes_get_solves(cls):
    M = _M()
    op = cls(M)
    x, y = torch.randn(2, 12, generator=G, dtype=F64), torch.randn(2, 5, generator=G, dtype=F64)
    rho = torch.tensor([0.1, 3.0], dtype=F64)
    assert O.is_linear(op) and O.has_svd(op) == (cls is OnlySVD)
    assert torch.allclose(O.pinv(op, y), torch.einsum("bdm,bm->bd", torch.linalg.pinv(M), y), atol=1e-9)
    ref = torch.linalg.solve(
        M.mT @ M + rho[:, None, None] * torch.eye(12, dtype=F64), torch.einsum("bmd,bm->bd", M, y) + rho[:, None] * x
    )
    assert torch.allclose(O.prox(op, x, y, rho), ref, atol=1e-9)
    ref = torch.linalg.solve(M @ M.mT + rho[:, None, None] * torch.eye(5, dtype=F64), y)
    assert torch.allclose(O.solve_AAt(op, y, rho), ref, atol=1e-9)
    assert torch.allclose(linalg.forward(op, x), torch.einsum("bmd,bd->bm", M, x), atol=1e-12)
    assert torch.allclose(O.adjoint(op, y, x), torch.einsum("bmd,bm->bd", M, y), atol=1e-12)
    for cap in ("any", "linear", "pinv", "prox"):
        O.require(op, cap, "test")


def test_autograd_adjoint_and_from_callables():
    M = _M(1)[0]
    op = O.from_callables(lambda x: x @ M.T, input_shape=(12,))  # At by vjp
    x, y = torch.randn(3, 12, dtype=F64), torch.randn(3, 5, dtype=F64)
    assert torch.allclose(op.At(y), y @ M, atol=1e-12)
    assert torch.allclose(O.adjoint(op, y), y @ M)
    assert torch.allclose(O.pinv(op, y), y @ torch.linalg.pinv(M).T, atol=1e-8)
    nl = O.from_callables(lambda x: x.abs(), input_shape=(12,), linear=False)
    with pytest.raises(TypeError, match="At"):
        O.require(nl, "linear", "pigdm")

    class OnlyA:  # adjoint by vjp needs x_like
        def A(self, x):
            return x @ M.T

    assert torch.allclose(O.adjoint(OnlyA(), y, x), y @ M)
    with pytest.raises(ValueError, match=r"\(B, 12\)"):
        op.A(torch.zeros(3, 11))


def test_cg_is_per_sample():
    Q = torch.randn(3, 6, 6, generator=G, dtype=F64)
    P = Q @ Q.mT + torch.tensor([1e-3, 1.0, 100.0], dtype=F64)[:, None, None] * torch.eye(6, dtype=F64)
    b = torch.randn(3, 6, dtype=F64)
    x = linalg.cg(lambda v: torch.einsum("bij,bj->bi", P, v), b, maxiter=200)
    assert torch.allclose(x, torch.linalg.solve(P, b), atol=1e-7)


def test_matrix_operator():
    M = _M(1)[0]
    op = O.Matrix(M)
    assert torch.equal(op.matrix(), M) and op.input_shape == (12,)
    x = torch.randn(2, 12, dtype=F64)
    assert torch.allclose(op.A(x), x @ M.T)
    with pytest.raises(ValueError, match=r"\(B, 12\)"):
        op.A(torch.zeros(2, 3, 4))
    tall = O.Matrix(torch.randn(20, 6, dtype=F64))  # m > d: Ut drops directions outside the range
    r = torch.randn(2, 20, dtype=F64)
    Mt = tall.matrix()
    assert torch.allclose(
        O.solve_AAt(tall, r, 0.3), torch.linalg.solve(Mt @ Mt.T + 0.3 * torch.eye(20, dtype=F64), r.T).T
    )


def test_kernels():
    g = O.gaussian_kernel(61, 3.0)
    assert g.shape == (61, 61) and abs(g.sum() - 1) < 1e-12 and g[30, 30] == g.max()
    k1, k2, k3 = (O.motion_kernel(61, 0.5, s) for s in (0, 0, 1))
    assert torch.equal(k1, k2) and not torch.equal(k1, k3)
    assert abs(k1.sum() - 1) < 1e-12 and (k1 >= 0).all() and (k1 > 0).sum() > 30
    straight = O.motion_kernel(31, 0.0, 2)  # intensity 0: a straight segment, ≤ 2 pixels wide
    rows, cols = torch.nonzero(straight > 1e-9, as_tuple=True)
    assert min(rows.max() - rows.min(), cols.max() - cols.min()) <= 2 + 1
    assert O.scaled_size(61, 256) == 61 and O.scaled_size(61, 64) == 15 and O.scaled_size(61, 8) == 3


def test_bicubic_matches_matlab_weights():
    # MATLAB imresize(x, 0.5, 'bicubic'): interior taps s·cubic(s·d), d = ±0.5, ±1.5, ±2.5, ±3.5
    W = O.resample.bicubic_matrix(16, 2)
    assert torch.allclose(
        W[4, 5:13],
        torch.tensor(
            [-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875],
            dtype=F64,
        ),
    )
    assert torch.allclose(W[0, :3], torch.tensor([0.546875, 0.3984375, 0.1015625], dtype=F64))  # symmetric edge
    assert torch.allclose(W.sum(1), torch.ones(8, dtype=F64))
    op = O.SuperResolution((1, 16, 16), 4, "bicubic")
    assert op.A(torch.ones(1, 1, 16, 16)).allclose(torch.ones(1, 1, 4, 4))


def test_blur_convention_and_boundaries():
    x = torch.randn(2, 3, 10, 10, dtype=F64)
    k = O.motion_kernel(5, 0.5, 0)  # asymmetric kernel
    ref = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="circular"), k.expand(3, 1, 5, 5), groups=3)
    assert torch.allclose(O.Blur(k, (3, 10, 10)).A(x), ref)
    ref = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k.expand(3, 1, 5, 5), groups=3)
    assert torch.allclose(O.Blur(k, (3, 10, 10), boundary="reflect").A(x), ref)
    big = O.Blur(O.gaussian_kernel(15, 2.0), (1, 8, 8))  # kernel larger than the image wraps around
    assert torch.allclose(big.A(torch.ones(1, 1, 8, 8, dtype=F64)), torch.ones(1, 1, 8, 8, dtype=F64))
    with pytest.raises(ValueError, match="boundary"):
        O.Blur(k, (3, 10, 10), boundary="zero")


def test_masks():
    m = O.box_masks(256, 256, 128, 16, seed=0, batch=8)
    assert (m.sum((1, 2, 3)) == 256**2 - 128**2).all()
    assert (m[..., :16, :] == 1).all() and (m[..., -16:, :] == 1).all()
    r = O.random_masks(64, 64, 0.7, seed=0, batch=2)
    assert (r.sum((1, 2, 3)) == 64 * 64 - round(0.7 * 64 * 64)).all() and not torch.equal(r[0], r[1])
    c = O.cartesian_masks(32, 32, 4, 0.08, seed=0, batch=2)
    assert torch.equal(c, O.fourier.flip_freq(c)) and 8 <= c[0, 0, 0].sum() <= 9
    with pytest.raises(ValueError, match="symmetric"):
        O.FourierSubsampling(torch.eye(8)[1:2].expand(8, 8), (1, 8, 8))


def test_build_rejects_unknown():
    with pytest.raises(KeyError, match="gaussian_blur"):
        O.build("gausian_blur", shape=(3, 8, 8))
    with pytest.raises(TypeError):
        O.build("uniform_blur", shape=(3, 8, 8), std=2.0)
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        O.build("colorize", shape=(1, 8, 8))


def test_dps_protocol_defaults():
    op = O.build("gaussian_blur", shape=(3, 256, 256))
    assert op.kernel.shape[-2:] == (61, 61)
    assert torch.allclose(op.kernel[0, 0].double(), O.gaussian_kernel(61, 3.0), atol=1e-7)
    op = O.build("motion_blur", shape=(3, 64, 64), batch=3)
    assert op.kernel.shape == (3, 1, 15, 15) and op.batch == 3
    op = O.build("inpaint_box", shape=(3, 64, 64))
    assert op.mask[0, 0].sum() == 64**2 - 32**2
    assert O.build("sr_bicubic", shape=(3, 64, 64)).output_shape == (3, 16, 16)
    assert O.build("phase_retrieval", shape=(1, 256, 256)).output_shape == (1, 384, 384)
