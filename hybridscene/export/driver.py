"""Frames from scenes: :class:`FrameRenderer` (one frame on a context you own), :func:`frames`
(an iterator of numpy frames) and :func:`render` (frames into a file, with progress).

The same :meth:`FrameRenderer.render_to` serves offscreen exports and (later) the window.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._validate import check_finite, check_size
from ..clock import FixedStepClock
from ..compose import Compositor
from ..compose.surface import PlateSurface, uses_surface
from ..config import get_settings
from ..errors import Cancelled, ConfigError, SceneError
from ..gpu.context import create_context, is_software_renderer, make_current
from ..gpu.renderer import SceneRenderer
from ..gpu.targets import ForegroundTarget, OutputTarget
from ..scene import Scene

__all__ = ["FrameLayers", "FrameRenderer", "Progress", "ProgressCallback", "RenderResult", "frames", "render"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Progress:
    """What a progress callback receives after each frame."""

    frame: int
    """Frames done so far (1 after the first)."""
    total: int
    """Frames in the whole render."""
    t: float
    """Scene time of the frame just done, in seconds."""
    elapsed: float
    """Wall-clock seconds since the render started."""


ProgressCallback = Callable[[Progress], Any]
"""Called after every frame; return ``False`` to cancel (anything else continues)."""


@dataclasses.dataclass(frozen=True)
class RenderResult:
    """What :func:`render` wrote."""

    path: str | None
    """The output path (``None`` when the sink was an object)."""
    frames: int
    """Number of frames written."""
    fps: float
    """Frames per second of the output."""
    size: tuple[int, int]
    """``(width, height)`` in pixels."""
    seconds: float
    """Wall-clock seconds the render took."""

    @property
    def duration(self) -> float:
        """Length of the output in seconds."""
        return self.frames / self.fps


@dataclasses.dataclass(frozen=True)
class FrameLayers:
    """One frame split for a compositor (Nuke, OpenImageIO, ...); arrays top row first.

    ``composite == foreground over (plate x shadow)`` in linear light, with the foreground
    premultiplied (PNG stores it straight; linearise, then premultiply).
    """

    composite: np.ndarray
    """``(H, W, 3) uint8`` sRGB: the final frame."""
    plate: np.ndarray
    """``(H, W, 3) uint8`` sRGB: the plate as fitted to the frame, before shadows."""
    plate_depth: np.ndarray | None
    """``(H, W) float32`` metres (``inf`` sky), the plate's depth fitted like the plate."""
    foreground: np.ndarray
    """``(H, W, 4) uint8`` sRGB, straight alpha, already hidden where the plate is nearer."""
    depth: np.ndarray
    """``(H, W) float32`` metres along the view axis to the nearest foreground surface; ``inf`` where empty."""
    ids: np.ndarray
    """``(H, W) uint16`` object id of that surface; 0 = none (see ``names``)."""
    shadow: np.ndarray | None
    """``(H, W) uint8`` linear multiplier of the plate, 255 = unshadowed; ``None`` without shadows."""
    names: dict[int, str]
    """Object id → node name."""


