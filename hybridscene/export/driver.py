"""The export driver: [`render`][hybridscene.render] (a scene's frames, in order, into a file or a sink, with
progress and cancel) and [`frames`][hybridscene.frames] (an iterator of numpy frames). Both drive the frame
function every output shares (`FrameRenderer`) with a fixed-step
clock, so the same scene and seed give the same frames."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validate import MAX_FRAMES, check_finite, check_fps, check_outputs_apart, check_size
from ..clock import FixedStepClock
from ..compose.frame import FrameRenderer
from ..compose.passes import check_passes
from ..errors import Cancelled, ConfigError, SceneError
from ..gpu.context import GLContext, create_context
from ..gpu.readback import ReadbackRing
from ..gpu.targets import check_frame_size
from ..scene import Scene
from ..sinks.encoder import EncoderThread

if TYPE_CHECKING:
    import moderngl

    from ..sinks import Sink

__all__ = ["Progress", "ProgressCallback", "RenderResult", "frame_count", "frames", "render"]

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
    """What [`render`][hybridscene.render] wrote."""

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


def frame_count(frames: int | None = None, seconds: float | None = None, fps: float = 30.0) -> int:
    """How many frames an export of ``frames`` or ``seconds`` (default 4 s) at ``fps`` has; the
    check [`render`][hybridscene.render] and [`frames`][hybridscene.frames] make first, for callers that want it before
    building a scene.

    Raises:
        ConfigError: both given, a length that is not positive or longer than `MAX_FRAMES`
            frames, or an ``fps`` outside the range `check_fps` allows.
    """
    fps = check_fps(fps)
    if frames is not None and seconds is not None:
        raise ConfigError("give either frames or seconds, not both")
    if frames is not None:
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            raise ConfigError(f"frames must be a positive integer, got {frames!r}")
        count = frames
    else:
        secs = check_finite(4.0 if seconds is None else seconds, "seconds", positive=True)
        exact = secs * fps  # finite: seconds is finite and fps at most MAX_FPS
        count = MAX_FRAMES + 1 if exact > MAX_FRAMES else max(1, int(math.ceil(exact - 1e-9)))
    if count > MAX_FRAMES:
        length = f"{frames} frames" if frames is not None else f"{seconds:g} s at {fps:g} fps"
        raise ConfigError(f"{length} is more than the limit of {MAX_FRAMES:,} frames; render a shorter length "
                          "(or in parts with start=)")
    return count


def _samples(samples: int | None) -> int:
    """The MSAA samples `FrameRenderer` will ask for, for the size check (it checks them itself)."""
    from ..config import get_settings

    value = get_settings().msaa if samples is None else samples
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


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
    ctx: GLContext | moderngl.Context | None = None,
    samples: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``(H, W, 3) uint8`` frames at fixed steps of ``1 / fps`` seconds from ``start``.

    Creates (and releases) a headless context unless ``ctx`` is given. Consume it on the thread
    that created it (GL contexts are per thread).
    """
    if not isinstance(scene, Scene):
        raise SceneError(f"frames() needs a hybridscene.Scene, got {type(scene).__name__}")
    clock = FixedStepClock(check_fps(fps), start=start)
    count = frame_count(frames, seconds, clock.fps)
    size = check_size(size) if size is not None else _default_size(scene)
    scene.wait_for_plates()
    gl = create_context() if ctx is None else GLContext.wrap(ctx)
    try:
        check_frame_size(gl, size, samples=_samples(samples))
        with FrameRenderer(gl, size, samples=samples) as renderer:
            for t in clock.times(count):
                yield renderer.render_frame(scene, t)
    finally:
        if gl is not ctx:  # made here, or a wrapper made here of the caller's moderngl.Context
            gl.release()


