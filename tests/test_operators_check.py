"""operators.check / from_callables' dot test / measure's σ_y checks, and Hypothesis properties over OPERATORS."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import operators as O

NAMES = sorted(O.OPERATORS)
DTYPES = (torch.float32, torch.float64)
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def operator_cases(draw):
    name = draw(st.sampled_from(NAMES))
    channels = 3 if name == "colorize" else draw(st.sampled_from((1, 3)))
    shape = (channels, draw(st.integers(2, 12)), draw(st.integers(2, 12)))
    return name, shape, draw(st.integers(1, 3)), draw(st.sampled_from(DTYPES))


# --------------------------------------------------------------------------- properties over the registry
@SETTINGS
@given(operator_cases(), st.integers(0, 2**31 - 1))
def test_registry_passes_check(case, seed):
    """Adjoint dot test and SVD identities hold for every operator, shape, batch and dtype."""
    name, shape, batch, dtype = case
    op = O.build(name, shape=shape, batch=batch, seed=seed % 1000, dtype=dtype)
    report = O.check(op, seed=seed, dtype=dtype)  # raises ValueError naming a failed identity
    assert report.ok and report.batch == (op.batch if op.batch > 1 else 2) and report.dtype == dtype
    if O.is_linear(op):
        assert "adjoint" in report.errors
    if O.has_svd(op):
        assert {"svd", "V Vt", "U Ut", "V norm"} <= set(report.errors)


@SETTINGS
@given(operator_cases(), st.integers(0, 1000), st.floats(0, 1))
def test_measure_is_deterministic_and_per_sample(case, seed, sigma_y):
    """Same seed -> same y; sample i's noise does not depend on the batch size (shared parameters)."""
    name, shape, batch, dtype = case
    op = O.build(name, shape=shape, batch=1, seed=0, dtype=dtype)
    x = torch.randn(batch + 1, *shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    y1, y2 = O.measure(op, x, sigma_y, seed=seed), O.measure(op, x, sigma_y, seed=seed)
    assert torch.equal(y1, y2) and torch.isfinite(y1).all()
    assert torch.allclose(O.measure(op, x[:1], sigma_y, seed=seed), y1[:1], rtol=0, atol=10 * O.default_tol(dtype))
    if sigma_y > 1e-3:
        assert not torch.equal(O.measure(op, x, sigma_y, seed=seed + 1), y1)


# --------------------------------------------------------------------------- failures are named
def test_check_names_a_broken_svd_identity():
    class HalfV(O.Matrix):  # V no longer inverts Vt
        def V(self, z):
            return 0.5 * super().V(z)

    M = torch.randn(3, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert O.check(O.Matrix(M)).ok
    with pytest.raises(ValueError, match=r"V\(Vt x\) == x.*relative error 5\.00e-01"):
        O.check(HalfV(M))
    report = O.check(HalfV(M), strict=False)
    assert report.failed == ["V Vt"] and "FAILED" in str(report)


def test_check_of_a_duck_typed_operator_needs_a_shape():
    class Scale:
        def A(self, x):
            return 2 * x

        def At(self, y):
            return -2 * y  # wrong sign

    with pytest.raises(ValueError, match="input shape"):
        O.check(Scale())
    with pytest.raises(ValueError, match="adjoint dot test"):
        O.check(Scale(), shape=(4,))


KERNEL = O.motion_kernel(9, 0.5, seed=0).float()[None, None]  # not symmetric


def _blur(x):
    return F.conv2d(x, KERNEL.to(x), padding=4)


def _blur_adjoint(y):
    return F.conv_transpose2d(y, KERNEL.to(y), padding=4)


def test_from_callables_accepts_a_correct_adjoint_and_catches_a_flipped_one():
    op = O.from_callables(_blur, _blur_adjoint, input_shape=(1, 16, 16))
    assert O.check(op).ok
    with pytest.raises(ValueError, match=r"At is not the adjoint of A.*relative error .* > tolerance 1\.2e-04"):
        O.from_callables(_blur, _blur, input_shape=(1, 16, 16))  # the kernel is not flipped
    with pytest.raises(ValueError, match="At is not the adjoint"):
        O.from_callables(_blur, lambda y: -_blur_adjoint(y), input_shape=(1, 16, 16))
    op = O.from_callables(_blur, _blur, input_shape=(1, 16, 16), check=False)  # the user's choice
    assert op.At(torch.zeros(1, 1, 16, 16)).shape == (1, 1, 16, 16)


def test_from_callables_dot_test_dtype_and_linearity():
    M = torch.randn(5, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    op = O.from_callables(lambda x: x @ M.T, input_shape=(12,))  # float64-only A: probed in float64
    assert O.check(op, dtype=torch.float64).ok
    with pytest.raises(ValueError, match="A is not linear"):
        O.from_callables(lambda x: x @ M.T + 1, input_shape=(12,))
    with pytest.raises(ValueError, match="could not run A"):
        O.from_callables(lambda x: x @ M.T, input_shape=(11,))


@pytest.mark.parametrize("sigma_y", [-0.1, float("nan"), float("inf"), torch.tensor([0.1, -0.2])])
def test_measure_rejects_bad_sigma_y(sigma_y):
    op = O.build("denoise", shape=(1, 4, 4))
    with pytest.raises(ValueError, match="sigma_y must be"):
        O.measure(op, torch.zeros(2, 1, 4, 4), sigma_y, seed=0)
    assert torch.equal(
        O.measure(op, torch.zeros(2, 1, 4, 4), torch.tensor([0.0, 0.1]), seed=0)[0], torch.zeros(1, 4, 4)
    )


@pytest.mark.parametrize(
    "kw, phrase",
    [
        (dict(batch=0), "batch must be an int >= 1"),
        (dict(seed=-1), "seed must be an int >= 0"),
        (dict(seed=1.5), "seed must be an int >= 0"),
        (dict(shape=(1, 0, 4)), "shape must be a tuple of positive ints"),
    ],
)
def test_build_checks_its_arguments(kw, phrase):
    with pytest.raises(ValueError, match=phrase):
        O.build("inpaint_random", **{"shape": (1, 4, 4), **kw})


def test_measure_rejects_a_non_finite_x_and_a_float_seed():
    op = O.build("denoise", shape=(1, 4, 4))
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match="x contains NaN or Inf"):
        O.measure(op, x.index_fill(0, torch.tensor([1]), float("nan")), 0.1, seed=0)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        O.measure(op, x, 0.1, seed=0.5)


def test_check_names_svd_methods_that_do_not_fit_together():
    op = O.build("denoise", shape=(1, 4, 4))
    op.singulars = lambda: torch.ones(16)  # flat, where Vt(x) is (B, 1, 4, 4)
    with pytest.raises(ValueError, match=r"singulars\(\) has shape \(16,\), which does not broadcast"):
        O.check(op)


def test_operators_imports_nothing_from_invdiff():
    import ast
    from pathlib import Path

    for path in Path(O.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            assert not any(n.split(".")[0] == "invdiff" for n in names), path
