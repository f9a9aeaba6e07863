"""The [`Scene`][hybridscene.Scene]: a plate, a camera, lights and a tree of nodes, plus per-frame callbacks.
Plain data; nothing here touches OpenGL."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..colors import Color, parse_color
from ..errors import SceneError
from ..plate import Plate
from .camera import OrthographicCamera, PerspectiveCamera
from .light import AmbientLight, DirectionalLight
from .mesh import Mesh
from .node import Node
from .particles import ParticleEmitter, Sprite, SpriteSet
from .shadow import ReflectionCatcher, ShadowCatcher

__all__ = ["TONEMAPS", "FrameCallback", "Scene"]

TONEMAPS = ("agx", "aces", "neutral", "none")
"""Tone curves for the foreground: ``"agx"`` (Blender's AgX: filmic, gentle on saturated
colours), ``"aces"`` (the ACES filmic fit), ``"neutral"`` (Khronos PBR Neutral: colours up to
about 0.8 kept as they are, only highlights rolled off) and ``"none"`` (clipped at 1)."""

ENVIRONMENTS = ("auto", "plate", "ambient")

OVERSCAN_MODES = ("auto", "zoom", "off")
"""How a scene keeps a moving camera inside its plate (the ``overscan`` option; see
`hybridscene.scene.overscan`)."""

log = logging.getLogger(__name__)

def _plate_of(result: Any) -> Plate:
    """A plate future's result: a [`Plate`][hybridscene.Plate], or a result object carrying one (``.plate``)."""
    return result if isinstance(result, Plate) else result.plate


def _where(fn: Any, exc: BaseException) -> str:
    """``file:line`` where ``fn`` failed: the last traceback frame in ``fn``'s file (its first
    line when the traceback does not reach it)."""
    import traceback

    code = getattr(fn, "__code__", None)
    if code is None:
        return "scene"
    line = code.co_firstlineno
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == code.co_filename and frame.lineno is not None:
            line = frame.lineno
    return f"{code.co_filename}:{line}"


