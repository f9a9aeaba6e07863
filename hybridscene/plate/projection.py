"""Camera geometry of plates, in numpy (no GL): where a plate's pixels lie.

A plate knows the camera it was painted from ([`PlateCamera`][hybridscene.PlateCamera]: level, at
``height`` metres above the ground, looking down -Z, vertical field of view ``fov_y`` and the
horizon's row, and its projection: perspective, cylindrical or equirectangular). Image
coordinates are ``(u, v)`` in 0..1 with ``v = 0`` at the image's top. Directions are in the
world frame (which is the plate camera's frame turned upright: it looks down -Z, +X to the right).

Every projection comes with a depth measure ``w`` per unit of a direction, so that a plate depth
``d`` lies at ``eye + direction * d / w``: the depth along the axis for a perspective plate, the
horizontal distance for a cylindrical one, the distance for an equirectangular one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .plate import Plate

__all__ = ["PROJECTION_CODES", "cover_rect", "plate_directions", "plate_from_direction", "plate_lens", "plate_uv",
           "unproject"]

PROJECTION_CODES = {"perspective": 0, "cylindrical": 1, "equirectangular": 2}
"""The shaders' number for each projection (the ``PLATE_PROJ`` define, ``plate_q`` in ``shaders/include/plate_projection.glsl``)."""


