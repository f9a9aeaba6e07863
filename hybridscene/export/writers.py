"""How an export's frames leave the GPU when it writes only a video (or one sink): the yuv420p
conversion on the GPU (`yuv_converter`) and the overlapped writer (`overlapped_writer`: a ring of
pixel buffers and an encoder thread)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..gpu.readback import ReadbackRing
from ..gpu.yuv import YuvConverter, use_gpu_yuv
from ..sinks.encoder import EncoderThread

if TYPE_CHECKING:
    from ..compose.frame import FrameRenderer
    from ..gpu.context import GLContext
    from ..scene import Scene
    from ..sinks import Sink

__all__ = ["FrameWriter", "encoding_thread", "overlapped_writer", "video_only", "yuv_converter"]

FrameWriter = Callable[["Scene", float], None]
"""Draws the scene at time ``t`` and hands the frame on."""


def video_only(sink: Any, wants_passes: bool) -> bool:
    """Whether an export's only consumer of the frame is a `VideoSink`, which takes RGBA
    frames and yuv420p planes as well as RGB (exactly a VideoSink: a subclass may handle the
    RGB frames itself)."""
    from ..sinks.video import VideoSink

    return not wants_passes and type(sink) is VideoSink


@contextlib.contextmanager
def yuv_converter(gl: GLContext, renderer: FrameRenderer, sink: Any, wants_passes: bool) -> Iterator[YuvConverter | None]:
    """A `YuvConverter` when the export's only consumer of the frame is a `VideoSink` and the
    ``yuv`` setting (`use_gpu_yuv`) converts on the GPU; ``None`` otherwise (RGB frames)."""
    if not video_only(sink, wants_passes) or not use_gpu_yuv(gl):
        yield None
        return
    with YuvConverter(gl, renderer.size) as yuv:
        yield yuv


@contextlib.contextmanager
def encoding_thread(sink: Sink, *, encoder: type[EncoderThread] = EncoderThread) -> Iterator[Callable[[Any], None]]:
    """``encode(frame)`` hands ``frame`` (what ``sink.write`` takes) to ``encoder``'s thread,
    which writes it while the caller draws the next one. Leaving normally waits until every
    frame is written (raising the thread's error, if any); an error drops the frames still
    waiting."""
    thread: EncoderThread | None = encoder(sink)
    try:
        yield thread.put
        thread.finish()
        thread = None
    finally:
        if thread is not None:
            thread.stop()


@contextlib.contextmanager
def overlapped_writer(gl: GLContext, renderer: FrameRenderer, sink: Sink,
                      yuv: YuvConverter | None = None, *,
                      encoder: type[EncoderThread] = EncoderThread) -> Iterator[FrameWriter]:
    """GL draws frame i while frame i - 2 is read back through the pixel-buffer ring and
    earlier ones are encoded on the encoder thread (``encoder``'s). Leaving normally drains
    both; an error drops the frames still waiting. With ``yuv``, the ring carries the GPU's
    yuv420p planes (1.5 bytes per pixel) instead of RGB."""
    ring_args: dict[str, Any] = {} if yuv is None else {"nbytes": yuv.nbytes, "decode": yuv.frame}
    with encoding_thread(sink, encoder=encoder) as encode, ReadbackRing(gl, renderer.size, **ring_args) as ring:
        def write(scene: Scene, t: float) -> None:
            renderer.render_to(scene, renderer.output.fbo, t=t, top_down=True)
            if yuv is None:
                ready = ring.push(renderer.output.fbo)
            else:
                yuv.convert(renderer.output.texture)
                ready = ring.push_with(yuv.read_into)
            if ready is not None:
                encode(ready)

        yield write
        while (ready := ring.pop()) is not None:
            encode(ready)
