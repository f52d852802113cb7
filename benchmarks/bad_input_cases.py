"""The bad-input list of issue 14, rebuilt: Python API cases (run in-process) and their inputs.

A :class:`Case` runs as a user would run it.  ``ok`` judges a returned result (None: any result is
wrong, the input had to be refused); ``warn`` is a phrase a warning must contain for the result to
count (the data-range cases, where a finite result can still be a wrong answer).
The command-line cases are in ``bad_input_cli.py``.
"""

from __future__ import annotations

import functools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

import invdiff
import operators


@dataclass
class Case:
    name: str
    route: str  # "api" (in-process) or "cli" (subprocess)
    run: Callable | list  # api: () -> result; cli: the argument list, or a callable returning (outcome, message)
    ok: Callable | None = None  # result -> a problem (str) or None; None: the input had to be refused
    warn: str | None = None  # a phrase a warning (api) or stderr (cli) must hold for a result to count


class Payload:
    """Unpickling this creates ``marker`` (the code a hostile checkpoint would run)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# --------------------------------------------------------------------------- small problems
@functools.cache
def prior():
    return invdiff.load_prior("mnist")


@functools.cache
def digits(n: int = 2) -> torch.Tensor:
    from invdiff.data import mnist

    return mnist("test")[:n]


def problem(task="gaussian_blur", batch=2, x=None):
    op = operators.build(task, (1, 28, 28), batch=batch, seed=0)
    x = digits(batch) if x is None else x
    return op, x, operators.measure(op, x, 0.05, seed=0)


CHEAP = {"daps": dict(steps=2, ode_steps=1, langevin_steps=2)}


def solve(y, op, method="ddrm", **kw):
    kw = {"sigma_y": 0.05, "steps": 2, **CHEAP.get(method, {}), **kw}
    return invdiff.solve(y, op, prior(), method=method, **kw)


def finite(shape, dtype=None):
    """A result check: a finite tensor of ``shape`` (and ``dtype``)."""

    def check(r):
        if not torch.is_tensor(r):
            return f"returned {type(r).__name__}"
        if tuple(r.shape) != tuple(shape):
            return f"shape {tuple(r.shape)}, expected {tuple(shape)}"
        if not torch.isfinite(r).all():
            return "NaN/Inf in the result"
        if dtype is not None and r.dtype != dtype:
            return f"dtype {r.dtype}, expected {dtype}"
        return None

    return check


IMG = (2, 1, 28, 28)


def _y(task="gaussian_blur", batch=2, x=None):
    return problem(task, batch, x)


def _with_y(fn, task="gaussian_blur", method="ddrm", batch=2, **kw):
    """Solve after ``fn`` changed y (a user's bad y)."""

    def run():
        op, _, y = _y(task, batch)
        return solve(fn(y), op, method, **kw)

    return run


def _per_sample_mismatch(method: str, what: str):
    def run():
        op, _, y = _y("inpaint_random", 2)
        if what == "batch":
            y = torch.cat([y, y])  # 4 measurements for an operator of 2 masks
        else:  # an image of another size for the 28×28 per-sample masks
            y = torch.zeros(2, 1, 32, 32)
        return solve(y, op, method)

    return run


def _range(lo: float, hi: float, method="ddrm", task="gaussian_blur"):
    """Digits given in [lo, hi] instead of [-1, 1]."""

    def run():
        x = (digits(2) + 1) / 2 * (hi - lo) + lo
        op, _, y = _y(task, 2, x)
        return solve(y, op, method)

    return run


def _flipped_adjoint(check_only=False):
    k = torch.randn(28, 28, generator=torch.Generator().manual_seed(0))

    def A(x):
        return x * k

    def At(y):
        return (y * k).flip(-1)  # wrong: flipped

    def run():
        op = operators.from_callables(A, At=At, input_shape=(1, 28, 28))
        return operators.check(op) if check_only else op

    return run


def _right_adjoint():
    k = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0))
    op = operators.from_callables(lambda x: x * k, At=lambda y: y * k, input_shape=(1, 28, 28))
    y = operators.measure(op, digits(2), 0.05, seed=0)
    return solve(y, op, "pigdm")


class BrokenSVD:
    """A duck-typed operator whose SVD pieces disagree with A."""

    input_shape = (1, 28, 28)

    def A(self, x):
        return 2 * x

    def At(self, y):
        return 2 * y

    def U(self, z):
        return z

    def Ut(self, y):
        return y

    def V(self, z):
        return z

    def Vt(self, x):
        return x

    def singulars(self):
        return torch.full((784,), 3.0)


