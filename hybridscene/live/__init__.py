"""The live preview: a scene (or a scene file, hot-reloaded) in a window, composited live.

    hybridscene preview examples/fireflies.py --stats
    hs.preview(scene)

Keys: **space** pause, **left/right** step a frame, **Home** restart, **R** repaint the plate
with a new seed in the background (cross-faded in when it arrives), **S** save a screenshot,
**F** frames/s overlay, **L** cycle the layers (composite, plate, foreground, depth, shadow),
**Esc** quit. The frame is letterboxed, so resizing the window never distorts it.

The window comes from moderngl-window (pyglet by default; ``backend=`` picks another, or the
``MODERNGL_WINDOW`` environment variable). GL stays on this thread; plates are painted on a
worker thread or process and handed over as pixels.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any


from .._validate import check_finite, check_size
from ..config import check_render_scale
from ..scene import Scene
from .app import LAYERS, PreviewApp, load_source
from .server import Server, serve
from .stats import PreviewStats, frame_stats

__all__ = ["LAYERS", "PreviewStats", "Server", "preview", "serve"]

log = logging.getLogger(__name__)


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
    render_scale: float | str | None = None,
) -> PreviewStats:
    """Show a scene live in a window until it is closed (Esc, the close button, Ctrl-C or
    SIGTERM).

    Args:
        source: a [`Scene`][hybridscene.Scene], or a scene file, which is rebuilt whenever it is saved (an
            error in it is shown in the window, which keeps the last good scene).
        size: render size ``(width, height)`` or ``"WxH"`` (the window opens at it and
            letterboxes when resized); default: the file's ``SIZE``, else 1280x720.
        fps: the frame step of left/right and a cap on the frame rate; default: the file's
            ``FPS``, else 30 for stepping and the display's rate (vsync) for showing.
        stats: log ``fps=... frames=... frame_ms p50=... p90=... p99=... max=...`` (at INFO) on
            exit; the returned [`PreviewStats`][hybridscene.PreviewStats] has the same figures (``hybridscene preview
            --stats`` prints its ``line()``).
        seconds: close by itself this long after the first frame is shown (for scripts and
            tests; the first frame's one-time work, such as compiling shaders and building the
            plate's environment light, does not count).
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
        render_scale: ``"auto"`` (default: ``HYBRIDSCENE_PREVIEW_SCALE``, else ``"auto"``)
            holds the frame rate (``fps``, else the file's, else 30) by drawing frames at a
            lower scale, filtered up to the window, while they take too long (down to 0.5 of
            each side, back up when there is time again; `hybridscene.live.resolution`); a
            number in 0.25..1 fixes the scale (1: always full size). Paused frames and
            screenshots are drawn at full size.

    Returns:
        [`PreviewStats`][hybridscene.PreviewStats] of the frames shown.
    """
    from ..sinks.window import WindowSink

    # 1. Validate and load (before a window opens).
    if render_scale is not None:
        render_scale = check_render_scale(render_scale, "render_scale")
    scene, path, file_size, file_fps = load_source(source, size=size, seed=seed, model=model, prompt=prompt,
                                                   caller="preview")
    size = check_size(size) if size is not None else (file_size or (1280, 720))
    cap = check_finite(fps, "fps", positive=True) if fps is not None else None
    step_fps = cap or file_fps or 30.0
    if seconds is not None:
        check_finite(seconds, "seconds", positive=True)

    # Plates still being painted are not waited for: the placeholder shows, then they fade in.

    # 2. The window (after the scene, so a broken file fails fast); SIGTERM and Ctrl-C close it
    #    like Esc.
    title = f"hybridscene — {path.name}" if path is not None else "hybridscene"
    window = WindowSink(size, title=title, backend=backend, vsync=vsync and cap is None)
    try:
        app = PreviewApp(scene, window, fps=step_fps, path=path,
                         scene_options={"seed": seed, "model": model, "prompt": prompt},
                         screenshots=Path(screenshots), paused=paused, samples=samples,
                         render_scale=render_scale, target_fps=step_fps)
    except BaseException:
        window.release()
        raise
    stop = {"signal": False}
    waits_for_display = vsync and cap is None and app.resolution.auto

    def on_signal(signum: int, frame: Any) -> None:
        stop["signal"] = True

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_signal) if main_thread else None
    t_start = time.perf_counter()
    last = work_start = t_start
    shown: list[float] = []
    scales: list[float] = []
    fps_now, ms_now = 0.0, 0.0
    try:
        # 3. The loop: events (in swap), reload, draw, screenshot, overlay, swap, pace.
        while not window.is_closing and not stop["signal"]:
            app.check_reload()
            t = app.scene_time()
            app.draw(t)
            if app.screenshot_requested:  # the frame as shown, without the overlay
                app.screenshot_requested = False
                app.save_screenshot()
            over = app.overlay_lines(fps_now, ms_now, t)
            if over is not None:
                window.overlay(*over)
            if waits_for_display:  # the frame's own work, without the wait for the display's refresh
                window.gl.mgl.finish()
                app.frame_done((time.perf_counter() - work_start) * 1000.0)
            window.swap()
            if waits_for_display:  # (a driver may return from the swap at once and wait in the next command)
                window.gl.mgl.finish()
            now = time.perf_counter()
            work_start = now
            if not waits_for_display:
                app.frame_done((now - last) * 1000.0)  # the frame's own time (before the cap's sleep)
            if cap is not None and now - last < 1.0 / cap:
                time.sleep(1.0 / cap - (now - last))
                now = time.perf_counter()
            shown.append(now - last)
            scales.append(app.drawn_scale)
            last = now
            recent = shown[-30:]
            ms_now = 1000.0 * sum(recent) / len(recent)
            fps_now = 1000.0 / ms_now if ms_now > 0 else 0.0
            if len(shown) == 1:
                t_start = now  # the first frame is on screen: its one-time work is done
            if seconds is not None and now - t_start >= seconds:
                break
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        app.release()
        window.release()
    result = frame_stats(shown, scales)
    if stats:
        log.info("%s", result.line())
    return result
