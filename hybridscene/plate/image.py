"""Plates from image files (PNG, JPEG, WebP), with an optional depth image or array."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import PlateError
from .plate import Plate

__all__ = ["SUPPORTED_IMAGE_EXTENSIONS", "load_plate"]

log = logging.getLogger(__name__)

SUPPORTED_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


def _open_image(path: Path, what: str):
    import warnings

    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise PlateError(f"{what} {str(path)!r} does not exist; check the path")
    if path.is_dir():
        raise PlateError(f"{what} {str(path)!r} is a folder; pass an image file")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            img = Image.open(path)
            img.load()
    except Image.DecompressionBombError as exc:
        raise PlateError(f"{what} {str(path)!r} is too large to open safely ({exc}); downscale it") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise PlateError(
            f"{what} {str(path)!r} is not a readable image ({exc}); "
            f"use one of {', '.join(SUPPORTED_IMAGE_EXTENSIONS)}"
        ) from None
    if any(issubclass(w.category, Image.DecompressionBombWarning) for w in caught):
        log.warning("%s %s is %dx%d (%.1f megapixels): it takes about %.0f MB in memory; a plate larger than the "
                    "frames gains nothing, so consider downscaling it", what, path, *img.size,
                    img.size[0] * img.size[1] / 1e6, img.size[0] * img.size[1] * 3 / 1e6)
    return img


def _to_rgb8(img) -> np.ndarray:
    """``(H, W, 3) uint8`` sRGB from any Pillow image: 16- and 32-bit greyscale (``I;16``, ``I``)
    are scaled from their full range, not truncated as ``convert("RGB")`` would."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        grey = np.asarray(img).astype(np.float64)
        top = 65535.0 if img.mode != "I" or grey.max(initial=0) <= 65535 else float(grey.max())
        grey8 = np.round(np.clip(grey / top, 0.0, 1.0) * 255.0).astype(np.uint8)
        return np.repeat(grey8[..., None], 3, axis=2)
    return np.asarray(img.convert("RGB"))


def load_plate(
    path: str | os.PathLike[str], *, depth: str | os.PathLike[str] | np.ndarray | None = None
) -> Plate:
    """Load a plate from an image file.

    Args:
        path: a PNG, JPEG or WebP file; alpha is dropped (the plate is the opaque backdrop).
        depth: optional depth in metres: an ``(H, W)`` array, a ``.npy`` file, or a 16-bit
            grayscale PNG holding millimetres (0 = infinitely far). Must match the image size.

    Returns:
        A [`Plate`][hybridscene.Plate] with ``source="file"`` and ``meta["path"]``.
    """
    path = Path(path)
    img = _open_image(path, "plate image")
    rgb = _to_rgb8(img)
    depth_arr = None if depth is None else _load_depth(depth)
    return Plate(image=rgb, depth=depth_arr, source="file", meta={"path": str(path.resolve())})


def _load_depth(depth: str | os.PathLike[str] | np.ndarray) -> np.ndarray:
    if isinstance(depth, np.ndarray):
        return depth.astype(np.float32)
    path = Path(depth)
    if path.suffix.lower() == ".npy":
        if not path.exists():
            raise PlateError(f"depth file {str(path)!r} does not exist; check the path")
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            with open(path, "rb") as f:
                npy = f.read(6) == b"\x93NUMPY"
            why = "a .npy file holding Python objects, or cut short" if npy else "not a .npy file"
            raise PlateError(
                f"depth file {str(path)!r} is not a numpy array file of numbers ({why}); save depth in metres "
                "with np.save(path, depth.astype(np.float32))"
            ) from None
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
            raise PlateError(
                f"depth file {str(path)!r} holds a {arr.dtype} array of shape {arr.shape}; it must be (H, W) "
                "numbers: metres, inf for sky"
            )
        return arr.astype(np.float32)
    img = _open_image(path, "depth image")
    arr = np.asarray(img).astype(np.float32)
    if arr.ndim != 2:
        raise PlateError(f"depth image {str(path)!r} must be single-channel (16-bit PNG of millimetres)")
    metres = arr / 1000.0
    metres[arr == 0] = np.inf
    return metres
