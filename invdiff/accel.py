"""GPU-path switches for a network prior: mixed precision, channels-last memory, ``torch.compile``.

:func:`accelerate` changes an :class:`invdiff.prior.EpsPrior` in place: ``amp`` ("bf16" or
"fp16") runs the network alone under ``torch.autocast`` (its weights stay float32; its output
is cast back to the sampler's dtype, so sampler state stays float32/float64), ``channels_last``
stores the weights and the network's input in NHWC order, ``compile`` wraps the network in
``torch.compile``.  ``tags`` names the settings for benchmark rows.  The command line has them
as ``--amp``, ``--channels-last`` and ``--compile`` on ``bench``, ``restore`` and ``sample``.
"""

from __future__ import annotations

import torch

__all__ = ["AMP", "accelerate", "tags"]

AMP = {"bf16": torch.bfloat16, "fp16": torch.float16}


def accelerate(prior, amp: str | None = None, channels_last: bool = False, compile: bool | str = False):
    """``prior`` with the network run as asked (see the module docstring); returns ``prior``.
    ``compile``: True (torch.compile's default backend, inductor) or a backend name."""
    if not (amp or channels_last or compile):
        return prior
    from .prior import EpsPrior

    if not isinstance(prior, EpsPrior) or not isinstance(prior.net, torch.nn.Module):
        raise TypeError(f"--amp/--channels-last/--compile apply to network priors, not to {type(prior).__name__}")
    if amp is not None:
        if amp not in AMP:
            raise ValueError(f"amp must be one of {sorted(AMP)}, got {amp!r}")
        prior.amp = AMP[amp]
    if channels_last:
        prior.net.to(memory_format=torch.channels_last)
        prior.channels_last = True
    if compile:
        prior.net = torch.compile(prior.net, **({"backend": compile} if isinstance(compile, str) else {}))
    return prior


def tags(amp: str | None = None, channels_last: bool = False, compile: bool = False) -> dict:
    """The settings that differ from the default, as benchmark row fields ({} by default)."""
    out = {"amp": amp} if amp else {}
    if channels_last:
        out["channels_last"] = True
    if compile:
        out["compile"] = True
    return out
