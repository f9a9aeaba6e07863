"""The compositor: foreground over plate, on the GPU, in linear light with premultiplied alpha,
encoded to sRGB once at the end. One buffer-less full-screen triangle per frame."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from ..gpu.programs import load_program
from .. import transforms
from ..gpu.textures import cover_rect, plate_mapping, upload_image
from ..plate import Plate

__all__ = ["Compositor", "cover_rect", "plate_mapping"]


class Compositor:
    """Composites a foreground texture over a plate into a target framebuffer.

    Plate textures are uploaded once per :class:`Plate` and kept while the plate lives.
    """

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.program = load_program(ctx, "composite")
        self.program["u_plate"].value = 0
        self.program["u_foreground"].value = 1
        self.program["u_plate_prev"].value = 2
        self.program["u_shadow"].value = 3
        self.program["u_surface"].value = 4
        self.program["u_surface_prev"].value = 5
        self._vao = ctx.vertex_array(self.program, [])
        self._plates: weakref.WeakKeyDictionary[Plate, Any] = weakref.WeakKeyDictionary()
        self._solid: dict[tuple[float, float, float], Any] = {}
        self._zero: Any = None

    def plate_texture(self, plate: Plate) -> Any:
        """The plate's sRGB texture, uploaded on first use."""
        tex = self._plates.get(plate)
        if tex is None:
            tex = upload_image(self.ctx, plate.image)
            self._plates[plate] = tex
        return tex

    def _solid_texture(self, color: tuple[float, float, float]) -> Any:
        tex = self._solid.get(color)
        if tex is None:
            px = np.round(np.asarray(color) * 255.0).astype(np.uint8).reshape(1, 1, 3)
            tex = upload_image(self.ctx, px, mipmaps=False)
            self._solid[color] = tex
        return tex

    def _no_shadow(self) -> Any:
        if self._zero is None:
            self._zero = self.ctx.texture((1, 1), 1, b"\x00")
        return self._zero

    def _plate_or_background(
        self, plate: Plate | None, size: tuple[int, int], background: tuple[float, float, float], camera: Any
    ) -> tuple[Any, np.ndarray]:
        if plate is None:
            return self._solid_texture(background), np.array([[0.5, 0, 0.5], [0, -0.5, 0.5], [0, 0, 1]], np.float32)
        return self.plate_texture(plate), plate_mapping(plate, camera, size)

    def compose(
        self,
        plate: Plate | None,
        foreground: Any,
        fbo: Any,
        *,
        top_down: bool = True,
        background: tuple[float, float, float] = (0.0, 0.0, 0.0),
        previous: Plate | None = None,
        weight: float = 1.0,
        shadow: Any = None,
        camera: Any = None,
        surface: tuple[Any, Any] | None = None,
        previous_surface: tuple[Any, Any] | None = None,
    ) -> None:
        """Write ``foreground over plate`` into ``fbo``.

        Args:
            plate: the background, or ``None`` for a solid ``background`` (sRGB floats).
            foreground: RGBA16F texture, linear premultiplied, GL row order, the size of ``fbo``.
            fbo: the target; ``top_down=True`` for offscreen readback, ``False`` for a window.
            previous: a plate being faded out, or ``None``.
            weight: the current plate's weight (0..1) while ``previous`` fades.
            shadow: R8 texture of the shadow amount on the plate (like ``foreground``), or ``None``.
            camera: the scene's camera, for plates that know theirs (see
                :func:`hybridscene.gpu.textures.plate_mapping`); ``None`` fits the plate.
            surface, previous_surface: parallax (see :mod:`hybridscene.compose.surface`): for
                a plate drawn as a displaced surface, ``(backdrop, colour)`` textures: the
                backdrop replaces the plate's texture and the colour (laid out like
                ``foreground``) goes over it.
        """
        import moderngl

        tex, rect = self._plate_or_background(plate, fbo.size, background, camera)
        if surface is not None:
            tex = surface[0]
        if previous is not None and weight < 1.0:
            prev_tex, prev_rect = self._plate_or_background(previous, fbo.size, background, camera)
            if previous_surface is not None:
                prev_tex = previous_surface[0]
        else:
            prev_tex, prev_rect, weight, previous_surface = tex, rect, 1.0, None
        fbo.use()
        self.ctx.viewport = (0, 0, *fbo.size)
        self.ctx.disable(moderngl.DEPTH_TEST | moderngl.BLEND | moderngl.CULL_FACE)
        tex.use(0)
        foreground.use(1)
        prev_tex.use(2)
        (shadow if shadow is not None else self._no_shadow()).use(3)
        (surface[1] if surface is not None else foreground).use(4)
        (previous_surface[1] if previous_surface is not None else foreground).use(5)
        self.program["u_has_shadow"].value = shadow is not None
        self.program["u_has_surface"].value = surface is not None
        self.program["u_has_surface_prev"].value = previous_surface is not None
        self.program["u_plate_from_ndc"].write(transforms.gl_bytes(rect))
        self.program["u_prev_from_ndc"].write(transforms.gl_bytes(prev_rect))
        self.program["u_plate_weight"].value = float(weight)
        self.program["u_top_down"].value = bool(top_down)
        self._vao.render(moderngl.TRIANGLES, vertices=3)

    def release(self) -> None:
        for tex in list(self._plates.values()) + list(self._solid.values()):
            tex.release()
        self._plates.clear()
        self._solid.clear()
        if self._zero is not None:
            self._zero.release()
        self._vao.release()
