"""The compositor: layers (`hybridscene.compose.layers`) into a frame, on the GPU, in linear
light with premultiplied alpha, encoded to sRGB once at the end. One buffer-less full-screen
triangle per frame; the program is compiled with only the inputs a frame uses."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .. import transforms
from ..errors import ConfigError
from ..gpu.programs import load_program
from ..gpu.rects import Rect, flip
from ..gpu.textures import upload_image
from ..plate import Plate
from ..scene.view import mapping_lens, plate_mapping
from .layers import ForegroundLayer, Layer, PlateLayer

if TYPE_CHECKING:
    import moderngl

    from ..gpu.context import GLContext
    from ..scene.camera import OrthographicCamera, PerspectiveCamera

__all__ = ["Compositor"]

_SOLID_MAPPING = np.array([[0.5, 0, 0.5], [0, -0.5, 0.5], [0, 0, 1]], np.float32)


class Compositor:
    """Composites layers into a target framebuffer.

    Plate textures are uploaded once per [`Plate`][hybridscene.Plate] and kept while the plate lives.
    """

    def __init__(self, gl: GLContext) -> None:
        self.gl = gl
        self._variants: dict[tuple[bool | int, ...], tuple[moderngl.Program, moderngl.VertexArray]] = {}
        self._plates: weakref.WeakKeyDictionary[Plate, moderngl.Texture] = weakref.WeakKeyDictionary()
        self._solid: dict[tuple[float, float, float], moderngl.Texture] = {}

    def _variant(self, shadow: bool, parallax: bool, crossfade: bool, parallax_prev: bool, linear: bool = False,
                 reflection: bool = False, projection: int = 0, prev_projection: int = 0,
                 foreground: bool = True, opaque: bool = False,
                 opaque_prev: bool = False) -> tuple[moderngl.Program, moderngl.VertexArray]:
        """The composite program with only the inputs this frame uses compiled in."""
        key = (shadow, parallax, crossfade, parallax_prev, linear, reflection, projection, prev_projection, foreground,
               opaque, opaque_prev)
        entry = self._variants.get(key)
        if entry is None:
            names = ("HAS_SHADOW", "HAS_PARALLAX", "CROSSFADE", "HAS_PARALLAX_PREV", "LINEAR_OUTPUT", "HAS_REFLECTION",
                     "PLATE_PROJ", "PREV_PROJ", "HAS_FOREGROUND", "RELIEF_OPAQUE", "RELIEF_OPAQUE_PREV")
            prog = load_program(self.gl, "composite", defines={n: int(on) for n, on in zip(names, key) if on})
            for name, unit in (("u_plate", 0), ("u_foreground", 1), ("u_plate_prev", 2), ("u_shadow", 3),
                               ("u_parallax", 4), ("u_parallax_prev", 5), ("u_reflection", 6)):
                if name in prog:
                    prog[name].value = unit
            entry = self._variants[key] = (prog, self.gl.mgl.vertex_array(prog, []))
        return entry

    def plate_texture(self, plate: Plate) -> moderngl.Texture:
        """The plate's sRGB texture, uploaded on first use (wrapping round horizontally for a
        plate that covers a full turn)."""
        tex = self._plates.get(plate)
        if tex is None:
            tex = self._plates[plate] = upload_image(self.gl, plate.image)
            if plate.camera is not None and plate.camera.full_turn:
                tex.repeat_x = True
        return tex

    def plate_layer(self, plate: Plate | None, camera: PerspectiveCamera | OrthographicCamera,
                    size: tuple[int, int], *, background: tuple[float, float, float] = (0.0, 0.0, 0.0),
                    opacity: float = 1.0) -> PlateLayer:
        """The layer that shows ``plate`` as ``camera`` sees it in a frame of ``size`` (a solid
        ``background``, sRGB floats, when ``plate`` is ``None``)."""
        if plate is None:
            tex = self._solid.get(background)
            if tex is None:
                px = np.round(np.asarray(background) * 255.0).astype(np.uint8).reshape(1, 1, 3)
                tex = self._solid[background] = upload_image(self.gl, px, mipmaps=False)
            return PlateLayer(tex, _SOLID_MAPPING, opacity=opacity)
        projection, lens = mapping_lens(plate, camera)
        return PlateLayer(self.plate_texture(plate), plate_mapping(plate, camera, size), opacity=opacity,
                          projection=projection, lens=lens)

    @staticmethod
    def fit_filter(layer: PlateLayer, size: tuple[int, int]) -> None:
        """Set ``layer.texture``'s filter as `compose` does for a frame of ``size`` (trilinear
        only where the plate is shrunk on screen), for passes that sample it the same way."""
        _choose_filter(layer, size)

    def compose(self, layers: Sequence[Layer], target: moderngl.Framebuffer, *, top_down: bool = True,
                linear: bool = False, rects: Sequence[Rect] | None = None) -> None:
        """Write ``layers`` (back to front: one or two `PlateLayer`, then at most one
        `ForegroundLayer`) into ``target``: ``foreground over ((reflection over plate) x (1 -
        shadow))`` in linear light.

        Args:
            target: the framebuffer, whose size the layers' textures have.
            top_down: store the image's top row first (offscreen targets, read back without a
                flip); ``False`` for GL's order (a window).
            linear: write linear light (a float target, for render passes) instead of sRGB.
            rects: composite only inside these rectangles (GL pixels of the frame, bottom row
                first, as `hybridscene.gpu.rects` gives them, whatever ``top_down``); ``None``:
                everywhere. The rest of ``target`` keeps what it holds.
        """
        import moderngl

        plates = [layer for layer in layers if isinstance(layer, PlateLayer)]
        foregrounds = [layer for layer in layers if isinstance(layer, ForegroundLayer)]
        if not 1 <= len(plates) <= 2 or len(foregrounds) > 1 or len(plates) + len(foregrounds) != len(layers) \
                or (foregrounds and layers[-1] is not foregrounds[0]):
            kinds = ", ".join(type(layer).__name__ for layer in layers)
            raise ConfigError(f"compose() takes one or two PlateLayers and then at most one ForegroundLayer, got [{kinds}]")
        if len(plates) == 2 and plates[1].opacity < 1.0:
            previous, current = plates
            weight = float(np.clip(current.opacity, 0.0, 1.0))
        else:
            previous, current, weight = None, plates[-1], 1.0
        fg = foregrounds[0] if foregrounds else None
        shadow = fg.shadow if fg is not None else None
        reflection = fg.reflection if fg is not None else None
        if rects is not None and not rects:  # nothing changed: the target keeps its pixels
            target.scissor = None
            target.use()
            return
        color = fg.color if fg is not None else None
        prog, vao = self._variant(shadow is not None, current.relief is not None, previous is not None,
                                  previous is not None and previous.relief is not None, linear, reflection is not None,
                                  current.projection, previous.projection if previous is not None else 0,
                                  color is not None, current.relief is not None and current.opaque,
                                  previous is not None and previous.relief is not None and previous.opaque)
        ctx = self.gl.mgl
        target.scissor = None
        target.use()
        ctx.viewport = (0, 0, *target.size)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.BLEND | moderngl.CULL_FACE)
        _choose_filter(current, target.size)
        current.texture.use(0)
        if color is not None:
            color.use(1)
        if previous is not None:
            _choose_filter(previous, target.size)
            previous.texture.use(2)
            if "u_prev_from_ndc" in prog:  # not read behind an opaque relief
                prog["u_prev_from_ndc"].write(transforms.gl_bytes(previous.mapping))
            if previous.projection:
                prog["u_prev_lens"].value = previous.lens
            prog["u_plate_weight"].value = weight
            if previous.relief is not None:
                previous.relief.use(5)
        if shadow is not None:
            shadow.use(3)
        if reflection is not None:
            reflection.use(6)
        if current.relief is not None:
            current.relief.use(4)
        if "u_plate_from_ndc" in prog:  # not read behind an opaque relief
            prog["u_plate_from_ndc"].write(transforms.gl_bytes(current.mapping))
        if current.projection:
            prog["u_plate_lens"].value = current.lens
        prog["u_top_down"].value = bool(top_down)
        if "u_size" in prog:  # compiled out when no per-pixel layer is read
            prog["u_size"].value = tuple(target.size)
        if rects is None:
            vao.render(moderngl.TRIANGLES, vertices=3)
            return
        height = target.size[1]
        for rect in rects:
            target.scissor = flip(rect, height) if top_down else rect
            target.use()
            vao.render(moderngl.TRIANGLES, vertices=3)
        target.scissor = None
        target.use()

    def release(self) -> None:
        for tex in [*self._plates.values(), *self._solid.values()]:
            tex.release()
        self._plates.clear()
        self._solid.clear()
        for _prog, vao in self._variants.values():
            vao.release()
        self._variants.clear()


def _choose_filter(layer: PlateLayer, size: tuple[int, int]) -> None:
    """Trilinear (mipmapped) sampling only where the plate is shrunk on screen: a magnified or
    1:1 plate gets plain bilinear, which costs half on a software rasteriser and looks the same."""
    import moderngl

    tex = layer.texture
    if tex.size == (1, 1):
        return
    # Plate texels per frame pixel along x and y, at the frame's centre (NDC 0, 0).
    h = layer.mapping.astype(np.float64)
    if layer.projection:  # the mapping gives directions: the projection's homography at the centre
        h = _local_homography(h, layer.projection, layer.lens)
    w0 = h[2, 2]
    du_dx = np.hypot(h[0, 0] - h[0, 2] * h[2, 0] / w0, h[1, 0] - h[1, 2] * h[2, 0] / w0) / w0
    dv_dy = np.hypot(h[0, 1] - h[0, 2] * h[2, 1] / w0, h[1, 1] - h[1, 2] * h[2, 1] / w0) / w0
    texels = max(du_dx * tex.size[0] * 2.0 / size[0], dv_dy * tex.size[1] * 2.0 / size[1])
    want = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR) if texels > 1.25 else (moderngl.LINEAR, moderngl.LINEAR)
    if tex.filter != want:
        tex.filter = want


def _local_homography(mapping: np.ndarray, projection: int, lens: tuple[float, float, float]) -> np.ndarray:
    """A homography that agrees to first order, at NDC ``(0, 0)``, with a cylindrical or
    equirectangular plate's mapping (what `_choose_filter` needs), from finite differences."""
    inv_x, scale, horizon = lens

    def q(ndc: np.ndarray) -> np.ndarray:
        x, y, z = mapping @ ndc
        r = max(float(np.hypot(x, z)), 1e-12)
        vertical = y / r if projection == 1 else float(np.arctan2(y, r))
        return np.array([0.5 + np.arctan2(x, -z) * inv_x, horizon - scale * vertical])

    e = 1e-4
    c = q(np.array([0.0, 0.0, 1.0]))
    dx = (q(np.array([e, 0.0, 1.0])) - c) / e
    dy = (q(np.array([0.0, e, 1.0])) - c) / e
    return np.array([[dx[0], dy[0], c[0]], [dx[1], dy[1], c[1]], [0.0, 0.0, 1.0]])