def _on_own_context(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a renderer method with its context current (see
    :func:`hybridscene.gpu.context.make_current`)."""
    import functools

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        make_current(self.ctx)
        return method(self, *args, **kwargs)

    return wrapper


class FrameRenderer:
    """Renders frames of a scene at one size on a context you own.

    ``with FrameRenderer(ctx, (1280, 720)) as r: frame = r.render_frame(scene, t=0.5)``

    Args:
        ctx: a ``moderngl.Context`` from :func:`hybridscene.create_context` (or a window's).
        size: ``(width, height)`` of the frames.
        samples: MSAA samples for the foreground; default from settings (4), clamped to the
            driver's maximum.
    """

    def __init__(self, ctx: Any, size: tuple[int, int], *, samples: int | None = None) -> None:
        self.ctx = ctx
        make_current(ctx)
        self._setup(size, samples)

    def _setup(self, size: tuple[int, int], samples: int | None) -> None:
        ctx = self.ctx
        self.size = check_size(size)
        samples = get_settings().msaa if samples is None else int(samples)
        self.scene_renderer = SceneRenderer(ctx)
        self.compositor = Compositor(ctx)
        self.plate_surface = PlateSurface(ctx, depth_texture=self.scene_renderer.plate_depth_texture)
        self.foreground = ForegroundTarget(ctx, self.size, samples=samples)
        self.output = OutputTarget(ctx, self.size)
        self._empty: Any = None
        self._frame_surfaces: list[Any] = [None, None]  # parallax textures of the last frame
        self._aux: Any = None

    @property
    def samples(self) -> int:
        return self.foreground.samples

    @_on_own_context
    def render_to(self, scene: Scene, fbo: Any, *, t: float | None = None, top_down: bool = False) -> None:
        """Update the scene to time ``t`` (when given), draw it and composite into ``fbo``."""
        if t is not None:
            scene.update(t)
        surfaces = self._frame_surfaces = self._surfaces(scene)
        depth = surfaces[0][2] if surfaces[0] is not None else None
        self.scene_renderer.render(scene, self.foreground, plate_depth=depth)
        self._compose(scene, self.foreground.color, fbo, top_down=top_down, surfaces=surfaces,
                      shadow=self.foreground.shadow if self.foreground.has_shadow else None)

    def _surfaces(self, scene: Scene) -> list[tuple[Any, Any, Any] | None]:
        """Parallax: ``(backdrop, colour, inverse depth)`` textures of the current and the
        fading plate, for each drawn as a displaced surface this frame (else ``None``)."""
        previous, weight = scene.plate_blend()
        out: list[tuple[Any, Any, Any] | None] = []
        for slot, plate in enumerate((scene.plate, previous if weight < 1.0 else None)):
            if plate is None or not uses_surface(scene.parallax, plate, scene.camera):
                if slot == 0 and scene.parallax is not False and uses_surface(True, plate, scene.camera):
                    # at rest now, but the camera may move: have the surface ready by then
                    self.plate_surface.prefetch(plate)
                out.append(None)
                continue
            color, inverse_depth = self.plate_surface.render(
                plate, self.compositor.plate_texture(plate), scene.camera, self.size, slot=slot)
            out.append((self.plate_surface.backdrop(plate), color, inverse_depth))
        return out

    def _compose(self, scene: Scene, foreground: Any, fbo: Any, *, top_down: bool,
                 surfaces: list[tuple[Any, Any, Any] | None], shadow: Any = None) -> None:
        previous, weight = scene.plate_blend()
        cur, prev = surfaces
        self.compositor.compose(
            scene.plate, foreground, fbo, top_down=top_down, background=scene.background,
            previous=previous, weight=weight, shadow=shadow, camera=scene.camera,
            surface=cur[:2] if cur is not None else None, previous_surface=prev[:2] if prev is not None else None,
        )

    @_on_own_context
    def render_frame(self, scene: Scene, t: float | None = None) -> np.ndarray:
        """``(H, W, 3) uint8`` sRGB frame, top row first, at scene time ``t`` seconds."""
        self.render_to(scene, self.output.fbo, t=t, top_down=True)
        return self.output.read()

    @_on_own_context
    def render_layers(self, scene: Scene, t: float | None = None) -> FrameLayers:
        """Render a frame and its layers (see :class:`FrameLayers`)."""
        from ..colors import linear_to_srgb
        from ..gpu.textures import plate_mapping

        composite = self.render_frame(scene, t)
        w, h = self.size
        fg = self.foreground
        surfaces = self._frame_surfaces
        screen_depth = surfaces[0][2] if surfaces[0] is not None else None
        # The plate alone: the compositor with an empty foreground and no shadow.
        if self._empty is None:
            self._empty = self.ctx.texture(self.size, 4, dtype="f2")
            self._empty.write(np.zeros((h, w, 4), np.float16).tobytes())
        self._compose(scene, self._empty, self.output.fbo, top_down=True, surfaces=surfaces)
        plate_img = self.output.read().copy()
        # Foreground: premultiplied linear float -> straight sRGB 8-bit.
        prem = fg.read_premultiplied()
        alpha = prem[..., 3:4]
        straight = np.divide(prem[..., :3], alpha, out=np.zeros_like(prem[..., :3]), where=alpha > 1e-6)
        fg_rgba = np.empty((h, w, 4), np.uint8)
        fg_rgba[..., :3] = np.round(linear_to_srgb(np.clip(straight, 0, 1)) * 255)
        fg_rgba[..., 3] = np.round(np.clip(alpha[..., 0], 0, 1) * 255)
        shadow = None
        if fg.has_shadow:
            amount = np.frombuffer(fg.shadow.read(alignment=1), np.uint8).reshape(h, w)[::-1]
            shadow = (255 - amount).astype(np.uint8)
        # Depth and ids: a second, single-sample pass of the same scene.
        drawn = [n for n, _ in scene.visible_nodes() if n.mesh is not None or n.sprite is not None or n.particles is not None]
        ids = {id(n): i + 1 for i, n in enumerate(drawn)}
        names = {i + 1: (n.name or f"node-{i + 1}") for i, n in enumerate(drawn)}
        if self._aux is None:
            tex = self.ctx.texture(self.size, 4, dtype="f4")
            self._aux = (tex, self.ctx.framebuffer([tex], self.ctx.depth_renderbuffer(self.size)))
        self.scene_renderer.render_aux(scene, self._aux[1], ids, plate_depth=screen_depth)
        aux = np.frombuffer(self._aux[0].read(), np.float32).reshape(h, w, 4)[::-1]
        ids_img = np.round(aux[..., 1]).astype(np.uint16)
        depth = np.where(ids_img > 0, aux[..., 0], np.inf).astype(np.float32)
        plate_depth = None
        if screen_depth is not None:
            # Parallax: the displaced surface's depth as rendered for this view.
            inverse = np.frombuffer(screen_depth.read(), np.float32).reshape(h, w)[::-1]
            with np.errstate(divide="ignore"):
                plate_depth = np.where(inverse > 0, 1.0 / inverse, np.inf).astype(np.float32)
        elif scene.plate is not None and scene.plate.depth is not None:
            # The plate's depth as the compositor maps it, as view depth of this camera (nearest).
            hmat = plate_mapping(scene.plate, scene.camera, self.size).astype(np.float64)
            x = (np.arange(w) + 0.5) / w * 2 - 1
            y = 1 - (np.arange(h) + 0.5) / h * 2
            ndc = np.stack([*np.meshgrid(x, y), np.ones((h, w))], -1)
            q = ndc @ hmat.T
            pw, ph = scene.plate.size
            with np.errstate(divide="ignore", invalid="ignore"):
                cols = np.clip(q[..., 0] / q[..., 2] * pw, 0, pw - 1).astype(int)
                rows = np.clip(q[..., 1] / q[..., 2] * ph, 0, ph - 1).astype(int)
                plate_depth = np.where(q[..., 2] > 0, scene.plate.depth[rows, cols] / q[..., 2], np.inf).astype(np.float32)
        return FrameLayers(composite.copy(), plate_img, plate_depth, fg_rgba, depth, ids_img, shadow, names)

    @_on_own_context
    def release(self) -> None:
        """Free every GPU resource this renderer made (not the context)."""
        if self._empty is not None:
            self._empty.release()
        if self._aux is not None:
            self._aux[1].release()
            self._aux[0].release()
        self.output.release()
        self.foreground.release()
        self.plate_surface.release()
        self.compositor.release()
        self.scene_renderer.release()

    def __enter__(self) -> FrameRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _EncoderThread:
    """Writes frames to a sink on a worker thread while the GL thread renders the next ones.

    Encoding releases the GIL (PyAV's colour conversion and libx264 run in C without it), so
    rendering and encoding overlap. At most ``depth`` frames wait; a failure in the sink is
    raised on the GL thread at the next frame or at :meth:`finish`.
    """

    def __init__(self, sink: Any, depth: int = 4) -> None:
        self.sink = sink
        self.error: BaseException | None = None
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="hybridscene-encoder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self.error is None:
                try:
                    self.sink.write(frame)
                except BaseException as exc:  # handed to the GL thread
                    self.error = exc

    def put(self, frame: np.ndarray) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(frame)

    def finish(self) -> None:
        """Wait until every frame is written."""
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Drop the frames still waiting and end the thread (on abort)."""
        self.error = self.error or Cancelled("stopped")
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        self._thread.join()


class _ReadbackRing:
    """Frames read back through a ring of GL pixel buffers: frame ``i`` is copied into buffer
    ``i % n`` after it is drawn and fetched ``n - 1`` frames later, so (on a GPU) the copy
    runs while the next frames render instead of stalling the pipeline."""

    def __init__(self, ctx: Any, size: tuple[int, int], n: int = 3) -> None:
        self.size = size
        self.buffers = [ctx.buffer(reserve=size[0] * size[1] * 3) for _ in range(n)]
        self.pending: collections.deque[Any] = collections.deque()
        self.count = 0

    def push(self, fbo: Any) -> np.ndarray | None:
        """Start reading ``fbo``; returns the oldest frame once the ring is full."""
        buf = self.buffers[self.count % len(self.buffers)]
        self.count += 1
        fbo.read_into(buf, components=3, alignment=1)
        self.pending.append(buf)
        return self.pop() if len(self.pending) == len(self.buffers) else None

    def pop(self) -> np.ndarray | None:
        if not self.pending:
            return None
        w, h = self.size
        return np.frombuffer(self.pending.popleft().read(), np.uint8).reshape(h, w, 3)

    def release(self) -> None:
        for buf in self.buffers:
            buf.release()


def _frame_count(frames: int | None, seconds: float | None, fps: float) -> int:
    if frames is not None and seconds is not None:
        raise ConfigError("give either frames or seconds, not both")
    if frames is not None:
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            raise ConfigError(f"frames must be a positive integer, got {frames!r}")
        return frames
    secs = check_finite(4.0 if seconds is None else seconds, "seconds", positive=True)
    return max(1, int(math.ceil(secs * fps - 1e-9)))


def _default_size(scene: Scene) -> tuple[int, int]:
    return scene.plate.size if scene.plate is not None else (1280, 720)


def frames(
    scene: Scene,
    *,
    frames: int | None = None,
    seconds: float | None = None,
    fps: float = 30.0,
    size: tuple[int, int] | str | None = None,
    start: float = 0.0,
    ctx: Any = None,
    samples: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``(H, W, 3) uint8`` frames at fixed steps of ``1 / fps`` seconds from ``start``.

    Creates (and releases) a headless context unless ``ctx`` is given. Consume it on the thread
    that created it (GL contexts are per thread).
    """
    if not isinstance(scene, Scene):
        raise SceneError(f"frames() needs a hybridscene.Scene, got {type(scene).__name__}")
    clock = FixedStepClock(fps, start=start)
    count = _frame_count(frames, seconds, clock.fps)
    size = check_size(size) if size is not None else _default_size(scene)
    scene.wait_for_plates()
    own = ctx is None
    ctx = create_context() if own else ctx
    try:
        with FrameRenderer(ctx, size, samples=samples) as renderer:
            for t in clock.times(count):
                yield renderer.render_frame(scene, t)
    finally:
        if own:
            ctx.release()


def render(
    scene: Scene,
    output: str | os.PathLike[str] | Any,
    *,
    frames: int | None = None,
    seconds: float | None = None,
    fps: float = 30.0,
    size: tuple[int, int] | str | None = None,
    start: float = 0.0,
    progress: bool | ProgressCallback = False,
    ctx: Any = None,
    samples: int | None = None,
    layers: str | os.PathLike[str] | None = None,
    pipeline: bool | str = "auto",
    **sink_options: Any,
) -> RenderResult:
    """Render a scene into a video, GIF, PNG sequence or still image.

    Args:
        scene: what to draw.
        output: a path (``.mp4``/``.mov``/``.mkv``, ``.gif``, ``DIR/``, ``.png``/``.jpg``/``.webp``)
            or an object implementing :class:`hybridscene.sinks.Sink`.
        frames: length in frames; give this or ``seconds`` (default 4 seconds).
        seconds: length in seconds.
        fps: frames per second; frame ``i`` shows scene time ``start + i / fps``.
        size: ``(width, height)`` or ``"WxH"``; default: the plate's size. Video sizes are
            rounded down to even numbers with a warning.
        progress: ``True`` for a progress bar on stderr, or a callback receiving
            :class:`Progress` after each frame (return ``False`` to cancel).
        layers: a folder for per-frame layers (see :class:`hybridscene.sinks.LayerSink`).
        pipeline: ``True`` reads frames back through a ring of pixel buffers and encodes them on
            a worker thread while the next ones render; ``False`` renders, reads and writes one
            frame at a time. ``"auto"`` (default) pipelines on a GPU and not on a CPU rasteriser
            (llvmpipe), where the encoder thread competes with the rasteriser's threads for the
            same cores and measured 0.85-0.97x of one frame at a time on 2 cores.
        sink_options: passed to the sink, e.g. ``crf=18, preset="medium"`` for video.

    Returns:
        A :class:`RenderResult`.

    Raises:
        Cancelled: the callback returned ``False``; nothing is left under the output name.
    """
    from ..sinks import VideoSink, sink_class

    # 1. Validate everything before any expensive work.
    if not isinstance(scene, Scene):
        raise SceneError(f"render() needs a hybridscene.Scene, got {type(scene).__name__}")
    clock = FixedStepClock(fps, start=start)
    count = _frame_count(frames, seconds, clock.fps)
    size = check_size(size) if size is not None else _default_size(scene)
    is_path = isinstance(output, (str, os.PathLike))
    if is_path:
        cls = sink_class(output)
        if cls is VideoSink:
            size = VideoSink.fit_size(size)
    if progress is not False and progress is not True and not callable(progress):
        raise ConfigError(f"progress must be True, False or a callable, got {progress!r}")
    if pipeline not in (True, False, "auto"):
        raise ConfigError(f"pipeline must be True, False or 'auto', got {pipeline!r}")

    # 2. Plates still being generated are waited for (an export never depends on timing).
    scene.wait_for_plates()

    # 3. Open the GPU, then the output (a temporary file until the end).
    own = ctx is None
    ctx = create_context() if own else ctx
    bar = None
    t0 = time.perf_counter()
    make_current(ctx)  # current for the whole export (the ring's buffers too)
    try:
        sink = cls(output, size=size, fps=clock.fps, **sink_options) if is_path else output
        if layers is not None:
            from ..sinks.layers import LayerSink

            layer_sink = LayerSink(layers, size=size, fps=clock.fps)
        try:
            if progress is True:
                from tqdm.auto import tqdm

                desc = os.path.basename(os.fspath(output).rstrip("/")) if is_path else "render"
                bar = tqdm(total=count, unit="frame", desc=desc)
            with FrameRenderer(ctx, size, samples=samples) as renderer:
                # 4. Render, write, report. Pipelined: GL draws frame i while frame i - 2 is
                #    read back and earlier ones are encoded on the encoder thread.
                piped = layers is None and (pipeline is True or (pipeline == "auto" and not is_software_renderer(ctx)))
                encoder = _EncoderThread(sink) if piped else None
                ring = _ReadbackRing(ctx, size) if piped else None
                try:
                    for i, t in enumerate(clock.times(count)):
                        if ring is not None and encoder is not None:
                            renderer.render_to(scene, renderer.output.fbo, t=t, top_down=True)
                            ready = ring.push(renderer.output.fbo)
                            if ready is not None:
                                encoder.put(ready)
                        elif layers is None:
                            sink.write(renderer.render_frame(scene, t))
                        else:
                            frame_layers = renderer.render_layers(scene, t)
                            sink.write(frame_layers.composite)
                            layer_sink.write_layers(frame_layers)
                        if bar is not None:
                            bar.update(1)
                        elif callable(progress):
                            info = Progress(frame=i + 1, total=count, t=t, elapsed=time.perf_counter() - t0)
                            if progress(info) is False:
                                raise Cancelled(f"render cancelled by the progress callback after {i + 1} of {count} frames")
                    if ring is not None and encoder is not None:
                        while (ready := ring.pop()) is not None:
                            encoder.put(ready)
                        encoder.finish()
                        encoder = None
                finally:
                    if encoder is not None:
                        encoder.stop()
                    if ring is not None:
                        ring.release()
            # 5. Publish.
            sink.close()
            if layers is not None:
                layer_sink.close()
        except BaseException:
            sink.abort()
            if layers is not None:
                layer_sink.abort()
            raise
        finally:
            if bar is not None:
                bar.close()
    finally:
        if own:
            ctx.release()
    elapsed = time.perf_counter() - t0
    log.info("rendered %d frames at %dx%d in %.2f s", count, size[0], size[1], elapsed)
    return RenderResult(
        path=os.fspath(output) if is_path else None, frames=count, fps=clock.fps, size=size, seconds=elapsed
    )
