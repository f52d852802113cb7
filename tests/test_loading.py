"""load_prior: our format, ADM / guided-diffusion layout, and refusal of unsafe, broken or unknown files."""

import pickle
from pathlib import Path

import pytest
import torch

from invdiff import load as L
from invdiff.io import CheckpointError, save_model
from invdiff.load import load_prior
from invdiff.nets.unet import UNet, UNetConfig
from invdiff.schedule import VPSchedule


def _tiny_unet(seed=0) -> UNet:
    torch.manual_seed(seed)
    net = UNet(UNetConfig(in_channels=1, channels=8, multipliers=(1, 2), attention_levels=(1,), heads=2))
    with torch.no_grad():  # the output conv starts at zero: make the network non-trivial
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


def _at_integer_t(schedule: VPSchedule, k: int):
    """σ exactly at DDPM step k, and the VP input scale √ᾱ_k (an independent route to the adapter)."""
    return float(schedule.sigmas[k]), float(schedule.alphas_cumprod[k].sqrt())


# --------------------------------------------------------------------------- our format
def test_our_format_round_trip(tmp_path):
    net = _tiny_unet()
    path = save_model(tmp_path / "m.pt", net, image_shape=(1, 28, 28))
    prior = load_prior(path, device="cpu")
    assert prior.image_shape == (1, 28, 28) and prior.parameterization == "eps"
    assert prior.schedule.name == "linear" and prior.schedule.T == 1000
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    for k in (10, 500, 990):
        sigma, scale = _at_integer_t(prior.schedule, k)
        with torch.no_grad():
            ref = net(x * scale, torch.full((3,), float(k)))
            out = prior.eps(x, sigma)
        assert torch.allclose(out, ref, atol=1e-5), k
        assert torch.allclose(prior.x0(x, sigma), x - sigma * ref, atol=1e-4 * max(1, sigma))


def test_our_format_image_shape_inferred_for_mnist(tmp_path):
    path = save_model(tmp_path / "m.pt", _tiny_unet(), extra={"data": "mnist"})
    assert load_prior(path).image_shape == (1, 28, 28)
    path = save_model(tmp_path / "p.pt", _tiny_unet(), image_shape=(), extra={"data": "photo"})
    assert load_prior(path).image_shape is None  # patch-trained: any size


def test_our_format_with_wrong_weights_is_refused(tmp_path):
    net = _tiny_unet()
    path = save_model(tmp_path / "m.pt", net)
    ck = torch.load(path, weights_only=True)
    ck["config"]["channels"] = 16
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="do not match"):
        load_prior(tmp_path / "bad.pt")


# --------------------------------------------------------------------------- ADM layout
@pytest.fixture(scope="module")
def adm_file(tmp_path_factory):
    """A randomly initialised FFHQ-variant DiffUNet saved as a plain ADM state dict (~370 MB)."""
    from invdiff.nets.adm import build_diffunet

    torch.manual_seed(0)
    unet = build_diffunet(3, 6, large_model=False, device="cpu")
    with torch.no_grad():
        unet.out[2].weight.normal_(0, 0.02)  # zero-initialised in ADM: make the output depend on the input
    sd = {k: v for k, v in unet.state_dict().items() if not k.startswith("sqrt_")}  # ADM files lack these
    path = tmp_path_factory.mktemp("adm") / "ffhq_10m.pt"
    torch.save(sd, path)
    yield path, unet.eval()
    path.unlink()  # pytest keeps recent temp dirs: do not leave 370 MB behind


def test_adm_ffhq_round_trip(adm_file):
    path, unet = adm_file
    prior = load_prior(path)
    assert prior.name == "adm-ffhq" and prior.image_shape == (3, 256, 256)
    assert prior.schedule.name == "linear" and prior.parameterization == "eps"
    assert torch.allclose(prior.schedule.alphas_cumprod, VPSchedule.linear(1000, 1e-4, 0.02).alphas_cumprod)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))  # small size: CPU-friendly
    sigma, scale = _at_integer_t(prior.schedule, 300)
    with torch.no_grad():
        ref = unet.forward_diffusion(x * scale, torch.tensor([300.0]))
        out = prior.eps(x, sigma)
    assert ref.shape[1] == 6 and out.shape == x.shape  # learned-variance channels dropped
    assert ref[:, :3].abs().mean() > 1e-3
    assert torch.allclose(out, ref[:, :3], atol=1e-4)
    assert not any(p.requires_grad for p in prior.net.parameters())


