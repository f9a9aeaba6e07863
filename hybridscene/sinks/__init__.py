"""Where frames go: video (H.264), GIF, a PNG sequence, a still image.

`open_sink` picks the sink from the output path; add your own by implementing the
`Sink` protocol and passing the object wherever a path is accepted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import UnsupportedOutputError
from ..atomic import atomic_path
from .base import FileSink, Sink
from .images import GifSink, PngSequenceSink, StillSink
from .layers import LayerSink
from .video import VideoSink

__all__ = [
    "SUPPORTED_OUTPUTS",
    "FileSink",
    "GifSink",
    "LayerSink",
    "PngSequenceSink",
    "Sink",
    "StillSink",
    "VideoSink",
    "atomic_path",
    "open_sink",
    "sink_class",
]

_BY_EXTENSION: dict[str, type] = {ext: cls for cls in (VideoSink, GifSink, StillSink) for ext in cls.extensions}

SUPPORTED_OUTPUTS = (*_BY_EXTENSION, "DIR/ (PNG sequence)")
"""Every output the CLI and [`render`][hybridscene.render] accept."""


def sink_class(path: str | os.PathLike[str]) -> type:
    """The sink class for ``path``: by extension, or `PngSequenceSink` for a folder
    (a path ending in ``/`` or an existing directory)."""
    text = os.fspath(path)
    p = Path(text)
    if text.endswith(("/", os.sep)) or p.is_dir():
        return PngSequenceSink
    cls = _BY_EXTENSION.get(p.suffix.lower())
    if cls is None:
        got = f"extension {p.suffix!r}" if p.suffix else "no extension"
        raise UnsupportedOutputError(
            f"cannot write {text!r} ({got}); supported outputs: {', '.join(SUPPORTED_OUTPUTS)}"
        )
    return cls


def open_sink(path: str | os.PathLike[str], *, size: tuple[int, int], fps: float, **options: Any) -> Any:
    """Open the sink for ``path`` (see `sink_class`); ``options`` go to its constructor."""
    return sink_class(path)(path, size=size, fps=fps, **options)
