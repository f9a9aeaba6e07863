"""Scenes in Jupyter: a [`Scene`][hybridscene.Scene] shows its poster frame (``_repr_png_``) and
[`show`][hybridscene.show] renders a short clip into an inline H.264 video.

Nothing here imports IPython: Jupyter's display protocol only looks for ``_repr_png_`` and
``_repr_html_`` methods. The poster is drawn by `poster_png`, which `Scene._repr_png_` reaches
through a hook registered when this module is imported (``import hybridscene`` does), so the
scene layer stays free of GL and export code.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from .atomic import atomic_path
from .errors import ConfigError, HybridSceneError
from .scene import scene as _scene_module
from .scene.scene import Scene

log = logging.getLogger(__name__)

POSTER_WIDTH = 640
"""The width of a scene's poster frame in a notebook; the height follows the plate's aspect."""


def poster_size(scene: Scene, width: int = POSTER_WIDTH) -> tuple[int, int]:
    """``(width, height)`` of the poster: ``width`` wide (never wider than the plate) at the
    plate's aspect (16:9 without a plate), both even."""
    pw, ph = scene.plate.size if scene.plate is not None else (1280, 720)
    w = min(int(width), int(pw))
    h = max(2, round(w * ph / pw))
    return max(2, w - w % 2), h - h % 2


def poster_frame(scene: Scene, *, t: float = 0.0, width: int = POSTER_WIDTH) -> Any:
    """The frame at scene time ``t`` as ``(H, W, 3) uint8``, rendered offscreen at `poster_size`."""
    from .export import frames

    return next(iter(frames(scene, frames=range(0, 1), start=t, size=poster_size(scene, width))))


def poster_png(scene: Scene, *, t: float | None = None, width: int = POSTER_WIDTH) -> bytes | None:
    """The poster frame (at ``t``, default the scene's ``poster_time``) as PNG bytes, or ``None``
    (with a logged warning) when it cannot be drawn, e.g. without OpenGL: a notebook then shows
    the scene's text ``repr`` instead."""
    from PIL import Image

    try:
        t = float(scene.poster_time if t is None else t)
        if not math.isfinite(t):
            raise ConfigError(f"poster_time must be a finite number of seconds, got {t!r}")
        frame = poster_frame(scene, t=t, width=width)
    except (HybridSceneError, OSError, RuntimeError, ImportError, TypeError, ValueError) as exc:
        log.warning("no poster frame for the scene (%s); showing its text instead", str(exc).splitlines()[0])
        return None
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG")
    return buf.getvalue()


class Video:
    """A rendered clip that displays inline in Jupyter (``<video controls autoplay loop muted>``
    with the MP4 embedded as a ``data:`` URI); made by [`show`][hybridscene.show].

    Attributes:
        data: the MP4 file's bytes.
        mimetype: ``"video/mp4"``.
        frames: the number of frames; ``size``: ``(width, height)``; ``fps``: frames per second.
    """

    mimetype = "video/mp4"

    def __init__(self, data: bytes, *, frames: int, size: tuple[int, int], fps: float) -> None:
        self.data = bytes(data)
        self.frames, self.size, self.fps = int(frames), (int(size[0]), int(size[1])), float(fps)

    def _repr_html_(self) -> str:
        b64 = base64.b64encode(self.data).decode("ascii")
        w, h = self.size
        return (f'<video width="{w}" height="{h}" controls autoplay loop muted playsinline>'
                f'<source src="data:{self.mimetype};base64,{b64}" type="{self.mimetype}"></video>')

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self._repr_html_(), "text/plain": repr(self)}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the MP4 to ``path`` (atomically: a temporary name, then a rename); returns the path."""
        with atomic_path(path) as tmp:
            tmp.write_bytes(self.data)
        return Path(path)

    def __repr__(self) -> str:
        return (f"Video({self.size[0]}x{self.size[1]}, {self.frames} frames at {self.fps:g} fps, "
                f"{len(self.data)} bytes)")


def show(
    scene: Any,
    *,
    seconds: float | None = None,
    frames: int | None = None,
    fps: float = 30.0,
    size: tuple[int, int] | str | None = None,
    progress: Any = True,
    **render_options: Any,
) -> Video:
    """Render a short clip for a notebook and return it as a [`Video`][hybridscene.Video] that
    displays inline: ``hs.show(scene, seconds=2)`` as the last line of a cell.

    Args:
        scene: a [`Scene`][hybridscene.Scene], a [`SceneSource`][hybridscene.SceneSource], or the
            path of a scene file (built with its defaults).
        seconds: length in seconds (or ``frames``; default 4 seconds, as `render`).
        frames: length in frames.
        fps: frames per second.
        size: ``(width, height)`` or ``"WxH"``; default: `POSTER_WIDTH` wide at the plate's
            aspect (an inline clip small enough to embed).
        progress: ``True`` (default): a progress bar from ``tqdm.auto``, a widget in Jupyter
            (with ``ipywidgets``) and text elsewhere; ``False`` or a callback as in `render`.
        render_options: passed to [`render`][hybridscene.render] (``start``, ``samples``, ``crf``, ...).

    The clip is H.264 in an MP4 written to a temporary file, read into memory and deleted;
    `Video.save` writes it somewhere permanent.
    """
    from .export import render
    from .scenefile import SceneSource

    if isinstance(scene, (str, os.PathLike)):
        scene = SceneSource(os.fspath(scene))
    if isinstance(scene, SceneSource):
        scene = scene.load().scene
    if not isinstance(scene, Scene):
        raise ConfigError(f"show() needs a hybridscene.Scene, a SceneSource or a scene file path, "
                          f"got {type(scene).__name__}")
    for key in ("output", "layers", "labels", "shard", "ray"):
        if key in render_options:
            raise ConfigError(f"show() does not take {key}=; use hs.render(scene, 'clip.mp4', {key}=...) for that")
    if size is None:
        size = poster_size(scene)
    with tempfile.TemporaryDirectory(prefix="hybridscene-show-") as tmp:
        path = Path(tmp) / "clip.mp4"
        with warnings.catch_warnings():
            # tqdm.auto without ipywidgets falls back to a text bar, which is fine here: not a warning.
            warnings.filterwarnings("ignore", message="IProgress not found")
            result = render(scene, path, seconds=seconds, frames=frames, fps=fps, size=size, progress=progress,
                            **render_options)
        data = path.read_bytes()
    return Video(data, frames=result.frames, size=result.size, fps=fps)


_scene_module.NOTEBOOK_HOOKS["png"] = poster_png
