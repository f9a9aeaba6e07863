"""Clocks: where scene time comes from. Time is always injected, never read inside a scene.

* [`FixedStepClock`][hybridscene.FixedStepClock] gives frame ``i`` the time ``start + i / fps`` exactly, so an export of
  the same scene and seed is identical frame for frame, however slow the machine is.
* [`RealtimeClock`][hybridscene.RealtimeClock] follows the wall clock (for a live preview), with pause and stepping.

Both satisfy the [`Clock`][hybridscene.Clock] protocol, so tests can drive a scene with a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

from .errors import ConfigError

__all__ = ["Clock", "FixedStepClock", "RealtimeClock"]


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


class FixedStepClock:
    """Frame-exact time for exports: frame ``i`` is at ``start + i / fps`` seconds."""

    def __init__(self, fps: float, *, start: float = 0.0) -> None:
        self.fps = _check_fps(fps)
        self.start = float(start)
        self.frame = 0

    def time(self) -> float:
        return self.start + self.frame / self.fps

    def tick(self) -> float:
        """Advance one frame and return the new time."""
        self.frame += 1
        return self.time()

    def times(self, frames: int) -> Iterator[float]:
        """The times of ``frames`` consecutive frames from frame 0."""
        return (self.start + i / self.fps for i in range(frames))


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
