"""Per-stage frame timings: the library's own timers, off by default.

A `StageTimer` is shared by a [`FrameRenderer`][hybridscene.FrameRenderer] and the parts it
drives (the scene renderer, the shadow pass, the compositor, the read-back). When enabled, each
stage is bracketed by ``ctx.finish()`` so its wall time is the GPU's (or the CPU rasteriser's)
work for that stage alone, not the driver's queue; that changes the frame's total a little (no
overlap between stages), so it is for benchmarks (``benchmarks/bench_stages.py``), never for
export. Disabled, a stage costs one attribute test.

    renderer.timer.enabled = True
    for t in times:
        renderer.render_frame(scene, t)
    print(renderer.timer.medians())   # {"clear": 1.2, "shadow map": 3.4, ...} in ms
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import GLContext

__all__ = ["StageTimer"]


class StageTimer:
    """Wall times of named stages over many frames (milliseconds).

    Args:
        gl: the context whose queue is drained around each stage.
    """

    def __init__(self, gl: GLContext) -> None:
        self.gl = gl
        self.enabled = False
        """Time stages (``ctx.finish()`` around each); off by default."""
        self.samples: dict[str, list[float]] = {}
        """Stage name -> its times in ms, one per run, in the order they ran."""

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body as stage ``name`` when enabled; otherwise run it as is."""
        if not self.enabled:
            yield
            return
        self.gl.mgl.finish()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.gl.mgl.finish()
            self.samples.setdefault(name, []).append((time.perf_counter() - t0) * 1000.0)

    def add(self, name: str, ms: float) -> None:
        """Record a time measured elsewhere (a stage on another thread: the encoder)."""
        if self.enabled:
            self.samples.setdefault(name, []).append(float(ms))

    def medians(self) -> dict[str, float]:
        """Stage name -> median ms over the runs recorded (stages that never ran are absent)."""
        return {name: round(statistics.median(v), 3) for name, v in self.samples.items() if v}

    def counts(self) -> dict[str, int]:
        """Stage name -> how many times it ran (a stage skipped in some frames runs fewer)."""
        return {name: len(v) for name, v in self.samples.items()}

    def reset(self) -> None:
        self.samples.clear()
