"""Light that matches a plate without lighting metadata (photos, AI plates): estimated from its
pixels. The sky colour (the top of the image) tints the ambient light; the brightest region of
the sky gives the sun's direction (through the plate's camera) and colour.

``sun_direction`` follows ``DirectionalLight.direction``: the way the light travels,
from the sun toward the scene (the opposite of the ray toward the bright patch)."""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING

import numpy as np

from ..colors import linear_to_srgb, srgb_to_linear
from ..plate.projection import plate_directions

if TYPE_CHECKING:
    from ..plate import Plate

__all__ = ["estimate_light"]


_CACHE: weakref.WeakKeyDictionary[Plate, dict[str, object]] = weakref.WeakKeyDictionary()


def estimate_light(plate: Plate) -> dict[str, object]:
    """Estimate ``sun_direction`` (unit vector, world frame, the way the light travels: from the
    sun toward the scene, like ``DirectionalLight.direction``), ``sun_color`` and ``sky_color``
    (sRGB floats) and a relative ``brightness`` (0..1) from a plate's pixels. Computed once per
    plate (plates are immutable) and shared by the sun and the ambient light."""
    cached = _CACHE.get(plate)
    if cached is None:
        cached = _CACHE[plate] = _estimate(plate)
    return dict(cached)


def _estimate(plate: Plate) -> dict[str, object]:
    img = srgb_to_linear(plate.image[::4, ::4] / 255.0)  # a quarter resolution is plenty
    h, w = img.shape[:2]
    horizon = plate.camera.horizon if plate.camera is not None else 0.5
    fov_y = plate.camera.fov_y if plate.camera is not None else 50.0
    sky_rows = max(1, int(h * min(horizon, 0.6)))
    sky = img[:sky_rows]
    sky_color = sky.reshape(-1, 3).mean(axis=0)
    # The brightest patch: luminance box-blurred over about 1/16 of the width, in the sky part.
    lum = sky @ np.array([0.2126, 0.7152, 0.0722])
    k = max(1, w // 16)
    full_turn = plate.camera is not None and plate.camera.full_turn
    pad = np.pad(lum, ((k // 2, k // 2), (0, 0)), mode="edge")  # a full turn wraps round sideways
    pad = np.pad(pad, ((0, 0), (k // 2, k // 2)), mode="wrap" if full_turn else "edge")
    csum = pad.cumsum(0).cumsum(1)
    csum = np.pad(csum, ((1, 0), (1, 0)))
    blurred = (csum[k:, k:] - csum[:-k, k:] - csum[k:, :-k] + csum[:-k, :-k])[: lum.shape[0], : lum.shape[1]] / k**2
    r, c = np.unravel_index(int(np.argmax(blurred)), blurred.shape)
    if plate.camera is not None and plate.camera.projection != "perspective":
        # Through the plate's projection: pixel -> world ray, at least ~8 degrees up as below.
        ray = plate_directions(plate, (c + 0.5) / w, (r + 0.5) / h)
        ray /= np.linalg.norm(ray)
        ground = math.hypot(float(ray[0]), float(ray[2]))
        elevation = max(math.atan2(float(ray[1]), ground), math.atan(0.15))
        toward = np.array([ray[0] / ground * math.cos(elevation), math.sin(elevation),
                           ray[2] / ground * math.cos(elevation)])
    else:
        # Through the plate's camera (level, lens-shifted horizon): pixel -> view ray -> world.
        f = (h / 2) / math.tan(math.radians(fov_y) / 2)
        x = (c + 0.5 - w / 2) / f
        y = (horizon * h - (r + 0.5)) / f
        toward = np.array([x, max(y, 0.15), -1.0])  # at least ~8 degrees up: a sun on the horizon casts nothing useful
        toward /= np.linalg.norm(toward)
    patch = sky[max(0, r - k // 2): r + k // 2 + 1, max(0, c - k // 2): c + k // 2 + 1].reshape(-1, 3)
    sun = patch.mean(axis=0)
    return {
        "sun_direction": (-toward).tolist(),
        "sun_color": [float(v) for v in np.clip(linear_to_srgb(sun / max(float(sun.max()), 1e-6)), 0, 1)],
        "sky_color": [float(v) for v in np.clip(linear_to_srgb(sky_color / max(float(sky_color.max()), 1e-6)), 0, 1)],
        "brightness": float(np.clip(img.mean() * 2.5, 0.05, 1.0)),
    }
