"""What a camera path sees of a plate: how far beyond the plate's edges its frames reach.

A plate is a picture taken from one point. A camera that turns, zooms or moves (parallax) looks
at other parts of the plate's world; near the frame's border it may look past the plate's
edges, where the renderer has nothing but the edge pixels to stretch. `plate_coverage`
measures this for a set of camera poses (`camera_path` samples them from a scene over a time
range) by following the rays through each frame's border to what they hit: numpy only, no GL,
a few milliseconds. [`Scene`][hybridscene.Scene]'s ``overscan`` option uses it
(`hybridscene.scene.overscan`) to paint a larger plate, or zoom in, before a render.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .camera import OrthographicCamera, PerspectiveCamera, look_at_basis
from .view import uses_parallax

if TYPE_CHECKING:
    from ..plate import Plate
    from .scene import Scene

__all__ = ["Coverage", "camera_path", "path_times", "plate_coverage"]

_EDGE_SAMPLES = 17  # rays along each edge of the frame (corners included)
_MARCH = 28  # steps along each ray (geometric in distance), then bisection
_BISECT = 7
_TOLERANCE_PX = 0.5  # how far past an edge still counts as covered (the edge pixel's own half)


@dataclasses.dataclass(frozen=True)
class Coverage:
    """The part of a plate's image plane that a camera path sees (see `plate_coverage`)."""

    rect: tuple[float, float, float, float]
    """``(u0, v0, u1, v1)``: the bounds of what the frames show, in the plate's image coordinates
    (0..1, ``v = 0`` at the top); ``(0, 0, 1, 1)`` when they show exactly the whole plate. Values
    outside 0..1 are beyond the plate's edges."""
    plate_size: tuple[int, int]
    """The plate's ``(width, height)`` in pixels."""
    bounded: bool = True
    """False when some ray sees nothing of the plate's image plane at all (it looks behind a
    perspective plate's camera): no larger plate can cover that."""

    @property
    def margins(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)``: whole pixels the frames reach beyond each edge of the
        plate (0 where they stay inside; half a pixel past an edge still counts as inside)."""
        pw, ph = self.plate_size
        u0, v0, u1, v1 = self.rect
        out = (-u0 * pw, -v0 * ph, (u1 - 1.0) * pw, (v1 - 1.0) * ph)
        return tuple(max(0, math.ceil(x - _TOLERANCE_PX)) if math.isfinite(x) else 1 << 30
                     for x in out)  # type: ignore[return-value]

    @property
    def covered(self) -> bool:
        """True when the plate covers every frame (no margin needed)."""
        return self.bounded and not any(self.margins)


def path_times(scene: Scene, times: Iterable[float] = (), *, samples: int = 48) -> list[float]:
    """The times at which `camera_path` samples ``scene``: the span of the keyframe tracks that
    animate a camera (whose poses outside their keys repeat ones inside), joined, when the scene
    has ``on_frame`` callbacks (which may move the camera any way), with the span of ``times``
    (the render's frames); evenly spaced samples over it (at least ``samples``, 8 per key, at
    most 400), every key time, and the ends. A camera moved only by keyframes gives the same
    times whatever ``times`` are, so every part of a render (a shard, a frame range) decides the
    same way; a scene with neither gives one time (its camera stands still)."""
    lo, hi = math.inf, -math.inf
    keys: list[float] = []
    for track in getattr(scene, "_tracks", ()):
        t = getattr(track, "times", None)
        if t is not None and len(t) and isinstance(getattr(track, "target", None), (PerspectiveCamera, OrthographicCamera)):
            lo, hi = min(lo, float(t[0])), max(hi, float(t[-1]))
            keys += [float(k) for k in t]
    given = [float(t) for t in times]
    if given and getattr(scene, "_callbacks", None):
        lo, hi = min(lo, min(given)), max(hi, max(given))
    if not math.isfinite(lo):
        return [float(getattr(scene, "time", 0.0))]
    n = int(np.clip(8 * len(keys), samples, 400))
    out = set(np.linspace(lo, hi, max(2, n)).tolist()) if hi > lo else {lo}
    out.update(keys)
    return sorted(out)


def camera_path(scene: Scene, times: Iterable[float]) -> list[Any]:
    """The scene's camera at each of ``times`` (copies, duplicates dropped), posed by its tracks
    and ``on_frame`` callbacks (`Scene.pose_at`); the scene is posed back at its own time
    afterwards."""
    cameras, seen = [], set()
    now = scene.time
    try:
        for t in times:
            scene.pose_at(float(t))
            cam = scene.camera
            key = _camera_key(cam)
            if key not in seen:
                seen.add(key)
                cameras.append(copy.deepcopy(cam))
    finally:
        scene.pose_at(now)
    return cameras


def _camera_key(cam: Any) -> tuple[Any, ...]:
    """What a camera's view depends on (its pose and lens), hashable."""
    pose = b"".join(np.asarray(v, np.float32).tobytes() for v in (cam.position, cam.target, cam.up))
    if isinstance(cam, PerspectiveCamera):
        return ("p", pose, cam.fov_y, tuple(cam.shift), cam.zoom, cam.near, cam.far)
    return (type(cam).__name__, pose, getattr(cam, "height", None))


