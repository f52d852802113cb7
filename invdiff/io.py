"""Checkpoint and image I/O; the only place files are read or written.

Checkpoints are plain dicts of tensors, numbers and strings saved with
``torch.save`` and read back with ``torch.load(..., weights_only=True)``, so a
file holding pickled code is refused instead of executed (the error says "code";
random or truncated bytes say "corrupt").  Models can also be saved as
``.safetensors`` + a JSON config (:mod:`invdiff.safe_format`).  Writes are atomic
(temporary file + rename), and nothing existing is overwritten unless asked.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

FORMAT = "invdiff-unet-v1"


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, unsafe or not in a known layout."""


def atomic_save(obj, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def free_path(path: str | Path) -> Path:
    """``path`` if free, else path-1, path-2 … (never overwrite a file the user has)."""
    path = Path(path)
    if not path.exists():
        return path
    i = 1
    while (p := path.with_name(f"{path.stem}-{i}{path.suffix}")).exists():
        i += 1
    return p


_TEXT_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}
_SAFE_GLOBALS = ("torch.", "collections.OrderedDict", "_codecs.encode", "builtins.set")


def _pickle_globals(data: bytes) -> list[str] | None:
    """The globals a pickle stream imports (read with ``pickletools``, nothing is run); None if not a pickle."""
    import pickletools

    names, strings = [], []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in _TEXT_OPS:
                strings.append(str(arg))
            elif op.name in ("GLOBAL", "INST"):
                names.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL":
                names.append(".".join(strings[-2:]))
            elif op.name == "STOP":
                return names
    except Exception:  # noqa: BLE001 - any parse failure means "not a pickle"
        return None
    return None


def _pickle_bytes(path: Path) -> bytes | None:
    """The pickle stream of a checkpoint: ``*/data.pkl`` of a torch zip file, else the whole file."""
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                return z.read(name) if name else None
        return path.read_bytes()
    except (OSError, zipfile.BadZipFile, RuntimeError):
        return None