def test_adm_variant_detection_from_shapes():
    from invdiff.nets.adm import adm_variant, build_diffunet, strip_prefix

    ffhq = build_diffunet(3, 6, large_model=False, device="meta").state_dict()
    imnet = build_diffunet(3, 6, large_model=True, device="meta").state_dict()  # shapes only, no memory
    assert adm_variant(ffhq)["variant"] == "ffhq"
    info = adm_variant({f"module.{k}": v for k, v in imnet.items()})
    assert info == {"variant": "imagenet", "in_channels": 3, "out_channels": 6, "large_model": True}
    assert strip_prefix({"module.a": 1, "module.b": 2}) == {"a": 1, "b": 2}
    odd = dict(ffhq)
    odd["input_blocks.0.0.weight"] = torch.empty(64, 3, 3, 3, device="meta")
    with pytest.raises(CheckpointError, match="not a supported variant.*ffhq.*imagenet"):
        adm_variant(odd)


def test_adm_with_missing_weights_is_refused(tmp_path):
    from invdiff.nets.adm import build_diffunet, load_adm

    sd = build_diffunet(3, 6, large_model=False, device="meta").state_dict()
    sd = {k: torch.zeros(v.shape) if v.numel() < 10 else v for k, v in sd.items()}
    del sd["middle_block.1.qkv.weight"]
    with pytest.raises(CheckpointError, match="missing keys.*middle_block.1.qkv.weight"):
        load_adm(sd)


# --------------------------------------------------------------------------- unsafe / broken / unknown files
class Payload:
    """An object whose unpickling runs code: it would create ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_payload_really_runs_code_when_unpickled(tmp_path):
    """Control: the payload is live, so the refusals below are meaningful."""
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["torch_object", "torch_dict", "plain_pickle"])
def test_pickled_code_is_refused_and_never_run(tmp_path, how):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    if how == "torch_object":
        torch.save(Payload(marker), path)
    elif how == "torch_dict":  # looks like a checkpoint, with code hidden in it
        torch.save({"format": "invdiff-unet-v1", "state_dict": {"w": torch.ones(2)}, "hook": Payload(marker)}, path)
    else:
        path.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(CheckpointError) as err:
        load_prior(path)
    assert not marker.exists()
    assert "pickled" in str(err.value) and "refusing" in str(err.value)


@pytest.mark.parametrize("keep", [0.5, 0.0])
def test_truncated_file_is_refused(tmp_path, keep):
    path = save_model(tmp_path / "m.pt", _tiny_unet())
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="corrupt or truncated|cannot read"):
        load_prior(cut)


def test_missing_file_and_missing_shipped_model(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_prior(tmp_path / "nope.pt")
    monkeypatch.setattr(L, "WEIGHTS_DIR", tmp_path / "weights")
    with pytest.raises(FileNotFoundError, match="shipped model 'mnist' is not installed"):
        load_prior("mnist")
    with pytest.raises(FileNotFoundError, match="shipped model 'photo'"):
        load_prior("photo")


def test_shipped_name_resolves_to_weights_dir(tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    save_model(tmp_path / "weights" / "mnist.pt", _tiny_unet(), image_shape=(1, 28, 28))
    monkeypatch.setattr(L, "WEIGHTS_DIR", tmp_path / "weights")
    assert load_prior("mnist").image_shape == (1, 28, 28)


def test_unknown_layout_lists_what_is_supported(tmp_path):
    torch.save({"encoder.weight": torch.ones(2, 2)}, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="unrecognised checkpoint layout") as err:
        load_prior(tmp_path / "x.pt")
    msg = str(err.value)
    assert "invdiff-unet-v1" in msg and "ADM" in msg and "training checkpoint" in msg
    torch.save({"format": "someone-else-v3"}, tmp_path / "y.pt")
    with pytest.raises(CheckpointError, match="unknown checkpoint format 'someone-else-v3'.*supported"):
        load_prior(tmp_path / "y.pt")
    torch.save(torch.ones(3), tmp_path / "z.pt")
    with pytest.raises(CheckpointError, match="expected a dict"):
        load_prior(tmp_path / "z.pt")
