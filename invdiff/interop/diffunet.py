"""deepinv's ``DiffUNet``, its port of the ADM / guided-diffusion UNet, built without downloading.

:mod:`invdiff.nets.adm` recognises ADM checkpoints and loads their weights into the
network built here.
"""

from __future__ import annotations

import torch

__all__ = ["BUFFERS", "build_diffunet", "restore_buffers"]

# deepinv's own buffers, not ADM weights (absent from ADM files)
BUFFERS = ("sqrt_1m_alphas_cumprod", "sqrt_alphas_cumprod")


def build_diffunet(in_channels: int = 3, out_channels: int = 6, large_model: bool = False, device="meta"):
    """An un-initialised (meta) or randomly initialised deepinv ``DiffUNet``; never downloads."""
    from deepinv.models import DiffUNet

    with torch.device(device):
        # DiffUNet turns out_channels=3 into 6 (learned variance); other counts are kept
        return DiffUNet(
            in_channels=in_channels,
            out_channels=3 if out_channels == 6 else out_channels,
            large_model=large_model,
            pretrained=None,
        )


def restore_buffers(unet) -> None:
    """Recompute the :data:`BUFFERS` of a ``DiffUNet`` whose weights came from an ADM file
    (deepinv uses them only in ``forward_denoise``)."""
    s1m, sa = unet.get_alpha_prod()[-2:]
    unet.sqrt_1m_alphas_cumprod, unet.sqrt_alphas_cumprod = s1m, sa
