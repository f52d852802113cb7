"""Contract tests over every entry of ``operators.OPERATORS`` (small images, float64).

Adjointness, SVD round trips, pinv/prox/(AAᵀ+cI)⁻¹ against dense least squares,
per-sample parameters, dtype following, seeding, shape errors, differentiability.
"""

import pytest
import torch

import operators as O
from operators import linalg

SHAPE = (3, 8, 8)
NAMES = sorted(O.OPERATORS)
LINEAR = [n for n in NAMES if O.is_linear(O.build(n, shape=SHAPE))]
SVD = [n for n in NAMES if O.has_svd(O.build(n, shape=SHAPE))]
RANDOM = ["motion_blur", "inpaint_box", "inpaint_random", "mri", "compressed_sensing", "matrix"]
F64 = torch.float64


def build(name, batch=1, **kw):
    return O.build(name, shape=SHAPE, batch=batch, dtype=kw.pop("dtype", F64), **kw)


def randx(B, seed=0, dtype=F64):
    return torch.randn(B, *SHAPE, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def randy(op, B, seed=1):
    """A random (not in the range) measurement of op's output type."""
    y0 = op.A(randx(B, 99))
    g = torch.Generator().manual_seed(seed)
    if y0.is_complex():
        return torch.view_as_complex(torch.randn(*y0.shape, 2, generator=g, dtype=F64))
    return torch.randn(y0.shape, generator=g, dtype=F64)


def flat(t):
    return (torch.view_as_real(t) if t.is_complex() else t).flatten(1)


def dense(op):
    """Dense real matrix of a batch-1 operator (complex outputs as [re, im] pairs)."""
    d = torch.tensor(SHAPE).prod().item()
    basis = torch.eye(d, dtype=F64).reshape(d, *SHAPE)
    return flat(op.A(basis)).T


def rel(a, b):
    return ((flat(a) - flat(b)).norm() / flat(b).norm().clamp_min(1e-30)).item()


@pytest.mark.parametrize("name", LINEAR)
def test_adjoint(name):
    op = build(name, batch=2)
    x, y = randx(2), randy(op, 2)
    lhs, rhs = linalg._dot(op.A(x), y), linalg._dot(x, op.At(y))
    assert torch.allclose(lhs, rhs, rtol=1e-6, atol=1e-9 * rhs.abs().max().item()), (lhs, rhs)


@pytest.mark.parametrize("name", SVD)
def test_svd_layout(name):
    op = build(name, batch=2)
    x = randx(2)
    s = op.singulars()
    assert s.shape[1:] == op.Vt(x).shape[1:] and s.shape[0] in (1, 2) and not s.is_complex()
    assert rel(op.U(s * op.Vt(x)), op.A(x)) < 1e-10
    assert rel(op.V(op.Vt(x)), x) < 1e-10
    assert not op.V(op.Vt(x)).is_complex()
    y = op.A(x)
    assert rel(op.U(op.Ut(y)), y) < 1e-10
    assert abs(op.Vt(x).abs().pow(2).sum() - x.pow(2).sum()) < 1e-9 * x.pow(2).sum()  # V orthonormal


@pytest.mark.parametrize("name", LINEAR)
def test_solves_match_dense(name):
    op = build(name)
    M = dense(op)
    x, y = randx(2), randy(op, 2)
    rho, c = torch.tensor([0.3, 2.0], dtype=F64), 0.7
    I_d, I_m = torch.eye(M.shape[1], dtype=F64), torch.eye(M.shape[0], dtype=F64)
    yf, xf = flat(y), flat(x)
    # pinv: minimum-norm least squares
    ref = yf @ torch.linalg.pinv(M).T
    assert rel(O.pinv(op, y), ref.reshape(x.shape)) < 1e-6
    # prox: (MᵀM + ρI)⁻¹(Mᵀy + ρx), ρ per sample
    ref = torch.stack([torch.linalg.solve(M.T @ M + r * I_d, M.T @ yi + r * xi) for r, yi, xi in zip(rho, yf, xf)])
    assert rel(O.prox(op, x, y, rho), ref.reshape(x.shape)) < 1e-6
    # (MMᵀ + cI)⁻¹ r, c a float
    ref = torch.linalg.solve(M @ M.T + c * I_m, yf.T).T
    assert rel(O.solve_AAt(op, y, c), ref.reshape(flat(y).shape)) < 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_per_sample_parameters(name):
    op = build(name, batch=4)
    x = randx(4)
    y = op.A(x)
    for i in range(4):
        op_i = build(name, batch=1, offset=i)  # sample i alone: its own parameters from (seed, i)
        assert rel(op_i.A(x[i : i + 1]), y[i : i + 1]) < 1e-12
        if name in LINEAR:
            r = randy(op, 4)
            assert rel(O.pinv(op_i, r[i : i + 1]), O.pinv(op, r)[i : i + 1]) < 1e-8
            assert rel(O.solve_AAt(op_i, r[i : i + 1], 0.5), O.solve_AAt(op, r, 0.5)[i : i + 1]) < 1e-8
    if name in RANDOM:  # parameters really differ between samples
        ys = op.A(x[:1].expand(4, *SHAPE))
        assert any(rel(ys[i : i + 1], ys[:1]) > 1e-6 for i in range(1, 4))


@pytest.mark.parametrize("name", RANDOM)
def test_seeding(name):
    x = randx(2)
    same = rel(build(name, batch=2, seed=3).A(x), build(name, batch=2, seed=3).A(x))
    diff = max(rel(build(name, batch=2, seed=3).A(x), build(name, batch=2, seed=s).A(x)) for s in (4, 5, 6))
    assert same == 0 and diff > 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_dtype_follows_input(name):
    op = O.build(name, shape=SHAPE, batch=2, dtype=torch.float32)
    for dt in (torch.float32, F64):
        x = randx(2, dtype=dt)
        y = op.A(x)
        assert y.dtype in (dt, {torch.float32: torch.complex64, F64: torch.complex128}[dt])
        if name in LINEAR:
            assert O.adjoint(op, y, x).dtype == dt
            assert O.pinv(op, y).dtype == dt
            assert O.prox(op, x, y, 1.0).dtype == dt
            assert O.solve_AAt(op, y, 1.0).dtype == y.dtype
        if name in SVD:
            assert op.V(op.Vt(x)).dtype == dt


@pytest.mark.parametrize("name", NAMES)
def test_wrong_shape_raises(name):
    op = build(name, batch=2)
    with pytest.raises(ValueError, match=r"\(B, 3, 8, 8\)"):
        op.A(torch.zeros(2, 1, 8, 8, dtype=F64))
    with pytest.raises(ValueError, match=r"\(B, 3, 8, 8\)"):
        op.A(torch.zeros(2, 3, 8, dtype=F64))
    if name in RANDOM:  # per-sample parameters for 2 samples, batch of 3
        with pytest.raises(ValueError, match="batch of 2"):
            op.A(torch.zeros(3, *SHAPE, dtype=F64))


@pytest.mark.parametrize("name", NAMES)
def test_differentiable_and_pure(name):
    op = build(name, batch=2)
    x = randx(2).requires_grad_(True)
    y1 = op.A(x)
    flat(y1).pow(2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert torch.equal(op.A(x.detach()), y1.detach())  # A changes no state


def test_phase_retrieval_is_nonlinear():
    op = build("phase_retrieval")
    assert not O.is_linear(op) and not O.has_svd(op)
    O.require(op, "any", "dps")
    with pytest.raises(TypeError, match="ddrm needs an operator with At"):
        O.require(op, "linear", "ddrm")
    with pytest.raises(TypeError, match="U, Ut, V, Vt, singulars"):
        O.require(op, "svd", "ddrm")
    with pytest.raises(
        TypeError, match="PhaseRetrieval lacks At"
    ):  # names the missing method (invdiff adds the samplers)
        O.pinv(op, op.A(randx(1)))
    with pytest.raises(TypeError, match="U, Ut"):
        O.require(build("gaussian_blur_reflect"), "svd", "ddrm")


@pytest.mark.parametrize("name", ["denoise", "motion_blur", "mri"])
def test_measure_is_per_sample_seeded(name):
    x = randx(4)
    y4 = O.measure(build(name, batch=4), x, 0.1, seed=7)
    for i in range(4):
        yi = O.measure(build(name, batch=1, offset=i), x[i : i + 1], 0.1, seed=7, offset=i)
        assert torch.equal(yi, y4[i : i + 1])
    assert rel(O.measure(build(name, batch=4), x, 0.1, seed=8), y4) > 1e-3
    noise = flat(y4 - build(name, batch=4).A(x))
    assert 0.08 < noise.std().item() < 0.12
    sig = torch.tensor([0.0, 0.1, 0.2, 0.3], dtype=F64)
    y = O.measure(build(name, batch=4), x, sig, seed=7)
    assert torch.equal(y[:1], build(name, batch=4).A(x)[:1])
