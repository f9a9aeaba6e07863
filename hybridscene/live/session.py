"""The render side of `hybridscene serve`: one thread owns the GL context, renders the scene at
its frame rate with a `RealtimeClock`, applies the controls the web page sends (queued, so GL is
only ever touched from that thread), reloads a saved scene file, and publishes the newest frame
into a single slot. Readers wait for a frame newer than the one they last took; nothing is
queued per reader, so a slow reader only ever misses frames and never slows the renderer."""

from __future__ import annotations

import concurrent.futures
import contextvars
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..clock import RealtimeClock, frame_time
from ..config import get_settings
from ..errors import ConfigError, HybridSceneError
from ..scene import Scene
from ..scene.overscan import cover_camera_path
from .app import LAYERS, PREVIEW_SPAN, SceneFileWatch, _regenerate, last_good_frame, layer_image, preview_samples
from .resolution import RenderScale, scaled_renderer

__all__ = ["SERVE_LAYERS", "Frame", "RenderSession"]

log = logging.getLogger(__name__)

SERVE_LAYERS = (*LAYERS, "normals", "ids")
"""The page's layers: the window's, and the ``normals`` and ``ids`` render passes."""


@dataclasses.dataclass(frozen=True)
class Frame:
    """One published frame: ``(H, W, 3) uint8`` RGB, top row first; drawn at ``scale`` of the
    session's size (below 1 while playing behind the frame rate: dynamic resolution)."""

    counter: int
    image: np.ndarray
    time: float
    layer: str
    scale: float = 1.0


