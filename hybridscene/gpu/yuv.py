"""The displayed frame as yuv420p planes, converted on the GPU (``shaders/yuv420.glsl``): BT.709,
limited range, in libswscale's own fixed-point arithmetic, so a video written from these planes
is the one written from RGB frames (PyAV's ``reformat``): identical planes on x86-64 for heights
of 8 or more (luma everywhere; chroma follows x86-64 swscale's SIMD filter, so on other CPUs it
may round one level apart). Reading back moves 1.5 bytes per pixel instead of 3.

Layout: when the width is a multiple of 8, one pass (``FUSED``) over a ``(W / 8, H / 2)`` grid
writes the even and the odd luma rows (RG32UI, 8 samples a texel) and U and V (R32UI, 4 samples
a texel); the planes read back as ``Y even rows | Y odd rows | U | V`` and `YuvConverter.frame`
puts the luma rows in order. Other even widths: two passes into R8 targets (``PLANE_Y``,
``PLANE_UV``), read back as ``Y | U | V`` (the I420 layout). Either way each target's rows are
the plane's rows, top row first.

Whether an export converts here or on the CPU is the ``yuv`` setting
([`Settings.yuv`][hybridscene.Settings]); see `use_gpu_yuv`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import GPUError
from ..sinks.video import Yuv420Frame
from .programs import load_program

if TYPE_CHECKING:
    import moderngl

    from .context import GLContext

__all__ = ["YuvConverter", "use_gpu_yuv"]


def use_gpu_yuv(gl: GLContext, setting: str | None = None) -> bool:
    """Whether a video export converts to yuv420p on the GPU: ``setting`` (default the ``yuv``
    setting, ``HYBRIDSCENE_YUV``) ``"gpu"`` or ``"cpu"``; ``"auto"`` is ``"gpu"`` on a GPU and
    ``"cpu"`` on a CPU rasteriser (llvmpipe). There the shader pass costs as much CPU time as the
    RGB read-back and libswscale it replaces, or a little more (1280x720, 2 cores, interleaved:
    8.6 against 7.7 ms a frame for birds.py, 7.5 against 7.3 for glossy.py;
    ``benchmarks/bench_yuv.py``), and the cores are what an export on llvmpipe runs out of."""
    if setting is None:
        from ..config import get_settings

        setting = get_settings().yuv
    if setting == "auto":
        return not gl.software
    return setting == "gpu"


class YuvConverter:
    """Converts a top-down 8-bit sRGB texture (``FrameRenderer.output.texture``) into yuv420p
    planes held on the GPU, and reads them back.

    Args:
        gl: the context.
        size: ``(width, height)``; both even (yuv420p).
    """

    def __init__(self, gl: GLContext, size: tuple[int, int]) -> None:
        w, h = size
        if w % 2 or h % 2 or w < 2 or h < 2:
            raise GPUError(f"yuv420p needs an even frame size, got {w}x{h}")
        self.gl = gl
        self.size = (w, h)
        self.fused = w % 8 == 0
        """One pass, 8 x 2 pixels a fragment (widths that are multiples of 8), else two passes."""
        ctx = gl.mgl
        if self.fused:
            grid = (w // 8, h // 2)
            self._textures = [ctx.texture(grid, 2, dtype="u4"), ctx.texture(grid, 2, dtype="u4"),
                              ctx.texture(grid, 1, dtype="u4"), ctx.texture(grid, 1, dtype="u4")]
            self._passes = [(load_program(gl, "yuv420", defines={"FUSED": 1}), ctx.framebuffer(self._textures))]
            # (attachment, components, offset) of each read: Y even rows, Y odd rows, U, V
            self._reads = [(0, 2, 0), (1, 2, w * h // 2), (2, 1, w * h), (3, 1, w * h * 5 // 4)]
        else:
            self._textures = [ctx.texture((w, h), 1), ctx.texture((w // 2, h // 2), 1), ctx.texture((w // 2, h // 2), 1)]
            self._passes = [(load_program(gl, "yuv420", defines={"PLANE_Y": 1}), ctx.framebuffer(self._textures[:1])),
                            (load_program(gl, "yuv420", defines={"PLANE_UV": 1}), ctx.framebuffer(self._textures[1:]))]
            self._reads = [(0, 1, 0), (0, 1, w * h), (1, 1, w * h * 5 // 4)]
        for prog, _ in self._passes:
            prog["u_image"].value = 0
            if prog.get("u_height", None) is not None:
                prog["u_height"].value = h
        self._vaos = [ctx.vertex_array(prog, []) for prog, _ in self._passes]
        self.nbytes = w * h * 3 // 2
        """Bytes of one frame's planes (``W * H * 3 / 2``)."""

    def convert(self, texture: moderngl.Texture) -> None:
        """Convert ``texture`` (``(W, H)`` RGBA8 sRGB, row 0 = image top) into the planes."""
        if tuple(texture.size) != self.size:
            raise GPUError(f"YuvConverter is {self.size[0]}x{self.size[1]}, the texture is "
                           f"{texture.size[0]}x{texture.size[1]}")
        texture.use(0)
        for (_, fbo), vao in zip(self._passes, self._vaos):
            fbo.use()
            vao.render(vertices=3)

    def read_into(self, buffer: moderngl.Buffer | bytearray | memoryview | np.ndarray) -> None:
        """Copy the planes into ``buffer`` (``nbytes`` or more; a GL buffer for an asynchronous
        copy), for `frame` to take apart."""
        fbos = [fbo for _, fbo in self._passes]
        for k, (attachment, components, offset) in enumerate(self._reads):
            fbo = fbos[0] if self.fused or k == 0 else fbos[1]
            dtype = "u4" if self.fused else "f1"
            fbo.read_into(buffer, components=components, attachment=attachment, dtype=dtype, alignment=1,
                          write_offset=offset)

    def frame(self, data: bytes | bytearray | memoryview | np.ndarray) -> Yuv420Frame:
        """The planes in ``data`` (as `read_into` writes them) as a `Yuv420Frame`."""
        w, h = self.size
        flat = np.frombuffer(data, np.uint8, count=self.nbytes)
        q = w * h // 4
        if self.fused:
            y = np.empty((h, w), np.uint8)
            y[0::2] = flat[: w * h // 2].reshape(h // 2, w)
            y[1::2] = flat[w * h // 2: w * h].reshape(h // 2, w)
        else:
            y = flat[: w * h].reshape(h, w)
        return Yuv420Frame(y, flat[w * h: w * h + q].reshape(h // 2, w // 2), flat[w * h + q:].reshape(h // 2, w // 2))

    def read(self) -> Yuv420Frame:
        """The planes now (a synchronous read)."""
        data = bytearray(self.nbytes)
        self.read_into(data)
        return self.frame(data)

    def release(self) -> None:
        fbos = [fbo for _, fbo in self._passes]
        self.gl.unbind(fbos)
        for res in (*self._vaos, *fbos, *self._textures):
            res.release()
        self._vaos, self._passes, self._textures = [], [], []

    def __enter__(self) -> YuvConverter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
