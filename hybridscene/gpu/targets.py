"""Render targets: the multisampled foreground buffer and the 8-bit output frame."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GPUError
from .textures import read_rgb

__all__ = ["ForegroundTarget", "OutputTarget", "unbind"]


def unbind(ctx: Any, fbos: list[Any]) -> None:
    """Bind the default framebuffer if one of ``fbos`` is bound, before they are released.

    moderngl re-binds the current framebuffer after creating a new one; if that is a deleted
    one, GL reports GL_INVALID_OPERATION. Headless contexts have no ``ctx.screen``, so the
    default framebuffer (name 0) is wrapped once and kept on the context.
    """
    if ctx.fbo is None or not any(ctx.fbo is f for f in fbos):
        return
    default = ctx.screen
    if default is None:
        if ctx.extra is None:
            ctx.extra = {}
        default = ctx.extra.get("hybridscene.default_fbo")
        if default is None:
            default = ctx.extra["hybridscene.default_fbo"] = ctx.detect_framebuffer(0)
    default.use()


class ForegroundTarget:
    """Where the foreground is rasterised, with MSAA: attachment 0 is RGBA16F colour (linear,
    premultiplied), attachment 1 the shadow amount on the plate (R8, 0 = lit), plus depth.

    ``samples > 1`` renders into multisampled renderbuffers and :meth:`resolve` averages them into
    :attr:`color` and :attr:`shadow` (textures in GL row order), so edge pixels hold partial
    coverage and shadow edges are smooth.
    """

    def __init__(self, ctx: Any, size: tuple[int, int], *, samples: int = 4) -> None:
        self.ctx = ctx
        self.size = size
        self.samples = max(1, min(int(samples), int(ctx.max_samples)))
        self.color = ctx.texture(size, 4, dtype="f2")
        self.shadow = ctx.texture(size, 1)
        for tex in (self.color, self.shadow):
            tex.repeat_x = tex.repeat_y = False
        self._resources: list[Any] = [self.color, self.shadow]
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
            self._resolve_all = self._resolve_color = self._color_fbo = None
            self._resources += [depth, self.draw_fbo]
        self.has_shadow = False
        """True when this frame drew shadows into attachment 1 (set by the renderer)."""

    ALL = ((True, True, True, True), (True, True, True, True))
    COLOR_ONLY = ((True, True, True, True), (False, False, False, False))
    SHADOW_ONLY = ((False, False, False, False), (True, False, False, False))
    NONE = ((False, False, False, False), (False, False, False, False))

    def write(self, mask: Any) -> None:
        """Bind for drawing with a per-attachment colour mask (``ALL``, ``COLOR_ONLY``, ...)."""
        self.draw_fbo.color_mask = mask
        self.draw_fbo.use()  # moderngl applies a framebuffer's masks when it is bound

    def clear(self) -> None:
        """Transparent black, no shadow, depth at the far plane."""
        self.write(self.ALL)
        self.draw_fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self.has_shadow = False

    def resolve(self) -> None:
        """Average the samples into :attr:`color` (and :attr:`shadow` when the frame has
        shadows); a no-op without MSAA."""
        if self._resolve_all is None:
            return
        if self.has_shadow:
            self.ctx.copy_framebuffer(self._resolve_all, self.draw_fbo)
        else:
            self.ctx.copy_framebuffer(self._resolve_color, self._color_fbo)

    def read_premultiplied(self) -> np.ndarray:
        """``(H, W, 4) float32`` linear premultiplied RGBA, top row first (for tests and layers)."""
        w, h = self.size
        data = self.color.read()
        return np.frombuffer(data, dtype=np.float16).reshape(h, w, 4)[::-1].astype(np.float32)

    def release(self) -> None:
        self.write(self.ALL)
        unbind(self.ctx, [self.draw_fbo, self._resolve_all, self._resolve_color, self._color_fbo])
        for r in reversed(self._resources):
            r.release()
        self._resources.clear()


class OutputTarget:
    """The final 8-bit sRGB frame, stored top row first (see :mod:`hybridscene.gpu.textures`)."""

    def __init__(self, ctx: Any, size: tuple[int, int]) -> None:
        w, h = size
        limit = int(ctx.info.get("GL_MAX_RENDERBUFFER_SIZE", 16384))
        if max(w, h) > limit:
            raise GPUError(f"frame size {w}x{h} exceeds this GPU's limit of {limit} pixels")
        self.ctx = ctx
        self.size = size
        self.texture = ctx.texture(size, 4)
        self.fbo = ctx.framebuffer([self.texture])

    def read(self) -> np.ndarray:
        """``(H, W, 3) uint8`` sRGB, top row first."""
        return read_rgb(self.fbo)

    def release(self) -> None:
        unbind(self.ctx, [self.fbo])
        self.fbo.release()
        self.texture.release()