def plate_coverage(plate: Plate, cameras: Sequence[Any], frame_size: tuple[int, int], *,
                   parallax: bool | str = "auto", zoom: float = 1.0) -> Coverage:
    """What ``cameras`` (the poses of a path, e.g. from `camera_path`) see of ``plate`` in
    frames of ``frame_size``.

    Rays through each frame's border (and a coarse grid inside) are followed to what they hit:
    for a camera drawn with parallax (see `uses_parallax`; ``parallax`` is the scene's
    setting) the plate's surface (its depth map, continued past the edges, and the ground
    ``y = 0``), whose hit point is projected into the plate's camera; otherwise the plate at
    infinity (where the ray's direction lands). ``zoom`` magnifies every camera on top of its
    own zoom (to find the smallest zoom that covers the plate).

    Returns:
        A `Coverage`. A plate without a camera, and orthographic cameras, fit the plate to the
        frame (``object-fit: cover``): always covered.
    """
    pw, ph = plate.size
    full = Coverage((0.0, 0.0, 1.0, 1.0), (pw, ph))
    if plate.camera is None:
        return full
    ndc = _frame_points()
    rays = [(*_rays(cam, frame_size, ndc, zoom), uses_parallax(parallax, plate, cam)) for cam in cameras
            if isinstance(cam, PerspectiveCamera)]
    parts = []
    moving = [(np.broadcast_to(e, d.shape), d) for e, d, relief in rays if relief]
    if moving:
        parts.append(_march(plate, np.concatenate([e for e, _ in moving]), np.concatenate([d for _, d in moving])))
    still = [d for _, d, relief in rays if not relief]
    if still:
        parts.append(_at_infinity(plate, np.concatenate(still)))
    if not parts:
        return full
    uv = np.concatenate([p[0] for p in parts])
    ok = np.concatenate([p[1] for p in parts])
    bounded = bool(ok.all())
    if not ok.any():
        return dataclasses.replace(full, bounded=bounded)
    lo, hi = uv[ok].min(0), uv[ok].max(0)
    return Coverage((float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])), (pw, ph), bounded)


def _frame_points() -> np.ndarray:
    """``(N, 2)`` NDC points: each edge of the frame densely, and a 5 x 5 grid inside."""
    s = np.linspace(-1.0, 1.0, _EDGE_SAMPLES)
    one = np.ones_like(s)
    edges = [np.stack([s, -one], -1), np.stack([s, one], -1), np.stack([-one, s], -1), np.stack([one, s], -1)]
    g = np.linspace(-0.8, 0.8, 5)
    gx, gy = np.meshgrid(g, g)
    return np.concatenate([*edges, np.stack([gx.ravel(), gy.ravel()], -1)])


