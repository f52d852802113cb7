"""Property test of the front door: whatever ``y`` a user passes, ``invdiff.solve`` returns a finite image batch
of the right shape or raises a documented exception (``ValueError``, ``TypeError``, ``DivergenceError``).

Inputs are drawn from the registry (operators and samplers) and spoiled the ways a user spoils them:
layout (channels-last, no batch dimension, 2-D, an extra dimension, an empty batch), dtype, value range
and NaN/Inf entries.  A spoiled input must be refused; a clean one must be restored; data given in
[0, 255] or [0, 1] must be restored with a warning.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import invdiff
import operators
from invdiff.samplers import POSTERIOR, DivergenceError

DOCUMENTED = (ValueError, TypeError, DivergenceError)
CHEAP = {"daps": dict(ode_steps=1, langevin_steps=2)}
IMAGE_LIKE = ("blur", "inpaint", "sr_", "denoise")  # measurements that are images: the range warning applies


def _buildable() -> list[str]:
    ok = []
    for name in sorted(operators.OPERATORS):
        try:
            operators.build(name, (1, 28, 28))
            ok.append(name)
        except ValueError:  # e.g. colorize needs 3 channels
            pass
    return ok


TASKS = _buildable()
LAYOUTS = {
    "clean": lambda y: y,
    "channels-last": lambda y: y.movedim(1, -1) if y.ndim == 4 and y.shape[1] != y.shape[-1] else None,
    "no batch": lambda y: y[0],
    "2-D": lambda y: y[0, 0] if y.ndim == 4 else None,
    "extra dim": lambda y: y[None],
    "empty": lambda y: y[:0],
}
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8, torch.int64, torch.complex64]
VALUES = ["clean", "nan", "inf", "0..255", "0..1"]


@pytest.fixture(scope="module")
def prior():
    return invdiff.load_prior("mnist")


@pytest.fixture(scope="module")
def digits():
    from invdiff.data import mnist

    return mnist("test")[:3]


def spoil(y: torch.Tensor, x: torch.Tensor, op, value: str, layout: str, dtype):
    """``(y, kind)``: the user's y, and ``"bad"`` (must be refused), ``"odd"`` (data in another range: restored
    with a warning, or refused) or ``"clean"``; ``(None, None)`` where the spoiling does not apply."""
    complex_out = y.is_complex()
    if value in ("0..255", "0..1"):  # the clean image in another range, measured like the original
        hi = 255.0 if value == "0..255" else 1.0
        y = operators.measure(op, (x + 1) / 2 * hi, 0.05, seed=0)
    elif value in ("nan", "inf"):
        y = y.clone()
        y.view(-1)[0] = float(value)
    y = LAYOUTS[layout](y)
    if y is None or (complex_out and dtype is not torch.complex64):
        return None, None  # complex measurements keep their dtype
    y = y.to(dtype)
    good_dtype = dtype in (torch.float32, torch.float64) or (dtype is torch.complex64 and complex_out)
    if value in ("nan", "inf") or layout != "clean" or not good_dtype:
        return y, "bad"
    return y, "odd" if value != "clean" else "clean"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    task=st.sampled_from(TASKS),
    method=st.sampled_from(sorted(POSTERIOR)),
    batch=st.integers(1, 3),
    per_sample=st.booleans(),
    layout=st.sampled_from(sorted(LAYOUTS)),
    dtype=st.sampled_from(DTYPES),
    value=st.sampled_from(VALUES),
    steps=st.integers(2, 3),
    seed=st.integers(0, 2**16),
)
def test_solve_returns_a_finite_image_or_a_documented_error(
    prior, digits, task, method, batch, per_sample, layout, dtype, value, steps, seed
):
    op = operators.build(task, (1, 28, 28), batch=batch if per_sample else 1, seed=seed)
    x = digits[:batch]
    y, kind = spoil(operators.measure(op, x, 0.05, seed=seed), x, op, value, layout, dtype)
    if y is None:
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = invdiff.solve(
                y, op, prior, method=method, sigma_y=0.05, steps=steps, seed=seed, **CHEAP.get(method, {})
            )
        except DOCUMENTED as e:
            # a clean input is refused only when the sampler cannot use the operator (a TypeError naming it)
            assert kind != "clean" or (isinstance(e, TypeError) and "Samplers that work" in str(e)), e
            return
    assert kind != "bad", f"accepted a spoiled y ({layout}, {dtype}, {value}) and returned {tuple(out.shape)}"
    assert out.shape == (batch, 1, 28, 28) and torch.isfinite(out).all()
    if kind == "odd" and any(k in task for k in IMAGE_LIKE):
        assert any("data range" in str(w.message) for w in caught), f"no range warning for data in [{value}]"
