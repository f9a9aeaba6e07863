"""What a live preview (the window or `hybridscene serve`) measured."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["PreviewStats", "frame_stats"]


@dataclasses.dataclass(frozen=True)
class PreviewStats:
    """What a preview measured, from its first frame to its last."""

    frames: int
    """Frames shown."""
    seconds: float
    """Wall-clock seconds from the first frame to the last."""
    frame_ms: dict[str, float]
    """Frame-time percentiles in milliseconds: ``p50``, ``p90``, ``p99``, ``max``."""
    render_scale: float | None = None
    """The median render scale the frames were drawn at (``render_scale`` of
    `hybridscene.live.preview` and `hybridscene.live.serve`; 1: full size); None where none was
    recorded."""

    @property
    def fps(self) -> float:
        """Mean frames per second."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """``fps=59.8 frames=600 frame_ms p50=16.7 p90=16.9 p99=17.4 max=21.0 scale=1.00``
        (``scale=`` only where the preview has a render scale)."""
        ms = " ".join(f"{k}={v:.1f}" for k, v in self.frame_ms.items())
        line = f"fps={self.fps:.1f} frames={self.frames} frame_ms {ms}"
        return line if self.render_scale is None else f"{line} scale={self.render_scale:.2f}"


def frame_stats(frame_seconds: list[float], scales: list[float] | None = None) -> PreviewStats:
    if not frame_seconds:
        return PreviewStats(frames=0, seconds=0.0, frame_ms={"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0})
    ms = np.asarray(frame_seconds) * 1000.0
    pct = {f"p{q}": round(float(np.percentile(ms, q)), 2) for q in (50, 90, 99)}
    pct["max"] = round(float(ms.max()), 2)
    scale = round(float(np.median(scales)), 2) if scales else None
    return PreviewStats(frames=len(ms), seconds=float(sum(frame_seconds)), frame_ms=pct, render_scale=scale)
