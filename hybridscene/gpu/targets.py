"""Render targets: the multisampled foreground buffer and the 8-bit output frame."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ..errors import GPUError
from .readback import read_pixels

if TYPE_CHECKING:
    import moderngl

    from .context import GLContext

__all__ = ["ColorMask", "ForegroundTarget", "OutputTarget", "available_memory", "check_frame_size", "frame_bytes",
           "preflight_size", "size_limit"]

PLATE_BYTES_PER_PIXEL = 150
"""Peak memory of painting a plate at the frame size, per pixel (the procedural painter
measured 140 bytes at 2048x1024): counted by `preflight_size` before a scene is built."""

ColorMask = tuple[tuple[bool, bool, bool, bool], ...]
"""Per-attachment RGBA write masks of a framebuffer."""


def size_limit(gl: GLContext) -> int:
    """The largest frame side this GL implementation renders: the least of
    ``GL_MAX_TEXTURE_SIZE``, ``GL_MAX_RENDERBUFFER_SIZE`` and ``GL_MAX_VIEWPORT_DIMS``."""
    info = gl.mgl.info
    limits = [int(info.get("GL_MAX_TEXTURE_SIZE", 16384)), int(info.get("GL_MAX_RENDERBUFFER_SIZE", 16384))]
    dims = info.get("GL_MAX_VIEWPORT_DIMS")
    if isinstance(dims, (tuple, list)) and dims:
        limits.append(int(min(dims)))
    return min(limits)


def frame_bytes(size: tuple[int, int], samples: int, *, layers: bool = False, software: bool = True) -> int:
    """An estimate of the memory one export of frames at ``size`` needs, in bytes.

    Per pixel: the foreground's RGBA16F colour, R8 shadow and 32-bit depth once per MSAA sample
    plus their resolved copies; the 8-bit output; the plate and the compositor's passes (about
    16 bytes); the reflection catcher's RGBA16F colour and depth (12 bytes, counted whether or
    not a scene has one); on the host the read-back frames, the pixel-buffer ring and the encoder's queue
    (about 24 bytes) and, with ``layers`` (render passes or labels), the passes' float targets
    (about 48 bytes) and every pass read back with the plate's flow computed on the host (about
    160 bytes at most, with every pass). On a GPU (``software=False``) only the host's part
    counts (graphics memory is the driver's to refuse).
    """
    w, h = size
    s = max(1, int(samples))
    gpu = s * (8 + 1 + 4) + (8 + 1 if s > 1 else 0) + 4 + 16 + 12 + (48 if layers else 0)
    host = 24 + (160 if layers else 0)
    return w * h * ((gpu if software else 0) + host)


def available_memory() -> int | None:
    """Bytes of memory this process can still use: ``MemAvailable`` from ``/proc/meminfo``
    (else physical memory from ``sysconf``), lowered to a cgroup's remaining limit; ``None``
    when unknown."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file, encoding="ascii") as f:
                limit = f.read().strip()
            with open(usage_file, encoding="ascii") as f:
                usage = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:
            found.append(max(0, int(limit) - usage))
        break
    return min(found) if found else None


def check_frame_size(gl: GLContext, size: tuple[int, int], *, samples: int, layers: bool = False) -> None:
    """Refuse, before any frame is drawn, a size the GL implementation cannot render
    (`size_limit`) or whose frames would not fit in the memory left (`frame_bytes` against
    `available_memory`).

    Raises:
        GPUError: naming the size and the limit.
    """
    w, h = size
    limit = size_limit(gl)
    if max(w, h) > limit:
        raise GPUError(f"frame size {w}x{h} exceeds this OpenGL implementation's limit of {limit} pixels a side "
                       "(GL_MAX_TEXTURE_SIZE, GL_MAX_RENDERBUFFER_SIZE, GL_MAX_VIEWPORT_DIMS); render smaller")
    samples = max(1, min(int(samples), int(gl.mgl.max_samples)))
    need = frame_bytes(size, samples, layers=layers, software=gl.software)
    have = available_memory()
    if have is not None and need > have:
        msaa = f" with {samples}x MSAA" if samples > 1 else ""
        raise GPUError(f"frame size {w}x{h}{msaa}{' and layers' if layers else ''} needs about {need / 2**30:.1f} GiB "
                       f"of memory, but {have / 2**30:.1f} GiB is available; render smaller"
                       f"{' or with fewer MSAA samples (HYBRIDSCENE_MSAA)' if samples > 1 else ''}")


def preflight_size(size: tuple[int, int], *, samples: int, layers: bool = False) -> None:
    """The size checks of `check_frame_size`, made before a scene and its plate are built
    at ``size`` (painting a plate needs `PLATE_BYTES_PER_PIXEL` more). Sizes above 4096 on a
    side open a short-lived headless context to read the driver's limits; smaller ones, which
    every OpenGL 3.3 driver hybridscene runs on renders, check memory only.

    Raises:
        GPUError: naming the size and the limit.
    """
    w, h = size
    need = w * h * PLATE_BYTES_PER_PIXEL + frame_bytes(size, samples, layers=layers, software=False)
    have = available_memory()
    if have is not None and need > have:
        raise GPUError(f"frame size {w}x{h} needs about {need / 2**30:.1f} GiB of memory for its plate and frames, "
                       f"but {have / 2**30:.1f} GiB is available; render smaller")
    if max(w, h) > 4096:
        from .context import create_context

        with create_context() as gl:
            check_frame_size(gl, size, samples=samples, layers=layers)
            have = available_memory()
            if have is not None and gl.software:  # the frames live in host memory with the plate
                need += frame_bytes(size, samples, layers=layers, software=True)
                if need > have:
                    raise GPUError(f"frame size {w}x{h} needs about {need / 2**30:.1f} GiB of memory on this CPU "
                                   f"rasteriser ({gl.info.get('GL_RENDERER', '?')}), but {have / 2**30:.1f} GiB "
                                   "is available; render smaller")


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
