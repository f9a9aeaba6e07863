"""Scene files: a Python file that defines ``build_scene()`` returning a [`Scene`][hybridscene.Scene].

The convention (used by ``hybridscene render`` and the examples)::

    # fireflies.py
    import hybridscene as hs

    DURATION = 8.0        # optional: default length in seconds
    FPS = 30              # optional: default frames per second
    SIZE = (1280, 720)    # optional: default frame size

    def build_scene(size=(1280, 720), seed=0, model=None, prompt=None):
        ...
        return scene

``build_scene`` receives, by keyword, the options given (``size``, ``seed``, ``model``,
``prompt``, ...; ``None`` means not given). An option its signature does not name (and no
``**kwargs`` takes) is an error that says so, since it would change nothing, except ``size``,
which the caller renders at either way. ``model``/``prompt`` are given when the user asked for an
AI plate (``--model``).

The other plate options (``--steps``, ``--guidance``, ``--scheduler``, ``--device``, ...; see
`PLATE_OPTIONS`) are not parameters of ``build_scene``: they
reach the plate its ``hs.background_plate(size, model=model, ...)`` paints through
`plate_defaults`, and are an error when no AI plate took them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import math
import os
import sys
import traceback
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from ._validate import check_size
from .errors import ConfigError, SceneError
from .scene import Scene

__all__ = ["SceneFile", "SceneSource", "load_scene_file"]


@dataclasses.dataclass(frozen=True)
class SceneFile:
    """A loaded scene file: the scene and the file's defaults."""

    path: Path
    scene: Scene
    duration: float | None
    fps: float | None
    size: tuple[int, int] | None


@dataclasses.dataclass(frozen=True)
class SceneSource:
    """A scene file and the arguments of its ``build_scene``: a recipe any process can build
    the same scene from. Ray's workers receive this, never a `Scene` (whose callbacks are
    closures of the file that made it).

    ``hs.SceneSource("examples/flight.py", options={"seed": 3}, plate_options={"steps": 4})``
    """

    path: str
    """The ``.py`` file (made absolute)."""
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Keyword arguments of ``build_scene`` (``size``, ``seed``, ``model``, ``prompt``, ...)."""
    plate_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Plate options (see `load_scene_file`)."""
    relative: str | None = dataclasses.field(default=None, compare=False)
    """``path`` relative to the folder it was made in (when under it): where another machine
    looks when ``path`` does not exist there, e.g. in the copy of that folder Ray's
    ``runtime_env={"working_dir": "."}`` ships to each worker (set automatically)."""

    def __post_init__(self) -> None:
        resolved = Path(self.path).resolve()
        object.__setattr__(self, "path", str(resolved))
        object.__setattr__(self, "options", {k: v for k, v in dict(self.options).items() if v is not None})
        object.__setattr__(self, "plate_options", dict(self.plate_options))
        if not resolved.is_file():
            raise SceneError(f"scene file {self.path!r} does not exist; check the path")
        if self.relative is None:
            try:
                object.__setattr__(self, "relative", resolved.relative_to(Path.cwd().resolve()).as_posix())
            except ValueError:  # not under the current folder
                pass

    def local_path(self) -> Path:
        """The file on this machine: ``path``, else ``relative`` under the current folder."""
        path = Path(self.path)
        if not path.is_file() and self.relative is not None and Path(self.relative).is_file():
            return Path(self.relative).resolve()
        return path

    def load(self) -> SceneFile:
        """Import the file and build the scene (`load_scene_file`)."""
        return load_scene_file(self.local_path(), plate_options=self.plate_options, **self.options)

    def defaults(self) -> tuple[float | None, float | None, tuple[int, int] | None]:
        """The file's ``(DURATION, FPS, SIZE)`` (``None`` when not set), importing it without
        building the scene (no plate is painted)."""
        path = self.local_path()
        module = _import(path)
        size = getattr(module, "SIZE", None)
        return (_number(module, "DURATION", path), _number(module, "FPS", path),
                check_size(size, f"SIZE in {path}") if size is not None else None)

    def sha256(self) -> str:
        """The sha256 of the file's contents, to tell whether two runs built the same scene."""
        import hashlib

        try:
            return hashlib.sha256(self.local_path().read_bytes()).hexdigest()
        except OSError as exc:
            raise SceneError(f"cannot read the scene file {self.path!r} on this machine ({exc.strerror or exc}); give "
                             "every machine the file at that path, or under the driver's folder with Ray's "
                             "runtime_env={'working_dir': '.'}") from None

    def describe(self) -> dict[str, Any]:
        """What a manifest records about the scene: the file, its digest and the options."""
        return {"file": self.path, "sha256": self.sha256(),
                "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.options.items()
                            if isinstance(v, (str, int, float, bool, tuple, list))},
                "plate_options": {k: v for k, v in self.plate_options.items() if isinstance(v, (str, int, float, bool))}}


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
    except SystemExit as exc:
        if _from_signal(exc):
            raise
        raise SceneError(f"{path}:{_line_in(path, exc)}: the scene file called sys.exit({exc.code!r}) while "
                         "importing; a scene file defines build_scene() and does not exit") from None
    except Exception as exc:
        raise SceneError(f"{path}:{_line_in(path, exc)}: {type(exc).__name__}: {exc}") from exc
    finally:
        if sys.path and sys.path[0] == str(path.parent):
            sys.path.pop(0)
    return module


