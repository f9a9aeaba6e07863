"""Render targets: the multisampled foreground buffer and the 8-bit output frame."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import GPUError
from .readback import read_pixels

if TYPE_CHECKING:
    import moderngl

    from .context import GLContext

__all__ = ["ColorMask", "ForegroundTarget", "OutputTarget"]

ColorMask = tuple[tuple[bool, bool, bool, bool], ...]
"""Per-attachment RGBA write masks of a framebuffer."""


class ForegroundTarget:
    """Where the foreground is rasterised, with MSAA: attachment 0 is RGBA16F colour (linear,
    premultiplied), attachment 1 the shadow amount on the plate (R8, 0 = lit), plus depth.

    ``samples > 1`` renders into multisampled renderbuffers and `resolve` averages them into
    `color` and `shadow` (textures in GL row order), so edge pixels hold partial
    coverage and shadow edges are smooth.
    """

    def __init__(self, gl: GLContext, size: tuple[int, int], *, samples: int = 4) -> None:
        ctx = gl.mgl
        self.gl = gl
        self.size = size
        self.samples = max(1, min(int(samples), int(ctx.max_samples)))
        self.color = ctx.texture(size, 4, dtype="f2")
        self.shadow = ctx.texture(size, 1)
        for tex in (self.color, self.shadow):
            tex.repeat_x = tex.repeat_y = False
        self._resources: list[moderngl.Texture | moderngl.Renderbuffer | moderngl.Framebuffer] = \
            [self.color, self.shadow]
        if self.samples > 1:
            ms_color = ctx.renderbuffer(size, 4, samples=self.samples, dtype="f2")
            ms_shadow = ctx.renderbuffer(size, 1, samples=self.samples)
            ms_depth = ctx.depth_renderbuffer(size, samples=self.samples)
            self.draw_fbo = ctx.framebuffer([ms_color, ms_shadow], ms_depth)
            # Resolving costs per attachment: frames without shadows resolve the colour only.
            self._resolve_all = ctx.framebuffer([self.color, self.shadow])
            self._resolve_color = ctx.framebuffer([self.color])
            self._color_fbo = ctx.framebuffer([ms_color], ms_depth)
            self._resources += [ms_color, ms_shadow, ms_depth, self.draw_fbo, self._resolve_all,
                                self._resolve_color, self._color_fbo]
        else:
            depth = ctx.depth_renderbuffer(size)
            self.draw_fbo = ctx.framebuffer([self.color, self.shadow], depth)
            self._resolve_all: moderngl.Framebuffer | None = None
            self._resolve_color: moderngl.Framebuffer | None = None
            self._color_fbo: moderngl.Framebuffer | None = None
            self._resources += [depth, self.draw_fbo]
        self.has_shadow = False
        """True when this frame drew shadows into attachment 1 (set by the renderer)."""

    ALL: ColorMask = ((True, True, True, True), (True, True, True, True))
    COLOR_ONLY: ColorMask = ((True, True, True, True), (False, False, False, False))
    SHADOW_ONLY: ColorMask = ((False, False, False, False), (True, False, False, False))

    def bind(self, mask: ColorMask) -> None:
        """Bind the framebuffer for drawing with a per-attachment colour mask (``ALL``,
        ``COLOR_ONLY``, ``SHADOW_ONLY``)."""
        self.draw_fbo.color_mask = mask
        self.draw_fbo.use()  # moderngl applies a framebuffer's masks when it is bound

    def clear(self) -> None:
        """Transparent black, no shadow, depth at the far plane."""
        self.bind(self.ALL)
        self.draw_fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self.has_shadow = False

    def resolve(self) -> None:
        """Average the samples into `color` (and `shadow` when the frame has
        shadows); a no-op without MSAA."""
        if self._resolve_all is None:
            return
        if self.has_shadow:
            self.gl.mgl.copy_framebuffer(self._resolve_all, self.draw_fbo)
        else:
            assert self._resolve_color is not None and self._color_fbo is not None
            self.gl.mgl.copy_framebuffer(self._resolve_color, self._color_fbo)

    def read_premultiplied(self) -> np.ndarray:
        """``(H, W, 4) float32`` linear premultiplied RGBA, top row first (for tests and layers)."""
        return read_pixels(self.color, gl_rows=True).astype(np.float32)

    def read_shadow(self) -> np.ndarray:
        """``(H, W) uint8`` shadow amount on the plate (0 = lit, 255 = fully shadowed), top row
        first; all zero when the frame drew no shadows."""
        if not self.has_shadow:
            return np.zeros(self.size[::-1], np.uint8)
        return read_pixels(self.shadow, gl_rows=True)

    def release(self) -> None:
        self.bind(self.ALL)
        self.gl.unbind([self.draw_fbo, self._resolve_all, self._resolve_color, self._color_fbo])
        for r in reversed(self._resources):
            r.release()
        self._resources.clear()


class OutputTarget:
    """The final 8-bit sRGB frame, stored top row first (see `hybridscene.gpu.textures`)."""

    def __init__(self, gl: GLContext, size: tuple[int, int]) -> None:
        ctx = gl.mgl
        w, h = size
        limit = int(ctx.info.get("GL_MAX_RENDERBUFFER_SIZE", 16384))
        if max(w, h) > limit:
            raise GPUError(f"frame size {w}x{h} exceeds this GPU's limit of {limit} pixels")
        self.gl = gl
        self.size = size
        self.texture = ctx.texture(size, 4)
        self.fbo = ctx.framebuffer([self.texture])

    def read(self) -> np.ndarray:
        """``(H, W, 3) uint8`` sRGB, top row first."""
        return read_pixels(self.fbo)

    def release(self) -> None:
        self.gl.unbind([self.fbo])
        self.fbo.release()
        self.texture.release()
