"""What both peers' runners (`_peer_depthflow.py`, `_peer_pyrender.py`) share: they run in the
peers' virtual environment, import no hybridscene, and write one JSON object even when the peer
fails (the benchmark then goes on without it)."""

from __future__ import annotations

import argparse
import json
import shutil
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path


def ffmpeg_exe() -> str | None:
    """An ``ffmpeg`` binary: the one on PATH, else imageio-ffmpeg's (``None``: neither)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def versions(*dists: str) -> dict[str, str | None]:
    """Installed version of each distribution (``None``: not installed)."""
    out: dict[str, str | None] = {}
    for d in dists:
        try:
            out[d] = metadata.version(d)
        except metadata.PackageNotFoundError:
            out[d] = None
    return out


def report(args: argparse.Namespace, dists: tuple[str, ...], run: Callable[[dict], None]) -> None:
    """Call ``run(result)`` and write ``result`` (with the ``dists``' versions, and the error's
    first line if ``run`` failed) to ``args.json``."""
    result: dict = {"versions": versions(*dists)}
    try:
        run(result)
    except Exception as exc:  # reported in the JSON: the benchmark goes on without this peer
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    finally:
        Path(args.json).write_text(json.dumps(result, indent=2))
