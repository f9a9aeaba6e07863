"""Pixels out of the GPU: the one function that reads a target into numpy (and the one place
rows are flipped, see `hybridscene.gpu.textures`), and a ring of pixel buffers that lets a
GPU copy frames out while it renders the next ones."""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import GPUError

if TYPE_CHECKING:
    import moderngl

    from .context import GLContext

__all__ = ["ReadbackRing", "read_pixels"]

_DTYPES = {"f1": np.uint8, "f2": np.float16, "f4": np.float32}


def read_pixels(
    source: moderngl.Texture | moderngl.Framebuffer,
    *,
    components: int | None = None,
    dtype: str | None = None,
    gl_rows: bool = False,
    viewport: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Read a texture or a framebuffer's first colour attachment as a top-down numpy array.

    Args:
        source: what to read.
        components: channels to read (default: all of a texture's, 3 of a framebuffer's).
        dtype: ``"f1"`` (uint8), ``"f2"`` (float16) or ``"f4"`` (float32); default the
            texture's, ``"f1"`` for a framebuffer.
        gl_rows: ``True`` when ``source`` holds GL's bottom-up row order (anything rasterised
            directly: the foreground, depth and ids, shadows, a window); its rows are flipped
            here. ``False`` for targets written top-down (the compositor's offscreen output).
        viewport: ``(x, y, width, height)`` of a framebuffer to read.

    Returns:
        ``(H, W)`` for one component, else ``(H, W, C)``, of ``dtype``, top row first.
    """
    is_texture = hasattr(source, "build_mipmaps")
    if components is None:
        components = source.components if is_texture else 3
    if dtype is None:
        dtype = source.dtype if is_texture else "f1"
    if is_texture:
        w, h = source.size
        data = source.read(alignment=1)
        if components != source.components:
            raise GPUError(f"read_pixels reads a texture whole ({source.components} components), not {components}")
    else:
        w, h = viewport[2:] if viewport is not None else source.size
        data = source.read(viewport=viewport, components=components, dtype=dtype, alignment=1)
    shape = (h, w) if components == 1 else (h, w, components)
    pixels = np.frombuffer(data, _DTYPES[dtype]).reshape(shape)
    return pixels[::-1] if gl_rows else pixels


class ReadbackRing:
    """Frames read back through a ring of GL pixel buffers: frame ``i`` is copied into buffer
    ``i % n`` after it is drawn and fetched ``n - 1`` frames later, so (on a GPU) the copy
    runs while the next frames render instead of stalling the pipeline. Frames come out as
    ``(H, W, 3) uint8`` from a top-down target, or as ``decode(bytes)`` makes them from
    ``nbytes`` per frame written by `push_with` (the GPU's yuv420p planes: `hybridscene.gpu.yuv`)."""

    def __init__(self, gl: GLContext, size: tuple[int, int], n: int = 3, *, nbytes: int | None = None,
                 decode: Callable[[bytes], Any] | None = None) -> None:
        self.size = size
        w, h = size
        self.buffers = [gl.mgl.buffer(reserve=nbytes or w * h * 3) for _ in range(n)]
        self.pending: collections.deque[moderngl.Buffer] = collections.deque()
        self.count = 0
        self._decode = decode or (lambda data: np.frombuffer(data, np.uint8).reshape(h, w, 3))

    def push(self, fbo: moderngl.Framebuffer) -> Any:
        """Start reading ``fbo``'s RGB; returns the oldest frame once the ring is full."""
        return self.push_with(lambda buf: fbo.read_into(buf, components=3, alignment=1))

    def push_with(self, read_into: Callable[[moderngl.Buffer], None]) -> Any:
        """Start a read-back by ``read_into(buffer)``; returns the oldest frame once the ring is full."""
        buf = self.buffers[self.count % len(self.buffers)]
        self.count += 1
        read_into(buf)
        self.pending.append(buf)
        return self.pop() if len(self.pending) == len(self.buffers) else None

    def pop(self) -> Any:
        """The oldest frame still in the ring, or ``None`` when it is empty."""
        if not self.pending:
            return None
        return self._decode(self.pending.popleft().read())

    def release(self) -> None:
        for buf in self.buffers:
            buf.release()
        self.buffers = []

    def __enter__(self) -> ReadbackRing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