class RenderSession:
    """The scene, its clock and its controls on a render thread of their own (see the module).

    ``render_scale`` (``"auto"``, or a fixed scale in 0.25..1; default: the
    ``HYBRIDSCENE_PREVIEW_SCALE`` setting, else ``"auto"``): as the window's
    (`hybridscene.live.resolution`), frames drawn while playing come out below full size when
    the renderer cannot hold ``fps`` (the page shows them at full size, filtered up); paused
    frames, the other layers and screenshots are drawn at full size."""

    def __init__(self, scene: Scene, *, size: tuple[int, int], fps: float, path: Path | None = None,
                 scene_options: dict[str, Any] | None = None, paused: bool = False,
                 samples: int | None = None, render_scale: float | str | None = None) -> None:
        self.scene = scene
        self.size = size
        self.fps = fps
        self.path = path
        self.scene_options = scene_options or {}
        self.samples = samples
        self.clock = RealtimeClock()
        if paused:
            self.clock.pause()
        self.layer = 0
        self.error: str | None = None
        self.scene_error: str | None = None
        self.notice: str | None = None
        self.last_good: float | None = None
        self.frame_seconds: list[float] = []
        self.frame_scales: list[float] = []  # the scale each of frame_seconds' frames was drawn at
        self.resolution = RenderScale(get_settings().preview_scale if render_scale is None else render_scale,
                                      target_fps=fps)
        self.drawn_scale = 1.0  # the scale of the last frame drawn
        self._judge = False  # whether the last frame counts for the render scale
        self._renderer: Any = None  # the full-size FrameRenderer (render thread only)
        self._scaled: Any = None  # ... and the one below full size, while the scale is below 1
        self._fps_now = 0.0
        self._ms_now = 0.0
        self._render_ms = 0.0
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._stop = threading.Event()
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._watch = SceneFileWatch(self.path)
        self._covered: Any = None
        self.next_seed = (scene.plate.seed or 0) if scene.plate is not None else 0
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hybridscene-plate")
        context = contextvars.copy_context()  # plate_defaults() of the caller hold for reloads too
        self._thread = threading.Thread(target=context.run, args=(self._run,), name="hybridscene-render",
                                        daemon=True)

    # -- life ----------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Start the render thread and wait until the GL context and renderer exist."""
        self._thread.start()
        self._started.wait(timeout)
        if self._start_error is not None:
            raise self._start_error

    def close(self) -> None:
        """Stop rendering and release GL (on the render thread); wakes every waiting reader."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(10.0)
        self._apply_commands(cancel=True)  # any sent after the thread's last look
        self.pool.shutdown(wait=False, cancel_futures=True)

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    # -- readers (any thread) ------------------------------------------------------------------
    def wait_frame(self, after: int, timeout: float = 5.0) -> Frame | None:
        """The newest frame once its counter is above ``after`` (``None`` on timeout or close)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._stop.is_set():
                frame = self._frame
                if frame is not None and frame.counter > after:
                    return frame
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
        return None

    def latest(self) -> Frame | None:
        with self._cond:
            return self._frame

    def state(self) -> dict[str, Any]:
        frame = self._frame
        return {"playing": not self.clock.paused, "time": round(self.clock.time(), 4),
                "frame": int(round(self.clock.time() * self.fps)), "fps": round(self._fps_now, 2),
                "frame_ms": round(self._ms_now, 2),
                "render_ms": round(self._render_ms, 2), "layer": SERVE_LAYERS[self.layer], "layers": list(SERVE_LAYERS),
                "error": self.error, "notice": self.notice, "size": list(self.size), "target_fps": self.fps,
                "scale": frame.scale if frame is not None else 1.0, "render_scale": "auto" if self.resolution.auto else self.resolution.scale,
                "counter": frame.counter if frame is not None else 0}

    def command(self, action: str, **args: Any) -> Any:
        """Run a control on the render thread and return its result (raises `ConfigError` for an
        unknown action or a bad argument)."""
        return self._submit(self._action(action, args))

    def full_frame(self, t: float) -> np.ndarray:
        """The composite at scene time ``t`` drawn at full size, on the render thread (a
        screenshot of a frame published below it)."""
        return self._submit(lambda: np.asarray(self._renderer.render_frame(self.scene, t)))

    def _submit(self, fn: Callable[[], Any]) -> Any:
        if self._stop.is_set():
            raise concurrent.futures.CancelledError("the session is closed")
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._commands.put((fn, future))
        with self._cond:
            self._cond.notify_all()
        return future.result(timeout=30.0)

    def _action(self, action: str, args: dict[str, Any]) -> Callable[[], Any]:
        if action == "step":
            frames = _number(args.get("frames", 1), "frames", int)
            return lambda: self.step(frames)
        if action == "seek":
            t = _number(args.get("t"), "t", float)
            if t < 0:
                raise ConfigError(f"seek t must be >= 0 seconds, got {t}")
            return lambda: self.clock.seek(t)
        if action == "layer":
            name = args.get("name")
            if name not in SERVE_LAYERS:
                raise ConfigError(f"unknown layer {name!r}; use one of {', '.join(SERVE_LAYERS)}")
            return lambda: setattr(self, "layer", SERVE_LAYERS.index(name))
        simple = {"play": self.play, "pause": self.clock.pause, "toggle": self.toggle,
                  "restart": lambda: self.clock.seek(0.0), "regenerate": self.regenerate,
                  "next_layer": lambda: setattr(self, "layer", (self.layer + 1) % len(SERVE_LAYERS))}
        if action not in simple:
            raise ConfigError(f"unknown action {action!r}; use one of {', '.join([*simple, 'step', 'seek', 'layer'])}")
        return simple[action]

    # -- controls (render thread) --------------------------------------------------------------
    def play(self) -> None:
        if self.scene_error is not None:  # resuming tries the scene again
            self.error = self.scene_error = None
        self.clock.resume()

    def toggle(self) -> None:
        if self.clock.paused:
            self.play()
        else:
            self.clock.pause()

    def step(self, frames: int) -> None:
        self.clock.pause()
        i = round(self.clock.time() * self.fps) + frames  # the export's frame grid
        self.clock.seek(frame_time(max(0, i), self.fps))

    def regenerate(self) -> str:
        plate = self.scene.plate
        if plate is None:
            self.notice = "no plate to repaint"
            return self.notice
        seed = self.next_seed = max(self.next_seed + 1, (plate.seed or 0) + 1)
        try:
            future = _regenerate(plate, seed, self.pool)
        except HybridSceneError as exc:
            self.notice = str(exc)
            return self.notice
        self.scene.set_plate(future, crossfade=1.0)  # polled each frame: never waited for
        self.notice = f"painting the plate with seed {seed} ..."
        log.info("repainting the plate with seed %d", seed)
        return self.notice

    # -- the render thread ---------------------------------------------------------------------
    def _run(self) -> None:
        from ..compose.frame import FrameRenderer
        from ..gpu.context import create_context

        try:
            gl = create_context()
            renderer = self._renderer = FrameRenderer(gl, self.size, samples=self.samples if self.samples is not None
                                                      else preview_samples(gl), edge_aa=get_settings().preview_edge_aa)
            self._cover()
        except BaseException as exc:  # reported by start()
            self._start_error = exc
            self._stop.set()
            self._started.set()
            return
        self._started.set()
        counter = 0
        last = time.perf_counter()
        try:
            while not self._stop.is_set():
                self._apply_commands()
                self._check_reload()
                t = self.clock.time()
                began = time.perf_counter()
                image = self._draw(renderer, t)
                self._render_ms = 1000.0 * (time.perf_counter() - began)
                if self._judge and self.error is None:  # (a paused frame, a layer: not judged)
                    self.resolution.update(self._render_ms)
                if image is not None and not self._unchanged(image):
                    counter += 1
                    with self._cond:
                        drawn_at = t if self.last_good is None else self.last_good  # (the last good time after an error)
                        self._frame = Frame(counter, image, drawn_at, SERVE_LAYERS[self.layer], self.drawn_scale)
                        self._cond.notify_all()
                if self.notice and self.notice.startswith("painting") and not self.scene.waiting_for_plate:
                    self.notice = None
                now = time.perf_counter()
                wait = 1.0 / self.fps - (now - last)
                if wait > 0:  # pace, but wake for a control at once
                    with self._cond:
                        self._cond.wait_for(lambda: not self._commands.empty() or self._stop.is_set(), wait)
                    now = time.perf_counter()
                self.frame_seconds.append(now - last)
                self.frame_scales.append(self.drawn_scale)
                del self.frame_seconds[:-100_000], self.frame_scales[:-100_000]
                last = now
                recent = self.frame_seconds[-30:]
                self._ms_now = 1000.0 * sum(recent) / len(recent)
                self._fps_now = 1000.0 / self._ms_now if self._ms_now > 0 else 0.0
        except BaseException as exc:  # a bug, not a scene error: stop (serve() returns), say why
            log.exception("the render thread stopped")
            self.error = f"the renderer stopped: {exc}"
        finally:
            self._stop.set()
            with self._cond:
                self._cond.notify_all()
            self._apply_commands(cancel=True)
            if self._scaled is not None:
                self._scaled.release()
            renderer.release()
            gl.release()

    def _unchanged(self, image: np.ndarray) -> bool:
        """Paused on the same picture: nothing new to send (a new reader still gets the last)."""
        frame = self._frame
        return (self.clock.paused and frame is not None and frame.layer == SERVE_LAYERS[self.layer]
                and frame.image.shape == image.shape and np.array_equal(frame.image, image))

    def _apply_commands(self, cancel: bool = False) -> None:
        while True:
            try:
                fn, future = self._commands.get_nowait()
            except queue.Empty:
                return
            if cancel:
                future.cancel()
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

    def _cover(self) -> None:
        if self.scene.plate is not self._covered and not self.scene.waiting_for_plate:
            cover_camera_path(self.scene, self.size, [0.0, PREVIEW_SPAN])
            self._covered = self.scene.plate

    def _draw(self, renderer: Any, t: float) -> np.ndarray | None:
        """The chosen layer at ``t``; a failing scene pauses on its last good frame (as the window)."""
        return last_good_frame(self, lambda at: self._render(renderer, at), t)[1]

    def _render(self, renderer: Any, t: float) -> np.ndarray:
        self._cover()
        name = SERVE_LAYERS[self.layer]
        # Below full size while playing (dynamic resolution); paused frames and layers at full size.
        self._judge = not self.clock.paused and name == "composite"
        scale = self.resolution.scale
        if self._judge and scale < 1.0:
            self._scaled = scaled_renderer(renderer, self._scaled, scale)
            self.drawn_scale = scale
            return np.asarray(self._scaled.render_frame(self.scene, t))
        self.drawn_scale = 1.0
        if self._judge and self._scaled is not None:  # back at full size while playing: its targets go
            self._scaled.release()
            self._scaled = None
        if name == "composite":
            return np.asarray(renderer.render_frame(self.scene, t))
        if name in ("normals", "ids"):
            return pass_image(renderer.render_passes(self.scene, t, passes=(name,)).passes[name])
        return np.ascontiguousarray(layer_image(renderer, self.scene, name, t))

    def _check_reload(self) -> None:
        if not self._watch.changed():
            return
        from ..scenefile import load_scene_file

        try:
            loaded = load_scene_file(self.path, size=self.size, **self.scene_options)
        except HybridSceneError as exc:
            self.error = str(exc)  # the last good scene keeps running
            log.error("%s", exc)
            return
        self.scene = loaded.scene
        self._covered = None
        self._cover()
        if self.scene_error is not None:
            self.scene_error = None
            self.clock.resume()
        self.error = None
        self.last_good = None
        self.notice = f"reloaded {self.path.name}"
        log.info("reloaded %s", self.path)


def _number(value: Any, name: str, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return number


def pass_image(array: np.ndarray) -> np.ndarray:
    """An ``(H, W, 3) uint8`` view of the ``normals`` pass (``0.5 + 0.5 n``, black where empty)
    or the ``ids`` pass (a steady colour per node id, black for none)."""
    if array.ndim == 3:
        empty = ~np.any(array != 0, axis=2, keepdims=True)
        return np.where(empty, 0, np.round((0.5 + 0.5 * array) * 255)).clip(0, 255).astype(np.uint8)
    ids = array.astype(np.uint64)
    rgb = np.stack([(ids * k) % 200 + 55 for k in (2654435761, 2246822519, 3266489917)], axis=2)
    return np.where((ids == 0)[..., None], 0, rgb).astype(np.uint8)