def render(
    scene: Scene,
    output: str | os.PathLike[str] | Sink,
    *,
    frames: int | None = None,
    seconds: float | None = None,
    fps: float = 30.0,
    size: tuple[int, int] | str | None = None,
    start: float = 0.0,
    progress: bool | ProgressCallback = False,
    ctx: GLContext | moderngl.Context | None = None,
    samples: int | None = None,
    layers: str | os.PathLike[str] | None = None,
    passes: Any = None,
    layer_format: str = "png",
    labels: str | os.PathLike[str] | None = None,
    overlap: bool | str = "auto",
    **sink_options: Any,
) -> RenderResult:
    """Render a scene into a video, GIF, PNG sequence or still image.

    Args:
        scene: what to draw.
        output: a path (``.mp4``/``.mov``/``.mkv``, ``.gif``, ``DIR/``, ``.png``/``.jpg``/``.webp``)
            or an object implementing `hybridscene.sinks.Sink`.
        frames: length in frames; give this or ``seconds`` (default 4 seconds).
        seconds: length in seconds.
        fps: frames per second; frame ``i`` shows scene time ``start + i / fps``.
        size: ``(width, height)`` or ``"WxH"``; default: the plate's size. Video sizes are
            rounded down to even numbers with a warning.
        progress: ``True`` for a progress bar on stderr, or a callback receiving
            [`Progress`][hybridscene.Progress] after each frame (return ``False`` to cancel).
        ctx: a context to render on (default: a headless one, made and released here).
        samples: MSAA samples (default 4).
        layers: a folder for per-frame render passes (see `hybridscene.sinks.LayerSink` and
            `hybridscene.sinks.exr`).
        passes: which passes ``layers`` gets: names (a list or comma-separated), ``"all"``;
            default `DEFAULT_PASSES` (see `hybridscene.compose.passes`). Only these are
            rendered and read back.
        layer_format: ``"png"`` (PNG and ``.npy`` files per pass) or ``"exr"`` (one multi-layer
            OpenEXR per frame, linear half float; needs ``hybridscene[exr]``).
        labels: a folder for ground-truth labels (COCO ``coco.json``, ``cameras.json``,
            ``objects.json`` and the frames; see `hybridscene.sinks.labels`).
        overlap: overlap rendering with read-back and encoding. ``True`` reads frames back
            through a ring of pixel buffers and encodes them on a worker thread while the next
            ones render; ``False`` renders, reads and writes one frame at a time. ``"auto"``
            (default) overlaps on a GPU and not on a CPU rasteriser (llvmpipe), where the
            encoder thread competes with the rasteriser's threads for the same cores and
            measured 0.85-0.97x of one frame at a time on 2 cores. (Called ``pipeline`` before
            0.2; that name still works, with a ``DeprecationWarning``.)
        sink_options: passed to the sink, e.g. ``crf=18, preset="medium"`` for video.

    Returns:
        A [`RenderResult`][hybridscene.RenderResult].

    Raises:
        Cancelled: the callback returned ``False``; nothing is left under the output name.
    """
    from ..sinks import VideoSink, sink_class

    # 1. Validate everything before any expensive work.
    if "pipeline" in sink_options:
        warnings.warn("render(pipeline=...) is now called overlap=...", DeprecationWarning, stacklevel=2)
        overlap = sink_options.pop("pipeline")
    if not isinstance(scene, Scene):
        raise SceneError(f"render() needs a hybridscene.Scene, got {type(scene).__name__}")
    clock = FixedStepClock(check_fps(fps), start=start)
    count = frame_count(frames, seconds, clock.fps)
    size = check_size(size) if size is not None else _default_size(scene)
    is_path = isinstance(output, (str, os.PathLike))
    chosen = check_passes(passes)
    if (passes is not None or layer_format != "png") and layers is None:
        what = "passes=" if passes is not None else "layer_format="
        raise ConfigError(f"{what} chooses what layers= writes; give layers=DIR too")
    if layer_format not in ("png", "exr"):
        raise ConfigError(f"layer_format must be 'png' or 'exr', got {layer_format!r}")
    if is_path:
        cls = sink_class(output)
        if cls is VideoSink:
            size = VideoSink.fit_size(size)
        for folder, name in ((layers, "layers"), (labels, "labels")):
            if folder is not None:
                check_outputs_apart(output, folder, ("output", name))
    if layers is not None and labels is not None:
        check_outputs_apart(layers, labels, ("layers", "labels"))
    if progress is not False and progress is not True and not callable(progress):
        raise ConfigError(f"progress must be True, False or a callable, got {progress!r}")
    if overlap not in (True, False, "auto"):
        raise ConfigError(f"overlap must be True, False or 'auto', got {overlap!r}")

    # 2. Plates still being generated are waited for (an export never depends on timing).
    scene.wait_for_plates()

    # 3. Open the GPU, then the output (a temporary file until the end).
    gl = create_context() if ctx is None else GLContext.wrap(ctx)
    bar = None
    t0 = time.perf_counter()
    gl.make_current()  # current for the whole export (the ring's buffers too)
    try:
        check_frame_size(gl, size, samples=_samples(samples), layers=layers is not None or labels is not None)
        sink = cls(output, size=size, fps=clock.fps, **sink_options) if is_path else output
        pass_sinks: list[tuple[Any, tuple[str, ...]]] = []
        try:
            if layers is not None:
                pass_sinks.append(_layer_sink(layers, layer_format, chosen, size, clock.fps))
            if labels is not None:
                from ..sinks.labels import LabelSink

                pass_sinks.append((LabelSink(labels, size=size, fps=clock.fps, plate_camera=_plate_camera(scene)), ("ids",)))
        except BaseException:
            for other, _ in pass_sinks:
                other.abort()
            if is_path:
                sink.abort()
            raise
        try:
            if progress is True:
                from tqdm.auto import tqdm

                desc = os.path.basename(os.fspath(output).rstrip("/")) if is_path else "render"
                bar = tqdm(total=count, unit="frame", desc=desc)
            # 4. Render, write, report.
            overlapped = not pass_sinks and (overlap is True or (overlap == "auto" and not gl.software))
            with FrameRenderer(gl, size, samples=samples) as renderer:
                write = (_overlapped_writer(gl, renderer, sink) if overlapped
                         else _writer(renderer, sink, pass_sinks, 1.0 / clock.fps, labels is not None))
                with write as write_frame:
                    for i, t in enumerate(clock.times(count)):
                        write_frame(scene, t)
                        if bar is not None:
                            bar.update(1)
                        elif callable(progress):
                            info = Progress(frame=i + 1, total=count, t=t, elapsed=time.perf_counter() - t0)
                            if progress(info) is False:
                                raise Cancelled(f"render cancelled by the progress callback after {i + 1} of {count} frames")
            # 5. Publish.
            sink.close()
            for other, _ in pass_sinks:
                other.close()
        except BaseException:
            sink.abort()
            for other, _ in pass_sinks:
                other.abort()
            raise
        finally:
            if bar is not None:
                bar.close()
    finally:
        if gl is not ctx:  # made here, or a wrapper made here of the caller's moderngl.Context
            gl.release()
    elapsed = time.perf_counter() - t0
    log.info("rendered %d frames at %dx%d in %.2f s", count, size[0], size[1], elapsed)
    return RenderResult(
        path=os.fspath(output) if is_path else None, frames=count, fps=clock.fps, size=size, seconds=elapsed
    )


