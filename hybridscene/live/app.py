"""The preview's controller: the scene on screen, its clock and the state the keys change
(pause, step, restart, repaint the plate, screenshot, stats, layers), hot reload of a scene
file, and the CPU views of the layers. Main thread only; the window is a
`WindowSink`, the frames come from the shared
`FrameRenderer`."""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..clock import RealtimeClock, frame_time
from ..compose.frame import FrameRenderer
from ..config import get_settings
from ..errors import HybridSceneError, SceneError
from ..gpu.context import GLContext
from ..plate import Plate
from ..scene import Scene
from ..scene.overscan import cover_camera_path
from ..sinks.window import WindowSink
from .resolution import RenderScale, scaled_renderer

__all__ = ["LAYERS", "PreviewApp", "layer_image"]

log = logging.getLogger(__name__)

LAYERS = ("composite", "plate", "foreground", "depth", "shadow")
"""What **L** cycles through."""

PREVIEW_SPAN = 10.0
"""Seconds of a scene moved by ``on_frame`` callbacks that the preview keeps inside the plate
(`hybridscene.scene.overscan`; keyframed cameras are covered over all their keys)."""


def _wrap(message: str, width: int = 90) -> list[str]:
    import textwrap

    out: list[str] = []
    for para in message.splitlines() or [""]:
        out += textwrap.wrap(para, width) or [""]
    return out[:12]


def _regenerate(plate: Plate, seed: int, pool: concurrent.futures.Executor) -> Any:
    """A future of ``plate`` painted again with ``seed`` (the same painter, size and camera)."""
    if plate.source.startswith("procedural:"):
        from ..plate.procedural import procedural_plate

        cam = plate.camera
        kwargs: dict[str, Any] = {}
        if cam is not None:
            kwargs = dict(fov_y=cam.fov_y, camera_height=cam.height, horizon=cam.horizon)
        return pool.submit(procedural_plate, plate.source.split(":", 1)[1], size=plate.size, seed=seed, **kwargs)
    if plate.source == "diffusers" and plate.meta.get("model"):
        from ..plate.spec import PlateSpec
        from ..plate.worker import generate_plate_async

        meta = plate.meta
        generated = meta.get("generated_size") or plate.size
        spec = PlateSpec(prompt=plate.prompt or "", model=meta["model"], seed=seed, steps=meta.get("steps"),
                         guidance=meta.get("guidance"), negative_prompt=meta.get("negative_prompt"),
                         vae=meta.get("vae"), size=tuple(generated),
                         resize_to=plate.size if tuple(generated) != plate.size else None)
        return generate_plate_async(spec)
    raise SceneError(f"this plate ({plate.source}) has no painter to run again; R works on procedural and AI plates")


class SceneFileWatch:
    """A scene file polled for saves (its modification time, at most every `interval` seconds),
    for the window's and the server's hot reload."""

    def __init__(self, path: Path | None, interval: float = 0.25) -> None:
        self.path = path
        self.interval = interval
        self._next = 0.0
        self._mtime = self._stat()

    def _stat(self) -> int | None:
        if self.path is None:
            return None
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def changed(self) -> bool:
        """True once after each save (a file that vanished counts as unchanged)."""
        now = time.perf_counter()
        if self.path is None or now < self._next:
            return False
        self._next = now + self.interval
        mtime = self._stat()
        if mtime == self._mtime or mtime is None:
            return False
        self._mtime = mtime
        return True


def load_source(source: Any, *, size: Any, seed: Any, model: Any, prompt: Any,
                caller: str) -> tuple[Scene, Path | None, tuple[int, int] | None, float | None]:
    """``(scene, path, the file's size, the file's fps)`` of what `preview` or `serve` was given:
    a Scene, or a scene file loaded with the options."""
    import os

    from .._validate import check_size
    from ..scenefile import load_scene_file

    if isinstance(source, Scene):
        return source, None, None, None
    if isinstance(source, (str, os.PathLike)):
        loaded = load_scene_file(source, size=check_size(size) if size is not None else None,
                                 seed=seed, model=model, prompt=prompt)
        return loaded.scene, loaded.path, loaded.size, loaded.fps
    raise SceneError(f"{caller}() takes a Scene or a scene file path, got {type(source).__name__}")


