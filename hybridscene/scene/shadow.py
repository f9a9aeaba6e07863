"""The shadow catcher (an invisible ground plane that receives the foreground's shadows and
darkens the plate under them) and the reflection catcher (the plate's water mirroring the
foreground)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .._validate import check_finite
from ..errors import SceneError

__all__ = ["ReflectionCatcher", "ShadowCatcher"]


@dataclasses.dataclass
class ShadowCatcher:
    """Shadows of the foreground on the plate's ground, from the scene's sun.

    Args:
        height: the plane's height ``y`` in metres (the plate's ground is ``y = 0``).
        strength: how dark a full shadow is: 0 = none, 1 = black (a multiplier of the plate in
            linear light, ``1 - strength``).
        softness: width of the soft edge (penumbra) on the ground, in metres (0 = hard).
        resolution: shadow-map size in texels (square).
        contact: strength of the contact shadow (ambient occlusion) under objects that touch
            or nearly touch the ground, whatever the sun does: 0 = none, 1 = black where an
            object rests on the ground. It combines with the sun's shadow
            (``1 - (1 - sun) (1 - contact)``).
        contact_radius: how far the contact shadow reaches, in metres: around an object's
            footprint, and how high above the ground an object still darkens it.
    """

    height: float = 0.0
    strength: float = 0.6
    softness: float = 0.15
    resolution: int = 2048
    contact: float = 0.5
    contact_radius: float = 0.3

    def __post_init__(self) -> None:
        self.height = check_finite(self.height, "shadow catcher height")
        self.strength = check_finite(self.strength, "shadow strength")
        if not 0.0 <= self.strength <= 1.0:
            raise SceneError(f"shadow strength must be in 0..1, got {self.strength!r}")
        self.softness = check_finite(self.softness, "shadow softness")
        if self.softness < 0.0:
            raise SceneError(f"shadow softness must be >= 0 metres, got {self.softness!r}")
        if not isinstance(self.resolution, int) or not 64 <= self.resolution <= 8192:
            raise SceneError(f"shadow resolution must be an integer in 64..8192, got {self.resolution!r}")
        self.contact = check_finite(self.contact, "contact shadow strength")
        if not 0.0 <= self.contact <= 1.0:
            raise SceneError(f"contact shadow strength must be in 0..1, got {self.contact!r}")
        self.contact_radius = check_finite(self.contact_radius, "contact shadow radius")
        if not 0.0 < self.contact_radius <= 100.0:
            raise SceneError(f"contact shadow radius must be in (0, 100] metres, got {self.contact_radius!r}")


@dataclasses.dataclass
class ReflectionCatcher:
    """Mirror images of the foreground in the plate's water, like the shadow catcher: an
    invisible, level water surface that shows what stands above it, mirrored, wherever the
    plate has water.

    Args:
        height: the water's height ``y`` in metres (the plate's ground / water is ``y = 0``).
        strength: how much of the mirror image shows over the painted water (0..1, linear light).
        falloff: the reflection fades with the mirrored point's depth below the water: at
            ``falloff`` metres it is ``1/e`` as strong (0 = no fading).
        mask: where the water is: ``None`` for the plate's own water mask (``Plate.water``;
            procedural plates give one), or a ``(H, W)`` array over the plate's image (any
            resolution: it is stretched over the plate), 0..1 (floats) or bool, for plates that
            do not know their water.
        resolution: the mirror image is drawn at this fraction of the frame's width and height
            and filtered up (0.25..1): the water blurs it anyway, and on a CPU rasteriser half
            the resolution is a quarter of the pixels to shade. 1 = as sharp as the frame.

    The meshes are mirrored (sprites and particles are not), lit as they are lit above the
    water, and show only where the mask has water and nothing of the plate stands in front of
    it. Without a water mask (no ``mask`` and none in the plate) nothing is drawn.
    """

    height: float = 0.0
    strength: float = 0.7
    falloff: float = 1.5
    mask: Any = None
    resolution: float = 0.5

    def __post_init__(self) -> None:
        self.height = check_finite(self.height, "reflection height")
        self.strength = check_finite(self.strength, "reflection strength")
        if not 0.0 <= self.strength <= 1.0:
            raise SceneError(f"reflection strength must be in 0..1, got {self.strength!r}")
        self.falloff = check_finite(self.falloff, "reflection falloff")
        if self.falloff < 0.0:
            raise SceneError(f"reflection falloff must be >= 0 metres, got {self.falloff!r}")
        self.resolution = check_finite(self.resolution, "reflection resolution")
        if not 0.25 <= self.resolution <= 1.0:
            raise SceneError(f"reflection resolution must be in 0.25..1 (a fraction of the frame's size), got {self.resolution!r}")
        if self.mask is not None:
            m = np.asarray(self.mask)
            if m.ndim != 2 or 0 in m.shape or not (m.dtype == bool or np.issubdtype(m.dtype, np.number)):
                raise SceneError(f"reflection mask must be an (H, W) array of 0..1 or bool, got shape {m.shape} {m.dtype}")
            m = m.astype(np.float32)
            if not np.isfinite(m).all() or m.min() < 0.0 or m.max() > 1.0:
                raise SceneError("reflection mask values must be in 0..1")
            self.mask = m
