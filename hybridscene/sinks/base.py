"""The `Sink` protocol and the base of file sinks (written atomically with
`hybridscene.atomic`).

A sink receives ``(H, W, 3) uint8`` frames and writes them somewhere. File sinks write to a
temporary name beside the target and rename it into place only when `Sink.close` succeeds;
`Sink.abort` (or an exception inside ``with``) removes the temporary file, so an
interrupted render never leaves a broken file under the final name. Opening a file sink
removes the temporaries of the same output left by dead processes (`remove_stale`); a
symbolic link as the output is written through to its target. A failure of the file system
(full disk, read-only or forbidden folder, ``ulimit -f``) while opening, writing or publishing
is a [`SinkError`][hybridscene.SinkError] naming the path and the cause.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..atomic import final_path, remove, remove_stale, temp_name, translate_os_errors
from .._validate import check_fps
from ..errors import SinkError

__all__ = ["FileSink", "Sink"]


@runtime_checkable
class Sink(Protocol):
    """Where frames go. Implement these three methods to add an output."""

    def write(self, frame: np.ndarray) -> None:
        """Take one ``(H, W, 3) uint8`` sRGB frame, top row first."""
        ...

    def close(self) -> None:
        """Finish and publish the output."""
        ...

    def abort(self) -> None:
        """Discard everything written; leave no file behind."""
        ...


class FileSink:
    """Base for sinks that write to a temporary path and publish it atomically; subclasses
    implement the format (``_write``, ``_finish``) and, for outputs other than one file, the
    target checks and the publishing (``_check_target``, ``_publish``).

    Use as a context manager: leaving normally publishes, an exception aborts.
    """

    extensions: tuple[str, ...] = ()

    def __init__(self, path: str | os.PathLike[str], *, size: tuple[int, int], fps: float) -> None:
        self.path = Path(path)
        self.target = final_path(self.path)
        """The file (or folder) written: ``path``, or where a symbolic link there points."""
        self.size = size
        self.fps = check_fps(fps)
        self.frames_written = 0
        if not self.target.parent.exists():
            raise SinkError(f"output folder {str(self.target.parent)!r} does not exist; create it first")
        self._check_target()
        remove_stale(self.target)
        self.tmp_path = temp_name(self.target)
        self._closed = False

    def _os_errors(self) -> contextlib.AbstractContextManager[None]:
        """An ``OSError`` inside becomes a `SinkError` naming the output and the cause."""
        return translate_os_errors(self.path, SinkError)

    def _check_target(self) -> None:
        if self.path.is_dir():
            raise SinkError(f"output {str(self.path)!r} is a folder; give a file name such as out.mp4")

    def _publish(self) -> None:
        os.replace(self.tmp_path, self.target)

    def _check(self, frame: np.ndarray) -> None:
        w, h = self.size
        if frame.shape != (h, w, 3) or frame.dtype != np.uint8:
            raise SinkError(f"{type(self).__name__} expects ({h}, {w}, 3) uint8 frames, got {frame.shape} {frame.dtype}")

    def write(self, frame: np.ndarray) -> None:
        self._check(frame)
        with self._os_errors():
            self._write(frame)
        self.frames_written += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            with self._os_errors():
                self._finish()
                self._publish()
        except BaseException:
            with contextlib.suppress(Exception):
                self._discard()
            remove(self.tmp_path)
            raise

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._discard()
        remove(self.tmp_path)

    # -- for subclasses ------------------------------------------------------------------------
    def _write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Flush everything into ``self.tmp_path``."""

    def _discard(self) -> None:
        """Drop open handles before the temporary file is removed."""

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
