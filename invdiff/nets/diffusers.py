"""diffusers ``UNet2DModel`` folders as priors (``config.json`` + ``diffusion_pytorch_model.safetensors``).

The β schedule and the prediction type come from a scheduler config when one is present:
``scheduler_config.json`` in the folder, ``scheduler/scheduler_config.json`` inside it, or, for
a pipeline's ``unet/`` folder, ``../scheduler/scheduler_config.json``; else diffusers'
``DDPMScheduler`` defaults (linear β from 1e-4 to 0.02, T = 1000, ε-prediction).  The network
is called as ``unet(x_t, t).sample`` with the continuous DDPM timestep t and the DDPM input
x_t = √ᾱ x0 + √(1−ᾱ) ε, which is what :class:`invdiff.prior.EpsPrior` feeds it.

diffusers is imported only here, when such a folder is loaded (``pip install invdiff[diffusers]``).
Weights are read with safetensors (or, for a ``.bin``, ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..io import CheckpointError, safe_load
from ..safe_format import load_tensors, read_json
from ..schedule import VPSchedule

CONFIG, WEIGHTS, WEIGHTS_BIN = "config.json", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"
PREDICTION = {"epsilon": "eps", "v_prediction": "v", "sample": "x0"}


def is_diffusers_dir(path: Path) -> bool:
    """True for a UNet folder (config.json naming a diffusers class) or a pipeline folder with ``unet/``."""
    path = Path(path)
    if (path / "model_index.json").is_file() and (path / "unet" / CONFIG).is_file():
        return True
    cfg = path / CONFIG
    if not cfg.is_file():
        return False
    try:
        return "_class_name" in read_json(cfg)
    except CheckpointError:
        return False


class DiffusersEps(nn.Module):
    """``forward(x_t, t)`` -> the UNet2DModel's output tensor (``.sample``)."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet

    def forward(self, x, t):
        t = torch.as_tensor(t, device=x.device, dtype=torch.float32).reshape(-1).expand(x.shape[0])
        return self.unet(x, t).sample


def _scheduler_config(unet_dir: Path) -> dict | None:
    for p in (
        unet_dir / "scheduler_config.json",
        unet_dir / "scheduler" / "scheduler_config.json",
        unet_dir.parent / "scheduler" / "scheduler_config.json",
    ):
        if p.is_file():
            return read_json(p)
    return None


def schedule_from_config(cfg: dict | None, where: str = "scheduler config") -> tuple[VPSchedule, str]:
    """``(VPSchedule, parameterization)`` from a diffusers scheduler config (None: DDPMScheduler defaults)."""
    cfg = cfg or {}
    T = int(cfg.get("num_train_timesteps", 1000))
    b0, b1 = float(cfg.get("beta_start", 1e-4)), float(cfg.get("beta_end", 0.02))
    kind = cfg.get("beta_schedule", "linear")
    pred = cfg.get("prediction_type", "epsilon")
    if pred not in PREDICTION:
        raise CheckpointError(f"{where}: prediction_type {pred!r} is not supported ({sorted(PREDICTION)})")
    if "beta_schedule" not in cfg and cfg.get("_class_name") and "beta_start" not in cfg:
        raise CheckpointError(
            f"{where}: {cfg['_class_name']} has no β schedule; only VP (DDPM-type) schedulers are supported"
        )
    if cfg.get("rescale_betas_zero_snr"):
        raise CheckpointError(f"{where}: rescale_betas_zero_snr (ᾱ_T = 0) is not supported")
    if cfg.get("trained_betas") is not None:
        betas = torch.as_tensor(cfg["trained_betas"], dtype=torch.float64)
        name = "trained"
    elif kind == "linear":
        return VPSchedule.linear(T, b0, b1), PREDICTION[pred]
    elif kind == "scaled_linear":
        betas, name = torch.linspace(b0**0.5, b1**0.5, T, dtype=torch.float64) ** 2, "scaled_linear"
    elif kind == "squaredcos_cap_v2":
        return VPSchedule.cosine(T), PREDICTION[pred]
    else:
        raise CheckpointError(
            f"{where}: beta_schedule {kind!r} is not supported "
            "(linear, scaled_linear, squaredcos_cap_v2 or trained_betas)"
        )
    try:
        return VPSchedule(torch.cumprod(1 - betas, 0), name=name), PREDICTION[pred]
    except ValueError as e:
        raise CheckpointError(f"{where}: invalid β schedule ({e})") from None


def _check_config(cfg: dict, where: str) -> None:
    cls = cfg.get("_class_name")
    if cls != "UNet2DModel":
        hint = " (text-conditioned: not a prior for inverse problems)" if cls == "UNet2DConditionModel" else ""
        raise CheckpointError(f"{where}: a diffusers {cls!r} model; invdiff loads UNet2DModel{hint}")
    if cfg.get("time_embedding_type", "positional") != "positional":
        raise CheckpointError(
            f"{where}: time_embedding_type {cfg['time_embedding_type']!r} (a VE/score-SDE "
            "network) is not supported; invdiff loads DDPM-type (positional) UNet2DModels"
        )
    if cfg.get("class_embed_type") is not None or cfg.get("num_class_embeds") is not None:
        raise CheckpointError(f"{where}: a class-conditional UNet2DModel; invdiff needs an unconditional one")


def _weights(unet_dir: Path) -> dict:
    if (unet_dir / WEIGHTS).is_file():
        return load_tensors(unet_dir / WEIGHTS)
    if (unet_dir / WEIGHTS_BIN).is_file():
        return safe_load(unet_dir / WEIGHTS_BIN)
    raise FileNotFoundError(f"{unet_dir}: no {WEIGHTS} (or {WEIGHTS_BIN}) beside {CONFIG}")


def load_unet2d(path: str | Path) -> tuple[nn.Module, dict]:
    """``(DiffusersEps, info)`` from a UNet2DModel (or pipeline) folder; info: schedule, parameterization,
    in_channels, sample_size (H, W), factor (the network's down-sampling), name."""
    path = Path(path)
    unet_dir = path / "unet" if (path / "model_index.json").is_file() else path
    cfg = read_json(unet_dir / CONFIG)
    _check_config(cfg, str(unet_dir / CONFIG))
    try:
        from diffusers import UNet2DModel
    except ImportError:
        raise ImportError(
            f"{path} is a diffusers model: install diffusers (pip install 'invdiff[diffusers]')"
        ) from None
    sd = _weights(unet_dir)
    try:
        unet = UNet2DModel.from_config({k: v for k, v in cfg.items() if not k.startswith("_")})
        missing, unexpected = unet.load_state_dict(sd, strict=False)
    except (TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(
            f"{unet_dir}: weights do not match {CONFIG} ({type(e).__name__}: {str(e)[:300]})"
        ) from None
    if missing or unexpected:
        raise CheckpointError(
            f"{unet_dir}: weights do not match {CONFIG}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}"
        )
    unet = unet.float().eval().requires_grad_(False)
    schedule, parameterization = schedule_from_config(_scheduler_config(unet_dir))
    c = unet.config
    size = c.sample_size
    size = None if size is None else (int(size), int(size)) if isinstance(size, (int, float)) else tuple(size)
    info = {
        "schedule": schedule,
        "parameterization": parameterization,
        "in_channels": int(c.in_channels),
        "sample_size": size,
        "factor": 2 ** (len(c.block_out_channels) - 1),
        "name": path.name,
    }
    return DiffusersEps(unet), info
