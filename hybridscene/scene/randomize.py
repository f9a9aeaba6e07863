"""Seeded randomisation for datasets: N variations of a scene from N seeds.

A [`Randomizer`][hybridscene.Randomizer] wraps one ``numpy.random.Generator(PCG64(seed))``; every
helper draws from it in a fixed order, so the same seed and the same sequence of calls give the
same scene in every run and process.

Frames and units: world metres, right-handed, +Y up (the plate's ground is ``y = 0`` for
procedural plates); angles in degrees. A plate's depth map holds view-space depth along the
painting camera's forward axis (``inf`` for sky); its pixel ``(row r, column c)`` has its centre at
image coordinates ``(c + 0.5, r + 0.5)``, row 0 at the top.

    rnd = Randomizer(seed)
    node = scene.add(rnd.mesh(["car.glb", "van.glb"]))
    rnd.place_on_ground(node, plate, max_slope=15, distance=(5, 40))
    rnd.yaw(node)
    rnd.scale(node, (0.9, 1.1))
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .. import transforms
from ..errors import SceneError
from .camera import PerspectiveCamera, look_at_basis

if TYPE_CHECKING:
    from ..plate import Plate, PlateCamera
    from .node import Node

__all__ = ["Randomizer"]

T = TypeVar("T")
_UP = np.array([0.0, 1.0, 0.0])
_EDGE = 0.1
"""A pixel is on a depth edge when a second difference of inverse depth across it exceeds this
fraction of its own inverse depth (0 on any plane; an object's silhouette gives about 1)."""


class Randomizer:
    """Seeded random choices for building scene variations.

    Args:
        seed: a non-negative int; the same seed gives the same draws in every run and process.

    Attributes:
        seed: the seed given.
        rng: the ``numpy.random.Generator`` (PCG64) every helper draws from; draw from it directly
            for anything else, in a fixed order, to stay reproducible.
    """

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SceneError(f"Randomizer seed must be a non-negative integer, got {seed!r}; use e.g. Randomizer(0)")
        self.seed = int(seed)
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        # Per plate (weakly held) and camera: the slope and distance maps (they cost a pass over
        # every pixel; placing many objects on one plate reuses them).
        self._maps: weakref.WeakKeyDictionary[Plate, dict[tuple[float, ...], _GroundMaps]] = weakref.WeakKeyDictionary()

    # -- numbers -----------------------------------------------------------------------------------
    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        """A float drawn uniformly from ``[low, high)``."""
        lo, hi = _range((low, high), "uniform range", allow_equal=True)
        return float(self.rng.uniform(lo, hi))

    def choice(self, items: Sequence[T]) -> T:
        """One item of a non-empty list or tuple, picked uniformly."""
        if isinstance(items, (str, bytes)) or not isinstance(items, (Sequence, np.ndarray)):
            raise SceneError(
                f"choice needs a list or tuple, got {type(items).__name__}; "
                "sets and dicts have no stable order between runs, so pass sorted(items)"
            )
        if len(items) == 0:
            raise SceneError("choice needs a non-empty list, got an empty one; give at least one item")
        return items[int(self.rng.integers(len(items)))]

    def color(self, *, hue: tuple[float, float] = (0.0, 360.0), saturation: tuple[float, float] = (0.3, 0.9),
              value: tuple[float, float] = (0.4, 1.0)) -> tuple[float, float, float]:
        """A colour drawn in HSV (``hue`` in degrees, ``saturation`` and ``value`` in 0..1), as
        sRGB-encoded ``(r, g, b)`` floats in 0..1 (what ``Material(color=...)`` takes)."""
        import colorsys

        h0, h1 = _range(hue, "hue", allow_equal=True)
        s0, s1 = _range(saturation, "saturation", allow_equal=True, bounds=(0.0, 1.0))
        v0, v1 = _range(value, "value", allow_equal=True, bounds=(0.0, 1.0))
        h, s, v = self.rng.uniform((h0, s0, v0), (h1, s1, v1))
        return tuple(float(c) for c in colorsys.hsv_to_rgb((h / 360.0) % 1.0, s, v))  # type: ignore[return-value]

    # -- nodes -------------------------------------------------------------------------------------
    def yaw(self, node: Node, degrees: tuple[float, float] = (0.0, 360.0)) -> float:
        """Turn ``node`` by a random angle about world up (+Y), after its current rotation (so a
        model's own up-fix, e.g. ``quat_from_euler(x=-90)``, is kept). Under a rotated parent the
        axis is still world up. Returns the angle in degrees, drawn from ``[low, high)``."""
        lo, hi = _range(degrees, "yaw degrees", allow_equal=True)
        angle = float(self.rng.uniform(lo, hi))
        axis = _UP
        if node.parent is not None:  # world up, expressed in the parent's frame
            axis = np.linalg.solve(node.parent.world_matrix()[:3, :3].astype(np.float64), _UP)
        turn = transforms.quat_from_axis_angle(tuple(float(a) for a in axis), angle)
        node.rotation = transforms.quat_multiply(turn, node.rotation)
        return angle

    def scale(self, node: Node, range: tuple[float, float] = (0.8, 1.2), *, uniform: bool = True) -> float | np.ndarray:
        """Multiply ``node``'s scale by a random factor from ``[low, high)`` (``0 < low <= high``).

        Returns the factor: a float when ``uniform``, else ``(3,) float64`` per-axis factors
        (x, y, z) drawn independently."""
        lo, hi = _range(range, "scale range", allow_equal=True)
        if lo <= 0:
            raise SceneError(f"scale range must be positive, got {tuple(range)!r}; e.g. (0.8, 1.2)")
        if uniform:
            factor: float | np.ndarray = float(self.rng.uniform(lo, hi))
        else:
            factor = self.rng.uniform(lo, hi, size=3)
        node.scale = node.scale * factor
        return factor

    def mesh(self, paths: Sequence[str | os.PathLike[str]], **mesh_options: Any) -> Node:
        """Load one of ``paths`` (mesh files: OBJ, glTF/GLB, PLY, STL, ...), picked uniformly, with
        [`load_mesh`][hybridscene.load_mesh]; ``mesh_options`` go to it (``name=``, ``position=``,
        ...). Only the picked file is read; errors name it."""
        if isinstance(paths, (str, bytes, os.PathLike)):
            raise SceneError(f"mesh() takes a list of mesh files, got the single path {os.fspath(paths)!r}; "
                             "wrap it in a list")
        if isinstance(paths, Sequence) and len(paths) == 0:
            raise SceneError("mesh() needs a non-empty list of mesh files, got an empty one")
        from .meshfile import load_mesh

        return load_mesh(self.choice(paths), **mesh_options)

    # -- the plate's ground -----------------------------------------------------------------------
    def ground_point(
        self,
        plate: Plate,
        *,
        camera: PerspectiveCamera | PlateCamera | None = None,
        max_slope: float = 25.0,
        distance: tuple[float, float] | None = None,
        margin: float = 0.05,
    ) -> np.ndarray:
        """A random point on the plate's visible ground, ``(3,) float64`` world metres.

        1. Pixels of the plate's depth map qualify when they are not sky (finite depth), lie at
           least ``margin`` of the width/height from the image borders, their local surface
           (the four triangles to the neighbouring pixels, unprojected) is within ``max_slope``
           degrees of level (normal against world +Y) and, with ``distance=(near, far)``, their
           straight-line distance from the camera eye is in ``[near, far]`` metres. Pixels at a
           depth edge (an object's silhouette) fail the slope test, so points stay off edges.
        2. One qualifying pixel is picked uniformly (uniform over the image, not over ground
           area) and a uniform sub-pixel offset is taken on its local surface plane.

        Args:
            plate: a plate with depth.
            camera: the camera the depth map was seen from; default the plate's own camera
                (``PerspectiveCamera.from_plate(plate)``, which the scene also uses). A
                `PlateCamera` or a `PerspectiveCamera` overrides it.
            max_slope: degrees from level, 0..90.
            distance: ``(near, far)`` metres from the camera eye, or ``None`` for any.
            margin: fraction of the width/height near each border to leave out, 0..0.5.

        Raises:
            SceneError: the plate has no depth, or no pixel qualifies, or the plate is a
                cylindrical or equirectangular one (not supported).
        """
        # 1. validate
        slope_limit = _number(max_slope, "max_slope", 0.0, 90.0)
        margin_f = _number(margin, "margin", 0.0, 0.499)
        near_far = None if distance is None else _range(distance, "distance", allow_equal=False, bounds=(0.0, math.inf))
        if plate.depth is None:
            raise SceneError(
                f"{plate!r} has no depth; use a plate with depth (procedural, or an AI plate with "
                "depth_model= or depth_image=)"
            )
        cam = _perspective(plate, camera)
        # 2. per-pixel maps (cached per plate and camera)
        maps = self._ground_maps(plate, cam)
        # 3. the qualifying pixels
        h, w = plate.depth.shape
        mask = maps.slope <= slope_limit  # NaN (sky, borders, edges of sky) compares False
        my, mx = int(math.ceil(margin_f * h)), int(math.ceil(margin_f * w))
        mask[:my], mask[h - my:], mask[:, :mx], mask[:, w - mx:] = False, False, False, False
        if near_far is not None:
            mask &= (maps.distance >= near_far[0]) & (maps.distance <= near_far[1])
        candidates = np.flatnonzero(mask)
        if candidates.size == 0:
            within = f" at {near_far[0]:g}-{near_far[1]:g} m" if near_far is not None else ""
            raise SceneError(
                f"no ground pixel within {slope_limit:g}° of level{within} in {plate!r} "
                f"(margin {margin_f:g}); raise max_slope or widen distance"
            )
        # 4. pick a pixel and a spot inside it (always the same draws, whatever the plate)
        index = int(candidates[int(self.rng.integers(candidates.size))])
        offset = self.rng.uniform(-0.5, 0.5, size=2)
        r, c = divmod(index, w)
        return _spot(maps, plate.depth, r, c, offset, near_far)

    def place_on_ground(
        self,
        node: Node,
        plate: Plate,
        *,
        camera: PerspectiveCamera | PlateCamera | None = None,
        max_slope: float = 25.0,
        distance: tuple[float, float] | None = None,
        margin: float = 0.05,
    ) -> np.ndarray:
        """Move ``node`` to a `ground_point` (same options) and return that point, ``(3,) float64``
        world metres. The node's origin lands on the ground, so model files should have their
        base at ``y = 0``; a node under a transformed parent is placed at the same world point."""
        point = self.ground_point(plate, camera=camera, max_slope=max_slope, distance=distance, margin=margin)
        local = point
        if node.parent is not None:
            local = (np.linalg.inv(node.parent.world_matrix().astype(np.float64)) @ np.append(point, 1.0))[:3]
        node.position = local
        return point

    def _ground_maps(self, plate: Plate, cam: PerspectiveCamera) -> _GroundMaps:
        key = (cam.fov_y, *cam.position.tolist(), *cam.target.tolist(), *np.asarray(cam.up).tolist(), *cam.shift,
               cam.zoom)
        per_plate = self._maps.setdefault(plate, {})
        if key not in per_plate:
            per_plate[key] = _GroundMaps(plate, cam)
        return per_plate[key]

    def __repr__(self) -> str:
        return f"Randomizer(seed={self.seed})"


class _GroundMaps:
    """For one plate seen by one camera: the eye, world-from-view rotation, each pixel's view
    direction (``z = -1``), and per pixel the slope in degrees (NaN where unknown) and the
    distance from the eye in metres."""

    def __init__(self, plate: Plate, cam: PerspectiveCamera) -> None:
        assert plate.depth is not None
        if plate.camera is not None and plate.camera.projection != "perspective":
            raise SceneError(f"placing objects on a {plate.camera.projection} plate's ground is not supported; "
                             "use a perspective plate (the default projection), or place them yourself")
        w, h = plate.size
        self.eye, self.rot = look_at_basis(cam)
        t = math.tan(math.radians(cam.fov_y) / 2.0) / cam.zoom
        self.scale = (t * w / h, t)
        self.shift = (cam.shift[0] * cam.zoom, cam.shift[1] * cam.zoom)
        self.size = (w, h)
        depth = plate.depth.astype(np.float64)
        ys, xs = np.mgrid[0:h, 0:w] + 0.5
        points = self.unproject(xs, ys, depth)  # (H, W, 3), NaN for sky
        # Oriented normals of the four triangles around each pixel (to its right, up, left and
        # down neighbours); the slope is the worst of them, so depth edges fail.
        pad = np.pad(points, ((1, 1), (1, 1), (0, 0)), constant_values=np.nan)
        right, up, left, down = pad[1:-1, 2:], pad[:-2, 1:-1], pad[1:-1, :-2], pad[2:, 1:-1]
        to_eye = self.eye - points
        cos = np.full((h, w), np.inf)
        with np.errstate(invalid="ignore", divide="ignore"):
            for a, b in ((right, up), (up, left), (left, down), (down, right)):
                n = np.cross(a - points, b - points)
                n *= np.sign(np.einsum("ijk,ijk->ij", n, to_eye))[..., None]  # facing the camera
                cos = np.minimum(cos, n[..., 1] / np.linalg.norm(n, axis=-1))
            # Depth edges (a ridge top seen against a farther ridge makes a level-looking
            # triangle): inverse depth is affine in the image on a plane, so a smooth surface has
            # small second differences of it; an edge does not.
            disp = np.pad(1.0 / depth, 1, constant_values=np.nan)
            centre = disp[1:-1, 1:-1]
            bend = np.maximum(np.abs(disp[1:-1, 2:] + disp[1:-1, :-2] - 2.0 * centre),
                              np.abs(disp[2:, 1:-1] + disp[:-2, 1:-1] - 2.0 * centre))
            cos = np.where(np.isfinite(cos) & (bend <= _EDGE * centre), cos, np.nan)
            self.slope = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        self.distance = np.linalg.norm(to_eye, axis=-1)

    def unproject(self, x: np.ndarray, y: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Image coordinates (pixels, origin top-left) and view depth (metres) -> world points."""
        w, h = self.size
        dx = ((2.0 * x / w - 1.0) - self.shift[0]) * self.scale[0]
        dy = ((1.0 - 2.0 * y / h) - self.shift[1]) * self.scale[1]
        view = np.stack([dx, dy, -np.ones_like(dx)], -1)
        d = np.where(np.isfinite(depth), depth, np.nan)
        return self.eye + (view @ self.rot.T) * d[..., None]


def _spot(maps: _GroundMaps, depth: np.ndarray, r: int, c: int, offset: np.ndarray,
          near_far: tuple[float, float] | None) -> np.ndarray:
    """The world point seen at pixel ``(r, c)`` moved by ``offset`` pixels on the pixel's local
    plane; the pixel's centre when the plane is seen edge-on or the spot leaves ``near_far``."""
    xs = np.array([c, c + 1, c, c - 1, c], float) + 0.5
    ys = np.array([r, r, r - 1, r, r + 1], float) + 0.5
    p, right, up, left, down = maps.unproject(xs, ys, depth[ys.astype(int), xs.astype(int)].astype(np.float64))
    normal = sum(np.cross(a - p, b - p) for a, b in ((right, up), (up, left), (left, down), (down, right)))
    w, h = maps.size
    dx = ((2.0 * (c + 0.5 + offset[0]) / w - 1.0) - maps.shift[0]) * maps.scale[0]
    dy = ((1.0 - 2.0 * (r + 0.5 + offset[1]) / h) - maps.shift[1]) * maps.scale[1]
    ray = maps.rot @ np.array([dx, dy, -1.0])
    denom = float(normal @ ray)
    if abs(denom) > 1e-9 * np.linalg.norm(normal) * np.linalg.norm(ray):
        t = float(normal @ (p - maps.eye)) / denom
        point = maps.eye + t * ray
        d = float(np.linalg.norm(point - maps.eye))
        centre_d = float(maps.distance[r, c])
        if t > 0 and abs(d - centre_d) <= 0.5 * centre_d and (near_far is None or near_far[0] <= d <= near_far[1]):
            return point
    return p


def _perspective(plate: Plate, camera: Any) -> PerspectiveCamera:
    from ..plate import PlateCamera

    if camera is None:
        return PerspectiveCamera.from_plate(plate)
    if isinstance(camera, PerspectiveCamera):
        return camera
    if isinstance(camera, PlateCamera):
        return PerspectiveCamera(fov_y=camera.fov_y, position=(0.0, camera.height, 0.0),
                                 target=(0.0, camera.height, -1.0), shift=(0.0, camera.lens_shift))
    raise SceneError(
        f"camera must be a PerspectiveCamera or PlateCamera (the camera the plate's depth was seen from), "
        f"got {type(camera).__name__}; a plate's depth has no meaning for other cameras"
    )


def _number(value: Any, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or not low <= value <= high:
        raise SceneError(f"{what} must be a number in {low:g}..{high:g}, got {value!r}")
    return float(value)


def _range(value: Any, what: str, *, allow_equal: bool, bounds: tuple[float, float] = (-math.inf, math.inf)
           ) -> tuple[float, float]:
    """``(low, high)`` as two finite floats with ``low <= high`` (``<`` unless ``allow_equal``)
    inside ``bounds``, or a one-line SceneError."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SceneError(f"{what} must be two numbers (low, high), got {value!r}") from None
    ok = math.isfinite(lo) and math.isfinite(hi) and bounds[0] <= lo and hi <= bounds[1]
    if not ok or hi < lo or (hi == lo and not allow_equal):
        order = "<=" if allow_equal else "<"
        raise SceneError(f"{what} must be (low, high) with {bounds[0]:g} <= low {order} high <= {bounds[1]:g}, "
                         f"got {tuple(value)!r}")
    return lo, hi
