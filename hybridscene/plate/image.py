"""Plates from image files (PNG, JPEG, WebP), with an optional depth image or array."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import PlateError
from .plate import Plate

__all__ = ["SUPPORTED_IMAGE_EXTENSIONS", "load_plate"]

SUPPORTED_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


def _open_image(path: Path, what: str):
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise PlateError(f"{what} {str(path)!r} does not exist; check the path")
    if path.is_dir():
        raise PlateError(f"{what} {str(path)!r} is a folder; pass an image file")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise PlateError(
            f"{what} {str(path)!r} is not a readable image ({exc}); "
            f"use one of {', '.join(SUPPORTED_IMAGE_EXTENSIONS)}"
        ) from None
    return img


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
    rgb = np.asarray(img.convert("RGB"))
    depth_arr = None if depth is None else _load_depth(depth)
    return Plate(image=rgb, depth=depth_arr, source="file", meta={"path": str(path.resolve())})


def _load_depth(depth: str | os.PathLike[str] | np.ndarray) -> np.ndarray:
    if isinstance(depth, np.ndarray):
        return depth.astype(np.float32)
    path = Path(depth)
    if path.suffix.lower() == ".npy":
        if not path.exists():
            raise PlateError(f"depth file {str(path)!r} does not exist; check the path")
        return np.load(path).astype(np.float32)
    img = _open_image(path, "depth image")
    arr = np.asarray(img).astype(np.float32)
    if arr.ndim != 2:
        raise PlateError(f"depth image {str(path)!r} must be single-channel (16-bit PNG of millimetres)")
    metres = arr / 1000.0
    metres[arr == 0] = np.inf
    return metres
