"""Camera geometry of plates, in numpy (no GL): where a plate's pixels lie.

A plate knows the camera it was painted from ([`PlateCamera`][hybridscene.PlateCamera]: level, at
``height`` metres above the ground, looking down -Z, vertical field of view ``fov_y`` and the
horizon's row). Image coordinates are ``(u, v)`` in 0..1 with ``v = 0`` at the image's top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .plate import Plate

__all__ = ["cover_rect", "plate_from_direction", "unproject"]


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
    camera's axis per unit of the direction. The plate must know its camera."""
    cam = plate.camera
    pw, ph = plate.size
    f = (ph / 2) / np.tan(np.radians(cam.fov_y) / 2)  # focal length in pixels
    return np.array([[f / pw, 0, -0.5], [0, -f / ph, -cam.horizon], [0, 0, -1.0]])


def unproject(plate: Plate, x: np.ndarray, y: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Image coordinates and depth (metres along the plate camera's axis) -> world positions."""
    assert plate.camera is not None
    pw, ph = plate.size
    inv = np.linalg.inv(plate_from_direction(plate))
    q = np.stack([x / pw, y / ph, np.ones_like(x, dtype=np.float64)], -1)
    dirs = q @ inv.T  # direction with z = -1 (w = 1)
    eye = np.array([0.0, plate.camera.height, 0.0])
    d = np.where(np.isfinite(depth), depth, 0.0)
    return eye + dirs * d[..., None]
