"""Loader for ADM / guided-diffusion checkpoints (Dhariwal & Nichol 2021; Choi et al. 2021).

The networks are built with deepinv's port of the architecture,
:class:`deepinv.models.DiffUNet` (:func:`invdiff.interop.diffunet.build_diffunet`,
``pretrained=None``: nothing is downloaded),
and the weights come from a local file read with ``weights_only=True``.  Two
variants are known (REFERENCES.md):

- ``"ffhq"``: FFHQ 256 ``ffhq_10m.pt`` (DPS): 128 channels, 1 res block,
  attention at 16×16, learned σ (6 output channels);
- ``"imagenet"``: ImageNet 256 unconditional ADM: 256 channels, 2 res blocks,
  attention at 32/16/8, learned σ.

Both use the linear β schedule (1e-4 → 0.02, T = 1000) and channel multipliers
(1, 1, 2, 2, 4, 4).  The layout is recognised from the state-dict keys
(``input_blocks.0.0.weight``, ``out.2.weight``) and the variant from the shapes.
:class:`ADMNet` is the ``net(x_t, t)`` that :class:`invdiff.prior.EpsPrior` calls
(it returns all 2C channels; ``EpsPrior`` drops the variance half).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..interop.diffunet import BUFFERS as _BUFFERS
from ..interop.diffunet import build_diffunet, restore_buffers

__all__ = ["ADMNet", "adm_variant", "build_diffunet", "is_adm_state_dict", "load_adm", "strip_prefix"]

# key -> what it tells; first two identify the layout
ADM_KEYS = ("input_blocks.0.0.weight", "out.2.weight", "time_embed.0.weight")
VARIANTS = {
    "ffhq": dict(
        large_model=False,
        channels=128,
        res_blocks=1,
        attention=(16,),
        description="FFHQ 256 (ffhq_10m.pt): 128 ch, 1 res block, attention at 16, learned sigma",
    ),
    "imagenet": dict(
        large_model=True,
        channels=256,
        res_blocks=2,
        attention=(32, 16, 8),
        description="ImageNet 256 unconditional: 256 ch, 2 res blocks, attention at 32/16/8, learned sigma",
    ),
}
_PREFIXES = ("module.", "model.")


def strip_prefix(state_dict: dict) -> dict:
    """Drop a common ``module.``/``model.`` prefix (DataParallel / wrapper checkpoints)."""
    for p in _PREFIXES:
        if state_dict and all(isinstance(k, str) and k.startswith(p) for k in state_dict):
            return {k[len(p) :]: v for k, v in state_dict.items()}
    return state_dict


def is_adm_state_dict(state_dict) -> bool:
    """True when ``state_dict`` has the ADM / guided-diffusion UNet keys."""
    return isinstance(state_dict, dict) and all(k in state_dict for k in ADM_KEYS[:2])


def _num_res_blocks(state_dict: dict) -> int:
    # input_blocks = [conv] + 6 levels x res_blocks + 5 down-sampling blocks
    n = 1 + max(int(k.split(".")[1]) for k in state_dict if k.startswith("input_blocks."))
    return (n - 1 - 5) // 6


def adm_variant(state_dict: dict) -> dict:
    """``{"variant", "in_channels", "out_channels", "large_model"}`` read from the shapes.

    Raises :class:`invdiff.io.CheckpointError` for an ADM layout that is not one of :data:`VARIANTS`.
    """
    from ..io import CheckpointError

    sd = strip_prefix(state_dict)
    if not is_adm_state_dict(sd):
        raise CheckpointError(f"not an ADM / guided-diffusion state dict (needs keys {ADM_KEYS[:2]})")
    w_in, w_out = sd["input_blocks.0.0.weight"], sd["out.2.weight"]
    ch, cin, cout = int(w_in.shape[0]), int(w_in.shape[1]), int(w_out.shape[0])
    blocks = _num_res_blocks(sd)
    for name, v in VARIANTS.items():
        if v["channels"] == ch and v["res_blocks"] == blocks:
            break
    else:
        known = "; ".join(f"{k}: {v['description']}" for k, v in VARIANTS.items())
        raise CheckpointError(
            f"ADM checkpoint with {ch} channels and {blocks} res blocks per level is not a supported variant ({known})"
        )
    if cout not in (cin, 2 * cin):
        raise CheckpointError(
            f"ADM checkpoint maps {cin} channels to {cout}; expected {cin} or {2 * cin} "
            "(epsilon, or epsilon and learned variance)"
        )
    if cout == 3 and cin == 3:
        raise CheckpointError(
            "ADM checkpoint without learned variance (3 output channels) is not supported by "
            "deepinv's DiffUNet, which always builds 6 output channels for RGB"
        )
    return {"variant": name, "in_channels": cin, "out_channels": cout, "large_model": v["large_model"]}


class ADMNet(nn.Module):
    """``net(x_t, t) -> (B, 2C, H, W)``: ε and the learned-variance channels of an ADM UNet.

    ``t`` is the (continuous) DDPM timestep in [0, T-1].  Inputs whose sides are not
    multiples of 32 are padded circularly and cropped back, as deepinv's DiffUNet does.
    """

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x: Tensor, t: Tensor | float) -> Tensor:
        t = torch.as_tensor(t, device=x.device, dtype=torch.float32).reshape(-1).expand(x.shape[0])
        ph, pw = -x.shape[-2] % 32, -x.shape[-1] % 32
        if ph or pw:
            x = F.pad(x, (pw, 0, ph, 0), mode="circular")
        out = self.unet.forward_diffusion(x, t)
        return out[..., ph:, pw:]


def load_adm(state_dict: dict, device=None) -> tuple[ADMNet, dict]:
    """Build the matching ``DiffUNet`` and load ``state_dict`` (strict, deepinv's buffers excepted).

    Returns ``(net, info)`` with ``info`` from :func:`adm_variant`.  The network is in eval
    mode with gradients off; weights are cast to float32.
    """
    from ..io import CheckpointError

    sd = strip_prefix(state_dict)
    info = adm_variant(sd)
    unet = build_diffunet(info["in_channels"], info["out_channels"], info["large_model"], device="meta")
    weights = {
        k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in sd.items() if k not in _BUFFERS
    }
    expected = {k: v for k, v in unet.state_dict().items() if k not in _BUFFERS}
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    bad = [k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or bad:
        raise CheckpointError(
            f"ADM checkpoint ({info['variant']} variant) does not match deepinv's DiffUNet: "
            f"{len(missing)} missing keys {missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]}, "
            f"{len(bad)} shape mismatches {bad[:5]}"
        )
    unet.load_state_dict(weights, strict=False, assign=True)
    # deepinv's denoising buffers are not in ADM files: recompute them (used only by forward_denoise)
    restore_buffers(unet)
    net = ADMNet(unet).eval().requires_grad_(False)
    if device is not None:
        net.to(device)
    return net, info
