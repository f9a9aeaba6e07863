"""The one frame function: a scene at a time -> its layers on the GPU -> a composite in a
target. Export, the preview window, stills and layer files all go through
[`FrameRenderer`][hybridscene.FrameRenderer].

Per frame: 1. the scene is updated to ``t``; 2. each plate on screen becomes a
`PlateLayer` (drawn as a relief when the camera has moved,
see `hybridscene.gpu.parallax`); 3. the foreground is rasterised, hidden where the plate is
nearer; 4. the compositor lays them together in linear light.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from .._validate import check_size
from ..config import check_samples, get_settings
from ..gpu.context import GLContext
from ..gpu.parallax import ParallaxRenderer, ReliefView
from ..gpu.readback import read_pixels
from ..gpu.renderer import SceneRenderer
from ..gpu.targets import ForegroundTarget, OutputTarget
from ..scene import Scene
from ..scene.view import uses_parallax
from .compositor import Compositor
from .layers import ForegroundLayer, PlateLayer

if TYPE_CHECKING:
    import moderngl

__all__ = ["FrameLayers", "FrameRenderer"]


@dataclasses.dataclass(frozen=True)
class FrameLayers:
    """One frame split for a compositor (Nuke, OpenImageIO, ...); arrays top row first.

    ``composite == foreground over (plate x shadow)`` in linear light, with the foreground
    premultiplied (PNG stores it straight; linearise, then premultiply).
    """

    composite: np.ndarray
    """``(H, W, 3) uint8`` sRGB: the final frame."""
    plate: np.ndarray
    """``(H, W, 3) uint8`` sRGB: the plate as fitted to the frame, before shadows."""
    plate_depth: np.ndarray | None
    """``(H, W) float32`` metres along the view axis (``inf`` sky): the plate's depth as the
    occlusion test saw it this frame; ``None`` when the plate has no depth."""
    foreground: np.ndarray
    """``(H, W, 4) uint8`` sRGB, straight alpha, already hidden where the plate is nearer."""
    depth: np.ndarray
    """``(H, W) float32`` metres along the view axis to the nearest foreground surface; ``inf`` where empty."""
    ids: np.ndarray
    """``(H, W) uint16`` object id of that surface; 0 = none (see ``names``)."""
    shadow: np.ndarray | None
    """``(H, W) uint8`` linear multiplier of the plate, 255 = unshadowed; ``None`` without shadows."""
    names: dict[int, str]
    """Object id → node name."""


class FrameRenderer:
    """Renders frames of a scene at one size on a context you own.

    ``with FrameRenderer(gl, (1280, 720)) as r: frame = r.render_frame(scene, t=0.5)``

    Args:
        ctx: a `GLContext` from
            [`create_context`][hybridscene.create_context] (a ``moderngl.Context``, such as a window's, is
            wrapped without taking ownership).
        size: ``(width, height)`` of the frames.
        samples: MSAA samples for the foreground; default from settings (4), clamped to the
            driver's maximum.
    """

    def __init__(self, ctx: GLContext | moderngl.Context, size: tuple[int, int], *, samples: int | None = None) -> None:
        gl = self.gl = GLContext.wrap(ctx)
        self._wrapped = gl is not ctx  # a moderngl.Context: this renderer owns the wrapper (not the context)
        gl.make_current()
        self.size = check_size(size)
        samples = get_settings().msaa if samples is None else check_samples(samples)
        self.scene_renderer = SceneRenderer(gl)
        self.compositor = Compositor(gl)
        self.parallax = ParallaxRenderer(gl, depth_texture=self.scene_renderer.plate_depth_texture)
        self.foreground = ForegroundTarget(gl, self.size, samples=samples)
        self.output = OutputTarget(gl, self.size)
        self._plates: list[PlateLayer] = []
        self._relief: ReliefView | None = None  # the current plate's relief this frame
        self._aux: tuple[moderngl.Texture, moderngl.Framebuffer] | None = None
        self._plate_depth: tuple[moderngl.Texture, moderngl.Framebuffer] | None = None

    @property
    def samples(self) -> int:
        """MSAA samples of the foreground, after clamping to the driver's maximum."""
        return self.foreground.samples

    def render_to(self, scene: Scene, fbo: moderngl.Framebuffer, *, t: float | None = None,
                  top_down: bool = False) -> None:
        """Update the scene to time ``t`` (when given), draw it and composite into ``fbo``
        (``top_down`` as for `Compositor.compose`)."""
        self.gl.make_current()
        if t is not None:
            scene.update(t)
        self._plates = self._plate_layers(scene)
        depth = self._relief.inverse_depth if self._relief is not None else None
        self.scene_renderer.render(scene, self.foreground, plate_depth=depth)
        fg = self.foreground
        self.compositor.compose([*self._plates, ForegroundLayer(fg.color, fg.shadow if fg.has_shadow else None)],
                                fbo, top_down=top_down)

    def _plate_layers(self, scene: Scene) -> list[PlateLayer]:
        """The plates on screen, back to front: the one fading out (when a cross-fade runs),
        then the current one; each drawn as a relief when the camera has moved."""
        previous, weight = scene.plate_blend()
        slots = [(scene.plate, 0, weight)]
        if previous is not None and weight < 1.0:
            slots.insert(0, (previous, 1, 1.0))
        layers = []
        self._relief = None
        for plate, slot, opacity in slots:
            layer = self.compositor.plate_layer(plate, scene.camera, self.size, background=scene.background,
                                                opacity=opacity)
            if plate is not None and uses_parallax(scene.parallax, plate, scene.camera):
                view = self.parallax.render(plate, layer.texture, scene.camera, self.size, slot=slot)  # type: ignore[arg-type]
                layer = dataclasses.replace(layer, texture=view.backdrop, relief=view.color)
                if slot == 0:
                    self._relief = view
            elif slot == 0 and plate is not None and scene.parallax is not False \
                    and uses_parallax(True, plate, scene.camera):
                self.parallax.prefetch(plate)  # at rest now, but the camera may move: be ready by then
            layers.append(layer)
        return layers

    def render_frame(self, scene: Scene, t: float | None = None) -> np.ndarray:
        """``(H, W, 3) uint8`` sRGB frame, top row first, at scene time ``t`` seconds."""
        self.render_to(scene, self.output.fbo, t=t, top_down=True)
        return self.output.read()

    def render_layers(self, scene: Scene, t: float | None = None) -> FrameLayers:
        """Render a frame and its layers (see [`FrameLayers`][hybridscene.FrameLayers]), each read back from what
        the GPU computed for the frame."""
        from ..colors import linear_to_srgb

        composite = self.render_frame(scene, t)
        w, h = self.size
        fg = self.foreground
        # The plate alone: the same plate layers without the foreground.
        self.compositor.compose(self._plates, self.output.fbo, top_down=True)
        plate_img = np.array(self.output.read())
        # Foreground: premultiplied linear float -> straight sRGB 8-bit.
        prem = fg.read_premultiplied()
        alpha = prem[..., 3:4]
        straight = np.divide(prem[..., :3], alpha, out=np.zeros_like(prem[..., :3]), where=alpha > 1e-6)
        fg_rgba = np.empty((h, w, 4), np.uint8)
        fg_rgba[..., :3] = np.round(linear_to_srgb(np.clip(straight, 0, 1)) * 255)
        fg_rgba[..., 3] = np.round(np.clip(alpha[..., 0], 0, 1) * 255)
        shadow = (255 - fg.read_shadow()).astype(np.uint8) if fg.has_shadow else None
        # Depth and ids: a second, single-sample pass of the same scene.
        drawn = [n for n, _ in scene.visible_nodes() if n.mesh is not None or n.sprite is not None or n.particles is not None]
        ids = {id(n): i + 1 for i, n in enumerate(drawn)}
        names = {i + 1: (n.name or f"node-{i + 1}") for i, n in enumerate(drawn)}
        screen_depth = self._relief.inverse_depth if self._relief is not None else None
        aux_tex, aux_fbo = self._aux = self._aux or self._float_target(4, depth=True)
        self.scene_renderer.render_aux(scene, aux_fbo, ids, plate_depth=screen_depth)
        aux = read_pixels(aux_tex, gl_rows=True)
        ids_img = np.round(aux[..., 1]).astype(np.uint16)
        depth = np.where(ids_img > 0, aux[..., 0], np.inf).astype(np.float32)
        # The plate's depth as the occlusion test saw it (the same shader function).
        plate_depth = None
        if scene.plate is not None and scene.plate.depth is not None:
            pd_tex, pd_fbo = self._plate_depth = self._plate_depth or self._float_target(1)
            self.scene_renderer.render_plate_depth(scene, pd_fbo, plate_depth=screen_depth)
            plate_depth = np.array(read_pixels(pd_tex, gl_rows=True))
        return FrameLayers(np.array(composite), plate_img, plate_depth, fg_rgba, depth, ids_img, shadow, names)

    def _float_target(self, components: int, *, depth: bool = False) -> tuple[moderngl.Texture, moderngl.Framebuffer]:
        ctx = self.gl.mgl
        tex = ctx.texture(self.size, components, dtype="f4")
        return tex, ctx.framebuffer([tex], ctx.depth_renderbuffer(self.size) if depth else None)

    def release(self) -> None:
        """Free every GPU resource this renderer made (not the context)."""
        self.gl.make_current()
        for target in (self._aux, self._plate_depth):
            if target is not None:
                tex, fbo = target
                self.gl.unbind([fbo])
                depth = fbo.depth_attachment
                fbo.release()
                for attachment in (depth, tex):
                    if attachment is not None:
                        attachment.release()
        self._aux = self._plate_depth = None
        self.output.release()
        self.foreground.release()
        self.parallax.release()
        self.compositor.release()
        self.scene_renderer.release()
        if self._wrapped:
            self.gl.release()  # the programs compiled here; the moderngl.Context stays the caller's

    def __enter__(self) -> FrameRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
