"""``manifest.json``: what a folder of frames holds, so shards can be checked and joined.

Every folder a render writes (a PNG sequence, ``--layers``, ``--labels``) carries one::

    {
      "format": "hybridscene-frames", "version": 1,
      "kind": "frames" | "layers" | "exr" | "labels",
      "frames": {"start": 1200, "stop": 1500},    # the half-open range of frame indices held
      "total": 3000,                              # frames of the whole render (null: unknown)
      "shard": [4, 10],                           # --shard K/N (null when not a shard)
      "fps": 30.0, "start_time": 0.0, "size": [1280, 720],
      "digests": ["sha256 of frame 1200's pixels", ...],   # one per frame, in order
      "gl": {"vendor": ..., "renderer": ..., "version": ...},
      "versions": {"hybridscene": ..., "python": ..., "numpy": ..., "moderngl": ..., ...},
      "scene": {...}                              # what made it: the scene file, its sha256, options
    }

A frame's digest is the sha256 of its displayed pixels (``(H, W, 3) uint8``, rows top first,
C order), whatever the folder's format, so a frame decoded from a PNG can be checked against it
and two renders compared without their files. Frame ``i`` has the time ``start_time + i / fps``
(`hybridscene.frame_time`), so a shard's frames are the same frames as in a whole render.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SinkError

__all__ = ["FORMAT", "MANIFEST", "frame_digest", "read_manifest", "versions"]

MANIFEST = "manifest.json"
FORMAT = "hybridscene-frames"
VERSION = 1


def frame_digest(frame: np.ndarray) -> str:
    """The sha256 (hex) of a frame's pixels: ``(H, W, 3) uint8``, top row first."""
    return hashlib.sha256(np.ascontiguousarray(frame, np.uint8).tobytes()).hexdigest()


_PACKAGES = ("numpy", "moderngl", "pillow", "av", "openexr", "torch", "diffusers")


def versions() -> dict[str, str]:
    """The versions that decide a frame's pixels: hybridscene, Python and the installed packages
    that draw, encode and paint (read from their metadata; nothing is imported)."""
    import importlib.metadata

    from .._version import __version__

    out = {"hybridscene": __version__, "python": platform.python_version()}
    for dist in _PACKAGES:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def build_manifest(*, kind: str, start: int, digests: list[str], size: tuple[int, int], fps: float,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of a folder holding frames ``start .. start + len(digests)``."""
    data: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "kind": kind,
        "frames": {"start": int(start), "stop": int(start) + len(digests)},
        "total": None, "shard": None, "fps": float(fps), "start_time": 0.0, "size": [int(size[0]), int(size[1])],
    }
    data.update(extra or {})
    data["digests"] = list(digests)
    data.setdefault("versions", versions())
    return data


def write_manifest(folder: Path, data: dict[str, Any]) -> None:
    """Write ``folder/manifest.json`` (inside a sink's temporary folder: published with it)."""
    (folder / MANIFEST).write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``folder/manifest.json``.

    Raises:
        SinkError: no manifest (not a folder a render wrote), or one that is not valid.
    """
    path = Path(folder) / MANIFEST
    if not Path(folder).is_dir():
        raise SinkError(f"{str(folder)!r} is not a folder; give the folders that render wrote (-o DIR/)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SinkError(f"{str(folder)!r} has no {MANIFEST}; it was not written by hybridscene render "
                        "(a PNG sequence, --layers or --labels folder)") from None
    except (OSError, ValueError) as exc:
        raise SinkError(f"cannot read {str(path)!r}: {exc}") from None
    try:
        if data["format"] != FORMAT:
            raise ValueError(f"format is {data['format']!r}, not {FORMAT!r}")
        if data["version"] > VERSION:
            raise ValueError(f"version {data['version']} is newer than this hybridscene reads ({VERSION}); upgrade")
        start, stop = int(data["frames"]["start"]), int(data["frames"]["stop"])
        if not 0 <= start <= stop or len(data["digests"]) != stop - start:
            raise ValueError(f"frames {start}:{stop} do not match its {len(data['digests'])} digests")
        data["size"] = (int(data["size"][0]), int(data["size"][1]))
        data["fps"] = float(data["fps"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SinkError(f"{str(path)!r} is not a valid manifest: {exc}") from None
    return data
