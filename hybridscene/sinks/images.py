"""Image outputs through Pillow: animated GIF, a PNG sequence in a folder, a single still."""

from __future__ import annotations

import os
import re
from typing import Any, BinaryIO

import numpy as np

from ..atomic import publish_dir
from ..errors import SinkError
from .base import FileSink
from .manifest import MANIFEST, build_manifest, frame_digest, write_manifest

__all__ = ["GifSink", "PngSequenceSink", "StillSink"]


class GifSink(FileSink):
    """An animated GIF, looping forever, with a palette per frame (Floyd-Steinberg dithered).

    GIF delays are whole centiseconds; frame delays alternate so the total length matches
    ``frames / fps`` to within 10 ms (30 fps gives 30, 30, 40, ... ms).

    Frames are streamed: each is quantized, LZW-encoded and appended to the temporary file as it
    arrives (with Pillow's GIF frame writer), so memory stays flat however long the animation
    (Pillow's ``save_all`` would hold every frame until the end).
    """

    extensions = (".gif",)

    def __init__(self, path: str | os.PathLike[str], *, size: tuple[int, int], fps: float, loop: int = 0) -> None:
        if isinstance(fps, (int, float)) and fps > 100:
            raise SinkError(f"a GIF cannot play {fps:g} fps (its delays are whole hundredths of a second); "
                            "use at most 100 fps, or write an MP4")
        super().__init__(path, size=size, fps=fps)
        self.loop = loop
        self._file: BinaryIO | None = None

    def _delay_ms(self, i: int) -> int:
        """The delay of frame ``i`` (see `durations_ms`)."""
        end = int(round((i + 1) * 100.0 / self.fps)) * 10
        start = int(round(i * 100.0 / self.fps)) * 10 if i else 0
        return max(10, end - start)

    def _write(self, frame: np.ndarray) -> None:
        from PIL import GifImagePlugin, Image

        image = Image.fromarray(frame, "RGB").quantize(colors=256, dither=Image.Dither.FLOYDSTEINBERG)
        if self._file is None:
            self._file = open(self.tmp_path, "wb")  # noqa: SIM115 - closed in _finish or _discard
            header, _ = GifImagePlugin.getheader(image, info={"loop": self.loop})
            self._file.write(b"".join(header))
        data = GifImagePlugin.getdata(image, duration=self._delay_ms(self.frames_written), disposal=1,
                                      include_color_table=True)
        self._file.write(b"".join(data))

    def durations_ms(self, count: int) -> list[int]:
        """Per-frame delays in ms, multiples of 10, summing to ``count / fps`` seconds."""
        return [self._delay_ms(i) for i in range(count)]

    def _finish(self) -> None:
        if self._file is None:
            raise SinkError(f"no frames were written to {str(self.path)!r}")
        self._file.write(b";")  # the GIF trailer
        self._file.close()
        self._file = None

    def _discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class StillSink(FileSink):
    """One frame as a PNG, JPEG or WebP image."""

    extensions = (".png", ".jpg", ".jpeg", ".webp")

    def __init__(self, path: str | os.PathLike[str], *, size: tuple[int, int], fps: float = 1.0) -> None:
        super().__init__(path, size=size, fps=fps)

    def _write(self, frame: np.ndarray) -> None:
        from PIL import Image

        if self.frames_written:
            raise SinkError(
                f"{str(self.path)!r} is a single image; render one frame (--frames 1) "
                "or give a folder ending in / for a PNG sequence"
            )
        fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}[self.path.suffix.lower()]
        opts = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
        Image.fromarray(frame, "RGB").save(self.tmp_path, format=fmt, **opts)

    def _finish(self) -> None:
        if not self.frames_written:
            raise SinkError(f"no frame was written to {str(self.path)!r}")


