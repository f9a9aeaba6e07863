"""Lights: a sun (directional) and ambient light. Colours are sRGB-encoded like material
colours; ``intensity`` multiplies in linear light."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validate import check_finite
from ..colors import Color, ColorFields, linear_to_srgb
from ..errors import SceneError
from .node import _vec3

if TYPE_CHECKING:
    from ..plate import Plate

__all__ = ["AmbientLight", "DirectionalLight"]


@dataclasses.dataclass
class DirectionalLight(ColorFields):
    """A light infinitely far away (the sun).

    ``direction``: ``(3,)`` float32 unit vector, world frame, the way the light travels: from the
    sun toward the scene (``(0, -1, 0)`` = sun straight overhead), like glTF's and three.js's
    directional lights. This is the one convention for the sun in hybridscene:
    ``Plate.meta["sun_direction"]`` (procedural plates) and the estimate of
    ``hybridscene.scene.estimate.estimate_light`` use it too, so
    ``DirectionalLight(direction=plate.meta["sun_direction"])`` is the plate's sun.
    """

    _color_fields = ("color",)
    _color_label = "sun"

    direction: Any = (-0.4, -1.0, -0.6)
    color: Color = (1.0, 0.96, 0.9)
    intensity: float = 2.5

    def __post_init__(self) -> None:
        d = _vec3(self.direction, "sun direction").astype(np.float64)
        norm = float(np.linalg.norm(d))
        if norm == 0.0:
            raise SceneError("sun direction must be non-zero, e.g. (-0.4, -1.0, -0.6)")
        self.direction = (d / norm).astype(np.float32)
        self.intensity = check_finite(self.intensity, "sun intensity")

    @classmethod
    def from_plate(cls, plate: Plate, **overrides: Any) -> DirectionalLight:
        """The sun a plate was painted with when its metadata says (procedural plates do);
        otherwise estimated from its pixels (`hybridscene.scene.estimate.estimate_light`).
        Keywords override either."""
        meta = plate.meta
        kwargs: dict[str, Any] = {}
        if "sun_direction" not in meta:
            from .estimate import estimate_light

            est = estimate_light(plate)
            kwargs = {"direction": est["sun_direction"], "color": tuple(est["sun_color"]),
                      "intensity": 1.0 + 2.0 * float(est["brightness"])}
            kwargs.update(overrides)
            return cls(**kwargs)
        kwargs["direction"] = meta["sun_direction"]  # the same convention as ``direction``
        if "sun_color" in meta:
            lin = np.asarray(meta["sun_color"], np.float64)
            peak = max(float(lin.max()), 1e-6)
            srgb = linear_to_srgb(lin / peak)
            kwargs["color"] = tuple(float(v) for v in np.clip(srgb, 0.0, 1.0))
            kwargs["intensity"] = 2.5 * min(peak, 1.5)
        kwargs.update(overrides)
        return cls(**kwargs)


@dataclasses.dataclass
class AmbientLight(ColorFields):
    """Light from everywhere (sky fill)."""

    _color_fields = ("color",)
    _color_label = "ambient"

    color: Color = (0.62, 0.72, 0.86)
    intensity: float = 0.35

    def __post_init__(self) -> None:
        self.intensity = check_finite(self.intensity, "ambient intensity")

    @classmethod
    def from_plate(cls, plate: Plate, **overrides: Any) -> AmbientLight:
        """Ambient light tinted by the plate's sky colour: from its metadata, or estimated from
        its pixels. Keywords override."""
        kwargs: dict[str, Any] = {}
        if "sky_color" in plate.meta:
            lin = np.asarray(plate.meta["sky_color"], np.float64)
            srgb = linear_to_srgb(lin / max(float(lin.max()), 1e-6))
            kwargs["color"] = tuple(float(v) for v in np.clip(srgb, 0.0, 1.0))
        else:
            from .estimate import estimate_light

            est = estimate_light(plate)
            kwargs = {"color": tuple(est["sky_color"]), "intensity": 0.2 + 0.3 * float(est["brightness"])}
        kwargs.update(overrides)
        return cls(**kwargs)

