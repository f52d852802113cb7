"""``invdiff restore --start NAME --sigma-start S``: choices, checks before any work, pass-through."""

from __future__ import annotations

import os

import pytest
import torch

import invdiff
import operators
from invdiff.cli import START_CHOICES, main
from invdiff.load import WEIGHTS_DIR
from invdiff.samplers.warmstart import INITIALIZERS

needs_mnist = pytest.mark.skipif(not (WEIGHTS_DIR / "mnist.pt").is_file(), reason="shipped MNIST prior absent")


@pytest.fixture(scope="module")
def digit(tmp_path_factory):
    from invdiff.data import mnist
    from invdiff.io import write_image

    d = tmp_path_factory.mktemp("ws")
    x = mnist("test")[:1]
    return write_image(d / "digit.png", x), d


def test_start_choices_are_the_initializers_and_auto():
    assert set(START_CHOICES) == {"auto", *INITIALIZERS} and len(START_CHOICES) == len(INITIALIZERS) + 1


R = ["restore", "digit.png", "--method", "ddrm", "--steps", "2", "--out", "r.png"]
BAD = [  # (name, extra arguments, phrase)
    ("unknown start", ["--start", "zeros"], "argument --start: invalid choice: 'zeros'"),
    ("sigma-start 0", ["--sigma-start", "0"], "--sigma-start: must be > 0"),
    ("negative sigma-start", ["--sigma-start", "-0.5"], "--sigma-start: must be a finite number >= 0"),
    ("nan sigma-start", ["--sigma-start", "nan"], "finite number"),
    ("inf sigma-start", ["--sigma-start", "inf"], "finite number"),
    ("word sigma-start", ["--sigma-start", "half"], "expected a number, got 'half'"),
    ("wiener on inpainting", ["--start", "wiener", "--task", "inpaint_box"], "--start wiener applies to gaussian_blur"),
    ("biharmonic on blur", ["--start", "biharmonic"], "--start biharmonic applies to inpaint_box, inpaint_random"),
    ("bicubic on denoising", ["--start", "bicubic", "--task", "denoise"], "not to --task denoise"),
]


@needs_mnist
@pytest.mark.parametrize("name, extra, phrase", BAD, ids=[b[0] for b in BAD])
def test_bad_start_options_fail_in_one_line_before_any_work(name, extra, phrase, digit, capsys, monkeypatch):
    import invdiff.cli_commands as C

    def no_work(*a, **kw):
        raise AssertionError("the prior was loaded before the options were checked")

    monkeypatch.setattr(C, "_load_prior", no_work)
    monkeypatch.chdir(digit[1])
    before = set(os.listdir("."))
    rc = main([*R, *extra])
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert phrase in lines[0], err
    assert set(os.listdir(".")) == before


@needs_mnist
@pytest.mark.parametrize(
    "extra, want",
    [
        ([], {"start": "auto"}),
        (["--start", "noise"], {"start": "noise"}),
        (["--start", "biharmonic", "--sigma-start", "0.3"], {"start": "biharmonic", "sigma_start": 0.3}),
        (["--sigma-start", "0.2"], {"start": "auto", "sigma_start": 0.2}),
        (["--start", "tikhonov", "--samples", "3"], {"start": "tikhonov"}),
        (["--sigma-end", "0.3"], {"start": "auto", "sigma_end": 0.3}),
        (["--sigma-end", "0.2", "--samples", "2"], {"start": "auto", "sigma_end": 0.2}),
    ],
)
def test_start_options_reach_the_sampler(extra, want, digit, tmp_path, monkeypatch):
    """solve (one draw) and posterior_stats (--samples K) get start / sigma_start / sigma_end exactly as given."""
    import invdiff.api

    got = {}

    def fake_solve(y, op, prior, method, **kw):
        got.update(kw, _fn="solve")
        return torch.zeros(1, 1, 28, 28)

    def fake_stats(y, op, prior, method, samples, seed, progress, **kw):
        got.update(kw, _fn="posterior_stats", _samples=samples)
        return torch.zeros(1, 1, 28, 28), torch.ones(1, 1, 28, 28)

    monkeypatch.setattr(invdiff.api, "solve", fake_solve)
    monkeypatch.setattr(invdiff.api, "posterior_stats", fake_stats)
    args = ["restore", str(digit[0]), "--task", "inpaint_random", "--method", "ddrm", "--out", str(tmp_path / "r.png")]
    assert main([*args, *extra]) == 0
    assert {k: v for k, v in got.items() if k in ("start", "sigma_start", "sigma_end")} == want
    assert got["_fn"] == ("posterior_stats" if "--samples" in extra else "solve")