FrameWriter = Callable[[Scene, float], None]


def _layer_sink(folder: Any, layer_format: str, chosen: tuple[str, ...], size: tuple[int, int],
                fps: float) -> tuple[Any, tuple[str, ...]]:
    """The sink for ``layers=`` and the passes the renderer must compute for it."""
    if layer_format == "exr":
        from ..sinks.exr import ExrLayerSink

        return ExrLayerSink(folder, size=size, fps=fps), chosen
    from ..sinks.layers import LayerSink

    png = LayerSink(folder, size=size, fps=fps, passes=chosen)
    return png, png.render_passes


def _plate_camera(scene: Scene) -> dict[str, Any] | None:
    """The camera the scene's plate was painted with, for ``cameras.json`` (``None`` without a plate)."""
    from ..compose.motion import camera_info
    from ..scene.camera import PerspectiveCamera

    plate = scene.plate
    if plate is None:
        return None
    info = camera_info(PerspectiveCamera.from_plate(plate), plate.size)
    cam = plate.camera
    return {"known": cam is not None, "width": plate.size[0], "height": plate.size[1],
            "fov_y_degrees": None if cam is None else cam.fov_y, "height_m": None if cam is None else cam.height,
            "horizon": None if cam is None else cam.horizon, "K": info.K.tolist(),
            "world_from_camera_opengl": info.world_from_camera_gl.tolist(),
            "world_from_camera_opencv": info.world_from_camera_cv.tolist()}


@contextlib.contextmanager
def _writer(renderer: FrameRenderer, sink: Sink, pass_sinks: list[tuple[Any, tuple[str, ...]]], dt: float,
            labels: bool) -> Iterator[FrameWriter]:
    """One frame at a time: render, read back, write (with its passes and labels when asked)."""
    wanted = tuple(sorted({p for _, own in pass_sinks for p in own}))
    plate_cameras: dict[int, Any] = {}  # id(plate) -> its camera record (plates swap mid-render)

    def write(scene: Scene, t: float) -> None:
        if not pass_sinks:
            sink.write(renderer.render_frame(scene, t))
            return
        fp = renderer.render_passes(scene, t, passes=wanted, dt=dt, labels=labels)
        if labels:
            key = id(scene.plate)
            if key not in plate_cameras:
                plate_cameras[key] = (scene.plate, _plate_camera(scene))
            fp = dataclasses.replace(fp, plate_camera=plate_cameras[key][1])
        sink.write(fp.frame)
        for other, own in pass_sinks:
            other.write_passes(dataclasses.replace(fp, passes={k: v for k, v in fp.passes.items() if k in own}))

    yield write


@contextlib.contextmanager
def _overlapped_writer(gl: GLContext, renderer: FrameRenderer, sink: Sink) -> Iterator[FrameWriter]:
    """GL draws frame i while frame i - 2 is read back through the pixel-buffer ring and
    earlier ones are encoded on the encoder thread. Leaving normally drains both; an error
    drops the frames still waiting."""
    encoder: EncoderThread | None = EncoderThread(sink)
    with ReadbackRing(gl, renderer.size) as ring:
        def write(scene: Scene, t: float) -> None:
            renderer.render_to(scene, renderer.output.fbo, t=t, top_down=True)
            ready = ring.push(renderer.output.fbo)
            if ready is not None and encoder is not None:
                encoder.put(ready)

        try:
            yield write
            while (ready := ring.pop()) is not None:
                encoder.put(ready)
            encoder.finish()
            encoder = None
        finally:
            if encoder is not None:
                encoder.stop()
