"""Render targets: the multisampled foreground buffer and the 8-bit output frame."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ..errors import GPUError
from .readback import read_pixels
from .rects import Rect, merge

if TYPE_CHECKING:
    import moderngl

    from .context import GLContext

__all__ = ["ForegroundTarget", "OutputTarget", "available_memory", "check_frame_size", "frame_bytes",
           "preflight_size", "size_limit"]

PLATE_BYTES_PER_PIXEL = 150
"""Peak memory of painting a plate at the frame size, per pixel (the procedural painter
measured 140 bytes at 2048x1024): counted by `preflight_size` before a scene is built."""

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
    """Where the foreground is rasterised: `color` is RGBA16F (linear, premultiplied), drawn
    with MSAA into renderbuffers and resolved into it; `shadow` is the shadow amount on the
    plate (R8, 0 = lit), drawn single-sample (the catcher's shadows are soft: a pixel's samples
    would all hold the same value).

    Work follows the foreground (`hybridscene.gpu.rects`): the renderer draws each thing
    scissored to its rectangle on screen and records the rectangles (`rects`, `shadow_rects`);
    `begin` clears only what the last frame drew and `resolve` copies only the last frame's and
    this frame's rectangles. Outside them every attachment holds its cleared value, so a frame
    with a small foreground costs little, and one with none costs nothing.
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
        self.shadow_fbo = ctx.framebuffer([self.shadow])
        self._resources: list[moderngl.Texture | moderngl.Renderbuffer | moderngl.Framebuffer] = \
            [self.color, self.shadow, self.shadow_fbo]
        self._resolve_fbo: moderngl.Framebuffer | None = None
        self.depth: moderngl.Texture | None = None
        """Single-sample targets: the depth as a texture (read by the edge anti-aliasing pass,
        `hybridscene.gpu.edge_aa`); ``None`` with MSAA."""
        if self.samples > 1:
            ms_color = ctx.renderbuffer(size, 4, samples=self.samples, dtype="f2")
            ms_depth = ctx.depth_renderbuffer(size, samples=self.samples)
            self.draw_fbo = ctx.framebuffer([ms_color], ms_depth)
            self._resolve_fbo = ctx.framebuffer([self.color])
            self._resources += [ms_color, ms_depth, self.draw_fbo, self._resolve_fbo]
        else:
            self.depth = ctx.depth_texture(size)
            self.depth.compare_func = ""  # read as values, not compared
            self.draw_fbo = ctx.framebuffer([self.color], self.depth)
            self._resources += [self.depth, self.draw_fbo]
        self.has_shadow = False
        """True when this frame drew shadows into `shadow` (set by the renderer)."""
        self.rects: list[Rect] = []
        """Where this frame drew colour (GL pixels; see `hybridscene.gpu.rects`)."""
        self.shadow_rects: list[Rect] = []
        """Where this frame drew shadows."""
        self._dirty: list[Rect] | None = None  # colour not yet cleared (None: all of it)
        self._shadow_dirty: list[Rect] | None = None
        self._drawn: list[Rect] | None = None  # colour cleared this frame: resolved again
        self._resolved = True  # the last frame reached resolve()

    def bind(self) -> None:
        """Bind the colour framebuffer for drawing (no scissor, depth writes on)."""
        self.draw_fbo.scissor = None
        self.draw_fbo.depth_mask = True
        self.draw_fbo.use()

    def bind_shadow(self) -> None:
        """Bind the shadow framebuffer for drawing (no scissor)."""
        self.shadow_fbo.scissor = None
        self.shadow_fbo.use()

    def begin(self) -> None:
        """Start a frame: transparent black, no shadow and depth at the far plane everywhere
        (clearing only where the last frame drew)."""
        # A frame that failed after its begin() resolved nothing: resolve everything next.
        self._drawn = None if self._dirty is None or not self._resolved else list(self._dirty)
        self._resolved = False
        _clear(self.draw_fbo, self._dirty, depth=True)
        _clear(self.shadow_fbo, self._shadow_dirty, depth=False)
        self._dirty, self._shadow_dirty = [], []
        self.rects, self.shadow_rects = [], []
        self.has_shadow = False

    def clear(self) -> None:
        """Clear every attachment whole (`begin` clears only what was drawn)."""
        self._dirty = self._shadow_dirty = None
        self.begin()

    def add_rect(self, rect: Rect, *, shadow: bool = False) -> None:
        """Record that this frame draws (colour, or ``shadow``) inside ``rect``."""
        (self.shadow_rects if shadow else self.rects).append(rect)
        assert self._dirty is not None and self._shadow_dirty is not None
        (self._shadow_dirty if shadow else self._dirty).append(rect)

    def resolve(self) -> None:
        """End the frame: merge what it drew into a few rectangles (kept for the next frame's
        clear, and for the compositor) and, with MSAA, average the colour samples into `color`
        where this frame or the last one drew."""
        self.rects = merge(self.rects)
        self.shadow_rects = merge(self.shadow_rects)
        self._dirty, self._shadow_dirty = list(self.rects), list(self.shadow_rects)
        self._resolved = True
        if self._resolve_fbo is None:
            return
        fbo = self._resolve_fbo
        regions = None if self._drawn is None else merge([*self._drawn, *self.rects])
        if regions is not None and not regions:
            return
        for rect in regions if regions is not None else [None]:
            fbo.scissor = rect
            fbo.use()
            self.gl.mgl.copy_framebuffer(fbo, self.draw_fbo)
        fbo.scissor = None
        fbo.use()

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
        self.gl.unbind([self.draw_fbo, self.shadow_fbo, self._resolve_fbo])
        for r in reversed(self._resources):
            r.release()
        self._resources.clear()


def _clear(fbo: moderngl.Framebuffer, rects: list[Rect] | None, *, depth: bool) -> None:
    """Clear ``fbo`` inside ``rects`` (``None``: whole) to transparent black and far depth."""
    fbo.scissor = None
    fbo.depth_mask = True  # a clear obeys the mask
    fbo.use()
    for rect in rects if rects is not None else [None]:
        if depth:
            fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0, viewport=rect)
        else:
            fbo.clear(0.0, 0.0, 0.0, 0.0, viewport=rect)


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
