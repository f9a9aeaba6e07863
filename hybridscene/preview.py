"""The real-time preview window: a scene (or a scene file, hot-reloaded) composited live.

    hybridscene preview examples/fireflies.py --stats
    scene.preview()

Keys: **space** pause, **left/right** step a frame, **Home** restart, **R** repaint the plate
with a new seed in the background (cross-faded in when it arrives), **S** save a screenshot,
**F** frames/s overlay, **L** cycle the layers (composite, plate, foreground, depth, shadow),
**Esc** quit. The frame is letterboxed, so resizing the window never distorts it.

The window comes from moderngl-window (pyglet by default; ``backend=`` picks another, or the
``MODERNGL_WINDOW`` environment variable). GL stays on this thread; plates are painted on a
worker thread or process and handed over as pixels.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._validate import check_finite, check_size
from .clock import RealtimeClock
from .errors import ConfigError, HybridSceneError, SceneError
from .plate import Plate
from .scene import Scene

__all__ = ["LAYERS", "PreviewStats", "preview"]

log = logging.getLogger(__name__)

LAYERS = ("composite", "plate", "foreground", "depth", "shadow")
"""What **L** cycles through."""


@dataclasses.dataclass(frozen=True)
class PreviewStats:
    """What a preview measured, from its first frame to its last."""

    frames: int
    """Frames shown."""
    seconds: float
    """Wall-clock seconds from the first frame to the last."""
    frame_ms: dict[str, float]
    """Frame-time percentiles in milliseconds: ``p50``, ``p90``, ``p99``, ``max``."""

    @property
    def fps(self) -> float:
        """Mean frames per second."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """``fps=59.8 frames=600 frame_ms p50=16.7 p90=16.9 p99=17.4 max=21.0``"""
        ms = " ".join(f"{k}={v:.1f}" for k, v in self.frame_ms.items())
        return f"fps={self.fps:.1f} frames={self.frames} frame_ms {ms}"


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


def _text_image(lines: list[str], *, colour: tuple[int, int, int, int], width: int | None = None) -> np.ndarray:
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


def _wrap(message: str, width: int = 90) -> list[str]:
    import textwrap

    out: list[str] = []
    for para in message.splitlines() or [""]:
        out += textwrap.wrap(para, width) or [""]
    return out[:12]


def _regenerate(plate: Plate, seed: int, pool: concurrent.futures.Executor) -> Any:
    """A future of ``plate`` painted again with ``seed`` (the same painter, size and camera)."""
    if plate.source.startswith("procedural:"):
        from .plate.procedural import procedural_plate

        cam = plate.camera
        kwargs: dict[str, Any] = {}
        if cam is not None:
            kwargs = dict(fov_y=cam.fov_y, camera_height=cam.height, horizon=cam.horizon)
        return pool.submit(procedural_plate, plate.source.split(":", 1)[1], size=plate.size, seed=seed, **kwargs)
    if plate.source == "diffusers" and plate.meta.get("model"):
        from .plate.spec import PlateSpec
        from .plate.worker import generate_plate_async

        generated = plate.meta.get("generated_size") or plate.size
        spec = PlateSpec(prompt=plate.prompt or "", model=plate.meta["model"], seed=seed,
                         steps=plate.meta.get("steps"), size=tuple(generated),
                         resize_to=plate.size if tuple(generated) != plate.size else None)
        return generate_plate_async(spec)
    raise SceneError(f"this plate ({plate.source}) has no painter to run again; R works on procedural and AI plates")


class _Preview:
    """The window, its renderer and the state the keys change. Main thread only."""

    def __init__(self, scene: Scene, *, size: tuple[int, int], fps: float, path: Path | None,
                 scene_options: dict[str, Any], backend: str, vsync: bool, title: str,
                 screenshots: Path, paused: bool, samples: int | None) -> None:
        from .gpu.context import check_renderer
        from .gpu.programs import load_program
        from .gpu.targets import OutputTarget
        from .export.driver import FrameRenderer

        self.scene = scene
        self.size = size
        self.fps = fps
        self.path = path
        self.scene_options = scene_options
        self.screenshots = screenshots
        cls = _window_class(backend)
        self.window = cls(title=title, size=size, resizable=True, vsync=vsync, gl_version=(3, 3))
        self.ctx = self.window.ctx
        check_renderer(self.ctx, where="the preview window")
        if samples is None:
            samples = _preview_samples(self.ctx)
        self.renderer = FrameRenderer(self.ctx, size, samples=samples)
        log.info("preview: %dx%d, %dx MSAA", *size, self.renderer.samples)
        self.output = OutputTarget(self.ctx, size)
        self.blit = load_program(self.ctx, "blit")
        self.blit["u_image"].value = 0
        self.vao = self.ctx.vertex_array(self.blit, [])
        self.layer_tex: Any = None
        self.overlay_tex: Any = None
        self.overlay_key: Any = None
        self.clock = RealtimeClock()
        if paused:
            self.clock.pause()
        self.layer = 0
        self.show_stats = False
        self.error: str | None = None
        self.notice: tuple[str, float] | None = None
        self.screenshot_requested = False
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hybridscene-plate")
        self.next_seed = scene.plate.seed or 0 if scene.plate is not None else 0
        self.frame_times: list[float] = []
        self.mtime = self._mtime()
        self.next_check = 0.0
        self.frame_index = 0
        keys = self.window.keys
        self.actions: dict[Any, Callable[[], None]] = {
            keys.SPACE: self.toggle_pause, keys.LEFT: lambda: self.step(-1), keys.RIGHT: lambda: self.step(1),
            keys.HOME: self.restart, keys.R: self.regenerate, keys.S: self.request_screenshot,
            keys.F: self.toggle_stats, keys.L: self.next_layer,
        }
        self.window.key_event_func = self.on_key

    # -- keys ----------------------------------------------------------------------------------
    def on_key(self, key: Any, action: Any, modifiers: Any) -> None:
        if action != self.window.keys.ACTION_PRESS:
            return
        fn = self.actions.get(key)
        if fn is not None:
            fn()

    def toggle_pause(self) -> None:
        if self.clock.paused:
            self.clock.resume()
        else:
            self.clock.pause()
        log.info("preview %s at t=%.3f s", "paused" if self.clock.paused else "playing", self.clock.time())

    def step(self, frames: int) -> None:
        self.clock.pause()
        t = self.clock.time()
        i = round(t * self.fps) + frames  # land on the export's frame grid
        self.clock.seek(max(0.0, i / self.fps))

    def restart(self) -> None:
        self.clock.seek(0.0)

    def regenerate(self) -> None:
        plate = self.scene.plate
        if plate is None:
            self.say("no plate to repaint")
            return
        seed = self.next_seed = max(self.next_seed + 1, (plate.seed or 0) + 1)
        try:
            future = _regenerate(plate, seed, self.pool)
        except HybridSceneError as exc:
            self.say(str(exc))
            return
        self.scene.set_plate(future, crossfade=1.0)
        self.say(f"painting the plate with seed {seed} ...", seconds=1e9)
        log.info("repainting the plate with seed %d", seed)

    def request_screenshot(self) -> None:
        self.screenshot_requested = True

    def toggle_stats(self) -> None:
        self.show_stats = not self.show_stats

    def next_layer(self) -> None:
        self.layer = (self.layer + 1) % len(LAYERS)
        log.info("showing the %s layer", LAYERS[self.layer])

    def say(self, text: str, *, seconds: float = 3.0) -> None:
        self.notice = (text, time.perf_counter() + seconds)

    # -- hot reload ----------------------------------------------------------------------------
    def _mtime(self) -> float | None:
        if self.path is None:
            return None
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def check_reload(self) -> None:
        now = time.perf_counter()
        if self.path is None or now < self.next_check:
            return
        self.next_check = now + 0.25
        mtime = self._mtime()
        if mtime == self.mtime or mtime is None:
            return
        self.mtime = mtime
        from .scenefile import load_scene_file

        try:
            loaded = load_scene_file(self.path, size=self.size, **self.scene_options)
        except HybridSceneError as exc:
            self.error = str(exc)
            log.error("%s", exc)
            return
        self.scene = loaded.scene
        self.error = None
        self.say(f"reloaded {self.path.name}")
        log.info("reloaded %s", self.path)

    # -- drawing -------------------------------------------------------------------------------
    def scene_time(self) -> float:
        return self.clock.time()

    def _layer_image(self, t: float) -> np.ndarray:
        layers = self.renderer.render_layers(self.scene, t)
        name = LAYERS[self.layer]
        if name == "plate":
            return layers.plate
        if name == "foreground":  # straight RGBA over a grey checkerboard
            h, w = layers.foreground.shape[:2]
            yy, xx = np.mgrid[0:h, 0:w]
            checker = np.where(((yy // 16 + xx // 16) % 2)[..., None] == 0, 96, 160).astype(np.float32)
            a = layers.foreground[..., 3:4] / 255.0
            return np.round(layers.foreground[..., :3] * a + checker * (1 - a)).astype(np.uint8)
        if name == "depth":  # nearest surface, foreground or plate: bright = near (inverse depth)
            depth = layers.depth if layers.plate_depth is None else np.minimum(layers.depth, layers.plate_depth)
            finite = np.isfinite(depth)
            inv = np.zeros(depth.shape, np.float32)
            inv[finite] = 1.0 / np.maximum(depth[finite], 1e-6)
            top = float(np.percentile(inv[finite], 99)) if finite.any() else 1.0
            grey = np.round(np.clip(inv / max(top, 1e-9), 0, 1) ** 0.5 * 255).astype(np.uint8)
            return np.repeat(grey[..., None], 3, axis=2)
        shadow = layers.shadow if layers.shadow is not None else np.full(layers.composite.shape[:2], 255, np.uint8)
        return np.repeat(shadow[..., None], 3, axis=2)

    def _upload(self, tex: Any, image: np.ndarray) -> Any:
        h, w, c = image.shape
        if tex is None or tex.size != (w, h) or tex.components != c:
            if tex is not None:
                tex.release()
            tex = self.ctx.texture((w, h), c)
            tex.repeat_x = tex.repeat_y = False
        tex.write(np.ascontiguousarray(image).tobytes())
        return tex

    def _overlay_lines(self, fps: float, frame_ms: float, t: float) -> tuple[list[str], tuple[int, int, int, int]] | None:
        if self.error is not None:
            return ["scene file error (fix it and save; the last good scene keeps running):", *_wrap(self.error)], \
                (255, 120, 110, 255)
        lines = []
        if self.show_stats:
            lines.append(f"{fps:5.1f} frames/s  {frame_ms:5.1f} ms  t={t:6.2f} s  {LAYERS[self.layer]}"
                         f"{'  paused' if self.clock.paused else ''}")
        if self.notice is not None:
            text, until = self.notice
            if self.notice[0].startswith("painting") and not self.scene.waiting_for_plate:
                self.notice = None
            elif time.perf_counter() < until:
                lines.append(text)
            else:
                self.notice = None
        return (lines, (255, 255, 255, 255)) if lines else None

    def draw(self, t: float) -> None:
        """The frame at scene time ``t`` (or the chosen layer), letterboxed into the window."""
        import moderngl

        ctx = self.ctx
        bw, bh = self.window.buffer_size
        # 1. At 1:1, the composite goes straight into the window (no copy).
        if LAYERS[self.layer] == "composite" and (bw, bh) == self.size:
            self.renderer.render_to(self.scene, self.window.fbo, t=t, top_down=False)
            ctx.viewport = (0, 0, bw, bh)
            return
        # Otherwise the frame (or a layer) at the render size, offscreen, then letterboxed.
        if LAYERS[self.layer] == "composite":
            self.renderer.render_to(self.scene, self.output.fbo, t=t, top_down=True)
            image_tex = self.output.texture
        else:
            self.layer_tex = self._upload(self.layer_tex, self._layer_image(t))
            image_tex = self.layer_tex
        # 2. Letterboxed into the window: scaled, never stretched.
        win = self.window.fbo
        win.use()
        ctx.viewport = (0, 0, bw, bh)
        win.clear(0.0, 0.0, 0.0, 1.0)
        w, h = self.size
        scale = min(bw / w, bh / h)
        vw, vh = max(1, round(w * scale)), max(1, round(h * scale))
        ctx.viewport = ((bw - vw) // 2, (bh - vh) // 2, vw, vh)
        image_tex.filter = (moderngl.NEAREST, moderngl.NEAREST) if (vw, vh) == (w, h) else (moderngl.LINEAR, moderngl.LINEAR)
        ctx.disable(moderngl.BLEND | moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        image_tex.use(0)
        self.vao.render(moderngl.TRIANGLES, vertices=3)
        ctx.viewport = (0, 0, bw, bh)

    def draw_overlay(self, t: float, fps: float, frame_ms: float) -> None:
        """Stats, notices and a scene file's error, in the top-left corner."""
        import moderngl

        ctx = self.ctx
        bw, bh = self.window.buffer_size
        over = self._overlay_lines(fps, frame_ms, t)
        if over is not None:
            lines, colour = over
            key = (tuple(lines), colour)
            if key != self.overlay_key:
                self.overlay_tex = self._upload(self.overlay_tex, _text_image(lines, colour=colour))
                self.overlay_key = key
            ow, oh = self.overlay_tex.size
            ctx.viewport = (8, bh - oh - 8, ow, oh)
            ctx.enable(moderngl.BLEND)
            ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA  # Pillow's straight alpha
            self.overlay_tex.use(0)
            self.vao.render(moderngl.TRIANGLES, vertices=3)
            ctx.disable(moderngl.BLEND)
        ctx.viewport = (0, 0, bw, bh)

    def save_screenshot(self) -> Path:
        """The window's content as drawn so far (the frame as the person sees it, before the
        overlay) to a new PNG in the screenshots folder, written atomically."""
        from PIL import Image

        bw, bh = self.window.buffer_size
        data = self.window.fbo.read(viewport=(0, 0, bw, bh), components=3, alignment=1)
        image = np.frombuffer(data, np.uint8).reshape(bh, bw, 3)[::-1]
        self.screenshots.mkdir(parents=True, exist_ok=True)
        stem = self.path.stem if self.path is not None else "hybridscene"
        n = 0
        while (path := self.screenshots / f"{stem}-{n:04d}.png").exists():
            n += 1
        tmp = path.with_name(path.name + ".part")
        Image.fromarray(image).save(tmp, format="PNG")
        os.replace(tmp, path)
        print(f"screenshot: {path}", file=sys.stderr, flush=True)
        self.say(f"saved {path}")
        return path

    def release(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        for tex in (self.layer_tex, self.overlay_tex):
            if tex is not None:
                tex.release()
        self.vao.release()
        self.output.release()
        self.renderer.release()


def preview(
    source: Scene | str | os.PathLike[str],
    *,
    size: tuple[int, int] | str | None = None,
    fps: float | None = None,
    stats: bool = False,
    seconds: float | None = None,
    backend: str = "pyglet",
    vsync: bool = True,
    paused: bool = False,
    screenshots: str | os.PathLike[str] = ".",
    samples: int | None = None,
    seed: int | None = None,
    model: str | None = None,
    prompt: str | None = None,
) -> PreviewStats:
    """Show a scene live in a window until it is closed (Esc, the close button, Ctrl-C or
    SIGTERM).

    Args:
        source: a :class:`Scene`, or a scene file, which is rebuilt whenever it is saved (an
            error in it is shown in the window, which keeps the last good scene).
        size: render size ``(width, height)`` or ``"WxH"`` (the window opens at it and
            letterboxes when resized); default: the file's ``SIZE``, else 1280x720.
        fps: the frame step of left/right and a cap on the frame rate; default: the file's
            ``FPS``, else 30 for stepping and the display's rate (vsync) for showing.
        stats: print ``fps=... frames=... frame_ms p50=... p90=... p99=... max=...`` on exit.
        seconds: close by itself after this long (for scripts and tests).
        backend: the moderngl-window backend: ``pyglet`` (default), ``glfw``, ``pyqt5``,
            ``pyside2``, ``sdl2``, ``pygame2`` (each needs its package).
        vsync: wait for the display's refresh.
        paused: start paused at t = 0.
        screenshots: the folder **S** saves PNGs into.
        samples: MSAA samples (default: ``HYBRIDSCENE_PREVIEW_MSAA``, else the export's 4 on a
            GPU and 1 on a CPU rasteriser such as llvmpipe, where it costs a third of the frame).
        seed: passed to a scene file's ``build_scene(seed=...)`` when it takes it.
        model: passed as ``build_scene(model=...)`` (paint the plate with this model).
        prompt: passed as ``build_scene(prompt=...)``.

    Returns:
        :class:`PreviewStats` of the frames shown.
    """
    from .scenefile import load_scene_file

    # 1. Validate and load (before a window opens).
    if isinstance(source, Scene):
        scene, path, file_size, file_fps = source, None, None, None
    elif isinstance(source, (str, os.PathLike)):
        loaded = load_scene_file(source, size=check_size(size) if size is not None else None,
                                 seed=seed, model=model, prompt=prompt)
        scene, path, file_size, file_fps = loaded.scene, loaded.path, loaded.size, loaded.fps
    else:
        raise SceneError(f"preview() takes a Scene or a scene file path, got {type(source).__name__}")
    size = check_size(size) if size is not None else (file_size or (1280, 720))
    cap = check_finite(fps, "fps", positive=True) if fps is not None else None
    step_fps = cap or file_fps or 30.0
    if seconds is not None:
        check_finite(seconds, "seconds", positive=True)
    # Plates still being painted are not waited for: the placeholder shows, then they fade in.

    # 2. The window (after the scene, so a broken file fails fast); SIGTERM and Ctrl-C close it
    #    like Esc.
    title = f"hybridscene — {path.name}" if path is not None else "hybridscene"
    app = _Preview(scene, size=size, fps=step_fps, path=path,
                   scene_options={"seed": seed, "model": model, "prompt": prompt},
                   backend=backend, vsync=vsync and cap is None, title=title, screenshots=Path(screenshots),
                   paused=paused, samples=samples)
    stop = {"signal": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["signal"] = True

    previous = signal.signal(signal.SIGTERM, on_signal) if _main_thread() else None
    window = app.window
    t_start = time.perf_counter()
    last = t_start
    shown: list[float] = []
    fps_now, ms_now = 0.0, 0.0
    try:
        # 3. The loop: events (in swap_buffers), reload, draw, screenshot, swap, pace.
        while not window.is_closing and not stop["signal"]:
            app.check_reload()
            t = app.scene_time()
            app.draw(t)
            if app.screenshot_requested:  # the frame as shown, without the overlay
                app.screenshot_requested = False
                app.save_screenshot()
            app.draw_overlay(t, fps_now, ms_now)
            window.swap_buffers()
            now = time.perf_counter()
            if cap is not None and now - last < 1.0 / cap:
                time.sleep(1.0 / cap - (now - last))
                now = time.perf_counter()
            shown.append(now - last)
            last = now
            recent = shown[-30:]
            ms_now = 1000.0 * sum(recent) / len(recent)
            fps_now = 1000.0 / ms_now if ms_now > 0 else 0.0
            if seconds is not None and now - t_start >= seconds:
                break
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        app.release()
        try:
            window.destroy()
        except Exception as exc:  # a window the toolkit already tore down
            log.debug("window destroy: %s", exc)
    result = _stats(shown)
    if stats:
        print(result.line(), flush=True)
    return result


def _preview_samples(ctx: Any) -> int:
    """The preview's MSAA: the setting, else the export's on a GPU and none on a CPU rasteriser."""
    from .config import get_settings
    from .gpu.context import is_software_renderer

    settings = get_settings()
    if settings.preview_msaa is not None:
        return settings.preview_msaa
    return 1 if is_software_renderer(ctx) else settings.msaa


def _stats(frame_seconds: list[float]) -> PreviewStats:
    if not frame_seconds:
        return PreviewStats(frames=0, seconds=0.0, frame_ms={"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0})
    ms = np.asarray(frame_seconds) * 1000.0
    pct = {f"p{q}": round(float(np.percentile(ms, q)), 2) for q in (50, 90, 99)}
    pct["max"] = round(float(ms.max()), 2)
    return PreviewStats(frames=len(ms), seconds=float(sum(frame_seconds)), frame_ms=pct)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()

