"""The ε-UNet: shapes at the sizes the project uses, time conditioning, gradients, and save/load."""

import pytest
import torch

from invdiff.io import CheckpointError, load_model, save_model
from invdiff.nets.unet import UNet, UNetConfig


def perturbed(cfg: UNetConfig, seed: int = 0) -> UNet:
    """A UNet with its zero-initialised layers made non-zero (so outputs depend on everything)."""
    with torch.random.fork_rng():  # parameter init draws from the global RNG; keep it untouched
        torch.manual_seed(seed)
        net = UNet(cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return net


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 28), (1, 32), (3, 32)])
def test_unet_shapes_time_and_gradients(channels, size):
    net = perturbed(UNetConfig(in_channels=channels, channels=16, groups=4))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, channels, size, size, generator=g)
    out = net(x, torch.tensor([10.0, 500.0]))
    assert out.shape == x.shape and torch.isfinite(out).all()
    # time conditioning: the same image at another t gives another output; per-sample t is honoured
    out_t = net(x, torch.tensor([500.0, 10.0]))
    assert (out - out_t).abs().amax(dim=(1, 2, 3)).min() > 1e-4
    torch.testing.assert_close(net(x[:1], 10.0), out[:1], rtol=1e-4, atol=1e-5)
    # a fresh network outputs exactly zero (zero-initialised output layer), as DDPM/ADM do
    assert torch.all(UNet(UNetConfig(in_channels=channels, channels=16, groups=4))(x, 3.0) == 0)
    # gradients reach every parameter and the input
    x.requires_grad_(True)
    net(x, torch.tensor([3.0, 700.0])).square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    missing = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing


def test_fully_convolutional_runs_at_other_sizes():
    net = perturbed(UNetConfig(in_channels=1, channels=16, groups=4, attention_levels=()))
    assert not any("qkv" in n for n, _ in net.named_parameters())
    for size in (40, 24):
        x = torch.randn(1, 1, size, size)
        out = net(x, 100.0)
        assert out.shape == x.shape and torch.isfinite(out).all()
    # and the time input still matters without attention
    x = torch.randn(1, 1, 40, 40)
    assert (net(x, 10.0) - net(x, 900.0)).abs().max() > 1e-4
    with pytest.raises(ValueError):
        net(torch.randn(1, 1, 30, 30), 1.0)  # not divisible by 4
    with pytest.raises(ValueError):
        net(torch.randn(1, 3, 40, 40), 1.0)  # wrong channels


def test_config_validation_and_round_trip():
    cfg = UNetConfig(in_channels=3, channels=16, groups=4, multipliers=(1, 2), attention_levels=(1,))
    assert cfg.out_channels == 3
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        UNetConfig(attention_levels=(5,))
    with pytest.raises(ValueError):
        UNetConfig(channels=10, groups=4)
    with pytest.raises(ValueError):
        UNetConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_save_load_rebuilds_identical_network(tmp_path):
    cfg = UNetConfig(in_channels=3, channels=16, groups=4, multipliers=(1, 2), attention_levels=(1,))
    net = perturbed(cfg, seed=3).eval()
    path = save_model(tmp_path / "net.pt", net, schedule="cosine", parameterization="v", T=500)
    loaded, meta = load_model(path)
    assert meta == {"schedule": "cosine", "parameterization": "v", "T": 500}
    assert loaded.config == cfg
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(x, torch.tensor([5.0, 400.0])), net(x, torch.tensor([5.0, 400.0])), rtol=0, atol=0
        )
    # an existing file is never overwritten unless asked
    with pytest.raises(FileExistsError):
        save_model(path, UNet(cfg))
    torch.testing.assert_close(load_model(path)[0](x, 5.0), loaded(x, 5.0), rtol=0, atol=0)
    save_model(path, UNet(cfg), overwrite=True)
    assert torch.all(load_model(path)[0](x, 5.0) == 0)


def test_load_refuses_foreign_and_pickled_files(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    torch.save({"format": "invdiff-unet-v1", "payload": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "evil.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "other.pt")
    (tmp_path / "trunc.pt").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "trunc.pt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")