def _callable_2d():
    op = operators.from_callables(lambda x: 0.5 * x, input_shape=(1, 28, 28))
    return solve(operators.measure(op, digits(2), 0.05, seed=0)[0, 0], op, "dps")


def _callable_no_shape():
    op = operators.from_callables(lambda x: 0.5 * x)
    return solve(operators.measure(op, digits(2), 0.05, seed=0), op, "ddnm")


def _op64_y32():
    op = operators.build("gaussian_blur", (1, 28, 28), dtype=torch.float64)
    return solve(op.A(digits(2).double()).float(), op, "diffpir")


def _cuda_prior():
    if torch.cuda.is_available():
        raise ValueError("skipped: a GPU is present")
    return invdiff.load_prior("mnist", device="cuda")


def _check_report(op):
    """operators.check must name the failing identity (a report, or a clear error)."""
    rep = operators.check(op)
    ok = getattr(rep, "ok", None)
    if ok is None and isinstance(rep, dict):
        ok = all(v is True or (isinstance(v, dict) and v.get("ok", True)) for v in rep.values())
    if ok:
        raise AssertionError("operators.check passed a broken operator")
    return rep


def _nan_weights():
    p = invdiff.load_prior("mnist")
    with torch.no_grad():
        for q in p.net.parameters():
            q.mul_(float("nan"))
    op, _, y = _y()
    return invdiff.solve(y, op, p, method="ddrm", sigma_y=0.05, steps=2)


def _load(path_fn):
    def run():
        return invdiff.load_prior(path_fn())

    return run


def _files(d: Path):
    """Broken model files under ``d`` (made once)."""
    from invdiff.load import WEIGHTS_DIR

    d.mkdir(parents=True, exist_ok=True)
    (d / "rand.pt").write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    (d / "rand.safetensors").write_bytes(b"\x00" * 8 + b"garbage" * 100)
    (d / "rand.json").write_text('{"format": "invdiff-unet-v1"}')
    torch.save({"format": "invdiff-unet-v1", "hook": Payload(d / "PWNED")}, d / "evil.pt")
    shutil.copy(WEIGHTS_DIR / "mnist.safetensors", d / "shape.safetensors")
    cfg = json.loads((WEIGHTS_DIR / "mnist.json").read_text())
    (d / "shape.json").write_text(json.dumps({**cfg, "image_shape": [3, 28, 28]}))
    (d / "empty.pt").write_bytes(b"")
    return d


