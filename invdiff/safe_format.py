"""Weights in the ecosystem's safe format: ``.safetensors`` beside a JSON config (no pickle anywhere).

The diffusers convention, for one model: ``NAME.safetensors`` holds the tensors and
``NAME.json`` beside it holds the config.  For our format (:func:`invdiff.io.save_model`) the
JSON is the checkpoint dict without its ``state_dict``; tensors in its ``extra`` (a loss log)
are stored in the safetensors file as ``extra/KEY`` and put back on reading.
Neither file can carry code.  Writes are atomic (temporary file + rename); reads turn
broken files into :class:`invdiff.io.CheckpointError` with the word "corrupt".
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from .io import CheckpointError

SUFFIX = ".safetensors"


def config_path(weights: str | Path) -> Path:
    """The JSON config beside a ``.safetensors`` file (``NAME.json``)."""
    return Path(weights).with_suffix(".json")


def jsonable(obj):
    """``obj`` with tensors turned into (nested) lists and tuples into lists."""
    if torch.is_tensor(obj):
        return obj.tolist()
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save(path: str | Path, payload: dict, overwrite: bool = False) -> Path:
    """Write ``payload["state_dict"]`` (and tensors of ``payload["extra"]``) to ``path`` and the rest as JSON."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != SUFFIX:
        raise ValueError(f"{path}: safetensors weights need the {SUFFIX} suffix")
    cfg = config_path(path)
    for p in (path, cfg):
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} exists; pass overwrite=True (or --force) to replace it")
    config = {k: v for k, v in payload.items() if k != "state_dict"}
    tensors = {k: v.detach().cpu().contiguous() for k, v in payload["state_dict"].items()}
    extra = dict(config.get("extra") or {})
    for k in [k for k, v in extra.items() if torch.is_tensor(v)]:
        tensors[f"extra/{k}"] = extra.pop(k).detach().cpu().contiguous()
    if extra or "extra" in config:
        config["extra"] = extra
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(jsonable(config), indent=1, sort_keys=True)
    _atomic_write(cfg, lambda tmp: Path(tmp).write_text(text + "\n"))
    _atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    return path


def read_json(path: str | Path) -> dict:
    """A JSON object from ``path``; CheckpointError (corrupt) when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config {path} does not exist")
    try:
        obj = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"config {path} is corrupt (not valid JSON: {str(e)[:120]})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"config {path} is corrupt: it holds a JSON {type(obj).__name__}, expected an object")
    return obj


def load_tensors(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a ``.safetensors`` file on the CPU; CheckpointError (corrupt) when it cannot be read."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights {path} do not exist")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"weights {path} are corrupt or truncated (safetensors: {str(e)[:160]})") from None


def load(path: str | Path) -> dict:
    """The checkpoint dict of ``NAME.safetensors`` + ``NAME.json`` (the inverse of :func:`save`)."""
    path = Path(path)
    cfg = config_path(path)
    if not cfg.is_file():
        raise CheckpointError(
            f"{path}: no config {cfg.name} beside the weights (a safetensors file holds only "
            "tensors; invdiff.io.save_model writes both)"
        )
    tensors, ck = load_tensors(path), read_json(cfg)
    extra = {k[len("extra/") :]: tensors.pop(k) for k in [k for k in tensors if k.startswith("extra/")]}
    if extra:
        ck["extra"] = {**(ck.get("extra") or {}), **extra}
    ck["state_dict"] = tensors
    return ck


def convert(src: str | Path, dst: str | Path, overwrite: bool = False) -> Path:
    """Rewrite an invdiff ``.pt`` model (:func:`invdiff.io.save_model`) as ``dst`` (``.safetensors``) + JSON.

    How the shipped ``invdiff/weights/*.safetensors`` were made from the ``.pt`` files.
    """
    from .io import FORMAT, safe_load

    ck = safe_load(src)
    if ck.get("format") != FORMAT:
        raise CheckpointError(f"{src} is not an invdiff model file (format={ck.get('format')!r})")
    return save(dst, ck, overwrite=overwrite)
