"""The window sink: frames shown in a desktop window (moderngl-window), letterboxed so resizing
never distorts them, with a text overlay and screenshots. GL stays on the thread that opened it.

The preview (`hybridscene.live`) drives it; the window itself knows nothing of scenes.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import atomic_path
from ..errors import ConfigError
from ..gpu.context import GLContext, check_renderer
from ..gpu.programs import load_program
from ..gpu.readback import read_pixels

if TYPE_CHECKING:
    import moderngl

__all__ = ["WindowSink", "text_image"]

log = logging.getLogger(__name__)


def _window_class(backend: str) -> Any:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ConfigError(
            "no display to open a window on (DISPLAY is not set): run it on a desktop, or under a virtual "
            "X server (xvfb-run -a hybridscene preview SCENE.py); to make frames without a window use "
            "hybridscene render"
        )
    try:
        import moderngl_window
    except ImportError:
        raise ConfigError(
            "the preview window needs moderngl-window and pyglet: pip install 'hybridscene[preview]'"
        ) from None
    try:
        return moderngl_window.get_local_window_cls(backend)
    except Exception as exc:
        raise ConfigError(
            f"cannot load the {backend!r} window backend ({exc}); use pyglet (the default), or install "
            f"the backend's package (glfw, PySide6, pygame, sdl2)"
        ) from None


def text_image(lines: list[str], *, colour: tuple[int, int, int, int], width: int | None = None) -> np.ndarray:
    """``(H, W, 4) uint8`` RGBA: ``lines`` on a translucent dark box, for the overlay."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=14)
    pad, gap = 8, 4
    sizes = [font.getbbox(line or " ") for line in lines]
    w = width or max(b[2] for b in sizes) + 2 * pad
    h = sum(b[3] for b in sizes) + gap * (len(lines) - 1) + 2 * pad
    img = Image.new("RGBA", (max(w, 1), max(h, 1)), (0, 0, 0, 170))
    draw = ImageDraw.Draw(img)
    y = pad
    for line, box in zip(lines, sizes):
        draw.text((pad, y), line, font=font, fill=colour)
        y += box[3] + gap
    return np.asarray(img)


