"""``load_prior``: one front door for every checkpoint the toolkit can use as a prior.

Accepted, recognised from the file's contents (never from its name):

- a shipped name: ``"mnist"`` or ``"photo"``: ``invdiff/weights/NAME.safetensors`` with
  ``NAME.json`` beside it when present, else ``invdiff/weights/NAME.pt``;
- our format ``invdiff-unet-v1`` (:func:`invdiff.io.save_model`, :func:`invdiff.train.export`),
  as one ``.pt`` file or as ``.safetensors`` + the JSON config beside it;
- a diffusers ``UNet2DModel`` folder (``config.json`` + ``diffusion_pytorch_model.safetensors``,
  with its scheduler config when present; :mod:`invdiff.nets.diffusers`), or a pipeline folder;
- an invdiff training checkpoint (``runs/*.ckpt``; its EMA weights are used);
- an ADM / guided-diffusion UNet state dict (FFHQ 256 ``ffhq_10m.pt``, ImageNet 256
  unconditional), built through deepinv's ``DiffUNet`` (:mod:`invdiff.nets.adm`).

Pickle files are read with ``torch.load(weights_only=True)`` (:func:`invdiff.io.safe_load`):
a file that holds pickled code is refused with :class:`invdiff.io.CheckpointError` (the
message says "code") and the code is never run; truncated or corrupt files get the same
error class (the message says "corrupt").  A config's ``image_shape`` is checked against
the network when loading (channels, and sides divisible by its down-sampling factor).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .io import FORMAT, CheckpointError, safe_load
from .prior import EpsPrior
from .schedule import VPSchedule

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SHIPPED = {"mnist": "mnist.pt", "photo": "photo.pt"}  # the .safetensors + .json beside them are read first
# image shapes of the shipped data sets, for checkpoints that do not store one
_DATA_SHAPES = {"mnist": (1, 28, 28)}
SUPPORTED = (
    f"our format '{FORMAT}' (invdiff.io.save_model / invdiff.train.export; .pt, or .safetensors with its "
    ".json), an invdiff training checkpoint (model/ema/optimizer/step), a diffusers UNet2DModel folder "
    "(config.json + diffusion_pytorch_model.safetensors), or an ADM / guided-diffusion UNet state dict "
    "(FFHQ 256 ffhq_10m.pt or ImageNet 256 unconditional; keys 'input_blocks.0.0.weight', 'out.2.weight')"
)


def shipped_path(name: str) -> Path:
    """Path of a shipped model (its ``.safetensors`` when installed with its JSON, else its ``.pt``)."""
    if name not in SHIPPED:
        raise KeyError(f"unknown shipped model {name!r}; known: {sorted(SHIPPED)}")
    pt = WEIGHTS_DIR / SHIPPED[name]
    safe = pt.with_suffix(".safetensors")
    if safe.is_file() and safe.with_suffix(".json").is_file():
        return safe
    if not pt.is_file():
        raise FileNotFoundError(
            f"the shipped model {name!r} is not installed: neither {safe} nor {pt} exists. Train it "
            f"(invdiff.train.train, then invdiff.train.export to {safe}) or pass the path of a checkpoint."
        )
    return pt


def resolve_weights(path_or_name) -> Path:
    """The checkpoint file of a shipped name (``"mnist"``, ``"photo"``) or a path; ``FileNotFoundError`` if absent."""
    if isinstance(path_or_name, str) and path_or_name in SHIPPED and not Path(path_or_name).exists():
        return shipped_path(path_or_name)
    p = Path(path_or_name).expanduser()
    if not p.exists():
        hint = f" (shipped names: {sorted(SHIPPED)})" if isinstance(path_or_name, str) else ""
        raise FileNotFoundError(f"checkpoint {p} does not exist{hint}")
    return p


def check_image_shape(shape, in_channels: int, factor: int, where) -> tuple[int, ...] | None:
    """``shape`` as (C, H, W) after checking it against the network (None: any size); CheckpointError if not."""
    if shape is None or len(shape) == 0:
        return None
    try:
        shape = tuple(int(s) for s in (shape.tolist() if torch.is_tensor(shape) else shape))
    except (TypeError, ValueError):
        raise CheckpointError(f"{where}: image_shape {shape!r} is not a list of 3 integers (C, H, W)") from None
    if len(shape) != 3 or min(shape) < 1:
        raise CheckpointError(f"{where}: image_shape {list(shape)} must be 3 positive integers (C, H, W)")
    if shape[0] != in_channels:
        raise CheckpointError(
            f"{where}: image_shape {list(shape)} has {shape[0]} channel(s) but the network takes {in_channels}"
        )
    if shape[1] % factor or shape[2] % factor:
        raise CheckpointError(
            f"{where}: image_shape {list(shape)}: the network down-samples by {factor}, so H and W "
            f"must be multiples of {factor}"
        )
    return shape


def _image_shape(ck: dict, net, where) -> tuple[int, ...] | None:
    in_channels, factor = net.config.in_channels, net.factor
    extra = ck.get("extra") or {}
    for shape in (ck.get("image_shape"), extra.get("image_shape") if isinstance(extra, dict) else None):
        if shape is not None:  # () = "any size" (fully convolutional use, e.g. photo patches)
            return check_image_shape(shape, in_channels, factor, where)
    data = extra.get("data") if isinstance(extra, dict) else None
    if data in _DATA_SHAPES and _DATA_SHAPES[data][0] == in_channels:
        return check_image_shape(_DATA_SHAPES[data], in_channels, factor, where)
    return None


def _schedule(name: str, T: int) -> VPSchedule:
    return VPSchedule.from_name(name, T=int(T))


def _ours(ck: dict, path: Path, device) -> EpsPrior:
    from .nets.unet import UNet, UNetConfig

    try:
        net = UNet(UNetConfig.from_dict(dict(ck["config"])))
        net.load_state_dict(ck["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(
            f"{path}: invdiff checkpoint whose weights do not match its config ({type(e).__name__}: {str(e)[:300]})"
        ) from e
    net.eval().requires_grad_(False)
    shape = _image_shape(ck, net, path)
    try:
        prior = EpsPrior(
            net,
            _schedule(ck.get("schedule", "linear"), ck.get("T", 1000)),
            ck.get("parameterization", "eps"),
            shape,
            name=path.stem,
        )
    except (TypeError, ValueError) as e:  # unknown schedule or parameterization
        raise CheckpointError(f"{path}: invalid config ({e})") from None
    return prior.to(device) if device is not None else prior


def _training(ck: dict, path: Path, device) -> EpsPrior:
    from .nets.unet import UNet, UNetConfig

    cfg = dict(ck["config"])
    try:
        net = UNet(UNetConfig.from_dict(dict(cfg["net"])))
        net.load_state_dict(ck["ema"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(
            f"{path}: training checkpoint whose EMA weights do not match its config "
            f"({type(e).__name__}: {str(e)[:300]})"
        ) from e
    net.eval().requires_grad_(False)
    shape = _image_shape({"extra": {"data": cfg.get("data")}}, net, path)
    prior = EpsPrior(
        net, _schedule(cfg.get("schedule", "linear"), 1000), cfg.get("parameterization", "eps"), shape, name=path.stem
    )
    return prior.to(device) if device is not None else prior


def _adm(sd: dict, path: Path, device) -> EpsPrior:
    from .nets.adm import load_adm

    net, info = load_adm(sd, device=device)
    return EpsPrior(net, VPSchedule.linear(1000), "eps", (info["in_channels"], 256, 256), name=f"adm-{info['variant']}")


def _diffusers(path: Path, device) -> EpsPrior:
    from .nets.diffusers import load_unet2d

    net, info = load_unet2d(path)
    shape = None
    if info["sample_size"] is not None:
        shape = check_image_shape(
            (info["in_channels"], *info["sample_size"]), info["in_channels"], info["factor"], path / "config.json"
        )
    prior = EpsPrior(net, info["schedule"], info["parameterization"], shape, name=f"diffusers-{info['name']}")
    return prior.to(device) if device is not None else prior


def _directory(path: Path, device) -> EpsPrior:
    from .nets.diffusers import is_diffusers_dir
    from .safe_format import read_json

    if is_diffusers_dir(path):
        return _diffusers(path, device)
    cfg = path / "config.json"
    if cfg.is_file() and read_json(cfg).get("format") == FORMAT:  # our model saved as a folder
        weights = sorted(path.glob("*.safetensors"))
        if len(weights) != 1:
            raise CheckpointError(f"{path}: expected one .safetensors file beside config.json, found {len(weights)}")
        from .safe_format import load_tensors

        ck = read_json(cfg)
        ck["state_dict"] = load_tensors(weights[0])
        return _ours(ck, path, device)
    raise CheckpointError(
        f"{path} is a folder but not a diffusers UNet2DModel (config.json + "
        f"diffusion_pytorch_model.safetensors) or pipeline folder; supported: {SUPPORTED}"
    )


def load_prior(path_or_name, device=None) -> EpsPrior:
    """A prior from a shipped name (``"mnist"``, ``"photo"``), a checkpoint file or a diffusers folder.

    Returns an :class:`invdiff.prior.EpsPrior` (VE σ convention, images in [-1, 1])
    on ``device`` (default: CPU; an unknown or absent device is a ``ValueError``).  Raises
    ``FileNotFoundError`` for a missing file or an uninstalled shipped model, and
    :class:`invdiff.io.CheckpointError` for files that hold pickled code, are truncated/corrupt, are in
    no supported layout, or whose
    ``image_shape`` does not fit the network.  A shipped model (by name or by the path of its
    file in ``invdiff/weights``) records its name as ``prior.shipped_name`` (None otherwise):
    :func:`invdiff.solve` then uses the tuned hyperparameters shipped beside it (``NAME.tuned.json``).
    """
    path = resolve_weights(path_or_name)
    prior = _load(path, check_device(device))
    prior.shipped_name = shipped_name(path)
    return prior


def check_device(device):
    """``device`` as a ``torch.device`` (None stays None); ValueError for an unknown or absent device."""
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: no CUDA GPU is available (torch.cuda.is_available() is False)")
    return dev


def shipped_name(path: Path) -> str | None:
    """The shipped name (``"mnist"``, ``"photo"``) whose weights file ``path`` is, else None."""
    p = Path(path).resolve()
    for name, file in SHIPPED.items():
        pt = (WEIGHTS_DIR / file).resolve()
        if p in (pt, pt.with_suffix(".safetensors")):
            return name
    return None


def _load(path: Path, device) -> EpsPrior:
    if path.is_dir():
        return _directory(path, device)
    ck = safe_load(path, map_location="cpu")
    if ck.get("format") == FORMAT:
        return _ours(ck, path, device)
    if isinstance(ck.get("format"), str):
        raise CheckpointError(f"{path}: unknown checkpoint format {ck['format']!r}; supported: {SUPPORTED}")
    if all(k in ck for k in ("ema", "config", "step")):
        return _training(ck, path, device)
    from .nets.adm import is_adm_state_dict, strip_prefix

    for cand in (ck, ck.get("state_dict"), ck.get("model"), ck.get("ema")):
        if isinstance(cand, dict) and is_adm_state_dict(strip_prefix(cand)):
            return _adm(cand, path, device)
    keys = ", ".join(repr(k) for k in list(ck)[:6]) + (", ..." if len(ck) > 6 else "")
    raise CheckpointError(f"{path}: unrecognised checkpoint layout (top-level keys {keys}); supported: {SUPPORTED}")