@needs_mnist
def test_restore_warm_start_is_the_library_call(digit, tmp_path):
    """End to end: the written image is solve(..., start, sigma_start) for the same measurement and seed."""
    from invdiff.io import read_image, write_image

    src, _ = digit
    out, ref = tmp_path / "cli.png", tmp_path / "ref.png"
    argv = ["restore", str(src), "--task", "inpaint_random", "--method", "ddnm", "--steps", "5", "--seed", "3"]
    assert main([*argv, "--start", "biharmonic", "--sigma-start", "0.3", "--out", str(out)]) == 0
    x = read_image(src, channels=1)
    prior = invdiff.load_prior("mnist")
    op = operators.build("inpaint_random", shape=(1, 28, 28), batch=1, seed=3)
    y = operators.measure(op, x, 0.05, seed=3)
    xh = invdiff.solve(
        y, op, prior, method="ddnm", sigma_y=0.05, steps=5, seed=3, x_shape=(1, 28, 28), start="biharmonic",
        sigma_start=0.3,
    )  # fmt: skip
    write_image(ref, xh)
    assert torch.equal(read_image(out, channels=1), read_image(ref, channels=1))
    cold = tmp_path / "cold.png"
    assert main([*argv, "--start", "noise", "--out", str(cold)]) == 0
    assert not torch.equal(read_image(cold, channels=1), read_image(out, channels=1))


@needs_mnist
def test_restore_samples_with_a_warm_start(digit, tmp_path, capsys):
    """--samples K with --start: the mean of K warm-started draws, and its std map."""
    src, _ = digit
    out = tmp_path / "mean.png"
    argv = ["restore", str(src), "--task", "gaussian_blur", "--method", "ddrm", "--steps", "3", "--samples", "2"]
    assert main([*argv, "--start", "wiener", "--sigma-start", "0.2", "--out", str(out)]) == 0
    assert out.is_file() and (tmp_path / "mean_std.png").is_file()
    assert "posterior mean of 2" in capsys.readouterr().out


@needs_mnist
def test_auto_start_fits_every_operator():
    """start="auto" names an initializer that runs on every registry operator that builds at 28² (a
    super-resolution or denoising operator used to raise TypeError: SuperResolution is a builder function)."""
    from invdiff.samplers.warmstart import auto_initializer, initial_estimate

    prior = invdiff.load_prior("mnist")
    want = {"sr_avg": "bicubic", "sr_bicubic": "bicubic", "denoise": "tikhonov", "gaussian_blur": "wiener",
            "inpaint_box": "biharmonic", "phase_retrieval": "noise"}  # fmt: skip
    for name in operators.OPERATORS:
        try:
            op = operators.build(name, (1, 28, 28), batch=2, seed=0)
        except ValueError:  # colorize needs 3 channels
            continue
        start = auto_initializer(prior, op)
        assert start == want.get(name, start), name
        y = operators.measure(op, torch.zeros(2, 1, 28, 28), 0.05, seed=0)
        x = initial_estimate(start, op, y, 0.05, (2, 1, 28, 28), torch.empty(0), name)
        assert x is None if start == "noise" else (x.shape == (2, 1, 28, 28) and torch.isfinite(x).all()), name


@needs_mnist
@pytest.mark.parametrize("task", ["sr_bicubic", "denoise"])
def test_restore_default_start_on_sr_and_denoising(task, digit, tmp_path):
    out = tmp_path / "r.png"
    assert main(["restore", str(digit[0]), "--task", task, "--method", "ddrm", "--steps", "2", "--out", str(out)]) == 0
    assert out.is_file()