def _refusal(path: Path, err: Exception) -> CheckpointError:
    """Why ``torch.load(weights_only=True)`` refused ``path``: a code-carrying pickle, or corrupt bytes."""
    import re

    msg = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    line = next((x.strip() for x in msg.splitlines() if "Unsupported global" in x or "GLOBAL" in x), None)
    names = None if line else _pickle_globals(_pickle_bytes(path) or b"")
    # a global is module.name with identifiers (random bytes can form a short "pickle" with junk names)
    plausible = [n for n in names or () if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", n)]
    unsafe = [n for n in plausible if not n.startswith(_SAFE_GLOBALS)]
    if line or unsafe:
        what = line or f"it imports {', '.join(sorted(set(unsafe))[:5])}"
        return CheckpointError(
            f"refusing {path}: it holds pickled Python objects or code, which invdiff never unpickles "
            f"(only tensors, numbers and strings are accepted): {what}"
        )
    lines = [x.strip() for x in msg.splitlines() if x.strip() and "Weights only load failed" not in x]
    lines = [x for x in lines if not x.startswith(("Please file", "Check the documentation"))]
    first = lines[0][:160] if lines else ""
    if plausible:  # a pickle of allowed (torch) objects that torch still refused
        return CheckpointError(f"refusing {path}: torch.load(weights_only=True) cannot read it ({first})")
    return CheckpointError(f"checkpoint {path} is corrupt or truncated (torch.load: {type(err).__name__}: {first})")


def safe_load(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (or a ``.safetensors`` + JSON pair) as a dict.

    Missing files raise FileNotFoundError; corrupt, truncated or code-carrying ones CheckpointError.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":  # tensors + NAME.json beside them: nothing to unpickle
        from . import safe_format

        return safe_format.load(path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - zip/EOF/unpickling errors: the file is refused, never executed
        raise _refusal(path, e) from None
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"checkpoint {path} holds a {type(obj).__name__}, expected a dict (corrupt, or not a checkpoint)"
        )
    return obj


def save_model(
    path: str | Path,
    net,
    *,
    schedule: str = "linear",
    parameterization: str = "eps",
    T: int = 1000,
    extra: dict | None = None,
    overwrite: bool = False,
    image_shape: tuple[int, ...] | None = None,
) -> Path:
    """Save a UNet's state dict and config in our format (loadable by :func:`invdiff.load_prior`).

    A ``.safetensors`` path writes the tensors there and the rest as ``NAME.json`` beside
    it (:mod:`invdiff.safe_format`); any other suffix writes one ``torch.save`` file.

    ``image_shape`` (C, H, W) is the size the network was trained on (``()`` or None:
    any size, e.g. a patch-trained, fully convolutional use); ``load_prior`` passes it
    to :class:`invdiff.prior.EpsPrior`.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    payload = {
        "format": FORMAT,
        "config": net.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "schedule": schedule,
        "parameterization": parameterization,
        "T": int(T),
    }
    if image_shape is not None:
        payload["image_shape"] = [int(v) for v in image_shape]
    if extra:
        payload["extra"] = extra
    if path.suffix == ".safetensors":  # weights + NAME.json beside them (diffusers' convention)
        from . import safe_format

        return safe_format.save(path, payload, overwrite=overwrite)
    return atomic_save(payload, path)


def load_model(path: str | Path, map_location="cpu"):
    """Rebuild ``(net, meta)`` from a file written by :func:`save_model`."""
    from .nets.unet import UNet, UNetConfig

    ck = safe_load(path, map_location)
    if ck.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an invdiff checkpoint (format={ck.get('format')!r})")
    net = UNet(UNetConfig.from_dict(dict(ck["config"])))
    try:
        net.load_state_dict(ck["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not match the saved config: {str(e)[:300]}") from e
    net.eval().requires_grad_(False)
    meta = {k: ck[k] for k in ("schedule", "parameterization", "T") if k in ck}
    return net, meta


# ---- images -----------------------------------------------------------------------------
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def read_image(path: str | Path, channels: int | None = None) -> Tensor:
    """Read a PNG/JPEG/TIFF/BMP into (1, C, H, W) in [-1, 1] (channels=1 converts to gray, 3 to RGB).

    A missing file raises FileNotFoundError; a file that is not a readable image (a text file
    named .png, a truncated file, an animation, a non-finite float image) raises ValueError.
    """
    from skimage.io import imread

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        with warnings.catch_warnings():  # imageio lists its deprecated plugins when no plugin can read a file
            warnings.simplefilter("ignore", DeprecationWarning)
            img = np.asarray(imread(str(path)))
    except Exception as e:  # noqa: BLE001 - Pillow/imageio raise many types for undecodable files
        detail = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        if "backend" in detail or "plugin" in detail:  # imageio's list of plugins to install: not the cause
            detail = "no image decoder recognises its contents"
        raise ValueError(f"{path} is not an image invdiff can read (PNG, JPEG, TIFF or BMP): {detail}") from None
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] not in (1, 2, 3, 4)) or min(img.shape[:2]) < 1:
        raise ValueError(
            f"{path}: unsupported image layout {tuple(img.shape)} (expected H×W gray or H×W×3 color; "
            "animations and multi-page files are not supported)"
        )
    if (
        not (np.issubdtype(img.dtype, np.integer) or np.issubdtype(img.dtype, np.floating))
        or not np.isfinite(img).all()
    ):
        raise ValueError(f"{path}: pixel values must be finite numbers (got dtype {img.dtype})")
    img = img.astype(np.float64) / (255.0 if img.dtype == np.uint8 else (65535.0 if img.dtype == np.uint16 else 1.0))
    if img.ndim == 3 and img.shape[-1] in (2, 4):  # drop alpha
        img = img[..., : img.shape[-1] - 1]
    if channels == 1 and img.ndim == 3 and img.shape[-1] == 3:
        img = img @ np.array([0.299, 0.587, 0.114])
    if img.ndim == 2:
        img = img[..., None]
    if channels == 3 and img.shape[-1] == 1:
        img = np.repeat(img, 3, -1)
    return torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32))[None] * 2 - 1


def read_images(folder: str | Path, n: int | None = None, size: int = 256, channels: int = 3) -> Tensor:
    """The first ``n`` PNG/JPEG files of ``folder`` (sorted by name: FFHQ 00000…) as (n, C, size, size)
    in [-1, 1]; other sizes are resized (bicubic, antialiased)."""
    import torch.nn.functional as F

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})[:n]
    if not files:
        raise FileNotFoundError(f"no PNG/JPEG images in {folder}")
    xs = [read_image(f, channels=channels) for f in files]
    xs = [
        x if x.shape[-2:] == (size, size) else F.interpolate(x, size=(size, size), mode="bicubic", antialias=True)
        for x in xs
    ]
    return torch.cat(xs).clamp(-1, 1)


def write_image(path: str | Path, x: Tensor, overwrite: bool = False) -> Path:
    """Write one image (C, H, W) or (1, C, H, W) in [-1, 1] as PNG; values outside are clipped for display."""
    from skimage.io import imsave

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (or --force) to replace it")
    x = x.detach().cpu().float()
    if x.ndim == 4:
        x = x[0]
    img = ((x.clamp(-1, 1) + 1) / 2 * 255).round().byte().permute(1, 2, 0).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(str(path), img[..., 0] if img.shape[-1] == 1 else img, check_contrast=False)
    return path
