"""Offline plates painted by code (the 'traditional method'): the default when no AI model is
configured, and the placeholder while an AI plate is being generated."""

from __future__ import annotations

import time

from .._validate import check_size
from ..errors import ConfigError
from .plate import Plate, PlateCamera

__all__ = ["PROCEDURAL_STYLES", "procedural_plate"]

PROCEDURAL_STYLES = ("mountains",)


def procedural_plate(
    style: str = "mountains",
    *,
    size: tuple[int, int] = (1280, 720),
    seed: int = 0,
    fov_y: float = 50.0,
    camera_height: float = 4.0,
    horizon: float = 0.45,
) -> Plate:
    """Paint a plate with an exact depth map and a water mask.

    Args:
        style: ``"mountains"``: sky, layered fractal ridges with aerial perspective, a river.
        size: ``(width, height)`` in pixels.
        seed: picks the palette (time of day), ridge shapes, river course and clouds;
            the same seed gives the same pixels.
        fov_y: vertical field of view in degrees of the painting camera.
        camera_height: metres above the ground / water level.
        horizon: horizon row as a fraction of the height from the top.

    Returns:
        A [`Plate`][hybridscene.Plate] whose ``water`` marks the river (so a scene mirrors
        its foreground there by default), whose ``camera`` describes the painting camera, so
        [`PerspectiveCamera.from_plate`][hybridscene.PerspectiveCamera.from_plate] can match it, and whose ``meta`` holds
        the palette name (``variant``), ``sun_direction`` (unit ``[x, y, z]``, world frame, the
        way the sunlight travels, like ``DirectionalLight.direction``), ``sun_color`` and
        ``sky_color`` (linear RGB).
    """
    if style not in PROCEDURAL_STYLES:
        raise ConfigError(f"unknown procedural style {style!r}; choose one of {PROCEDURAL_STYLES}")
    width, height = check_size(size)
    from ._landscape import paint_mountains_and_water

    t0 = time.perf_counter()
    try:
        image, depth, water, info = paint_mountains_and_water(
            width, height, seed, fov_y=fov_y, camera_height=camera_height, horizon=horizon
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    info = dict(info, seconds=round(time.perf_counter() - t0, 4))
    return Plate(
        image=image,
        depth=depth,
        water=water,
        source=f"procedural:{style}",
        prompt="Landscape with mountains and a river",
        seed=seed,
        camera=PlateCamera(fov_y=fov_y, height=camera_height, horizon=horizon),
        meta=info,
    )

