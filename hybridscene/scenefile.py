"""Scene files: a Python file that defines ``build_scene()`` returning a :class:`~hybridscene.Scene`.

The convention (used by ``hybridscene render`` and the examples)::

    # fireflies.py
    import hybridscene as hs

    DURATION = 8.0        # optional: default length in seconds
    FPS = 30              # optional: default frames per second
    SIZE = (1280, 720)    # optional: default frame size

    def build_scene(size=(1280, 720), seed=0, model=None, prompt=None):
        ...
        return scene

``build_scene`` receives, by keyword, those of ``size``, ``seed``, ``model`` and ``prompt`` that its
signature names (or all of them if it takes ``**kwargs``), so a scene file asks only for what it
uses. ``model``/``prompt`` are given when the user asked for an AI plate (``--model``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import os
import sys
import traceback
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import SceneError
from .scene import Scene

__all__ = ["SceneFile", "load_scene_file"]


@dataclasses.dataclass(frozen=True)
class SceneFile:
    """A loaded scene file: the scene and the file's defaults."""

    path: Path
    scene: Scene
    duration: float | None
    fps: float | None
    size: tuple[int, int] | None


def _import(path: Path) -> ModuleType:
    if not path.is_file():
        raise SceneError(f"scene file {str(path)!r} does not exist; check the path")
    if path.suffix != ".py":
        raise SceneError(f"scene file {str(path)!r} is not a .py file")
    name = f"hybridscene_scene_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # let a scene import its sibling modules
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise SceneError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        raise SceneError(f"{path}:{_line_in(path, exc)}: {type(exc).__name__}: {exc}") from exc
    finally:
        if sys.path and sys.path[0] == str(path.parent):
            sys.path.pop(0)
    return module


def _line_in(path: Path, exc: BaseException) -> str:
    """The last line of ``path`` in the exception's traceback (where the scene file failed)."""
    line = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == str(path):
            line = str(frame.lineno)
    return line


def load_scene_file(path: str | os.PathLike[str], **options: Any) -> SceneFile:
    """Import a scene file and call its ``build_scene`` with the options it accepts.

    Args:
        path: the ``.py`` file.
        options: ``size``, ``seed``, ``model``, ``prompt`` (``None`` values are not passed).

    Raises:
        SceneError: the file is missing, does not import, has no ``build_scene``, or
            ``build_scene`` fails or returns something else than a Scene; the message names
            the file (and the line when there is one).
    """
    path = Path(path).resolve()
    module = _import(path)
    build = getattr(module, "build_scene", None)
    if not callable(build):
        raise SceneError(
            f"{path} defines no build_scene(); a scene file must define build_scene() returning a "
            "hybridscene.Scene (see docs/scene-files.md)"
        )
    params = inspect.signature(build).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in options.items() if v is not None and (takes_all or k in params)}
    try:
        scene = build(**kwargs)
    except Exception as exc:
        raise SceneError(f"{path}:{_line_in(path, exc)}: build_scene() failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(scene, Scene):
        raise SceneError(f"build_scene() in {path} returned {type(scene).__name__}, not a hybridscene.Scene")
    size = getattr(module, "SIZE", None)
    return SceneFile(
        path=path,
        scene=scene,
        duration=_number(module, "DURATION", path),
        fps=_number(module, "FPS", path),
        size=tuple(size) if size is not None else None,  # type: ignore[arg-type]
    )


def _number(module: ModuleType, name: str, path: Path) -> float | None:
    value = getattr(module, name, None)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise SceneError(f"{name} in {path} must be a positive number, got {value!r}")
    return float(value)
