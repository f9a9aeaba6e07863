"""Video files through PyAV (in-process FFmpeg with libx264): H.264, yuv420p, BT.709, faststart."""

from __future__ import annotations

import dataclasses
import logging
import os
from fractions import Fraction
from typing import Any

import numpy as np

from .._validate import check_size
from ..atomic import os_error_message
from ..errors import SinkError
from .base import FileSink

__all__ = ["VideoSink", "Yuv420Frame"]

log = logging.getLogger(__name__)

_CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}


@dataclasses.dataclass(frozen=True)
class Yuv420Frame:
    """A frame already in yuv420p (BT.709, limited range), e.g. converted on the GPU
    (`hybridscene.gpu.yuv.YuvConverter`); `VideoSink` encodes it without a colour conversion."""

    y: np.ndarray
    """``(H, W) uint8`` luma, 16-235, top row first."""
    u: np.ndarray
    """``(H / 2, W / 2) uint8`` Cb, 16-240."""
    v: np.ndarray
    """``(H / 2, W / 2) uint8`` Cr, 16-240."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the frame."""
        return self.y.shape  # type: ignore[return-value]


class VideoSink(FileSink):
    """H.264 video (MP4, MOV or MKV).

    `write` takes ``(H, W, 3) uint8`` sRGB frames (converted to yuv420p by libswscale),
    ``(H, W, 4)`` ones, whose alpha is dropped (video has none; the same yuv420p bytes as their
    RGB, and what a GPU's RGBA8 target reads back without repacking), `Yuv420Frame` planes
    (encoded as they are), or what `convert` made of any of them.

    Args:
        path: output file; the container comes from the extension.
        size: ``(width, height)``; both must be even for yuv420p (see `fit_size`).
        fps: frames per second (fractional rates such as 29.97 are kept exact to 1/1001).
        crf: libx264 constant rate factor (lower = better; 20 is visually near-lossless for
            rendered content, 0 is lossless).
        preset: libx264 speed/size trade-off (``ultrafast`` ... ``veryslow``).
        codec: an FFmpeg encoder name; ``libx264`` by default.
        threads: encoder threads, 0 = automatic.
    """

    extensions = tuple(_CONTAINERS)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        size: tuple[int, int],
        fps: float,
        crf: int = 20,
        preset: str = "veryfast",
        codec: str = "libx264",
        threads: int = 0,
    ) -> None:
        super().__init__(path, size=size, fps=fps)
        w, h = size
        if w % 2 or h % 2:
            even = self.fit_size(size, warn=False)
            raise SinkError(
                f"video size {w}x{h} must be even in both directions for yuv420p; "
                f"use {even[0]}x{even[1]}"
            )
        if not 0 <= int(crf) <= 51:
            raise SinkError(f"crf must be in 0..51 (lower is better quality), got {crf!r}")
        import av

        self._av = av
        container_format = _CONTAINERS[self.path.suffix.lower()]
        options = {"movflags": "+faststart"} if container_format in ("mp4", "mov") else {}
        try:
            self._container = av.open(str(self.tmp_path), mode="w", format=container_format, options=options)
        except OSError as exc:  # PyAV's errors carry the errno: a full disk, a read-only folder, ...
            raise SinkError(os_error_message(exc, self.path)) from None
        except Exception as exc:
            raise SinkError(f"cannot write video to {str(self.path)!r}: {exc}") from None
        try:
            rate = Fraction(fps).limit_denominator(1001)
            stream: Any = self._container.add_stream(codec, rate=rate)
            stream.width, stream.height = w, h
            stream.pix_fmt = "yuv420p"
            stream.time_base = 1 / rate
            stream.options = {"crf": str(int(crf)), "preset": preset}
            if threads:
                stream.codec_context.thread_count = int(threads)
            cc = stream.codec_context
            # Rendered frames are sRGB; tag and convert as BT.709, limited range (what players assume for HD).
            cc.colorspace = 1  # AVCOL_SPC_BT709
            cc.color_primaries = 1  # AVCOL_PRI_BT709
            cc.color_trc = 1  # AVCOL_TRC_BT709
            cc.color_range = 1  # AVCOL_RANGE_MPEG
        except Exception as exc:
            self._container.close()
            raise SinkError(f"cannot set up the {codec!r} encoder: {exc}") from None
        self._stream = stream
        self.codec, self.crf, self.preset = codec, int(crf), preset

    @staticmethod
    def fit_size(size: tuple[int, int], *, warn: bool = True) -> tuple[int, int]:
        """The largest even size not above ``size`` (yuv420p needs even sizes); logs a warning
        when it changes anything.

        Raises:
            ConfigError: ``size`` is not two positive integers (0 or negative is never rounded up).
        """
        w, h = check_size(size)
        even = (max(2, w - w % 2), max(2, h - h % 2))
        if warn and even != (w, h):
            log.warning("video size %dx%d is not even; rendering %dx%d instead", w, h, *even)
        return even

    def _check(self, frame: np.ndarray | Yuv420Frame) -> None:  # type: ignore[override]
        if isinstance(frame, self._av.VideoFrame):
            w, h = self.size
            if (frame.width, frame.height, frame.format.name) != (w, h, "yuv420p"):
                raise SinkError(f"VideoSink expects a {w}x{h} yuv420p av.VideoFrame (from VideoSink.convert), "
                                f"got {frame.width}x{frame.height} {frame.format.name}")
            return None
        if not isinstance(frame, Yuv420Frame):
            w, h = self.size
            if frame.shape not in ((h, w, 3), (h, w, 4)) or frame.dtype != np.uint8:
                raise SinkError(f"VideoSink expects ({h}, {w}, 3) or ({h}, {w}, 4) uint8 frames, "
                                f"got {frame.shape} {frame.dtype}")
            return None
        w, h = self.size
        shapes = [(p.shape, p.dtype) for p in (frame.y, frame.u, frame.v)]
        want = [((h, w), np.uint8), ((h // 2, w // 2), np.uint8), ((h // 2, w // 2), np.uint8)]
        if shapes != want:
            got = ", ".join(f"{s} {d}" for s, d in shapes)
            raise SinkError(f"VideoSink expects yuv420p planes ({h}, {w}), ({h // 2}, {w // 2}) x 2 uint8, got {got}")

    def convert(self, frame: np.ndarray | Yuv420Frame) -> Any:
        """The yuv420p ``av.VideoFrame`` that `write` encodes for ``frame`` (an RGB or RGBA
        array, or `Yuv420Frame` planes), which `write` then takes as it is: for a caller that
        converts on one thread and encodes on another (the export on a CPU rasteriser converts on
        the GL thread while libx264 runs on the encoder thread). libswscale drops the GIL."""
        self._check(frame)
        return self._convert(frame)

    def _convert(self, frame: Any) -> Any:
        av = self._av
        if isinstance(frame, av.VideoFrame):
            return frame
        if isinstance(frame, Yuv420Frame):
            w, h = self.size
            vf = av.VideoFrame(w, h, "yuv420p")
            for plane, src in zip(vf.planes, (frame.y, frame.u, frame.v)):
                rows, cols = src.shape
                # PyAV pads rows to its alignment (line_size >= width): copy row by row into the plane.
                np.frombuffer(plane, np.uint8).reshape(rows, plane.line_size)[:, :cols] = src
            vf.colorspace, vf.color_range = 1, 1  # AVCOL_SPC_BT709, AVCOL_RANGE_MPEG (as reformat tags them)
        else:
            fmt = "rgba" if frame.shape[2] == 4 else "rgb24"
            # Wrapped, not copied, when its rows are contiguous (a read-back's are): copying a
            # 1280x720 RGBA frame into a new AVFrame took 2.4 ms alone (the conversion 1.6), and
            # in glossy's export the conversion's 2.5 ms become 1.9.
            # The array outlives the wrapper: reformat returns a frame with buffers of its own.
            vf = av.VideoFrame.from_numpy_buffer(frame, format=fmt) if frame.flags.c_contiguous \
                else av.VideoFrame.from_ndarray(frame, format=fmt)
            # One swscale thread: the same bytes as its default (threads per core), and on a machine
            # whose cores are busy rendering and encoding, 13.9 ms instead of 20.9 ms a 1280x720
            # frame (benchmarks/bench_yuv.py, 2 cores).
            vf = vf.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG", threads=1)
        return vf

    def _write(self, frame: Any) -> None:  # type: ignore[override]
        vf = self._convert(frame)
        vf.pts = self.frames_written
        for packet in self._stream.encode(vf):
            self._container.mux(packet)

    def _finish(self) -> None:
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()

    def _discard(self) -> None:
        self._container.close()