def api_cases(tmp: Path) -> list[Case]:
    d = tmp / "api"
    files = functools.partial(_files, d)
    f = finite(IMG)
    c = [
        Case("channels-last y, dps", "api", _with_y(lambda y: y.permute(0, 2, 3, 1), method="dps")),
        Case("channels-last y, daps", "api", _with_y(lambda y: y.permute(0, 2, 3, 1), method="daps")),
        Case(
            "channels-last RGB-like y (B,28,28,3)", "api", _with_y(lambda y: y.permute(0, 2, 3, 1).expand(2, 28, 28, 3))
        ),
        Case("2-D y (28, 28), dps", "api", _with_y(lambda y: y[0, 0], method="dps")),
        Case("3-D y without batch, ddrm", "api", _with_y(lambda y: y[0])),
        Case("5-D y", "api", _with_y(lambda y: y[None])),
        Case("RGB y for a gray operator", "api", _with_y(lambda y: y.expand(2, 3, 28, 28))),
        Case("data in [0, 255]", "api", _range(0, 255), f, warn="data range"),
        Case("data in [0, 1]", "api", _range(0, 1), f, warn="data range"),
        Case("data in [0, 1], x4 SR, diffpir", "api", _range(0, 1, "diffpir", "sr_bicubic"), f, warn="data range"),
        Case("data in [0, 255], motion blur, daps", "api", _range(0, 255, "daps", "motion_blur"), f, warn="data range"),
        Case("data in [0, 1], inpainting, dps", "api", _range(0, 1, "dps", "inpaint_random"), f, warn="data range"),
        Case("uint8 y", "api", _with_y(lambda y: ((y + 1) * 127.5).clamp(0, 255).to(torch.uint8))),
        Case("int64 y", "api", _with_y(lambda y: y.round().long())),
        Case("bool y", "api", _with_y(lambda y: y > 0)),
        Case("fp16 y, gaussian blur", "api", _with_y(lambda y: y.half(), "gaussian_blur"), f),
        Case("fp16 y, motion blur, diffpir", "api", _with_y(lambda y: y.half(), "motion_blur", "diffpir"), f),
        Case("bf16 y, inpainting", "api", _with_y(lambda y: y.bfloat16(), "inpaint_random"), f),
        Case("float64 y", "api", _with_y(lambda y: y.double()), finite(IMG, torch.float64)),
        Case("numpy y", "api", _with_y(lambda y: y.numpy())),
        Case("list y", "api", _with_y(lambda y: y.tolist())),
        Case("NaN in y", "api", _with_y(lambda y: y.clone().index_fill_(0, torch.tensor([0]), float("nan")))),
        Case("Inf in y", "api", _with_y(lambda y: y.clone().index_fill_(0, torch.tensor([1]), float("inf")))),
        Case("empty batch", "api", _with_y(lambda y: y[:0])),
        Case("complex y for a real operator", "api", _with_y(lambda y: y.to(torch.complex64))),
    ]
    for m in ("ddrm", "dps", "pigdm", "daps"):
        c.append(Case(f"per-sample operator, wrong batch, {m}", "api", _per_sample_mismatch(m, "batch")))
        c.append(Case(f"per-sample operator, wrong H×W, {m}", "api", _per_sample_mismatch(m, "size")))
    big = operators.build("gaussian_blur", (1, 32, 32), batch=1, seed=0)
    c += [
        Case("operator for 32×32, prior 28×28", "api", lambda: solve(big.A(torch.zeros(1, 1, 32, 32)), big)),
        Case("x_shape of the wrong rank", "api", _with_y(lambda y: y, x_shape=(28, 28))),
        Case("x_shape of another size", "api", _with_y(lambda y: y, x_shape=(1, 32, 32))),
        Case("solve steps=0", "api", _with_y(lambda y: y, steps=0)),
        Case("solve steps=2.5", "api", _with_y(lambda y: y, steps=2.5)),
        Case("solve samples=0", "api", _with_y(lambda y: y, samples=0)),
        Case("solve negative sigma_y", "api", _with_y(lambda y: y, sigma_y=-0.1)),
        Case("solve NaN sigma_y", "api", _with_y(lambda y: y, sigma_y=float("nan"))),
        Case("solve unknown method", "api", _with_y(lambda y: y, method="ddpn")),
        Case("solve unconditional method", "api", _with_y(lambda y: y, method="ddim")),
        Case("solve unknown keyword", "api", _with_y(lambda y: y, zeta=1.0)),
        Case("solve negative offset", "api", _with_y(lambda y: y, offset=-1)),
        Case("solve unknown start", "api", _with_y(lambda y: y, start="wienner")),
        Case("solve negative sigma_start", "api", _with_y(lambda y: y, sigma_start=-0.5)),
        Case("solve reduce='median'", "api", _with_y(lambda y: y, samples=2, reduce="median")),
        Case(
            "solve samples=2, reduce='none'", "api", _with_y(lambda y: y, samples=2, reduce="none"), finite((2, *IMG))
        ),
        Case("dps with a huge step size", "api", _with_y(lambda y: y, method="dps", zeta=1e8), f),
        Case(
            "posterior_stats, channels-last y",
            "api",
            lambda: invdiff.posterior_stats(
                _y()[2].permute(0, 2, 3, 1), _y()[0], prior(), method="ddrm", samples=2, sigma_y=0.05, steps=2
            ),
        ),
        Case(
            "posterior_stats seed as keyword",
            "api",
            lambda: invdiff.posterior_stats(
                _y()[2],
                _y()[0],
                prior(),
                method="ddrm",
                samples=2,
                sigma_y=0.05,
                steps=2,
                progress=False,
                seed=1,
                **{"hyperparameters": "reference"},
            ),
            lambda r: finite(IMG)(r[0]) or finite(IMG)(r[1]),
        ),
        Case("NaN network weights through solve", "api", _nan_weights),
        Case("measure negative sigma_y", "api", lambda: operators.measure(_y()[0], digits(2), -0.05, seed=0)),
        Case("measure NaN in x", "api", lambda: operators.measure(_y()[0], digits(2) * float("nan"), 0.05, seed=0)),
        Case(
            "measure x of another size", "api", lambda: operators.measure(_y()[0], torch.zeros(2, 1, 32, 32), 0.05, 0)
        ),
        Case(
            "measure wrong batch, per-sample operator",
            "api",
            lambda: operators.measure(_y("inpaint_random")[0], digits(3), 0.05, seed=0),
        ),
        Case("build unknown operator", "api", lambda: operators.build("deblur", (1, 28, 28))),
        Case("build batch 0", "api", lambda: operators.build("inpaint_random", (1, 28, 28), batch=0)),
        Case("build 2-D shape", "api", lambda: operators.build("gaussian_blur", (28, 28))),
        Case("build unknown parameter", "api", lambda: operators.build("gaussian_blur", (1, 28, 28), sigma=2)),
        Case("from_callables with a flipped adjoint", "api", _flipped_adjoint()),
        Case("from_callables with the right adjoint, pigdm", "api", _right_adjoint, f),
        Case("operators.check on a broken SVD", "api", lambda: _check_report(BrokenSVD()), lambda r: None),
        Case("2-D y with a from_callables operator (no output_shape)", "api", _callable_2d),
        Case("float64 operator, float32 y", "api", _op64_y32, f),
        Case("y requiring grad, dps", "api", _with_y(lambda y: y.clone().requires_grad_(), method="dps"), f),
        Case("non-contiguous y", "api", _with_y(lambda y: y.transpose(-1, -2).contiguous().transpose(-1, -2)), f),
        Case("sigma_y=0, daps", "api", _with_y(lambda y: y, method="daps", sigma_y=0), f),
        Case("sigma_y=0, diffpir", "api", _with_y(lambda y: y, method="diffpir", sigma_y=0), f),
        Case("sigma_y=0, pigdm", "api", _with_y(lambda y: y, method="pigdm", sigma_y=0), f),
        Case("sigma_y=0, reddiff", "api", _with_y(lambda y: y, method="reddiff", sigma_y=0), f),
        Case("sigma_y as a per-sample tensor", "api", _with_y(lambda y: y, sigma_y=torch.tensor([0.05, 0.05]))),
        Case("solve seed=-1", "api", _with_y(lambda y: y, seed=-1)),
        Case("solve seed=1.5", "api", _with_y(lambda y: y, seed=1.5)),
        Case("solve increasing sigmas", "api", _with_y(lambda y: y, sigmas=torch.tensor([0.1, 0.5, 0.0]))),
        Case("prior given by name", "api", lambda: invdiff.solve(_y()[2], _y()[0], "mnist", sigma_y=0.05, steps=2)),
        Case("operator given by name", "api", lambda: invdiff.solve(_y()[2], "gaussian_blur", prior(), sigma_y=0.05)),
        Case("phase retrieval with ddrm (no SVD)", "api", _with_y(lambda y: y, task="phase_retrieval", batch=2)),
        Case("ddim, shape of the wrong rank", "api", lambda: invdiff.samplers.ddim(prior(), (2, 28, 28), steps=2)),
        Case("ddim, shape for another size", "api", lambda: invdiff.samplers.ddim(prior(), (2, 1, 32, 32), steps=2)),
        Case("ddpm, empty batch", "api", lambda: invdiff.samplers.ddpm(prior(), (0, 1, 28, 28), steps=2)),
        Case("measure seed=None", "api", lambda: operators.measure(_y()[0], digits(2), 0.05, seed=None)),
        Case("build a shape with a 0 side", "api", lambda: operators.build("inpaint_random", (1, 0, 28))),
        Case("from_callables without input_shape, ddnm", "api", _callable_no_shape),
        Case("load_prior on device 'gpu'", "api", lambda: invdiff.load_prior("mnist", device="gpu")),
        Case("load_prior on device 'cuda' (CPU machine)", "api", _cuda_prior),
        Case("load_prior unknown name", "api", _load(lambda: "mnsit")),
        Case("load_prior missing file", "api", _load(lambda: files() / "nope.pt")),
        Case("load_prior random bytes .pt", "api", _load(lambda: files() / "rand.pt")),
        Case("load_prior random bytes .safetensors", "api", _load(lambda: files() / "rand.safetensors")),
        Case("load_prior empty file", "api", _load(lambda: files() / "empty.pt")),
        Case("load_prior code-carrying pickle", "api", _load(lambda: files() / "evil.pt")),
        Case("load_prior image_shape not matching the network", "api", _load(lambda: files() / "shape.safetensors")),
        Case("load_prior a folder without a model", "api", _load(lambda: files())),
    ]
    return c