class PreviewApp:
    """The window's content and the state the keys change. Main thread only."""

    def __init__(self, scene: Scene, window: WindowSink, *, fps: float, path: Path | None,
                 scene_options: dict[str, Any], screenshots: Path, paused: bool, samples: int | None,
                 render_scale: float | str | None = None, target_fps: float = 30.0) -> None:
        self.scene = scene
        self.window = window
        self.size = window.size
        self.fps = fps
        self.path = path
        self.scene_options = scene_options
        self.screenshots = screenshots
        gl = window.gl
        if samples is None:
            samples = preview_samples(gl)
        settings = get_settings()
        self.renderer = FrameRenderer(gl, self.size, samples=samples, edge_aa=settings.preview_edge_aa)
        self.resolution = RenderScale(settings.preview_scale if render_scale is None else render_scale,
                                      target_fps=target_fps)
        self._scaled: FrameRenderer | None = None  # the frame below full size (dynamic resolution)
        self._judge = False  # whether the last frame drawn counts for the render scale (see frame_done)
        self.drawn_scale = 1.0  # the scale the last frame was drawn at
        log.info("preview: %dx%d, %dx MSAA, render scale %s (holding %.0f frames/s)", *self.size,
                 self.renderer.samples, "auto" if self.resolution.auto else self.resolution.scale, target_fps)
        self.clock = RealtimeClock()
        if paused:
            self.clock.pause()
        self.layer = 0
        self.show_stats = False
        self.error: str | None = None
        self.scene_error: str | None = None  # the scene failed to draw (cleared by a reload or resume)
        self.last_good: float | None = None  # the last scene time that drew
        self.notice: tuple[str, float] | None = None
        self.screenshot_requested = False
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hybridscene-plate")
        self.next_seed = scene.plate.seed or 0 if scene.plate is not None else 0
        self.watch = SceneFileWatch(path)
        keys = window.window.keys
        self.actions: dict[Any, Callable[[], None]] = {
            keys.SPACE: self.toggle_pause, keys.LEFT: lambda: self.step(-1), keys.RIGHT: lambda: self.step(1),
            keys.HOME: self.restart, keys.R: self.regenerate, keys.S: self.request_screenshot,
            keys.F: self.toggle_stats, keys.L: self.next_layer,
        }
        window.window.key_event_func = self.on_key
        self._covered: Any = None
        self._cover()

    def _cover(self) -> None:
        """Keep the camera's path inside the plate (the scene's ``overscan``), once per plate
        shown: the scene's keyframes and its first `PREVIEW_SPAN` seconds."""
        if self.scene.plate is not self._covered and not self.scene.waiting_for_plate:
            cover_camera_path(self.scene, self.size, [0.0, PREVIEW_SPAN])
            self._covered = self.scene.plate

    # -- keys ----------------------------------------------------------------------------------
    def on_key(self, key: Any, action: Any, modifiers: Any) -> None:
        if action != self.window.window.keys.ACTION_PRESS:
            return
        fn = self.actions.get(key)
        if fn is not None:
            fn()

    def toggle_pause(self) -> None:
        if self.scene_error is not None:  # resuming tries the scene again
            self.error = self.scene_error = None
        if self.clock.paused:
            self.clock.resume()
        else:
            self.clock.pause()
        log.info("preview %s at t=%.3f s", "paused" if self.clock.paused else "playing", self.clock.time())

    def step(self, frames: int) -> None:
        self.clock.pause()
        t = self.clock.time()
        i = round(t * self.fps) + frames  # land on the export's frame grid
        self.clock.seek(frame_time(max(0, i), self.fps))

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
    def check_reload(self) -> None:
        if not self.watch.changed():
            return
        from ..scenefile import load_scene_file

        try:
            loaded = load_scene_file(self.path, size=self.size, **self.scene_options)
        except HybridSceneError as exc:
            self.error = str(exc)
            log.error("%s", exc)
            return
        self.scene = loaded.scene
        self._covered = None  # a new scene (its camera unzoomed), even when it shows the same plate object
        self._cover()
        if self.scene_error is not None:  # paused by the failure: play the fixed scene
            self.scene_error = None
            self.clock.resume()
        self.error = None
        self.last_good = None
        self.say(f"reloaded {self.path.name}")
        log.info("reloaded %s", self.path)

    # -- drawing -------------------------------------------------------------------------------
    def scene_time(self) -> float:
        return self.clock.time()

    def _layer_image(self, t: float) -> np.ndarray:
        return layer_image(self.renderer, self.scene, LAYERS[self.layer], t)

    def overlay_lines(self, fps: float, frame_ms: float, t: float) -> tuple[list[str], tuple[int, int, int, int]] | None:
        if self.error is not None:
            head = ("scene error (fix the file and save, or press space to try again):" if self.scene_error
                    else "scene file error (fix it and save; the last good scene keeps running):")
            return [head, *_wrap(self.error)], (255, 120, 110, 255)
        lines = []
        if self.show_stats:
            scale = f"  scale {self.drawn_scale:.2f}" if self.drawn_scale < 1.0 else ""
            lines.append(f"{fps:5.1f} frames/s  {frame_ms:5.1f} ms  t={t:6.2f} s  {LAYERS[self.layer]}{scale}"
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
        """The frame at scene time ``t`` (or the chosen layer), letterboxed into the window.

        When the scene fails at ``t`` (an ``on_frame`` callback raises, say), the error goes to
        the overlay, the clock pauses at the last time that drew, and that frame stays on screen
        until the file is fixed and saved (or space resumes, to try again)."""
        drawn, _ = last_good_frame(self, self._draw, t)
        if not drawn:
            self.window.clear()

    def frame_done(self, ms: float) -> None:
        """The last frame took ``ms`` (drawn and shown): the render scale for the next one."""
        if self._judge and self.error is None:  # (a paused frame, a screenshot, a layer: not judged)
            self.resolution.update(ms)

    def _draw(self, t: float) -> None:
        window = self.window
        self._cover()  # a plate that arrived (an AI plate after its placeholder)
        # Below full size while playing (dynamic resolution), filtered up into the window; a
        # paused frame, a screenshot and the other layers at full size.
        scale = self.resolution.scale
        self._judge = not self.clock.paused and not self.screenshot_requested and LAYERS[self.layer] == "composite"
        if scale < 1.0 and self._judge:
            renderer = self._scaled = scaled_renderer(self.renderer, self._scaled, scale)
            renderer.render_to(self.scene, renderer.output.fbo, t=t, top_down=True)
            window.show(renderer.output.texture)
            self.drawn_scale = scale
            return
        self.drawn_scale = 1.0
        if self._judge and self._scaled is not None:  # back at full size while playing: its targets go
            self._scaled.release()
            self._scaled = None
        # At 1:1, the composite goes straight into the window (no copy).
        if LAYERS[self.layer] == "composite" and window.at_frame_size():
            self.renderer.render_to(self.scene, window.fbo, t=t, top_down=False)
            self.renderer.gl.mgl.viewport = (0, 0, *window.buffer_size)
            return
        # Otherwise the frame (or a layer) at the render size, offscreen, then letterboxed.
        if LAYERS[self.layer] == "composite":
            self.renderer.render_to(self.scene, self.renderer.output.fbo, t=t, top_down=True)
            window.show(self.renderer.output.texture)
        else:
            window.show(window.upload(self._layer_image(t)))

    def save_screenshot(self) -> Path:
        """The window's content as the person sees it (before the overlay) to a new PNG."""
        path = self.window.screenshot(self.screenshots, self.path.stem if self.path is not None else "hybridscene")
        self.say(f"saved {path}")
        return path

    def release(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self._scaled is not None:
            self._scaled.release()
        self.renderer.release()


def last_good_frame(owner: Any, draw: Callable[[float], Any], t: float) -> tuple[bool, Any]:
    """``draw(t)``, or, when the scene fails there (a `HybridSceneError`), the error logged once
    and kept in ``owner.error``, ``owner.clock`` paused and ``draw`` at ``owner.last_good``
    instead (the window's and the browser session's behaviour). Returns ``(drawn, draw's
    result)``; ``(False, None)`` when nothing could be drawn."""
    try:
        result = draw(t)
        owner.last_good = t
        return True, result
    except HybridSceneError as exc:
        if owner.scene_error != str(exc):
            log.error("%s", exc)
        owner.error = owner.scene_error = str(exc)
    owner.clock.pause()
    if owner.last_good is not None and owner.last_good != t:
        owner.clock.seek(owner.last_good)
        try:
            return True, draw(owner.last_good)
        except HybridSceneError:
            owner.last_good = None
    return False, None


def preview_samples(gl: GLContext) -> int:
    """The preview's MSAA: the setting, else the export's on a GPU and none on a CPU rasteriser."""
    settings = get_settings()
    if settings.preview_msaa is not None:
        return settings.preview_msaa
    return 1 if gl.software else settings.msaa


def layer_image(renderer: FrameRenderer, scene: Scene, name: str, t: float) -> np.ndarray:
    """The ``(H, W, 3) uint8`` view of one layer of ``LAYERS`` (not ``composite``) at time ``t``:
    the plate, the foreground over a grey checkerboard, inverse depth, or the shadow."""
    layers = renderer.render_layers(scene, t)
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
