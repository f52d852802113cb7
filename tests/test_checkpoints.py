"""Checkpoints in the safe format: shipped .safetensors + JSON, diffusers UNet2DModel folders, corrupt/unsafe files."""

import json
import pickle
import random
import shutil
from pathlib import Path

import pytest
import torch

from invdiff import load as L
from invdiff.io import CheckpointError, safe_load, save_model
from invdiff.load import load_prior
from invdiff.nets.unet import UNet, UNetConfig


def _tiny_unet(seed=0) -> UNet:
    torch.manual_seed(seed)
    net = UNet(UNetConfig(in_channels=1, channels=8, multipliers=(1, 2), attention_levels=(1,), heads=2))
    with torch.no_grad():  # the output conv starts at zero: make the network non-trivial
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


X = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))


# --------------------------------------------------------------------------- shipped priors
@pytest.mark.parametrize("name", ["mnist", "photo"])
def test_shipped_safetensors_are_read_first_and_match_the_pt(name):
    pt = L.WEIGHTS_DIR / L.SHIPPED[name]
    safe = L.shipped_path(name)
    assert safe.suffix == ".safetensors" and safe.with_suffix(".json").is_file()
    a, b = safe_load(safe), safe_load(pt)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], v) for k, v in b["state_dict"].items())
    assert torch.equal(a["extra"]["log"], b["extra"]["log"])  # the loss log travels in the safetensors file
    assert {k: a[k] for k in ("format", "config", "schedule", "T", "image_shape")} == {
        k: list(b[k]) if k == "image_shape" else b[k] for k in ("format", "config", "schedule", "T", "image_shape")
    }
    prior = load_prior(name)
    assert prior.image_shape == (tuple(b["image_shape"]) or None)


def test_pyproject_ships_the_safe_files_and_depends_on_safetensors():
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '"weights/*.safetensors"' in text and '"weights/*.json"' in text
    assert '"safetensors' in text and "diffusers" in text


def test_save_model_safetensors_round_trip(tmp_path):
    net = _tiny_unet()
    path = save_model(tmp_path / "m.safetensors", net, image_shape=(1, 8, 8), extra={"log": torch.ones(3, 2)})
    cfg = json.loads((tmp_path / "m.json").read_text())
    assert cfg["format"] == "invdiff-unet-v1" and cfg["image_shape"] == [1, 8, 8] and "state_dict" not in cfg
    prior = load_prior(path)
    assert prior.image_shape == (1, 8, 8)
    with torch.no_grad():
        assert torch.equal(prior.eps(X, 0.3), load_prior(save_model(tmp_path / "m.pt", net)).eps(X, 0.3))
    with pytest.raises(FileExistsError):
        save_model(path, net)
    (tmp_path / "m.json").unlink()
    with pytest.raises(CheckpointError, match="no config m.json"):
        load_prior(path)


# --------------------------------------------------------------------------- diffusers UNet2DModel folders
@pytest.fixture(scope="module")
def diffusers_unet(tmp_path_factory):
    """A small random UNet2DModel saved by diffusers itself."""
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=8,
        in_channels=1,
        out_channels=1,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
        attention_head_dim=4,
    )
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(0.05 * torch.randn_like(p))
    root = tmp_path_factory.mktemp("diffusers")
    unet.save_pretrained(root / "unet")
    return root / "unet", unet.eval()


def _layout(tmp_path, unet_dir, layout, scheduler):
    """Copy the UNet folder into one of the layouts load_prior accepts, with the scheduler config placed there."""
    if layout == "pipeline":
        shutil.copytree(unet_dir, tmp_path / "pipe" / "unet")
        (tmp_path / "pipe" / "model_index.json").write_text('{"_class_name": "DDPMPipeline"}')
        scheduler.save_pretrained(tmp_path / "pipe" / "scheduler")
        return tmp_path / "pipe"
    target = tmp_path / "unet"
    shutil.copytree(unet_dir, target)
    if layout == "nested":
        scheduler.save_pretrained(target / "scheduler")
    elif layout == "sibling":
        scheduler.save_pretrained(tmp_path / "s")
        shutil.copy(tmp_path / "s" / "scheduler_config.json", target / "scheduler_config.json")
    return target


