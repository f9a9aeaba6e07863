"""Offline plates painted by code (the 'traditional method'): the default when no AI model is
configured, and the placeholder while an AI plate is being generated."""

from __future__ import annotations

import math
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
    overscan: tuple[int, int, int, int] | None = None,
    projection: str = "perspective",
    fov_x: float | None = None,
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
        overscan: ``(left, top, right, bottom)`` pixels to paint beyond each edge of the
            ``size`` image, of the same world (``left == right``: the camera's axis stays in
            the middle). The plate is then larger, and its camera's ``fov_y`` and ``horizon``
            describe the larger image; ``meta["overscan"]`` records the margins and the
            image they surround (see the scene's ``overscan`` option).
        projection: ``"perspective"`` (a pinhole) or ``"cylindrical"``: columns are equal steps
            of azimuth across ``fov_x`` degrees, rows a pinhole's with ``fov_y``, depth the
            horizontal distance (see [`PlateCamera`][hybridscene.PlateCamera]). A full turn
            (``fov_x=360``, e.g. ``size=(2048, 512)``) joins seamlessly at its left and right
            edges, straight behind the camera. Cylindrical plates have no river (``water`` is
            all zero).
        fov_x: the horizontal coverage in degrees of a cylindrical plate (1..360); ``None``
            for perspective plates.

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

    if projection not in ("perspective", "cylindrical"):
        raise ConfigError(f"procedural plates are painted 'perspective' or 'cylindrical', got projection={projection!r}")
    camera = PlateCamera(fov_y=fov_y, height=camera_height, horizon=horizon, projection=projection,
                         fov_x=fov_x) if projection == "cylindrical" else None
    if camera is None and fov_x is not None:
        raise ConfigError(f"fov_x={fov_x!r} is for projection='cylindrical'; a perspective plate's horizontal "
                          "field of view follows from its size")
    if camera is not None and overscan is not None:
        raise ConfigError("overscan is for perspective plates; a cylindrical plate covers fov_x already")

    margins = _margins(overscan)
    left, top, right, bottom = margins
    canvas = (width + left + right, height + top + bottom)
    t0 = time.perf_counter()
    try:
        image, depth, water, info = paint_mountains_and_water(
            *canvas, seed, fov_y=fov_y, camera_height=camera_height, horizon=horizon,
            frame=(left, top, width, height) if overscan is not None else None,
            fov_x=fov_x if camera is not None else None,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    info = dict(info, seconds=round(time.perf_counter() - t0, 4))
    if overscan is not None:  # the camera of the larger image (same focal length and axis)
        info["overscan"] = {"margins": list(margins), "size": [width, height], "fov_y": fov_y, "horizon": horizon}
        fov_y = math.degrees(2.0 * math.atan(math.tan(math.radians(fov_y) / 2.0) * canvas[1] / height))
        horizon = (horizon * height + top) / canvas[1]
        info.update(fov_y=fov_y, horizon=horizon)
    return Plate(
        image=image,
        depth=depth,
        water=water,
        source=f"procedural:{style}",
        prompt="Landscape with mountains and a river",
        seed=seed,
        camera=camera or PlateCamera(fov_y=fov_y, height=camera_height, horizon=horizon),
        meta=info,
    )



def _margins(overscan: tuple[int, int, int, int] | None) -> tuple[int, int, int, int]:
    """``overscan`` checked: four ints >= 0 with ``left == right``."""
    if overscan is None:
        return (0, 0, 0, 0)
    try:
        margins = tuple(int(v) for v in overscan)
        ok = len(margins) == 4 and all(v >= 0 and v == m for v, m in zip(margins, overscan))
    except (TypeError, ValueError):
        ok = False
    if not ok or margins[0] != margins[2]:
        raise ConfigError(f"overscan must be (left, top, right, bottom) pixels >= 0 with left == right (the "
                          f"camera's axis stays in the middle), got {overscan!r}")
    return margins  # type: ignore[return-value]
