"""Covering the camera's path: before a render (and when a preview loads a scene), make sure
no frame looks past the plate's edges, where the renderer could only stretch the edge pixels.

[`Scene`][hybridscene.Scene]'s ``overscan`` option chooses how
(`hybridscene.scene.scene.OVERSCAN_MODES`):

* ``"auto"`` (default): when the path sees past the plate (`hybridscene.scene.coverage`), a
  procedural plate is painted again, larger, with the same seed and camera (the same world, with
  margins around the original image: `procedural_plate`'s ``overscan``); a plate that cannot be
  painted again (AI, files, arrays) falls back to ``"zoom"``.
* ``"zoom"``: the smallest zoom of the scene's camera (`PerspectiveCamera.zoom`) that keeps every
  frame inside the plate, as DepthFlow does.
* ``"off"``: nothing is changed; frames that look past the plate stretch its edge pixels.

The decision is a pure function of the scene, its plate, the frame size and the time span
(`hybridscene.scene.coverage.path_times`), so every shard and Ray worker of a render takes the same
one. It is logged in one line.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import HybridSceneError
from .camera import PerspectiveCamera
from .coverage import Coverage, _camera_key, camera_path, path_times, plate_coverage
from .view import uses_parallax

if TYPE_CHECKING:
    from ..plate import Plate
    from .scene import Scene

__all__ = ["MAX_GROWTH", "MAX_ZOOM", "OverscanDecision", "cover_camera_path", "render_times"]

log = logging.getLogger(__name__)

MAX_GROWTH = 2.0
"""A repainted plate is at most this many times the original's width and height; a path that
needs more is zoomed instead."""
MAX_ZOOM = 4.0
"""The largest zoom the ``"zoom"`` fallback uses."""
_STEP = 8  # margins are whole multiples of this many pixels (stable across nearby paths)
_SPARE = 0.02  # extra margin, as a fraction of the plate's size

_lock = threading.Lock()
_repainted: OrderedDict[tuple[Any, ...], Plate] = OrderedDict()  # a few repainted plates, newest last
_decisions: weakref.WeakKeyDictionary[Plate, OrderedDict[str, tuple[OverscanDecision, Plate | None]]] = \
    weakref.WeakKeyDictionary()  # per plate: path key -> decision


@dataclasses.dataclass(frozen=True)
class OverscanDecision:
    """What `cover_camera_path` did."""

    action: str
    """``"none"`` (the plate covers the path, or ``overscan="off"``), ``"repaint"`` (a larger
    procedural plate), ``"zoom"`` (the camera zoomed in) or ``"uncovered"`` (neither could help:
    the camera looks behind the plate's camera)."""
    coverage: Coverage
    """What the path sees of the scene's original plate."""
    margins: tuple[int, int, int, int] = (0, 0, 0, 0)
    """``"repaint"``: pixels painted beyond each edge (left, top, right, bottom)."""
    zoom: float = 1.0
    """``"zoom"``: the factor the camera's zoom was multiplied by."""
    seconds: float = 0.0
    """Time taken (coverage and any repaint)."""
    relief: bool = True
    """Whether a frame of the path draws the plate as a relief (the camera leaves the plate's
    viewpoint, or ``parallax=True``: `hybridscene.scene.view.uses_parallax`); True when the path
    could not be followed. A render whose path never does computes no relief
    (`FrameRenderer`'s ``relief_ahead``)."""


def cover_camera_path(scene: Scene, size: tuple[int, int], times: Iterable[float] = ()) -> OverscanDecision:
    """Apply the scene's ``overscan`` policy for frames of ``size`` over ``times`` (the render's
    frame times; joined with the span of the scene's keyframes, see
    `hybridscene.scene.coverage.path_times`): may replace ``scene.plate`` with a larger
    repaint or set the camera's ``zoom``. Logs what it did in one line and returns it.

    Decisions are remembered per plate and camera path (a preview that reloads its scene, a
    second render of the same scene: only the path is sampled again). Calling it again for the
    same scene changes nothing more (the repainted plate or the zoomed camera covers the path).
    """
    t0 = time.perf_counter()
    plate = scene.plate
    if plate is None or plate.camera is None:
        return OverscanDecision("none", Coverage((0.0, 0.0, 1.0, 1.0), plate.size if plate is not None else (1, 1)),
                                relief=False)
    try:
        cameras = camera_path(scene, path_times(scene, times))
    except HybridSceneError as exc:  # a callback failing at a sampled time: the render reports it at its frame
        log.warning("could not follow the camera path to check that the plate covers it (%s); overscan skipped", exc)
        return OverscanDecision("none", Coverage((0.0, 0.0, 1.0, 1.0), plate.size), seconds=time.perf_counter() - t0)
    mode = scene.overscan
    key = hashlib.sha256(repr((size, mode, scene.parallax, [_camera_key(c) for c in cameras])).encode()).hexdigest()
    with _lock:
        known = _decisions.setdefault(plate, OrderedDict())
        cached = known.get(key)
    if cached is None:
        cached = _decide(scene.parallax, mode, plate, cameras, size)
        with _lock:
            known[key] = cached
            while len(known) > 8:
                known.popitem(last=False)
    decision, new = cached
    relief = any(uses_parallax(scene.parallax, new or plate, cam) for cam in cameras)
    decision = dataclasses.replace(decision, seconds=time.perf_counter() - t0, relief=relief)
    _apply(scene, plate, decision, new)
    return decision


def _decide(parallax: Any, mode: str, plate: Plate, cameras: list[Any],
            size: tuple[int, int]) -> tuple[OverscanDecision, Plate | None]:
    """What to do (no side effects): the decision, and the repainted plate for ``"repaint"``."""
    coverage = plate_coverage(plate, cameras, size, parallax=parallax)
    if coverage.covered or mode == "off":
        return OverscanDecision("none", coverage), None
    if mode == "auto" and coverage.bounded and _repaintable(plate):
        margins = _margins(coverage)
        if _fits(plate, margins):
            new = _repaint(plate, margins)
            again = plate_coverage(new, cameras, size, parallax=parallax)
            if not again.covered:  # the surface beyond the old edges differs from its guess: grow once
                grown = tuple(m + g for m, g in zip(margins, _margins(again)))
                if _fits(plate, grown):  # type: ignore[arg-type]
                    margins, new = grown, _repaint(plate, grown)  # type: ignore[assignment]
            return OverscanDecision("repaint", coverage, margins=margins), new
    return OverscanDecision(*_zoom_for(parallax, plate, cameras, size, coverage)), None


def _zoom_for(parallax: Any, plate: Plate, cameras: list[Any], size: tuple[int, int],
              coverage: Coverage) -> tuple[str, Coverage, tuple[int, int, int, int], float]:
    """``("zoom", ..., factor)``: the smallest zoom (to 1 %) that covers the path; ``"uncovered"``
    when even `MAX_ZOOM` does not."""
    def covered(z: float) -> bool:
        return plate_coverage(plate, cameras, size, parallax=parallax, zoom=z).covered

    # A first guess from how far the frames reach past the plate (about its middle), then bisection.
    u0, v0, u1, v1 = coverage.rect
    reach = max(0.5 - u0, u1 - 0.5, 0.5 - v0, v1 - 0.5) / 0.5 if coverage.bounded else MAX_ZOOM
    hi = min(MAX_ZOOM, max(1.01, 1.02 * reach))
    while not covered(hi):
        if hi >= MAX_ZOOM:
            return "uncovered", coverage, (0, 0, 0, 0), 1.0
        hi = min(MAX_ZOOM, hi * 1.25)
    lo = 1.0
    while hi - lo > 0.01 * lo:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if covered(mid) else (mid, hi)
    return "zoom", coverage, (0, 0, 0, 0), math.ceil(hi * 1000.0) / 1000.0


def _apply(scene: Scene, plate: Plate, decision: OverscanDecision, new: Plate | None) -> None:
    """Carry out ``decision`` on the scene and log it in one line."""
    cov = decision.coverage
    need = "/".join(map(str, cov.margins)) if cov.bounded else "unbounded"
    ms = decision.seconds * 1e3
    if decision.action == "none":
        if not cov.covered:
            log.info("overscan='off': the camera path sees past the plate (%s px left/top/right/bottom beyond its "
                     "%dx%d); those frames stretch the plate's edge pixels", need, *plate.size)
    elif decision.action == "repaint":
        assert new is not None
        scene.plate = new
        log.info("plate repainted with overscan %s px (left/top/right/bottom; %dx%d -> %dx%d) to cover the camera "
                 "path (%.0f ms)", "/".join(map(str, decision.margins)), *plate.size, *new.size, ms)
    elif decision.action == "zoom":
        for cam in _scene_cameras(scene):
            cam.zoom = cam.zoom * decision.zoom
        how = ("paint it larger (procedural plates are repainted automatically with overscan='auto'), or paint a "
               "plate of a wider view (a larger size, or a layout-conditioned plate)")
        log.warning("the camera path sees past the plate (%s px left/top/right/bottom beyond its %dx%d): zoomed in "
                    "x%.3f to keep every frame covered (%.0f ms); to avoid the zoom, %s", need, *plate.size,
                    decision.zoom, ms, how)
    else:
        log.warning("the camera path sees past the plate (%s px beyond its %dx%d) and even a zoom of %g does not "
                    "cover it (does the camera look away from the plate?); those frames stretch its edge pixels",
                    need, *plate.size, MAX_ZOOM)


def _scene_cameras(scene: Scene) -> list[PerspectiveCamera]:
    """The perspective camera objects the scene shows (``scene.camera``; a callback may swap in
    others, which are not known here)."""
    cam = scene.camera
    return [cam] if isinstance(cam, PerspectiveCamera) else []


def _repaintable(plate: Plate) -> bool:
    cam = plate.camera
    return (plate.source.startswith("procedural:") and plate.seed is not None and cam is not None
            and cam.projection == "perspective" and plate.depth is not None)


def _margins(coverage: Coverage) -> tuple[int, int, int, int]:
    """The margins to paint: what the path needs plus a little, in steps of `_STEP` pixels,
    equal left and right (the plate camera's axis stays in the middle)."""
    pw, ph = coverage.plate_size

    def up(px: int, extent: int) -> int:
        return 0 if px <= 0 else _STEP * math.ceil((px + _SPARE * extent) / _STEP)

    left, top, right, bottom = coverage.margins
    side = up(max(left, right), pw)
    return (side, up(top, ph), side, up(bottom, ph))


def _fits(plate: Plate, margins: tuple[int, int, int, int]) -> bool:
    """Whether a plate with these margins stays within `MAX_GROWTH` and a pinhole's field of view."""
    pw, ph = _original_size(plate)
    cam = plate.camera
    assert cam is not None
    left, top, right, bottom = margins
    w, h = plate.size[0] + left + right, plate.size[1] + top + bottom
    if w > MAX_GROWTH * pw or h > MAX_GROWTH * ph:
        return False
    half = math.tan(math.radians(cam.fov_y) / 2.0) * h / plate.size[1]
    return 2.0 * math.degrees(math.atan(half)) < 170.0


def _original_size(plate: Plate) -> tuple[int, int]:
    info = plate.meta.get("overscan") if isinstance(plate.meta, dict) else None
    return tuple(info["size"]) if info else plate.size  # type: ignore[return-value]


def _repaint(plate: Plate, margins: tuple[int, int, int, int]) -> Plate:
    """``plate`` painted again with ``margins`` more pixels around it (cached: a preview that
    reloads its scene, or a second render, does not paint it again). A plate that is itself a
    repaint is painted from its original, with the margins added to its own."""
    from ..plate.cache import PlateCache
    from ..plate.procedural import procedural_plate

    cam = plate.camera
    assert cam is not None and plate.seed is not None
    info = plate.meta.get("overscan")
    if info:  # grow the original's margins
        size, fov_y, horizon = tuple(info["size"]), info["fov_y"], info["horizon"]
        margins = tuple(a + b for a, b in zip(info["margins"], margins))  # type: ignore[assignment]
    else:
        size, fov_y, horizon = plate.size, cam.fov_y, cam.horizon
    style = plate.source.split(":", 1)[1]
    key = (style, size, plate.seed, fov_y, cam.height, horizon, margins)
    with _lock:
        hit = _repainted.get(key)
        if hit is not None:
            _repainted.move_to_end(key)
            return hit
    def paint() -> tuple[Plate, dict[str, Any], dict[str, float]]:
        t0 = time.perf_counter()
        new = procedural_plate(style, size=size, seed=plate.seed, fov_y=fov_y, camera_height=cam.height,
                               horizon=horizon, overscan=margins)
        return new, inputs, {"paint": round(time.perf_counter() - t0, 4)}

    # The plate cache keeps it for the next render (and Ray workers sharing the cache folder).
    inputs = {"kind": "procedural-overscan", "style": style, "size": list(size), "seed": plate.seed, "fov_y": fov_y,
              "camera_height": cam.height, "horizon": horizon, "margins": list(margins), "painter": _painter_hash()}
    cache_key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:32]
    new = PlateCache().get_or_create(cache_key, paint)[0]
    with _lock:
        _repainted[key] = new
        while len(_repainted) > 4:
            _repainted.popitem(last=False)
    return new


def render_times(plan: Any) -> list[float]:
    """The first and last frame times of a whole render (a `RenderPlan`): every frame of it, not
    only a shard's, so that every shard decides the same way."""
    whole = range(plan.total) if plan.total is not None else plan.indices
    return [plan.time(whole[0]), plan.time(whole[-1])]


@functools.lru_cache(maxsize=1)
def _painter_hash() -> str:
    """A hash of the procedural painter's source, so a changed painter never reads an old repaint."""
    from pathlib import Path

    from ..plate import _landscape, procedural

    return hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in (_landscape, procedural))).hexdigest()[:16]