@pytest.mark.parametrize(
    "layout, kind, prediction",
    [
        ("nested", "scaled_linear", "epsilon"),
        ("sibling", "squaredcos_cap_v2", "v_prediction"),
        ("pipeline", "linear", "epsilon"),
        ("bare", "linear", "epsilon"),  # no scheduler config: DDPMScheduler's defaults
    ],
)
def test_diffusers_unet_eps_matches_the_model(tmp_path, diffusers_unet, layout, kind, prediction):
    from diffusers import DDPMScheduler

    unet_dir, unet = diffusers_unet
    scheduler = DDPMScheduler(
        beta_schedule=kind,
        prediction_type=prediction,
        beta_start=0.00085 if kind == "scaled_linear" else 1e-4,
        beta_end=0.012 if kind == "scaled_linear" else 0.02,
    )
    prior = load_prior(_layout(tmp_path, unet_dir, layout, scheduler))
    assert prior.image_shape == (1, 8, 8)
    assert prior.parameterization == {"epsilon": "eps", "v_prediction": "v"}[prediction]
    torch.testing.assert_close(prior.schedule.alphas_cumprod.float(), scheduler.alphas_cumprod, rtol=1e-5, atol=1e-6)
    for k in (3, 500, 990):
        sigma = float(prior.schedule.sigmas[k])
        ab = prior.schedule.alphas_cumprod[k].float()
        with torch.no_grad():
            xt = X * ab.sqrt()  # the DDPM input at step k: x_t = √ᾱ x0 + √(1−ᾱ) ε = √ᾱ (x0 + σ ε)
            out = unet(xt, torch.full((2,), k)).sample
            ref = out if prediction == "epsilon" else ab.sqrt() * out + (1 - ab).sqrt() * xt  # ε from v
            eps = prior.eps(X, sigma)
        assert ref.abs().mean() > 1e-2
        torch.testing.assert_close(eps, ref, rtol=1e-4, atol=1e-5)


def test_diffusers_folder_errors(tmp_path, diffusers_unet):
    unet_dir, _ = diffusers_unet
    d = tmp_path / "u"
    shutil.copytree(unet_dir, d)
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "sample_size": 7}))
    with pytest.raises(CheckpointError, match="image_shape .*multiples of 2"):
        load_prior(d)
    (d / "config.json").write_text(json.dumps({**cfg, "_class_name": "UNet2DConditionModel"}))
    with pytest.raises(CheckpointError, match="UNet2DConditionModel.*text-conditioned"):
        load_prior(d)
    (d / "config.json").write_text(json.dumps({**cfg, "time_embedding_type": "fourier"}))
    with pytest.raises(CheckpointError, match="fourier"):
        load_prior(d)
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "diffusion_pytorch_model.safetensors").write_bytes(random.Random(0).randbytes(4096))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_prior(d)
    (d / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_prior(d)


# --------------------------------------------------------------------------- corrupt and unsafe files
class Payload:
    """Unpickling this runs code (it would create ``marker``)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("suffix", [".pt", ".safetensors", ".bin"])
def test_random_bytes_say_corrupt(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(random.Random(suffix).randbytes(10_000))
    if suffix == ".safetensors":
        (tmp_path / "model.json").write_text('{"format": "invdiff-unet-v1"}')
    with pytest.raises(CheckpointError, match="corrupt") as err:
        load_prior(path)
    assert "pickled Python objects or code" not in str(err.value)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["plain_pickle", "torch_save", "diffusers_bin"])
def test_code_carrying_pickles_say_code(tmp_path, diffusers_unet, how):
    marker = tmp_path / "pwned"
    if how == "plain_pickle":
        path = tmp_path / "evil.pt"
        path.write_bytes(pickle.dumps({"state_dict": Payload(marker)}, protocol=4))
    elif how == "torch_save":
        path = tmp_path / "evil.pt"
        torch.save({"format": "invdiff-unet-v1", "hook": Payload(marker)}, path)
    else:  # a diffusers folder whose weights are a pickled .bin carrying code
        path = tmp_path / "u"
        shutil.copytree(diffusers_unet[0], path)
        (path / "diffusion_pytorch_model.safetensors").unlink()
        torch.save({"w": Payload(marker)}, path / "diffusion_pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickled Python objects or code") as err:
        load_prior(path)
    assert not marker.exists() and "corrupt" not in str(err.value)


@pytest.mark.parametrize(
    "shape, phrase",
    [
        ((3, 8, 8), "1 channel|takes 1"),
        ((1, 9, 8), "multiples of 2"),
        ((1, 8), "3 positive integers"),
    ],
)
def test_image_shape_is_checked_against_the_network(tmp_path, shape, phrase):
    for suffix in (".pt", ".safetensors"):
        path = save_model(tmp_path / f"m{suffix}", _tiny_unet(), image_shape=shape)
        with pytest.raises(CheckpointError, match=f"image_shape.*({phrase})"):
            load_prior(path)


@pytest.mark.parametrize("device, phrase", [("gpu", "unknown device 'gpu'"), ("cuda", "no CUDA GPU")])
def test_load_prior_checks_the_device(device, phrase):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match=phrase):
        load_prior("mnist", device=device)
