"""Clocks: where scene time comes from. Time is always injected, never read inside a scene.

* [`FixedStepClock`][hybridscene.FixedStepClock] gives frame ``i`` the time [`frame_time`][hybridscene.frame_time]
  ``(i, fps, start)`` = ``start + i / fps``, computed from the integer index (never by adding
  steps), so an export of the same scene and seed is identical frame for frame however slow the
  machine is, and frames ``a..b`` rendered alone (a shard) are the same as in a whole render.
* [`RealtimeClock`][hybridscene.RealtimeClock] follows the wall clock (for a live preview), with pause and stepping.

Both satisfy the [`Clock`][hybridscene.Clock] protocol, so tests can drive a scene with a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

from .errors import ConfigError

__all__ = ["Clock", "FixedStepClock", "RealtimeClock", "frame_time"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the scene time in seconds."""

    def time(self) -> float:
        """Current scene time in seconds."""
        ...


def _check_fps(fps: float) -> float:
    if not isinstance(fps, (int, float)) or not fps > 0 or fps != fps or fps == float("inf"):
        raise ConfigError(f"fps must be a positive number, got {fps!r}; try 24, 30 or 60")
    return float(fps)


def frame_time(index: int, fps: float, start: float = 0.0) -> float:
    """The scene time of frame ``index``: ``start + index / fps`` seconds.

    The one place frame times are computed: exports, passes, labels, datasets, shards and the
    preview's frame stepping all call it with the integer index, so frame 1234 has the same time
    whether a render starts at frame 0 or at frame 1200 (adding ``1 / fps`` per frame, or starting
    at ``start=1200 / fps``, differs in the last bits for about a quarter of the frames at 30 fps).
    """
    return start + index / fps


class FixedStepClock:
    """Frame-exact time for exports: frame ``i`` is at [`frame_time`][hybridscene.frame_time]
    ``(i, fps, start)`` seconds."""

    def __init__(self, fps: float, *, start: float = 0.0) -> None:
        self.fps = _check_fps(fps)
        self.start = float(start)
        self.frame = 0

    def time(self) -> float:
        return frame_time(self.frame, self.fps, self.start)

    def tick(self) -> float:
        """Advance one frame and return the new time."""
        self.frame += 1
        return self.time()

    def time_of(self, index: int) -> float:
        """The time of frame ``index`` (an integer, counted from frame 0 at ``start``)."""
        return frame_time(index, self.fps, self.start)

    def times(self, frames: int | range) -> Iterator[float]:
        """The times of ``frames`` consecutive frames from frame 0, or of the frames of a
        ``range`` of indices (a shard: ``range(1200, 1500)``)."""
        indices = frames if isinstance(frames, range) else range(frames)
        return (frame_time(i, self.fps, self.start) for i in indices)


class RealtimeClock:
    """Wall-clock time for previews, pausable; ``timer`` is injectable for tests."""

    def __init__(self, *, timer: Callable[[], float] = time.perf_counter) -> None:
        self._timer = timer
        self._origin = timer()
        self._paused_at: float | None = None

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def time(self) -> float:
        now = self._paused_at if self._paused_at is not None else self._timer()
        return now - self._origin

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = self._timer()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._origin += self._timer() - self._paused_at
            self._paused_at = None

    def seek(self, t: float) -> None:
        """Jump to scene time ``t`` (works paused or running)."""
        now = self._paused_at if self._paused_at is not None else self._timer()
        self._origin = now - t
