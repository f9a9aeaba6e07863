"""The shadow catcher: an invisible ground plane that receives the foreground's shadows and
darkens the plate under them."""

from __future__ import annotations

import dataclasses

from .._validate import check_finite
from ..errors import SceneError

__all__ = ["ShadowCatcher"]


@dataclasses.dataclass
class ShadowCatcher:
    """Shadows of the foreground on the plate's ground, from the scene's sun.

    Args:
        height: the plane's height ``y`` in metres (the plate's ground is ``y = 0``).
        strength: how dark a full shadow is: 0 = none, 1 = black (a multiplier of the plate in
            linear light, ``1 - strength``).
        softness: width of the soft edge (penumbra) on the ground, in metres (0 = hard).
        resolution: shadow-map size in texels (square).
    """

    height: float = 0.0
    strength: float = 0.6
    softness: float = 0.15
    resolution: int = 2048

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