class WindowSink:
    """A resizable window showing frames of ``size``.

    Args:
        size: the frame size; the window opens at it.
        title: the window title.
        backend: the moderngl-window backend (``pyglet``, ``glfw``, ...).
        vsync: wait for the display's refresh on `swap`.
    """

    def __init__(self, size: tuple[int, int], *, title: str = "hybridscene", backend: str = "pyglet",
                 vsync: bool = True) -> None:
        cls = _window_class(backend)
        self.size = size
        self.window = cls(title=title, size=size, resizable=True, vsync=vsync, gl_version=(3, 3))
        self.gl = GLContext(self.window.ctx, owned=False, default_framebuffer=self.window.fbo)
        check_renderer(self.gl, where="the preview window")
        self._blit = load_program(self.gl, "blit")
        self._blit["u_image"].value = 0
        self._vao = self.gl.mgl.vertex_array(self._blit, [])
        self._image: moderngl.Texture | None = None
        self._overlay: moderngl.Texture | None = None
        self._overlay_key: Any = None

    # -- what the window shows ----------------------------------------------------------------
    @property
    def fbo(self) -> moderngl.Framebuffer:
        """The window's back buffer (GL row order)."""
        return self.window.fbo

    @property
    def buffer_size(self) -> tuple[int, int]:
        """The back buffer's size in pixels (the window's, times the display's scale)."""
        return tuple(self.window.buffer_size)  # type: ignore[return-value]

    @property
    def is_closing(self) -> bool:
        return bool(self.window.is_closing)

    def at_frame_size(self) -> bool:
        """Whether the back buffer is exactly the frame size (frames can go straight in)."""
        return self.buffer_size == self.size

    def upload(self, image: np.ndarray) -> moderngl.Texture:
        """A top-down ``(H, W, 3|4) uint8`` image as the texture `show` draws."""
        self._image = self._upload(self._image, image)
        return self._image

    def show(self, texture: moderngl.Texture) -> None:
        """Draw a top-down texture of the frame (of its size, or drawn below it) letterboxed
        into the window: scaled to the frame's shape, never stretched, black bars around it."""
        import moderngl

        ctx = self.gl.mgl
        bw, bh = self.buffer_size
        win = self.window.fbo
        win.use()
        w, h = self.size
        scale = min(bw / w, bh / h)
        vw, vh = max(1, round(w * scale)), max(1, round(h * scale))
        if (vw, vh) != (bw, bh):  # black bars (where the frame fills the window, it covers every pixel)
            ctx.viewport = (0, 0, bw, bh)
            win.clear(0.0, 0.0, 0.0, 1.0)
        ctx.viewport = ((bw - vw) // 2, (bh - vh) // 2, vw, vh)
        # 1:1 (the frame's size, or a frame drawn below it, filtered up) is sampled exactly.
        texture.filter = (moderngl.NEAREST, moderngl.NEAREST) if (vw, vh) == texture.size else (moderngl.LINEAR, moderngl.LINEAR)
        ctx.disable(moderngl.BLEND | moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        texture.use(0)
        self._vao.render(moderngl.TRIANGLES, vertices=3)
        ctx.viewport = (0, 0, bw, bh)

    def clear(self) -> None:
        """Black the whole window."""
        self.window.fbo.use()
        self.gl.mgl.viewport = (0, 0, *self.buffer_size)
        self.window.fbo.clear(0.0, 0.0, 0.0, 1.0)

    def overlay(self, lines: list[str], colour: tuple[int, int, int, int] = (255, 255, 255, 255)) -> None:
        """Text on a translucent box in the top-left corner (re-rendered only when it changes)."""
        import moderngl

        ctx = self.gl.mgl
        bw, bh = self.buffer_size
        self.window.fbo.use()  # over what is in the window, whatever was drawn last
        key = (tuple(lines), colour)
        if key != self._overlay_key:
            self._overlay = self._upload(self._overlay, text_image(lines, colour=colour))
            self._overlay_key = key
        assert self._overlay is not None
        ow, oh = self._overlay.size
        ctx.viewport = (8, bh - oh - 8, ow, oh)
        ctx.enable(moderngl.BLEND)
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA  # Pillow's straight alpha
        self._overlay.use(0)
        self._vao.render(moderngl.TRIANGLES, vertices=3)
        ctx.disable(moderngl.BLEND)
        ctx.viewport = (0, 0, bw, bh)

    def screenshot(self, folder: Path, stem: str) -> Path:
        """The window's content as drawn so far to a new ``folder/stem-NNNN.png`` (written
        atomically); returns its path."""
        from PIL import Image

        bw, bh = self.buffer_size
        image = read_pixels(self.window.fbo, viewport=(0, 0, bw, bh), gl_rows=True)
        folder.mkdir(parents=True, exist_ok=True)
        n = 0
        while (path := folder / f"{stem}-{n:04d}.png").exists():
            n += 1
        with atomic_path(path) as tmp:
            Image.fromarray(image).save(tmp, format="PNG")
        log.info("screenshot: %s", path)
        return path

    def swap(self) -> None:
        """Show what was drawn (and process the window's events)."""
        self.window.swap_buffers()

    def _upload(self, tex: moderngl.Texture | None, image: np.ndarray) -> moderngl.Texture:
        h, w, c = image.shape
        if tex is None or tex.size != (w, h) or tex.components != c:
            if tex is not None:
                tex.release()
            tex = self.gl.mgl.texture((w, h), c)
            tex.repeat_x = tex.repeat_y = False
        tex.write(np.ascontiguousarray(image).tobytes())
        return tex

    def release(self) -> None:
        """Free this sink's GPU resources and close the window."""
        for tex in (self._image, self._overlay):
            if tex is not None:
                tex.release()
        self._vao.release()
        self.gl.release()
        try:
            self.window.destroy()
        except Exception as exc:  # a window the toolkit already tore down
            log.debug("window destroy: %s", exc)
