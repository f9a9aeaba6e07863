"""The layers a frame is composited from, back to front: one or two plates (the second fading
in over the first) and the foreground. Small frozen records of GPU textures; the compositor
(`Compositor`) turns a list of them into a frame."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import moderngl

__all__ = ["ForegroundLayer", "Layer", "PlateLayer"]


@dataclasses.dataclass(frozen=True)
class PlateLayer:
    """A plate as the frame shows it.

    With parallax, ``texture`` is the plate's sky-filled backdrop and ``relief`` the plate's
    relief rendered for this view, laid over it.
    """

    texture: moderngl.Texture
    """sRGB texture (decoded to linear by the sampler), row 0 = image top; a 1x1 texture for a
    solid background."""
    mapping: np.ndarray
    """``(3, 3) float32``: a frame pixel's NDC ``(x, y, 1)`` -> texture coordinates
    ``(u w, v w, w)`` (see `hybridscene.scene.view.plate_mapping`), or, for a cylindrical or
    equirectangular plate (``projection`` 1 or 2), the world direction of the pixel's ray."""
    relief: moderngl.Texture | None = None
    """Parallax: RGBA16F linear premultiplied, the frame's size, GL row order; or ``None``."""
    opaque: bool = False
    """``relief`` already holds ``texture`` wherever the relief itself is absent (alpha 1
    everywhere, `hybridscene.gpu.parallax.ReliefView.opaque`): ``texture`` is not sampled."""
    opacity: float = 1.0
    """0..1: how much of this layer covers the plate layer below it (a cross-fade, in linear
    light). The bottom plate layer is always opaque."""
    projection: int = 0
    """How ``mapping``'s result becomes texture coordinates: 0 it is them already (a perspective
    plate, or one fitted to the frame), 1 cylindrical, 2 equirectangular (see
    `hybridscene.scene.view.mapping_lens`)."""
    lens: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """The projection's lens, as `hybridscene.plate.projection.plate_lens` gives it."""


@dataclasses.dataclass(frozen=True)
class ForegroundLayer:
    """The rasterised foreground, on top of the plates (with its shadows and reflections on them)."""

    color: moderngl.Texture | None
    """RGBA16F linear premultiplied, the frame's size, GL row order; ``None`` when nothing is
    drawn (the plates, with this layer's shadows and reflection)."""
    shadow: moderngl.Texture | None = None
    """R8 shadow amount on the plates (0 = lit), laid out like ``color``; ``None`` without
    shadows."""
    reflection: moderngl.Texture | None = None
    """RGBA16F linear premultiplied: the foreground mirrored in the plate's water, already
    faded and masked by the water (`hybridscene.gpu.reflection`), laid out like ``color``;
    laid over the plates before the shadows. ``None`` without reflections."""


Layer = PlateLayer | ForegroundLayer
"""Anything `Compositor.compose` takes."""
