"""Image files and tensors: reading a file into a tensor, tensors to uint8, PNG and JPEG writes, thumbnails, and the
image files of a folder. Plain torch and Pillow.

Tensors are RGB ``(3, H, W)`` (or a batch ``(1, 3, H, W)``) in [0, 1]; arrays are uint8 ``(H, W, 3)`` or ``(H, W)``.
Every write is atomic (:func:`lit_actmax.run.files.atomic_write_bytes`): a reader never sees half a file. A file that
is missing or that Pillow cannot read raises one :class:`~lit_actmax.errors.ConfigError` sentence. Image files may be
local or at an fsspec URL (:mod:`lit_actmax.run.storage`); a relative path that is no file here but one of the package
(:data:`PACKAGE_DIR`: ``configs/images/chelsea_160.jpg``, what the shipped configs name) is read from the package, so
those configs work from any folder and from an installed wheel.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import ConfigError
from ..run.files import atomic_write_bytes
from ..run.storage import AnyPath, Location, location
from .ops import as_hw

__all__ = ["IMAGE_SUFFIXES", "PACKAGE_DIR", "image_file", "list_images", "open_image", "read_image", "load_image",
           "to_uint8", "to_pil", "encode_image", "save_png", "save_jpeg", "write_thumbnail"]

#: The file suffixes :func:`list_images` takes as images (lower case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
#: The installed package's folder, where a relative image path that is no file in the working folder is looked up.
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def image_file(path: AnyPath) -> Location:
    """The file ``path`` names: itself, or for a relative path that is no file here the package's file of that
    path (``configs/images/chelsea_160.jpg``, the shipped configs' images) when there is one."""
    found = location(path)
    if isinstance(found, Path) and not found.is_absolute() and not found.is_file() and (PACKAGE_DIR / found).is_file():
        return PACKAGE_DIR / found
    return found


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Every image file under ``folder`` (recursively), sorted by relative path: the image ids are indices."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"Image folder {str(root)!r} does not exist; give a folder of PNG/JPEG images.")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConfigError(f"No images ({', '.join(IMAGE_SUFFIXES)}) under {str(root)!r}.")
    return files


def open_image(path: AnyPath) -> Image.Image:
    """An image file (:func:`image_file`), decoded, as a PIL image in its own mode (the file is closed again)."""
    path = image_file(path)
    if not path.is_file():
        raise ConfigError(f"Image file {str(path)!r} does not exist; give the path of a PNG or JPEG file.")
    try:
        with path.open("rb") as handle, Image.open(handle) as image:
            image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ConfigError(f"{str(path)!r} is not an image Pillow can read ({error}); give a PNG or JPEG file.") from None
    return image


def read_image(path: AnyPath) -> torch.Tensor:
    """An image file -> ``(3, H, W)`` float32 RGB in [0, 1] at its own size (transparency dropped)."""
    array = np.asarray(open_image(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)


def load_image(path: str | os.PathLike, size: int | Sequence[int]) -> torch.Tensor:
    """An image file -> ``(1, 3, h, w)`` RGB in [0, 1]: centre-cropped to the aspect of ``size``, then resized
    (bilinear, antialiased)."""
    x = read_image(path).unsqueeze(0)
    h, w = as_hw(size)
    src_h, src_w = x.shape[-2:]
    if src_h * w > src_w * h:  # too tall: crop rows
        keep = round(src_w * h / w)
        top = (src_h - keep) // 2
        x = x[..., top:top + keep, :]
    elif src_h * w < src_w * h:  # too wide: crop columns
        keep = round(src_h * w / h)
        left = (src_w - keep) // 2
        x = x[..., left:left + keep]
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [0, 1] -> (H, W, 3) uint8; (1, H, W) or (H, W) -> (H, W) uint8."""
    image = image.detach().float().cpu().clamp(0, 1)
    if image.dim() == 3 and image.shape[0] == 1:
        image = image[0]
    array = (image.numpy() * 255.0 + 0.5).astype(np.uint8)
    return array.transpose(1, 2, 0) if array.ndim == 3 else array


def to_pil(image: torch.Tensor | np.ndarray | Image.Image) -> Image.Image:
    """(3, H, W) / (4, H, W) / (1, H, W) in [0, 1], a uint8 array (H, W[, C]) or a PIL image, as a PIL image."""
    if isinstance(image, torch.Tensor):
        return Image.fromarray(to_uint8(image))
    if isinstance(image, np.ndarray):
        return Image.fromarray(image)
    return image


def encode_image(image: torch.Tensor | np.ndarray | Image.Image, format: str, **options: Any) -> bytes:
    """The bytes of ``image`` (see :func:`to_pil`) as a ``format`` file ("PNG", "JPEG", ...) with Pillow's
    ``options`` (``quality=90``)."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format=format, **options)
    return buffer.getvalue()


def save_png(path: AnyPath, image: torch.Tensor | np.ndarray | Image.Image) -> None:
    """Save (3, H, W) / (4, H, W) in [0, 1], a uint8 array or a PIL image as PNG, atomically."""
    atomic_write_bytes(path, encode_image(image, "PNG"))


def save_jpeg(path: AnyPath, image: torch.Tensor | np.ndarray | Image.Image, quality: int = 90) -> None:
    """Save an RGB image (see :func:`to_pil`) as JPEG of ``quality``, atomically."""
    atomic_write_bytes(path, encode_image(image, "JPEG", quality=quality))


def write_thumbnail(source: AnyPath, target: AnyPath, side: int, quality: int = 88) -> bool:
    """Write ``target``, a JPEG of the image file ``source`` whose longest side is about ``side`` px (transparency
    over white; a large image shrunk, one of at most half the side enlarged by a whole factor with sharp pixels),
    unless it exists and is not older than ``source``. Returns whether it was written."""
    source, target = location(source), location(target)
    if target.is_file() and source.is_file() and target.stat().st_mtime_ns >= source.stat().st_mtime_ns:
        return False
    image = open_image(source)
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
    else:
        flat = image.convert("RGB")
    longest = max(flat.size)
    if longest > side:
        flat.thumbnail((side, side), Image.Resampling.LANCZOS)
    elif longest * 2 <= side:  # a 32 px image -> 96 px with sharp pixels, so JPEG blocks stay inside them
        factor = side // longest
        flat = flat.resize((flat.width * factor, flat.height * factor), Image.Resampling.NEAREST)
    save_jpeg(target, flat, quality=quality)
    return True
