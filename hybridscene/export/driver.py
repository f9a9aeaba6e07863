"""The export driver: [`render`][hybridscene.render] (a scene's frames, in order, into a file or a sink, with
progress and cancel) and [`frames`][hybridscene.frames] (an iterator of numpy frames). Both drive the frame
function every output shares (`FrameRenderer`) with a fixed-step
clock, so the same scene and seed give the same frames."""

from __future__ import annotations

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
from ..clock import FixedStepClock, frame_time
from ..compose.frame import FrameRenderer
from ..compose.passes import check_passes
from ..errors import Cancelled, ConfigError, SceneError
from ..gpu.context import GLContext, create_context, gl_info
from ..gpu.readback import read_pixels
from ..gpu.targets import check_frame_size
from ..scene import Scene
from ..scene.overscan import cover_camera_path, render_times
from ..sinks.encoder import EncoderThread
from ..sinks.video import Yuv420Frame
from .shards import check_part_target, frame_range, parse_frames, parse_shard
from .writers import encoding_thread, overlapped_writer, video_only, yuv_converter

if TYPE_CHECKING:
    import moderngl

    from ..gpu.yuv import YuvConverter
    from ..scenefile import SceneSource
    from ..sinks import Sink

__all__ = ["Outputs", "Progress", "ProgressCallback", "RenderPlan", "RenderResult", "frame_count", "frames", "plan_render",
           "render"]

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
    frames: int | range | None = None,
    seconds: float | None = None,
    fps: float = 30.0,
    size: tuple[int, int] | str | None = None,
    start: float = 0.0,
    ctx: GLContext | moderngl.Context | None = None,
    samples: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``(H, W, 3) uint8`` frames at fixed steps of ``1 / fps`` seconds from ``start``
    (``frames=range(a, b)``: frames ``a`` to ``b - 1`` of the whole, at their own times).

    Creates (and releases) a headless context unless ``ctx`` is given. Consume it on the thread
    that created it (GL contexts are per thread).
    """
    if not isinstance(scene, Scene):
        raise SceneError(f"frames() needs a hybridscene.Scene, got {type(scene).__name__}")
    clock = FixedStepClock(check_fps(fps), start=start)
    frames = parse_frames(frames, "frames")
    indices, _ = frame_range(frames, None, 0 if isinstance(frames, range) else frame_count(frames, seconds, clock.fps))
    size = check_size(size) if size is not None else _default_size(scene)
    scene.wait_for_plates()
    path = cover_camera_path(scene, size, [frame_time(i, clock.fps, start) for i in (indices[0], indices[-1])])
    gl = create_context() if ctx is None else GLContext.wrap(ctx)
    try:
        check_frame_size(gl, size, samples=_samples(samples))
        with FrameRenderer(gl, size, samples=samples, relief_ahead=path.relief) as renderer:
            for t in clock.times(indices):
                yield renderer.render_frame(scene, t)
    finally:
        if gl is not ctx:  # made here, or a wrapper made here of the caller's moderngl.Context
            gl.release()


@dataclasses.dataclass(frozen=True)
class RenderPlan:
    """A render's checked settings: what every process of a render (this one, or Ray's
    workers) needs to draw and write the same frames."""

    indices: range
    """The frame indices drawn (``range(count)``, a ``frames=range(a, b)`` or a shard's)."""
    total: int | None
    """Frames of the whole render (``None`` when a range was given)."""
    shard: tuple[int, int] | None
    fps: float
    start: float
    size: tuple[int, int]
    samples: int | None
    passes: tuple[str, ...]
    """Passes the renderer computes (for ``layers``/``labels``; ``()`` for frames only)."""
    layers: Any
    layer_passes: tuple[str, ...]
    """The passes ``layers`` holds."""
    layer_format: str
    labels: Any

    def time(self, i: int) -> float:
        """The scene time of frame ``i`` (`frame_time`)."""
        return frame_time(i, self.fps, self.start)

    @property
    def wants_passes(self) -> bool:
        return self.layers is not None or self.labels is not None


def plan_render(scene: Any, output: Any, *, frames: Any = None, seconds: float | None = None, fps: float = 30.0,
                size: Any = None, start: float = 0.0, shard: Any = None, samples: int | None = None,
                layers: Any = None, passes: Any = None, layer_format: str = "png", labels: Any = None,
                default_size: tuple[int, int] | None = None) -> tuple[RenderPlan, type | None]:
    """Check a render's arguments (before any expensive work) into a `RenderPlan`, with the
    output's sink class (``None`` for a sink object)."""
    from ..sinks import PngSequenceSink, VideoSink, sink_class

    fps = check_fps(fps)
    start = check_finite(start, "start")
    frames = parse_frames(frames, "frames")
    shard = parse_shard(shard, "shard")
    count = 0 if isinstance(frames, range) else frame_count(frames, seconds, fps)
    if isinstance(frames, range) and seconds is not None:
        raise ConfigError("give either a frame range or seconds, not both")
    indices, total = frame_range(frames, shard, count)
    size = check_size(size) if size is not None else (default_size or _default_size(scene))
    is_path = isinstance(output, (str, os.PathLike))
    chosen = check_passes(passes)
    if (passes is not None or layer_format != "png") and layers is None:
        what = "passes=" if passes is not None else "layer_format="
        raise ConfigError(f"{what} chooses what layers= writes; give layers=DIR too")
    if layer_format not in ("png", "exr"):
        raise ConfigError(f"layer_format must be 'png' or 'exr', got {layer_format!r}")
    cls = None
    if is_path:
        cls = sink_class(output)
        if cls is VideoSink:
            size = VideoSink.fit_size(size)
        if shard is not None and not issubclass(cls, PngSequenceSink):
            raise ConfigError(f"a shard writes a PNG sequence that `hybridscene assemble` joins: give a folder "
                              f"(-o DIR/), not {os.fspath(output)!r}")
        for folder, name in ((layers, "layers"), (labels, "labels")):
            if folder is not None:
                check_outputs_apart(output, folder, ("output", name))
    if layers is not None and labels is not None:
        check_outputs_apart(layers, labels, ("layers", "labels"))
    computed = chosen
    if layers is not None and layer_format == "png":
        computed = tuple(p for p in chosen if p != "composite")  # composite.png is the displayed frame itself
    wanted = tuple(sorted(set(computed if layers is not None else ()) | ({"ids"} if labels is not None else set())))
    plan = RenderPlan(indices=indices, total=total, shard=shard, fps=fps, start=start, size=size, samples=samples,
                      passes=wanted, layers=layers, layer_passes=chosen, layer_format=layer_format, labels=labels)
    return plan, cls


def render(
    scene: Scene | SceneSource,
    output: str | os.PathLike[str] | Sink,
    *,
    frames: int | range | str | None = None,
    seconds: float | None = None,
    fps: float = 30.0,
    size: tuple[int, int] | str | None = None,
    start: float = 0.0,
    shard: tuple[int, int] | str | None = None,
    progress: bool | ProgressCallback = False,
    ctx: GLContext | moderngl.Context | None = None,
    samples: int | None = None,
    layers: str | os.PathLike[str] | None = None,
    passes: Any = None,
    layer_format: str = "png",
    labels: str | os.PathLike[str] | None = None,
    overlap: bool | str = "auto",
    manifest: dict[str, Any] | None = None,
    ray: Any = None,
    **sink_options: Any,
) -> RenderResult:
    """Render a scene into a video, GIF, PNG sequence or still image.

    Args:
        scene: what to draw: a [`Scene`][hybridscene.Scene], or a
            [`SceneSource`][hybridscene.SceneSource] (a scene file and its arguments), which
            ``ray=`` needs: every worker builds the scene itself.
        output: a path (``.mp4``/``.mov``/``.mkv``, ``.gif``, ``DIR/``, ``.png``/``.jpg``/``.webp``)
            or an object implementing `hybridscene.sinks.Sink`.
        frames: length in frames, or a half-open ``range(a, b)`` (or ``"a:b"``) of frame indices:
            frames ``a`` to ``b - 1``, at their times in the whole render and, in a folder, named
            by their index; give a count or ``seconds`` (default 4 seconds) or a range.
        seconds: length in seconds.
        fps: frames per second; frame ``i`` shows scene time ``start + i / fps`` (`frame_time`).
        size: ``(width, height)`` or ``"WxH"``; default: the plate's size. Video sizes are
            rounded down to even numbers with a warning.
        start: scene time of frame 0, in seconds.
        shard: ``(k, n)`` or ``"k/n"``: render only shard ``k`` (from 0) of ``n`` contiguous,
            near-equal parts of the frames, into a folder (``DIR/``), for
            [`assemble`][hybridscene.assemble] to join.
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
            (default) overlaps so on a GPU; on a CPU rasteriser (llvmpipe), where the ring and
            a converting thread measured 0.85-0.97x of one frame at a time on 2 cores, a video
            is drawn, read and converted to yuv420p one frame at a time and only libx264 runs on
            a worker thread, so the GL thread no longer waits for libx264's frame threads (on 2
            cores the plate-only sway's ratio to the machine's floor 0.47-0.51 -> 0.53,
            ``docs/performance.md``). (Called ``pipeline`` before 0.2; that name still works,
            with a ``DeprecationWarning``.)
        manifest: fields added to the ``manifest.json`` of folder outputs (see
            `hybridscene.sinks.manifest`; the command line records the scene file there).
        ray: render on a Ray cluster: a [`RayExecutor`][hybridscene.RayExecutor]
            (``hs.RayExecutor()`` connects to the Ray session already started, else
            ``RAY_ADDRESS``, else starts a local Ray; ``address="auto"`` or
            ``"ray://head:10001"`` names a cluster; it also sets the workers and chunk size).
            Needs ``hybridscene[ray]`` and a `SceneSource`. The output is identical to
            rendering here.
        sink_options: passed to the sink, e.g. ``crf=18, preset="medium"`` for video.

    Returns:
        A [`RenderResult`][hybridscene.RenderResult].

    Raises:
        Cancelled: the callback returned ``False``; nothing is left under the output name.
    """
    from ..scenefile import SceneSource

    # 1. Validate everything before any expensive work.
    if "pipeline" in sink_options:
        warnings.warn("render(pipeline=...) is now called overlap=...", DeprecationWarning, stacklevel=2)
        overlap = sink_options.pop("pipeline")
    if ray is not None:
        return _executor(ray).render(scene, output, frames=frames, seconds=seconds, fps=fps, size=size, start=start,
                                     shard=shard, progress=progress, samples=samples, layers=layers, passes=passes,
                                     layer_format=layer_format, labels=labels, manifest=manifest, **sink_options)
    if isinstance(scene, SceneSource):
        manifest = {"scene": scene.describe(), **(manifest or {})}
        scene = scene.load().scene
    if not isinstance(scene, Scene):
        raise SceneError(f"render() needs a hybridscene.Scene, got {type(scene).__name__}")
    plan, cls = plan_render(scene, output, frames=frames, seconds=seconds, fps=fps, size=size, start=start,
                            shard=shard, samples=samples, layers=layers, passes=passes, layer_format=layer_format,
                            labels=labels)
    if progress is not False and progress is not True and not callable(progress):
        raise ConfigError(f"progress must be True, False or a callable, got {progress!r}")
    if overlap not in (True, False, "auto"):
        raise ConfigError(f"overlap must be True, False or 'auto', got {overlap!r}")

    # 2. Plates still being generated are waited for (an export never depends on timing); a
    #    camera path that sees past the plate gets a larger plate or a zoom (the same in every shard).
    scene.wait_for_plates()
    plate_camera = _plate_camera(scene) if labels is not None else None  # as Ray's plate worker sees it
    path = cover_camera_path(scene, plan.size, render_times(plan))  # .relief: whether a frame draws a relief

    # 3. Open the GPU, then the outputs (temporary files until the end).
    gl = create_context() if ctx is None else GLContext.wrap(ctx)
    gl.make_current()  # current for the whole export (the ring's buffers too)
    try:
        check_frame_size(gl, plan.size, samples=_samples(samples), layers=plan.wants_passes)
        extra = {"gl": {k: str(v) for k, v in gl_info(gl.mgl).items() if k in ("vendor", "renderer", "version")},
                 **(manifest or {})}
        with Outputs(plan, output, cls, sink_options, plate_camera=plate_camera,
                     manifest=extra, progress=progress) as outputs:
            # 4. Render, write, report.
            overlapped = not plan.wants_passes and (overlap is True or (overlap == "auto" and not gl.software))
            with FrameRenderer(gl, plan.size, samples=samples, relief_ahead=path.relief) as renderer, \
                    yuv_converter(gl, renderer, outputs.sink, plan.wants_passes) as yuv:
                if overlapped:
                    with overlapped_writer(gl, renderer, outputs.sink, yuv, encoder=EncoderThread) as write_frame:
                        for i in plan.indices:
                            write_frame(scene, plan.time(i))
                            outputs.count(i)
                elif overlap == "auto" and gl.software and yuv is None and video_only(outputs.sink, plan.wants_passes):
                    # A CPU rasteriser: drawn and converted here, libx264 on the encoder thread.
                    draw = FrameDrawer(renderer, plan, rgba=True, wait=True)
                    with encoding_thread(outputs.sink, encoder=EncoderThread) as encode:
                        for i in plan.indices:
                            encode(outputs.sink.convert(draw(scene, i)))
                            outputs.count(i)
                else:
                    draw = FrameDrawer(renderer, plan, yuv=yuv, rgba=yuv is None and video_only(outputs.sink, plan.wants_passes))
                    for i in plan.indices:
                        outputs.write(i, draw(scene, i))
    finally:
        if gl is not ctx:  # made here, or a wrapper made here of the caller's moderngl.Context
            gl.release()
    result = outputs.result()
    log.info("rendered %d frames at %dx%d in %.2f s", result.frames, result.size[0], result.size[1], result.seconds)
    return result


def _executor(ray: Any) -> Any:
    """``ray=``: an executor such as [`RayExecutor`][hybridscene.RayExecutor] (anything with
    ``render`` and ``make_items``; the export layer never imports Ray's)."""
    if not callable(getattr(ray, "render", None)) or not callable(getattr(ray, "make_items", None)):
        raise ConfigError(f"ray= takes a hybridscene.RayExecutor, e.g. ray=hs.RayExecutor() or "
                          f"hs.RayExecutor(address='auto'), got {ray!r}")
    return ray


class FrameDrawer:
    """Draws frame ``i`` of a plan: the displayed frame, or its `FramePasses` when the plan
    writes layers or labels (with the plate's camera for the labels). The same code runs here
    and in Ray's workers, so both give the same frames."""

    def __init__(self, renderer: FrameRenderer, plan: RenderPlan, *, yuv: YuvConverter | None = None,
                 rgba: bool = False, wait: bool = False) -> None:
        self.renderer = renderer
        self.plan = plan
        self.yuv = yuv
        """Converts the displayed frame to yuv420p planes on the GPU (video-only exports), or ``None``."""
        self.rgba = rgba and not plan.wants_passes
        """Reads the displayed frame as ``(H, W, 4)`` (video-only exports converting on the CPU:
        the target is read as it is stored, where RGB is repacked pixel by pixel; at 1280x720
        on llvmpipe 0.13 against 1.5 ms, and libswscale converts RGBA in 3.2 ms against 3.7,
        to the same yuv420p bytes)."""
        self.wait = wait
        """Wait for the drawing with the GIL released (`GLContext.wait`) before reading the frame
        back, so an encoder thread runs meanwhile."""
        self._plate_cameras: dict[int, Any] = {}  # id(plate) -> (plate, its camera record)

    def __call__(self, scene: Scene, i: int) -> Any:
        t = self.plan.time(i)
        if self.yuv is not None:
            renderer = self.renderer
            renderer.render_to(scene, renderer.output.fbo, t=t, top_down=True)
            with renderer.timer.stage("yuv420p"):
                self.yuv.convert(renderer.output.texture)
            with renderer.timer.stage("read-back"):
                return self.yuv.read()
        if self.rgba:
            renderer = self.renderer
            renderer.render_to(scene, renderer.output.fbo, t=t, top_down=True)
            with renderer.timer.stage("read-back"):
                if self.wait:
                    renderer.gl.wait()
                return read_pixels(renderer.output.fbo, components=4)
        if not self.plan.wants_passes:
            return self.renderer.render_frame(scene, t)
        fp = self.renderer.render_passes(scene, t, passes=self.plan.passes, dt=1.0 / self.plan.fps,
                                         labels=self.plan.labels is not None)
        if self.plan.labels is not None:
            key = id(scene.plate)
            if key not in self._plate_cameras:  # plates swap mid-render
                self._plate_cameras[key] = (scene.plate, _plate_camera(scene))
            fp = dataclasses.replace(fp, plate_camera=self._plate_cameras[key][1])
        return fp


class Outputs:
    """A render's sinks (the output, ``layers``, ``labels``), opened under temporary names,
    fed frames in order, published together on success and discarded on any error."""

    def __init__(self, plan: RenderPlan, output: Any, cls: type | None, sink_options: dict[str, Any], *,
                 plate_camera: dict[str, Any] | None, manifest: dict[str, Any], progress: Any) -> None:
        from ..sinks import PngSequenceSink

        self.plan = plan
        self.output = output
        self.progress = progress
        first = plan.indices.start
        if plan.total is None or len(plan.indices) != plan.total:  # a part: never delete other parts' frames
            folders = [plan.layers, plan.labels]
            if cls is not None and issubclass(cls, PngSequenceSink):
                folders.append(output)
            for folder in folders:
                if folder is not None:
                    check_part_target(folder, plan.indices)
        options = dict(sink_options)
        if cls is not None and issubclass(cls, PngSequenceSink) and first:
            options["first_frame"] = first
        self.sink = cls(output, size=plan.size, fps=plan.fps, **options) if cls is not None else output
        self.pass_sinks: list[tuple[Any, tuple[str, ...]]] = []
        try:
            if plan.layers is not None:
                self.pass_sinks.append(_layer_sink(plan.layers, plan.layer_format, plan.layer_passes, plan.size,
                                                   plan.fps, first))
            if plan.labels is not None:
                from ..sinks.labels import LabelSink

                self.pass_sinks.append((LabelSink(plan.labels, size=plan.size, fps=plan.fps, plate_camera=plate_camera,
                                                  first_frame=first), ("ids",)))
        except BaseException:
            self.abort()
            raise
        info = {"total": plan.total, "shard": list(plan.shard) if plan.shard else None, "start_time": plan.start,
                **manifest}
        for sink in (self.sink, *(s for s, _ in self.pass_sinks)):
            if isinstance(sink, PngSequenceSink):
                sink.manifest.update(info)
        self.done = 0
        self.t0 = time.perf_counter()
        self.bar: Any = None
        if progress is True:
            from tqdm.auto import tqdm

            desc = os.path.basename(os.fspath(output).rstrip("/")) if cls is not None else "render"
            self.bar = tqdm(total=len(plan.indices), unit="frame", desc=desc)

    def write(self, i: int, item: Any) -> None:
        """Write frame ``i``: an ``(H, W, 3) uint8`` frame (``(H, W, 4)`` and `Yuv420Frame`: video
        only) or its `FramePasses`."""
        if isinstance(item, (np.ndarray, Yuv420Frame)):
            self.sink.write(item)
        else:
            self.sink.write(item.frame)
            for other, own in self.pass_sinks:
                other.write_passes(dataclasses.replace(item, passes={k: v for k, v in item.passes.items() if k in own}))
        self.count(i)

    def folder_sinks(self) -> dict[str, tuple[Any, tuple[str, ...] | None]]:
        """The sinks whose files another process may write (`PngSequenceSink.files`), by slot:
        ``"output"`` for a PNG sequence (with ``None``: it takes the displayed frame), ``"0"``,
        ``"1"`` for the ``layers``/``labels`` sinks with the passes each takes."""
        from ..sinks import PngSequenceSink

        out: dict[str, tuple[Any, tuple[str, ...] | None]] = {}
        if isinstance(self.sink, PngSequenceSink):
            out["output"] = (self.sink, None)
        for k, (other, own) in enumerate(self.pass_sinks):
            out[str(k)] = (other, own)
        return out

    def accept(self, i: int, frame: np.ndarray | None, records: dict[str, Any]) -> None:
        """Frame ``i``, its files written elsewhere: the records of `folder_sinks` (and the
        displayed frame for an output whose files were not)."""
        if "output" in records:
            self.sink.accept(records["output"])
        else:
            self.sink.write(frame)
        for k, (other, _) in enumerate(self.pass_sinks):
            other.accept(records[str(k)])
        self.count(i)

    def count(self, i: int) -> None:
        """Frame ``i`` is done: the progress bar or callback (which may cancel)."""
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif callable(self.progress):
            total = len(self.plan.indices)
            info = Progress(frame=self.done, total=total, t=self.plan.time(i), elapsed=time.perf_counter() - self.t0)
            if self.progress(info) is False:
                raise Cancelled(f"render cancelled by the progress callback after {self.done} of {total} frames")

    def close(self) -> None:
        self.sink.close()
        for other, _ in self.pass_sinks:
            other.close()

    def abort(self) -> None:
        for other, _ in self.pass_sinks:
            other.abort()
        self.sink.abort()

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            if kind is None:
                self.close()
            else:
                self.abort()
        except BaseException:
            self.abort()
            raise
        finally:
            if self.bar is not None:
                self.bar.close()
        self.seconds = time.perf_counter() - self.t0

    def result(self) -> RenderResult:
        is_path = self.sink is not self.output
        return RenderResult(path=os.fspath(self.output) if is_path else None, frames=self.done, fps=self.plan.fps,
                            size=self.plan.size, seconds=self.seconds)


def _layer_sink(folder: Any, layer_format: str, chosen: tuple[str, ...], size: tuple[int, int],
                fps: float, first: int) -> tuple[Any, tuple[str, ...]]:
    """The sink for ``layers=`` and the passes it writes."""
    if layer_format == "exr":
        from ..sinks.exr import ExrLayerSink

        return ExrLayerSink(folder, size=size, fps=fps, first_frame=first), chosen
    from ..sinks.layers import LayerSink

    png = LayerSink(folder, size=size, fps=fps, passes=chosen, first_frame=first)
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
