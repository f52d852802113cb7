"""The benchmark harness on a tiny grid: JSONL rows, resume without recomputation, summary files."""
from __future__ import annotations

import json

import pytest
import torch

from invdiff import bench
from invdiff.baselines import BASELINES
from invdiff.prior import GaussianMixturePrior
from invdiff.samplers import POSTERIOR

SHAPE = (1, 8, 8)


def counted(fn, calls: dict, name: str):
    """``fn`` with its attributes (needs, default_steps, param), counting calls in ``calls[name]``."""
    def wrapper(*a, **kw):
        calls[name] = calls.get(name, 0) + 1
        return fn(*a, **kw)
    wrapper.__dict__.update(fn.__dict__)
    wrapper.__signature__ = __import__("inspect").signature(fn)
    return wrapper


@pytest.fixture()
def setup(tmp_path):
    g = torch.Generator().manual_seed(0)
    means = (torch.rand(3, *SHAPE, generator=g, dtype=torch.float64) * 1.6 - 0.8)
    prior = GaussianMixturePrior(means, std=0.1)
    images = prior.sample(2, seed=1).clamp(-1, 1)
    calls: dict = {}
    suite = bench.Suite(
        "tiny", SHAPE,
        [bench.Task("box", "inpaint_box", 0.05, "inpaint", {"size": 4, "margin": 1})],
        [bench.Method("ddnm", "custom", fn=counted(POSTERIOR["ddnm"], calls, "ddnm")),
         bench.Method("pinv", "baseline", fn=counted(BASELINES["pinv"], calls, "pinv"))],
        images=lambda: images, prior=lambda: prior, batch_size=2, n_show=2, nfe=(5,))
    return suite, calls, tmp_path / "res.jsonl"


def lines(path):
    return path.read_text().splitlines()


def test_run_resume_and_summary(setup, tmp_path):
    suite, calls, out = setup
    bench.run_suite(suite, out, progress=False, device="cpu")
    rows = bench.read_rows(out)
    assert len(rows) == 4 and len(lines(out)) == 4
    assert {(r["method"], r["index"]) for r in rows} == {("ddnm", 0), ("ddnm", 1), ("pinv", 0), ("pinv", 1)}
    for r in rows:
        assert r["status"] == "ok" and r["task"] == "box" and r["seed"] == 0
        for f in ("psnr", "ssim", "time_s", "batch_time_s", "nfe", "peak_mem_mib", "batch_size", "nfe_target"):
            assert r[f] is not None, f
        assert r["time_s"] == pytest.approx(r["batch_time_s"] / 2)
    ddnm = [r for r in rows if r["method"] == "ddnm"]
    assert all(r["nfe_target"] == 5 and r["nfe"] == 5 for r in ddnm)
    assert all(r["nfe"] == 0 for r in rows if r["method"] == "pinv")
    assert calls == {"ddnm": 1, "pinv": 1}  # one batch of 2 images each

    # rerun: nothing new, nothing called again
    bench.run_suite(suite, out, progress=False, device="cpu")
    assert len(lines(out)) == 4 and calls == {"ddnm": 1, "pinv": 1}

    # summary: table with both methods, plots and the image grid
    md = bench.summarize(out, tmp_path / "summary")
    text = md.read_text()
    assert "| ddnm |" in text and "| pinv |" in text and "LPIPS" in text
    for f in ("psnr_vs_nfe.png", "pareto.png", "grid_box.png"):
        assert (tmp_path / "summary" / f).stat().st_size > 1000, f


def test_killed_run_redoes_only_the_lost_row(setup):
    suite, calls, out = setup
    bench.run_suite(suite, out, progress=False, device="cpu")
    full = lines(out)
    lost = json.loads(full[-1])
    # a kill in the middle of writing the last row: a torn line without its newline
    out.write_text("\n".join(full[:-1]) + "\n" + full[-1][: len(full[-1]) // 2])
    before = dict(calls)
    bench.run_suite(suite, out, progress=False, device="cpu")
    rows = bench.read_rows(out)
    assert len(rows) == 4
    redone = rows[-1]
    assert bench.row_key(redone) == bench.row_key(lost)
    assert redone["psnr"] == pytest.approx(lost["psnr"])  # the same result again
    assert calls[lost["method"]] == before[lost["method"]] + 1
    other = ({"ddnm", "pinv"} - {lost["method"]}).pop()
    assert calls[other] == before[other]