def _from_signal(exc: SystemExit) -> bool:
    """An exit the command line's SIGTERM/SIGHUP/SIGINT handler raised (status 128 + signal):
    the user stopping the run, which must stop it, not be reported as the scene's doing."""
    import signal

    codes = {128 + int(getattr(signal, name)) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name)}
    return exc.code in codes


def _line_in(path: Path, exc: BaseException) -> str:
    """The last line of ``path`` in the exception's traceback (where the scene file failed)."""
    line = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == str(path):
            line = str(frame.lineno)
    return line


def load_scene_file(
    path: str | os.PathLike[str], *, plate_options: Mapping[str, Any] | None = None, **options: Any
) -> SceneFile:
    """Import a scene file and call its ``build_scene`` with the options given.

    ``load_scene_file("examples/fireflies.py", model="stabilityai/sd-turbo", plate_options={"steps": 2})``

    Args:
        path: the ``.py`` file.
        plate_options: settings of the AI plate the scene paints with ``hs.background_plate``
            (``steps``, ``guidance``, ``negative_prompt``, ``scheduler``, ``device``, ``dtype``,
            ``revision``, ``vae``, ``depth_model``, ``depth_image``, ``depth_scale``,
            ``acceleration``): set as `plate_defaults` while
            ``build_scene`` runs (the scene's own arguments win). Defaults of an enclosing
            ``plate_defaults`` block apply as well.
        options: keyword arguments of ``build_scene``: ``size``, ``seed``, ``model``, ``prompt``
            or any other it names. ``None`` values are not passed.

    Raises:
        SceneError: the file is missing, does not import, has no ``build_scene``, or
            ``build_scene`` fails or returns something else than a Scene; the message names
            the file (and the line when there is one).
        ConfigError: an option (other than ``size``) that ``build_scene`` does not take, or plate
            options (given here or by an enclosing ``plate_defaults``) that no AI plate took.
    """
    from .plate.generate import plate_defaults

    path = Path(path).resolve()
    module = _import(path)
    build = getattr(module, "build_scene", None)
    if not callable(build):
        raise SceneError(
            f"{path} defines no build_scene(); a scene file must define build_scene() returning a "
            "hybridscene.Scene (see docs/scene-files.md)"
        )
    # 1. Options build_scene does not take would change nothing: say so instead.
    params = inspect.signature(build).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    given = {k: v for k, v in options.items() if v is not None}
    if not takes_all:
        for name in given:
            if name not in params and name != "size":
                names = [p.name for p in params.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
                raise ConfigError(
                    f"{_option(name)} was given but build_scene() in {path} takes no {name!r} parameter "
                    f"(it takes: {', '.join(names) or 'nothing'}); remove {_option(name)} or add a {name} "
                    "parameter to build_scene"
                )
    kwargs = {k: v for k, v in given.items() if takes_all or k in params}
    # 2. Build, with the plate options as the defaults of the AI plate it paints.
    with plate_defaults(**dict(plate_options or {})) as defaults:
        try:
            scene = build(**kwargs)
        except SystemExit as exc:
            if _from_signal(exc):
                raise
            raise SceneError(f"{path}:{_line_in(path, exc)}: build_scene() called sys.exit({exc.code!r}); "
                             "return a hybridscene.Scene, or raise an exception with a message") from None
        except MemoryError:
            raise SceneError(f"{path}: build_scene() ran out of memory; make the scene smaller "
                             "(fewer particles, smaller meshes or plate)") from None
        except Exception as exc:
            raise SceneError(f"{path}:{_line_in(path, exc)}: build_scene() failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(scene, Scene):
        raise SceneError(f"build_scene() in {path} returned {type(scene).__name__}, not a hybridscene.Scene")
    # 3. Plate options no AI plate took would change nothing either.
    if defaults.options and not defaults.used:
        unused = ", ".join(_option(k) for k in defaults.options)
        if "model" not in kwargs:
            why = ("it was given no model" if takes_all or "model" in params
                   else "it takes no 'model' parameter")
            fix = f"give a model (--model) or remove {unused}"
        else:
            why = "it did not paint its plate with hs.background_plate(size, model=model, ...)"
            fix = f"paint the plate with hs.background_plate, or remove {unused}"
        raise ConfigError(f"{unused} given, but build_scene() in {path} painted no AI plate with them ({why}); {fix}")
    size = getattr(module, "SIZE", None)
    return SceneFile(
        path=path,
        scene=scene,
        duration=_number(module, "DURATION", path),
        fps=_number(module, "FPS", path),
        size=check_size(size, f"SIZE in {path}") if size is not None else None,
    )


def _number(module: ModuleType, name: str, path: Path) -> float | None:
    value = getattr(module, name, None)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise SceneError(f"{name} in {path} must be a positive finite number, got {value!r}")
    return float(value)


_CLI_NAMES = {"negative_prompt": "--negative", "acceleration": "--compile/--channels-last/--attention"}


def _option(name: str) -> str:
    """How the command line spells an option, for messages: ``--model``, ``--negative``."""
    return _CLI_NAMES.get(name, "--" + name.replace("_", "-"))