class PngSequenceSink(FileSink):
    """Frames as ``DIR/00000.png, 00001.png, ...``.

    Frames go into a hidden temporary folder beside ``DIR``; on close it replaces ``DIR``. An
    existing ``DIR`` is replaced only if it is empty or holds nothing but such frame files
    (anything else is an error, so no unrelated file is ever deleted).
    """

    kind = "frames"
    """What the folder holds, for its ``manifest.json`` (see `hybridscene.sinks.manifest`)."""

    def __init__(
        self, path: str | os.PathLike[str], *, size: tuple[int, int], fps: float, compress_level: int = 3,
        first_frame: int = 0,
    ) -> None:
        """``first_frame``: the index of the first frame written (a shard's start): frame files
        are named by their index in the whole render."""
        if isinstance(first_frame, bool) or not isinstance(first_frame, int) or first_frame < 0:
            raise SinkError(f"first_frame must be a frame index >= 0, got {first_frame!r}")
        super().__init__(path, size=size, fps=fps)
        self.compress_level = compress_level
        self.first_frame = first_frame
        self.digests: list[str] = []
        """sha256 of each written frame's pixels, in order (see `frame_digest`)."""
        self.manifest: dict[str, Any] = {}
        """Fields added to the folder's ``manifest.json`` (the render's range, GL, scene)."""
        with self._os_errors():
            self.tmp_path.mkdir()

    frame_file = re.compile(r"^\d{5,}\.png$")
    """Names this sink writes: a folder holding only such files (and ``manifest.json``) may be replaced."""

    @property
    def index(self) -> int:
        """The index (in the whole render) of the next frame to write."""
        return self.first_frame + self.frames_written

    def _check_target(self) -> None:
        if not self.target.exists():
            return
        if not self.target.is_dir():
            raise SinkError(f"{str(self.path)!r} is a file; a PNG sequence needs a folder")
        with self._os_errors():
            others = sorted(p.name for p in self.target.iterdir()
                            if not self.frame_file.match(p.name) and p.name != MANIFEST)
        if others:
            raise SinkError(
                f"folder {str(self.path)!r} holds other files ({', '.join(others[:3])}); "
                "choose an empty or new folder for the PNG sequence"
            )

    def write(self, frame: np.ndarray) -> None:
        self._check(frame)
        with self._os_errors():
            record = self.files(self.index, frame)
        self.accept(record)

    # -- a frame's files, and the record of them ----------------------------------------------
    # A frame is written in two steps: `files` writes its files into the temporary folder and
    # returns a small record, changing nothing in the sink; `accept` adds the record (in frame
    # order). `write` does both; Ray's workers run `files` on a copy of the sink, in a folder the
    # driver also sees, and the driver `accept`s what they return.
    def files(self, i: int, frame: Any) -> dict[str, Any]:
        """Write frame ``i``'s files into the temporary folder; return its record."""
        from PIL import Image

        Image.fromarray(frame, "RGB").save(self.tmp_path / f"{i:05d}.png", format="PNG",
                                           compress_level=self.compress_level)
        return {"digest": frame_digest(frame)}

    def accept(self, record: dict[str, Any]) -> None:
        """Add the record `files` returned for the next frame (`index`)."""
        self.digests.append(record["digest"])
        self.frames_written += 1

    def frame_files(self, i: int) -> list[str]:
        """The files `files` always writes for frame ``i`` (relative to the folder)."""
        return [f"{i:05d}.png"]

    def check_files(self) -> None:
        """Check that every accepted frame's files are in the temporary folder (written by
        another process: Ray's workers), before the folder is published.

        Raises:
            SinkError: a file is missing.
        """
        for i in range(self.first_frame, self.index):
            for name in self.frame_files(i):
                if not (self.tmp_path / name).is_file():
                    raise SinkError(f"{name} of {str(self.path)!r} is missing, although a worker reported frame {i} "
                                    "written; is the output folder on a file system every node sees?")

    def _publish(self) -> None:
        write_manifest(self.tmp_path, build_manifest(kind=self.kind, start=self.first_frame, digests=self.digests,
                                                     size=self.size, fps=self.fps, extra=self.manifest))
        publish_dir(self.tmp_path, self.target)
