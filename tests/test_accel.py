"""invdiff.accel on CPU: bf16/fp16 autocast around the network only, channels-last, torch.compile wiring."""

from __future__ import annotations

import pytest
import torch

from invdiff.accel import accelerate, tags
from invdiff.load import load_prior


@pytest.fixture()
def x():
    g = torch.Generator().manual_seed(0)
    return torch.rand((2, 1, 28, 28), generator=g, dtype=torch.float64) * 2 - 1


def _eps(prior, x, sigma=0.7):
    with torch.no_grad():
        return prior.eps(x, sigma)


@pytest.mark.parametrize("amp, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_amp_runs_the_network_alone_in_low_precision(x, amp, dtype):
    ref = _eps(load_prior("mnist"), x)
    prior = accelerate(load_prior("mnist"), amp=amp)
    seen = []
    conv = next(m for m in prior.net.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    out = _eps(prior, x)
    assert seen == [dtype]  # the network computed in reduced precision
    assert all(p.dtype == torch.float32 for p in prior.net.parameters())  # weights stay float32
    assert out.dtype == torch.float64  # the sampler's dtype comes back
    assert torch.linalg.norm(out - ref) / torch.linalg.norm(ref) < 0.05
    assert tags(amp=amp) == {"amp": amp}


def test_channels_last_changes_layout_not_values(x):
    ref = _eps(load_prior("mnist"), x)
    prior = accelerate(load_prior("mnist"), channels_last=True)
    w = next(p for p in prior.net.parameters() if p.ndim == 4)
    assert w.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(_eps(prior, x), ref, rtol=1e-5, atol=1e-5)


def test_compile_wraps_the_network():
    prior = accelerate(load_prior("mnist"), compile=True)  # lazy: nothing is compiled before the first call
    assert type(prior.net).__name__ == "OptimizedModule" and prior.to("cpu") is prior
    assert tags(compile=True, channels_last=True) == {"channels_last": True, "compile": True}


@pytest.mark.slow
def test_compiled_network_in_a_sampler(x):
    import operators
    from invdiff.samplers import POSTERIOR

    ref = _eps(load_prior("mnist"), x)
    prior = accelerate(load_prior("mnist"), compile="eager")  # the wiring (dynamo); inductor is the test below
    torch.testing.assert_close(_eps(prior, x), ref, rtol=1e-6, atol=1e-6)
    op = operators.build("inpaint_random", shape=(1, 28, 28), batch=2, seed=0)
    y = operators.measure(op, x.float(), 0.05, seed=0)
    prior.nfe = 0
    out = POSTERIOR["ddrm"](prior, op, y, sigma_y=0.05, steps=3, seed=0, x_shape=(1, 28, 28))
    assert torch.isfinite(out).all() and prior.nfe == 3


@pytest.mark.slow
def test_inductor_compile_matches_eager(x):
    ref = _eps(load_prior("mnist"), x)
    torch.testing.assert_close(_eps(accelerate(load_prior("mnist"), compile=True), x), ref, rtol=1e-4, atol=1e-4)


def test_accel_refuses_priors_without_a_network_and_tags_bench_rows(tmp_path):
    from invdiff.bench import read_rows, run_suite
    from invdiff.prior import GaussianMixturePrior

    with pytest.raises(TypeError, match="network priors"):
        accelerate(GaussianMixturePrior(torch.zeros(2, 3)), amp="bf16")
    assert accelerate("untouched") == "untouched" and tags() == {}
    prior = accelerate(load_prior("mnist"), amp="bf16", channels_last=True)
    out = run_suite("smoke", tmp_path / "r.jsonl", methods=["ddrm"], nfe=[2], n_images=1, tasks=["gaussian_blur"],
                    device="cpu", progress=False, prior=prior, tags=tags("bf16", True))  # fmt: skip
    (row,) = read_rows(out)
    assert row["status"] == "ok" and row["amp"] == "bf16" and row["channels_last"] is True


def test_cli_restore_takes_the_flags(tmp_path):
    from invdiff import cli, data
    from invdiff.io import write_image

    write_image(tmp_path / "digit.png", data.mnist("test")[:1])
    args = ["restore", tmp_path / "digit.png", "--method", "ddrm", "--steps", "2", "--out", tmp_path / "r.png"]
    assert cli.run([*args, "--amp", "bf16", "--channels-last", "--device", "cpu"]) == 0
    assert (tmp_path / "r.png").is_file()
    assert cli.run([*args, "--amp", "int8"]) == 2  # not a choice