def cover_rect(plate_size: tuple[int, int], frame_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """UV scale and offset ``(sx, sy, ox, oy)`` that fit a plate to a frame like CSS
    ``object-fit: cover``: fill the frame, keep the aspect, crop the overflow evenly."""
    pw, ph = plate_size
    fw, fh = frame_size
    plate_aspect, frame_aspect = pw / ph, fw / fh
    if plate_aspect > frame_aspect:  # plate wider: crop left and right
        sx = frame_aspect / plate_aspect
        return (sx, 1.0, (1.0 - sx) / 2.0, 0.0)
    sy = plate_aspect / frame_aspect  # plate taller: crop top and bottom
    return (1.0, sy, 0.0, (1.0 - sy) / 2.0)


def plate_from_direction(plate: Plate) -> np.ndarray:
    """``(3, 3) float64``: a world direction seen from the plate's camera (level, looking down
    -Z) -> the plate's image coordinates ``(u w, v w, w)``, ``w`` = depth along the plate
    camera's axis per unit of the direction. The plate must know its camera, a perspective one
    (cylindrical and equirectangular plates are no homography: use `plate_uv`)."""
    cam = plate.camera
    if cam is None or cam.projection != "perspective":
        from ..errors import PlateError

        what = "no camera" if cam is None else f"a {cam.projection} camera"
        raise PlateError(f"plate_from_direction needs a plate with a perspective camera, this one has {what}; "
                         "use plate_uv / plate_directions, which take every projection")
    pw, ph = plate.size
    f = (ph / 2) / np.tan(np.radians(cam.fov_y) / 2)  # focal length in pixels
    return np.array([[f / pw, 0, -0.5], [0, -f / ph, -cam.horizon], [0, 0, -1.0]])


def plate_lens(plate: Plate) -> tuple[int, tuple[float, float, float]]:
    """What the shaders need besides the mapping matrix: the projection's number
    (`PROJECTION_CODES`) and ``(1 / fov_x, vertical scale, horizon)``: ``u = 0.5 + azimuth /
    fov_x`` (radians); ``v = horizon - scale * y / r`` (cylindrical: ``scale`` = the pinhole's
    focal length over the image height) or ``v = horizon - scale * elevation`` (equirectangular:
    ``scale = 1 / fov_y`` in radians). ``(0, (0, 0, 0))`` for a perspective plate or one without a
    camera."""
    cam = plate.camera
    if cam is None or cam.projection == "perspective":
        return 0, (0.0, 0.0, 0.0)
    inv_x = 1.0 / np.radians(float(cam.fov_x))  # type: ignore[arg-type]
    if cam.projection == "cylindrical":
        scale = 0.5 / np.tan(np.radians(cam.fov_y) / 2)
    else:
        scale = 1.0 / np.radians(cam.fov_y)
    return PROJECTION_CODES[cam.projection], (float(inv_x), float(scale), float(cam.horizon))


def plate_uv(plate: Plate, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where world directions (``(..., 3)``, seen from the plate's camera, any length) land on
    the plate: ``(u, v, w)``, ``u, v`` in 0..1 inside the image (``v = 0`` at the top; a full
    turn's ``u`` is in ``[0, 1)``: the seam is straight behind the camera), ``w`` the plate's
    depth measure per unit of the direction (see the module's docstring; ``w <= 0`` for a
    perspective plate: the direction points away from the plate). The plate must know its
    camera; `plate_directions` is the inverse."""
    cam = _camera(plate)
    d = np.asarray(directions, np.float64)
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    if cam.projection == "perspective":
        q = d @ plate_from_direction(plate).T
        w = q[..., 2]
        safe = np.where(np.abs(w) > 1e-300, w, 1e-300)
        return q[..., 0] / safe, q[..., 1] / safe, w
    code, (inv_x, scale, horizon) = plate_lens(plate)
    r = np.hypot(x, z)
    u = 0.5 + np.arctan2(x, -z) * inv_x
    if cam.full_turn:
        u = np.mod(u, 1.0)
    if code == 1:
        v = horizon - scale * y / np.maximum(r, 1e-300)
        return u, v, r
    v = horizon - scale * np.arctan2(y, r)
    return u, v, np.sqrt(r * r + y * y)


def plate_directions(plate: Plate, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``(..., 3) float64`` world directions through the plate's image coordinates ``(u, v)``
    (0..1, ``v = 0`` at the top) with the plate's depth measure ``w = 1`` (see the module's
    docstring), so ``eye + direction * depth`` is the point a pixel of depth ``depth`` shows.
    The inverse of `plate_uv`."""
    cam = _camera(plate)
    u = np.asarray(u, np.float64)
    v = np.asarray(v, np.float64)
    if cam.projection == "perspective":
        inv = np.linalg.inv(plate_from_direction(plate))
        q = np.stack(np.broadcast_arrays(u, v, np.ones_like(u)), -1)
        return q @ inv.T  # z = -1 (w = 1)
    code, (inv_x, scale, horizon) = plate_lens(plate)
    az = (u - 0.5) / inv_x
    if code == 1:
        y = (horizon - v) / scale
        return np.stack(np.broadcast_arrays(np.sin(az), y, -np.cos(az)), -1)
    el = (horizon - v) / scale
    c = np.cos(el)
    return np.stack(np.broadcast_arrays(c * np.sin(az), np.sin(el), -c * np.cos(az)), -1)


def unproject(plate: Plate, x: np.ndarray, y: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Image coordinates (pixels) and depth (the plate's depth measure, metres: along the plate
    camera's axis for a perspective plate, see the module's docstring) -> world positions."""
    cam = _camera(plate)
    pw, ph = plate.size
    eye = np.array([0.0, cam.height, 0.0])
    d = np.where(np.isfinite(depth), depth, 0.0)
    if cam.projection == "perspective":  # kept as it was, to the last bit
        inv = np.linalg.inv(plate_from_direction(plate))
        q = np.stack([x / pw, y / ph, np.ones_like(x, dtype=np.float64)], -1)
        dirs = q @ inv.T  # direction with z = -1 (w = 1)
        return eye + dirs * d[..., None]
    return eye + plate_directions(plate, np.asarray(x) / pw, np.asarray(y) / ph) * d[..., None]


def _camera(plate: Plate):  # -> PlateCamera
    if plate.camera is None:
        from ..errors import PlateError

        raise PlateError("this needs a plate that knows its camera (Plate.camera); give it a PlateCamera")
    return plate.camera
