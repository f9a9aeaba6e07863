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
        self._variants: dict[tuple[bool, ...], tuple[Any, Any]] = {}
        self.program, self._vao = self._variant(False, False, False, False)
        self._plates: weakref.WeakKeyDictionary[Plate, Any] = weakref.WeakKeyDictionary()
        self._solid: dict[tuple[float, float, float], Any] = {}

    def _variant(self, shadow: bool, surface: bool, crossfade: bool, surface_prev: bool) -> tuple[Any, Any]:
        """The composite program with only the inputs this frame uses compiled in."""
        key = (shadow, surface, crossfade, surface_prev)
        entry = self._variants.get(key)
        if entry is None:
            names = ("HAS_SHADOW", "HAS_SURFACE", "CROSSFADE", "HAS_SURFACE_PREV")
            prog = load_program(self.ctx, "composite", defines={n: 1 for n, on in zip(names, key) if on})
            for name, unit in (("u_plate", 0), ("u_foreground", 1), ("u_plate_prev", 2), ("u_shadow", 3),
                               ("u_surface", 4), ("u_surface_prev", 5)):
                if name in prog:
                    prog[name].value = unit
            entry = self._variants[key] = (prog, self.ctx.vertex_array(prog, []))
        return entry

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
        prog, vao = self._variant(shadow is not None, surface is not None, weight < 1.0,
                                  weight < 1.0 and previous_surface is not None)
        fbo.use()
        self.ctx.viewport = (0, 0, *fbo.size)
        self.ctx.disable(moderngl.DEPTH_TEST | moderngl.BLEND | moderngl.CULL_FACE)
        _choose_filter(tex, rect, fbo.size)
        tex.use(0)
        foreground.use(1)
        if weight < 1.0:
            _choose_filter(prev_tex, prev_rect, fbo.size)
            prev_tex.use(2)
            prog["u_prev_from_ndc"].write(transforms.gl_bytes(prev_rect))
            prog["u_plate_weight"].value = float(weight)
            if previous_surface is not None:
                previous_surface[1].use(5)
        if shadow is not None:
            shadow.use(3)
        if surface is not None:
            surface[1].use(4)
        prog["u_plate_from_ndc"].write(transforms.gl_bytes(rect))
        prog["u_top_down"].value = bool(top_down)
        vao.render(moderngl.TRIANGLES, vertices=3)

    def release(self) -> None:
        for tex in list(self._plates.values()) + list(self._solid.values()):
            tex.release()
        self._plates.clear()
        self._solid.clear()
        for _prog, vao in self._variants.values():
            vao.release()
        self._variants.clear()


def _choose_filter(tex: Any, mapping: np.ndarray, size: tuple[int, int]) -> None:
    """Trilinear (mipmapped) sampling only where the plate is shrunk on screen: a magnified or
    1:1 plate gets plain bilinear, which costs half on a software rasteriser and looks the same."""
    import moderngl

    if tex.size == (1, 1):
        return
    # Plate texels per frame pixel along x and y, at the frame's centre (NDC 0, 0).
    h = mapping.astype(np.float64)
    w0 = h[2, 2]
    du_dx = np.hypot(h[0, 0] - h[0, 2] * h[2, 0] / w0, h[1, 0] - h[1, 2] * h[2, 0] / w0) / w0
    dv_dy = np.hypot(h[0, 1] - h[0, 2] * h[2, 1] / w0, h[1, 1] - h[1, 2] * h[2, 1] / w0) / w0
    texels = max(du_dx * tex.size[0] * 2.0 / size[0], dv_dy * tex.size[1] * 2.0 / size[1])
    want = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR) if texels > 1.25 else (moderngl.LINEAR, moderngl.LINEAR)
    if tex.filter != want:
        tex.filter = want