def _in_range(value: Any, lo: float, hi: float, rule: str) -> float:
    """``value`` as a float in ``lo..hi`` (finite), else a `SceneError` stating ``rule``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not (lo <= v <= hi and v != float("inf")):
        raise SceneError(f"{rule}, got {value!r}")
    return v


NOTEBOOK_HOOKS: dict[str, Callable[[Scene], Any]] = {}
"""Jupyter's renderers for a scene, by format; `hybridscene.notebook` registers ``"png"`` (the
poster frame) when imported, so this plain-data module imports no GL or export code."""

FrameCallback = Callable[[float], None]
"""Called as ``callback(t)`` with the scene time in seconds before each frame is drawn."""


class Scene:
    """Everything one frame needs.

    Args:
        plate: the background; ``None`` shows ``background`` instead.
        camera: defaults to [`PerspectiveCamera.from_plate`][hybridscene.PerspectiveCamera.from_plate] of the plate.
        sun: defaults to the plate's sun when it has one (procedural plates do).
        ambient: defaults to an ambient light tinted like the plate's sky.
        background: sRGB colour behind everything when there is no plate.
        occlusion: hide foreground fragments behind the plate's surface when the plate has depth
            (an object can fly behind a mountain). The plate's depth is taken as seen from the
            camera the plate was painted with (the default camera).
        shadows: a [`ShadowCatcher`][hybridscene.ShadowCatcher], ``True`` for the default one, ``False`` for none.
            Default: on when the plate knows its camera (so its ground is known), else off.
        parallax: how a plate with depth follows a camera that moves. ``"auto"``: while the
            camera stands where the plate was painted from, the plate is mapped exactly (it
            pans and zooms as the camera turns); once the camera moves away, the plate is drawn
            as a surface displaced by its depth, so near ridges slide across far ones (see
            `hybridscene.plate.relief`). ``True``: always the relief. ``False``: never
            (the plate stays a backdrop at infinity).
        exposure: exposure of the foreground's lighting in stops (EV): light is multiplied by
            ``2 ** exposure`` before tone mapping.
        tonemap: one of `TONEMAPS`, the curve that takes the foreground's scene-referred light
            (a white surface in full sun is several times brighter than 1) to display values
            before it is composited over the display-referred plate. ``"none"`` clips at 1.
        environment: the light from all around (image-based light) for the foreground.
            ``"plate"``: the plate placed on a sphere around the scene where its camera sees
            it, sky continued above and ground below (built once per plate, on the GPU, and
            cached with it); ``"ambient"``: a uniform environment of the ``ambient`` light's
            colour and intensity (the flat ambient of the simple shadings); an
            `Environment`; ``"auto"`` (default): the plate's when there is a plate and no
            ``ambient`` was given, else the ambient light.
        environment_intensity: multiplies the plate's environment (1 = as bright as painted).
        reflections: a [`ReflectionCatcher`][hybridscene.ReflectionCatcher], ``True`` for the
            default one, ``False`` for none. Default: on when the plate has a water mask.
        overscan: how a camera that turns, zooms or moves is kept inside the plate, so that no
            frame stretches the plate's edge pixels (checked once before a render, and when a
            preview loads the scene, over the camera's whole path): ``"auto"`` paints a
            procedural plate again, larger (the same world with margins), and zooms in for
            other plates; ``"zoom"`` always zooms in, as little as covers every frame;
            ``"off"`` changes nothing (one of `OVERSCAN_MODES`; see `hybridscene.scene.overscan`).
    """

    poster_time: float = 0.0
    """Scene time in seconds of the poster frame a notebook shows for the scene (see
    `hybridscene.notebook`): ``scene.poster_time = 2.5``."""

    def __init__(
        self,
        plate: Plate | None = None,
        *,
        camera: PerspectiveCamera | OrthographicCamera | None = None,
        sun: DirectionalLight | None = None,
        ambient: AmbientLight | None = None,
        background: Color = (0.0, 0.0, 0.0),
        occlusion: bool = True,
        shadows: ShadowCatcher | bool | None = None,
        parallax: bool | str = "auto",
        exposure: float = 0.0,
        tonemap: str = "agx",
        environment: Any = "auto",
        environment_intensity: float = 1.0,
        reflections: ReflectionCatcher | bool | None = None,
        overscan: str = "auto",
    ) -> None:
        if plate is not None and not isinstance(plate, Plate):
            raise SceneError(f"plate must be a hybridscene.Plate, got {type(plate).__name__}")
        self.plate = plate
        if camera is None:
            camera = PerspectiveCamera.from_plate(plate) if plate is not None else PerspectiveCamera()
        self.camera = camera
        self.sun = sun if sun is not None else (DirectionalLight.from_plate(plate) if plate else DirectionalLight())
        self.ambient = ambient if ambient is not None else (AmbientLight.from_plate(plate) if plate else AmbientLight())
        self.background = parse_color(background, "background")
        self.occlusion = bool(occlusion)
        self.parallax = parallax
        if shadows is None:
            shadows = plate is not None and plate.camera is not None
        if shadows is True:
            shadows = ShadowCatcher()
        if shadows is not False and not isinstance(shadows, ShadowCatcher):
            raise SceneError(f"shadows must be a ShadowCatcher, True or False, got {shadows!r}")
        self.shadows: ShadowCatcher | None = shadows or None
        self._ambient_given = ambient is not None
        self.exposure = exposure
        self.tonemap = tonemap
        self.environment = environment
        self.environment_intensity = environment_intensity
        if reflections is None:
            reflections = plate is not None and getattr(plate, "water", None) is not None
        if reflections is True:
            reflections = ReflectionCatcher()
        if reflections is not False and not isinstance(reflections, ReflectionCatcher):
            raise SceneError(f"reflections must be a ReflectionCatcher, True or False, got {reflections!r}")
        self.reflections: ReflectionCatcher | None = reflections or None
        self.overscan = overscan
        self.root = Node("root")
        self._callbacks: list[FrameCallback] = []
        self._tracks: list[Any] = []
        self._pending: list[tuple[Any, float]] = []
        self._fade: tuple[Plate | None, float | None, float] | None = None
        self._time = 0.0

    @property
    def parallax(self) -> bool | str:
        """``"auto"``, ``True`` or ``False``: see the class docs."""
        return self._parallax

    @parallax.setter
    def parallax(self, value: bool | str) -> None:
        if value not in ("auto", True, False) or isinstance(value, (int, float)) and not isinstance(value, bool):
            raise SceneError(f"parallax must be 'auto', True or False, got {value!r}")
        self._parallax = value

    @property
    def overscan(self) -> str:
        """``"auto"``, ``"zoom"`` or ``"off"``: see the class docs."""
        return self._overscan

    @overscan.setter
    def overscan(self, value: str) -> None:
        if not isinstance(value, str) or value not in OVERSCAN_MODES:
            raise SceneError(f"overscan must be one of {', '.join(map(repr, OVERSCAN_MODES))}, got {value!r}")
        self._overscan = value

    @property
    def exposure(self) -> float:
        """Foreground exposure in stops (EV)."""
        return self._exposure

    @exposure.setter
    def exposure(self, value: float) -> None:
        self._exposure = _in_range(value, -20.0, 20.0, "exposure must be a number of stops in -20..20")

    @property
    def tonemap(self) -> str:
        """The foreground's tone curve, one of `TONEMAPS`."""
        return self._tonemap

    @tonemap.setter
    def tonemap(self, value: str) -> None:
        if value not in TONEMAPS:
            raise SceneError(f"unknown tonemap {value!r}; choose one of {', '.join(TONEMAPS)}")
        self._tonemap = value

    @property
    def environment(self) -> Any:
        """``"auto"``, ``"plate"``, ``"ambient"`` or an `Environment`: see the class docs."""
        return self._environment

    @environment.setter
    def environment(self, value: Any) -> None:
        if not (isinstance(value, str) and value in ENVIRONMENTS) and not hasattr(value, "radiance_levels"):
            raise SceneError(f"environment must be one of {', '.join(map(repr, ENVIRONMENTS))} or an Environment, got {value!r}")
        self._environment = value

    @property
    def environment_intensity(self) -> float:
        """Multiplier of the plate's environment."""
        return self._environment_intensity

    @environment_intensity.setter
    def environment_intensity(self, value: float) -> None:
        self._environment_intensity = _in_range(value, 0.0, float("inf"), "environment_intensity must be a finite number >= 0")

    def environment_source(self) -> Any:
        """What lights the foreground from all around this frame: ``"plate"`` (the current
        plate's environment), ``"ambient"`` (uniform, the ambient light) or an `Environment`."""
        env = self._environment
        if env == "auto":
            return "plate" if self.plate is not None and not self._ambient_given else "ambient"
        if env == "plate" and self.plate is None:
            return "ambient"
        return env

    # -- plates that change --------------------------------------------------------------------
    def set_plate(self, plate: Any, *, crossfade: float = 0.0) -> None:
        """Show another plate, fading from the current one over ``crossfade`` seconds of scene
        time (blended in linear light).

        ``plate`` may be a [`Plate`][hybridscene.Plate] or a future from
        [`generate_plate_async`][hybridscene.generate_plate_async] / [`PlateWorker.submit`][hybridscene.PlateWorker.submit] (or any
        ``concurrent.futures.Future`` of a plate): the current plate
        (a placeholder) stays until the future is done, then the fade starts. A failed future is
        logged and the placeholder stays.
        """
        if crossfade < 0:
            raise SceneError(f"crossfade must be >= 0 seconds, got {crossfade!r}")
        if isinstance(plate, Plate):
            self._start_fade(plate, crossfade, None)
        elif hasattr(plate, "done") and hasattr(plate, "result"):
            self._pending.append((plate, float(crossfade)))
        else:
            raise SceneError(f"set_plate takes a Plate or a plate future, got {type(plate).__name__}")

    def _start_fade(self, plate: Plate, duration: float, start: float | None) -> None:
        self._fade = (self.plate, start, duration) if duration > 0 and self.plate is not None else None
        self.plate = plate

    @property
    def time(self) -> float:
        """The scene time of the last `update`, in seconds."""
        return self._time

    @property
    def waiting_for_plate(self) -> bool:
        """True while a plate future given to `set_plate` has not arrived."""
        return bool(self._pending)

    def wait_for_plates(self, timeout: float | None = None) -> None:
        """Block until pending plate futures are done and show the last one at once (exports
        use this, so a video never depends on how fast the plate arrived)."""
        pending, self._pending = self._pending, []
        for fut, _ in pending:
            try:
                self._start_fade(_plate_of(fut.result(timeout)), 0.0, None)
            except Exception as exc:
                log.error("plate generation failed; keeping the current plate: %s", exc)

    def plate_blend(self) -> tuple[Plate | None, float]:
        """``(previous plate, weight of the current one)`` for the compositor; the previous
        plate is ``None`` when no fade is running."""
        if self._fade is None:
            return None, 1.0
        prev, start, duration = self._fade
        start = self._time if start is None else start
        w = (self._time - start) / duration
        if w >= 1.0:
            self._fade = None
            return None, 1.0
        return prev, max(0.0, w)

    # -- building ------------------------------------------------------------------------------
    def add(self, item: Node | Mesh | Sprite | SpriteSet | ParticleEmitter, *, parent: Node | None = None, **node_kwargs: Any) -> Node:
        """Add a node, or wrap a mesh, sprite or particle emitter in a new node (``node_kwargs``
        go to [`Node`][hybridscene.Node]).

        Returns the node, to animate it: ``cube = scene.add(Mesh.cube(), position=(0, 1, -5))``.
        """
        if isinstance(item, Mesh):
            node = Node(mesh=item, **node_kwargs)
        elif isinstance(item, Sprite):
            node = Node(sprite=item, **node_kwargs)
        elif isinstance(item, (ParticleEmitter, SpriteSet)):
            node = Node(particles=item, **node_kwargs)
        elif isinstance(item, Node):
            if node_kwargs:
                raise SceneError("node keywords (position=, ...) only apply when adding a Mesh")
            node = item
        else:
            raise SceneError(f"Scene.add takes a Node, Mesh, Sprite, SpriteSet or ParticleEmitter, got {type(item).__name__}")
        (parent or self.root).add(node)
        return node

    def find(self, name: str) -> Node:
        """The node called ``name``."""
        for node in self.root.walk():
            if node.name == name:
                return node
        names = sorted(n.name for n in self.root.walk() if n.name and n is not self.root)
        raise SceneError(f"no node named {name!r} in the scene; names: {names}")

    def on_frame(self, callback: FrameCallback) -> FrameCallback:
        """Register ``callback(t)`` to run before every frame; usable as a decorator."""
        if not callable(callback):
            raise SceneError(f"on_frame needs a callable taking the time, got {callback!r}")
        self._callbacks.append(callback)
        return callback

    def animate(self, target: Any, attribute: str, keys: Any, **options: Any) -> Any:
        """Add a keyframe `Track` (``easing=``, ``loop=``) and
        return it. Tracks run before the ``on_frame`` callbacks, in the order they were added."""
        from ..animation import Track

        track = Track(target, attribute, keys, **options)
        self._tracks.append(track)
        track.apply(self._time)
        return track

    def play(self, node: Node, name: str | None = None, *, loop: bool = True, speed: float = 1.0,
             start: float = 0.0) -> Any:
        """Play a glTF animation of ``node`` (a [`Model`][hybridscene.Model] from
        [`load_mesh`][hybridscene.load_mesh]) on the scene clock: ``name`` picks one of
        ``node.animations`` (default: the first), ``loop`` repeats it, ``speed`` scales time,
        ``start`` is the scene time it begins at. Returns the
        [`AnimationPlayer`][hybridscene.AnimationPlayer]; like tracks, it poses the nodes from
        the time alone, so any frame can be rendered on its own."""
        from .gltf_animation import play

        return play(self, node, name, loop=loop, speed=speed, start=start)

    # -- per frame -----------------------------------------------------------------------------
    def update(self, t: float) -> None:
        """Bring the scene to time ``t`` seconds: swap in plates that arrived, apply the keyframe
        tracks, run the callbacks."""
        self._time = float(t)
        if self._fade is not None and self._fade[1] is None:
            self._fade = (self._fade[0], self._time, self._fade[2])
        if self._pending:
            still = []
            for fut, fade in self._pending:
                if not fut.done():
                    still.append((fut, fade))
                    continue
                try:
                    self._start_fade(_plate_of(fut.result()), fade, self._time)
                except Exception as exc:
                    log.error("plate generation failed; keeping the current plate: %s", exc)
            self._pending = still
        self.pose_at(t)

    def pose_at(self, t: float) -> None:
        """Apply the keyframe tracks and run the ``on_frame`` callbacks for time ``t``, without
        swapping plates or starting fades; `update` does this after those. The optical-flow
        pass calls it to look one frame ahead before the frame's own `update`, so callbacks
        should set state from ``t`` (as every example does) rather than accumulate per call."""
        for track in self._tracks:
            track.apply(t)
        for cb in self._callbacks:
            try:
                cb(t)
            except Exception as exc:
                raise SceneError(f"{_where(cb, exc)}: on_frame callback {getattr(cb, '__name__', repr(cb))}() failed at "
                                 f"t={t:.3f} s: {type(exc).__name__}: {exc}") from exc

    def visible_nodes(self) -> Iterator[tuple[Node, np.ndarray]]:
        """Every visible node with its ``(4, 4)`` world matrix (hidden subtrees skipped)."""

        def visit(node: Node, parent_world: np.ndarray) -> Iterator[tuple[Node, np.ndarray]]:
            if not node.visible:
                return
            world = parent_world @ node.local_matrix()
            yield node, world
            for child in node.children:
                yield from visit(child, world)

        yield from visit(self.root, np.eye(4, dtype=np.float32))

    def _repr_png_(self) -> bytes | None:
        """Jupyter's picture of the scene: its frame at `poster_time` (see `hybridscene.notebook`),
        or ``None`` when it cannot be drawn (the notebook shows ``repr`` then)."""
        draw = NOTEBOOK_HOOKS.get("png")
        return draw(self) if draw is not None else None

    def __repr__(self) -> str:
        n = sum(1 for _ in self.root.walk()) - 1
        return f"Scene(plate={self.plate!r}, nodes={n})"
