"""Encoding frames on a worker thread while the GL thread renders the next ones."""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Any

from ..errors import Cancelled

if TYPE_CHECKING:
    from .base import Sink

__all__ = ["EncoderThread"]


class EncoderThread:
    """Writes frames to a sink on a worker thread while the GL thread renders the next ones.

    Encoding releases the GIL (PyAV's colour conversion and libx264 run in C without it), so
    rendering and encoding overlap. At most ``depth`` frames wait; a failure in the sink is
    raised on the GL thread at the next frame or at `finish`.
    """

    def __init__(self, sink: Sink, depth: int = 4) -> None:
        self.sink = sink
        self.error: BaseException | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
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

    def put(self, frame: Any) -> None:
        """Queue ``frame`` (what the sink's ``write`` takes: an RGB array, a `Yuv420Frame`)."""
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