def _rays(cam: PerspectiveCamera, size: tuple[int, int], ndc: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """The camera's eye and the world directions through ``ndc`` points (``(N, 3)``)."""
    w, h = size
    p = cam.projection_matrix(w / h).astype(np.float64)
    p00, p11 = p[0, 0] * zoom, p[1, 1] * zoom
    p02, p12 = p[0, 2] * zoom, p[1, 2] * zoom
    # clip x = p00 x + p02 z, w = -z: at z = -1, ndc x = p00 x - p02.
    view_dirs = np.stack([(ndc[:, 0] + p02) / p00, (ndc[:, 1] + p12) / p11, -np.ones(len(ndc))], -1)
    rot = look_at_basis(cam)[1]
    return np.asarray(cam.position, np.float64), view_dirs @ rot.T


def _project(plate: Plate, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World vectors from the plate's eye -> ``(uv (..., 2), w (...))``: image coordinates and
    the plate's depth measure (``w <= 0``: not on the image plane)."""
    cam = plate.camera
    assert cam is not None
    if cam.projection == "perspective":
        from ..plate.projection import plate_from_direction

        q = vectors @ plate_from_direction(plate).T
        w = q[..., 2]
        safe = np.where(w > 1e-12, w, 1.0)
        return q[..., :2] / safe[..., None], w
    from ..plate.projection import plate_uv  # cylindrical and equirectangular plates

    u, v, w = plate_uv(plate, vectors)
    return np.stack([u, v], -1), w


def _at_infinity(plate: Plate, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uv, w = _project(plate, dirs)
    return uv, w > 1e-9


def _depth_at(plate: Plate, uv: np.ndarray) -> np.ndarray:
    """The plate's depth at ``uv`` (nearest pixel; past the edges, the edge's: the surface
    continued outward)."""
    assert plate.depth is not None
    pw, ph = plate.size
    x = np.clip((uv[..., 0] * pw).astype(np.int64), 0, pw - 1)
    y = np.clip((uv[..., 1] * ph).astype(np.int64), 0, ph - 1)
    return plate.depth[y, x]


def _march(plate: Plate, eyes: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each ray (from ``eyes``, along ``dirs``; ``(N, 3)`` each) first meets the plate's
    surface (behind the depth map, or below the ground ``y = 0``), in image coordinates; rays
    that meet nothing land where their direction does (the sky, at infinity)."""
    cam = plate.camera
    assert cam is not None and plate.depth is not None
    plate_eye = np.array([0.0, cam.height, 0.0])
    depth = plate.depth
    finite = depth[np.isfinite(depth)]
    near = float(finite.min()) if finite.size else 1.0
    far = float(finite.max()) if finite.size else 1.0
    offset = float(np.linalg.norm(eyes - plate_eye, axis=-1).max())
    dirs = dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)
    s_lo = max(1e-3, 0.5 * (near - offset))
    s_hi = max(4.0 * (far + offset), 10.0 * s_lo)
    steps = np.geomspace(s_lo, s_hi, _MARCH)  # (S,)
    start = eyes - plate_eye

    def inside(s: np.ndarray) -> np.ndarray:
        """Whether the points at distances ``s`` (rays x samples) are inside the surface."""
        rel = start[:, None, :] + dirs[:, None, :] * s[..., None]
        uv, w = _project(plate, rel)
        below = (rel[..., 1] <= -cam.height) if cam.height > 0 else np.zeros(w.shape, bool)
        return below | ((w > 1e-9) & (w >= _depth_at(plate, uv)))

    hit = inside(np.broadcast_to(steps, (len(dirs), _MARCH)))
    any_hit = hit.any(1)
    first = np.argmax(hit, 1)
    b = steps[first]  # inside
    a = np.where(first > 0, steps[np.maximum(first - 1, 0)], 0.0)  # outside (or the eye)
    for _ in range(_BISECT):
        mid = 0.5 * (a + b)
        m = inside(mid[:, None])[:, 0]
        b = np.where(m, mid, b)
        a = np.where(m, a, mid)
    uv_hit, w_hit = _project(plate, start + dirs * b[:, None])
    uv_inf, ok_inf = _at_infinity(plate, dirs)
    uv = np.where(any_hit[:, None], uv_hit, uv_inf)
    ok = np.where(any_hit, w_hit > 1e-9, ok_inf)
    return uv, ok
