"""``load_prior``: one front door for every checkpoint the toolkit can use as a prior.

Accepted, recognised from the file's contents (never from its name):

- a shipped name: ``"mnist"`` (``invdiff/weights/mnist.pt``) or ``"photo"``
  (``invdiff/weights/photo.pt``);
- our format ``invdiff-unet-v1`` (:func:`invdiff.io.save_model`, :func:`invdiff.train.export`);
- an invdiff training checkpoint (``runs/*.ckpt``; its EMA weights are used);
- an ADM / guided-diffusion UNet state dict (FFHQ 256 ``ffhq_10m.pt``, ImageNet 256
  unconditional), built through deepinv's ``DiffUNet`` (:mod:`invdiff.nets.adm`).

Every file is read with ``torch.load(weights_only=True)`` (:func:`invdiff.io.safe_load`):
a file that holds pickled code is refused with :class:`invdiff.io.CheckpointError`
and the code is never run; truncated or corrupt files get the same error class.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .io import FORMAT, CheckpointError, safe_load
from .prior import EpsPrior
from .schedule import VPSchedule

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SHIPPED = {"mnist": "mnist.pt", "photo": "photo.pt"}
# image shapes of the shipped data sets, for checkpoints that do not store one
_DATA_SHAPES = {"mnist": (1, 28, 28)}
SUPPORTED = (f"our format '{FORMAT}' (invdiff.io.save_model / invdiff.train.export), an invdiff training "
             "checkpoint (model/ema/optimizer/step), or an ADM / guided-diffusion UNet state dict "
             "(FFHQ 256 ffhq_10m.pt or ImageNet 256 unconditional; keys 'input_blocks.0.0.weight', "
             "'out.2.weight')")


def shipped_path(name: str) -> Path:
    """Path of a shipped model; ``FileNotFoundError`` if it is not installed."""
    if name not in SHIPPED:
        raise KeyError(f"unknown shipped model {name!r}; known: {sorted(SHIPPED)}")
    p = WEIGHTS_DIR / SHIPPED[name]
    if not p.is_file():
        raise FileNotFoundError(
            f"the shipped model {name!r} is not installed: {p} does not exist. Train it "
            f"(invdiff.train.train, then invdiff.train.export to {p}) or pass the path of a checkpoint.")
    return p


def resolve_weights(path_or_name) -> Path:
    """The checkpoint file of a shipped name (``"mnist"``, ``"photo"``) or a path; ``FileNotFoundError`` if absent."""
    if isinstance(path_or_name, str) and path_or_name in SHIPPED and not Path(path_or_name).exists():
        return shipped_path(path_or_name)
    p = Path(path_or_name).expanduser()
    if not p.is_file():
        hint = f" (shipped names: {sorted(SHIPPED)})" if isinstance(path_or_name, str) else ""
        raise FileNotFoundError(f"checkpoint {p} does not exist{hint}")
    return p


def _image_shape(ck: dict, in_channels: int):
    extra = ck.get("extra") or {}
    for shape in (ck.get("image_shape"), extra.get("image_shape") if isinstance(extra, dict) else None):
        if shape is not None:
            shape = tuple(int(s) for s in (shape.tolist() if torch.is_tensor(shape) else shape))
            return shape or None  # () = "any size" (fully convolutional use, e.g. photo patches)
    data = extra.get("data") if isinstance(extra, dict) else None
    if data in _DATA_SHAPES and _DATA_SHAPES[data][0] == in_channels:
        return _DATA_SHAPES[data]
    return None


def _schedule(name: str, T: int) -> VPSchedule:
    return VPSchedule.from_name(name, T=int(T))


def _ours(ck: dict, path: Path, device) -> EpsPrior:
    from .nets.unet import UNet, UNetConfig

    try:
        net = UNet(UNetConfig.from_dict(dict(ck["config"])))
        net.load_state_dict(ck["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: invdiff checkpoint whose weights do not match its config "
                              f"({type(e).__name__}: {str(e)[:300]})") from e
    net.eval().requires_grad_(False)
    prior = EpsPrior(net, _schedule(ck.get("schedule", "linear"), ck.get("T", 1000)),
                     ck.get("parameterization", "eps"), _image_shape(ck, net.config.in_channels),
                     name=path.stem)
    return prior.to(device) if device is not None else prior


def _training(ck: dict, path: Path, device) -> EpsPrior:
    from .nets.unet import UNet, UNetConfig

    cfg = dict(ck["config"])
    try:
        net = UNet(UNetConfig.from_dict(dict(cfg["net"])))
        net.load_state_dict(ck["ema"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: training checkpoint whose EMA weights do not match its config "
                              f"({type(e).__name__}: {str(e)[:300]})") from e
    net.eval().requires_grad_(False)
    shape = _image_shape({"extra": {"data": cfg.get("data")}}, net.config.in_channels)
    prior = EpsPrior(net, _schedule(cfg.get("schedule", "linear"), 1000), cfg.get("parameterization", "eps"),
                     shape, name=path.stem)
    return prior.to(device) if device is not None else prior


def _adm(sd: dict, path: Path, device) -> EpsPrior:
    from .nets.adm import load_adm

    net, info = load_adm(sd, device=device)
    return EpsPrior(net, VPSchedule.linear(1000), "eps", (info["in_channels"], 256, 256),
                    name=f"adm-{info['variant']}")


def load_prior(path_or_name, device=None) -> EpsPrior:
    """A prior from a shipped name (``"mnist"``, ``"photo"``) or a checkpoint file.

    Returns an :class:`invdiff.prior.EpsPrior` (VE σ convention, images in [-1, 1])
    on ``device`` (default: CPU).  Raises ``FileNotFoundError`` for a missing file or
    an uninstalled shipped model, and :class:`invdiff.io.CheckpointError` for files
    that hold pickled code, are truncated/corrupt, or are in no supported layout.
    """
    path = resolve_weights(path_or_name)
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
