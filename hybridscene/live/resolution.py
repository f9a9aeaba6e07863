"""Dynamic resolution for the live preview: when frames take longer than the frame rate allows,
the frame is drawn at a lower render scale and filtered up to the window, as game engines and
3D viewports do; when there is time to spare again, the scale comes back up. A paused frame, a
screenshot and the other layers are always drawn at full size.

`RenderScale` only decides the scale from the frames' times; the preview draws with it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..compose.frame import FrameRenderer

__all__ = ["COARSE_RELIEF_AT", "LEVELS", "RenderScale", "relief_lod", "scaled_renderer", "scaled_size"]

log = logging.getLogger(__name__)

LEVELS: tuple[float, ...] = (1.0, 0.85, 0.7, 0.6, 0.5)
"""The render scales ``auto`` steps through (of the width and of the height: 0.7 draws about
half the pixels)."""

COARSE_RELIEF_AT = 0.6
"""At this render scale and below, a relief is drawn at half detail
(`hybridscene.plate.relief.relief_geometry`'s ``lod`` 2: its edges followed to two plate
pixels, 1.2 frame pixels or less at this scale), since a CPU rasteriser pays per triangle, not
per pixel, and fewer pixels alone leave that cost whole."""


def relief_lod(scale: float) -> int:
    """The reliefs' level of detail for frames drawn at ``scale``: 2 at `COARSE_RELIEF_AT` and
    below, else 1."""
    return 2 if scale <= COARSE_RELIEF_AT else 1


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """``size`` times ``scale``, each side even (video-friendly) and at least 2 pixels; ``size``
    itself at scale 1."""
    if scale >= 1.0:
        return size
    return tuple(max(2, int(round(side * scale / 2.0)) * 2) for side in size)  # type: ignore[return-value]


def scaled_renderer(full: FrameRenderer, current: FrameRenderer | None, scale: float) -> FrameRenderer:
    """The renderer drawing ``full``'s frames at ``scale`` of its size (`scaled_size`):
    ``current`` when it has that size already, else a new one (``current`` is released). A new
    one has ``full``'s samples and edge anti-aliasing, shares its reliefs (and the context's
    programs), keeps the shadow map's texels per pixel, and draws its reliefs at `relief_lod`
    (at full detail until the coarser relief is computed)."""
    size = scaled_size(full.size, scale)
    if current is not None and current.size == size:
        return current
    if current is not None:
        current.release()
    from ..compose.frame import FrameRenderer

    renderer = FrameRenderer(full.gl, size, samples=full.samples, edge_aa=full.edge_aa is not None)
    renderer.parallax.share_geometry(full.parallax)
    renderer.scene_renderer.shadows.resolution_scale = scale
    renderer.parallax.lod = relief_lod(scale)
    log.info("render scale %.2f (%dx%d)", scale, *size)
    return renderer


class RenderScale:
    """The render scale for the next frame, from how long the last ones took.

    Args:
        mode: ``"auto"``, or a fixed scale (then `update` always returns it).
        target_fps: the frame rate to hold; a frame's budget is ``1000 / target_fps`` ms.
        levels: the scales ``auto`` may use, largest first.

    With ``auto``, the first `SETTLE_FIRST` frames, and after a change of scale the first
    `SETTLE` frames, are not judged (a new size's first frames build its targets). Then the scale steps down a level as soon as the
    median of the last `WINDOW` frames exceeds `OVER` times the budget (further while the
    level's pixels say it still would, an optimistic estimate), and up one level when
    that median, grown by the next level's pixels (a pessimistic estimate: part of a frame does
    not scale with its pixels), is under `HEADROOM` of the budget after `RISE_FRAMES` frames at
    a level. A step up taken back soon after waits twice as long the next time, so the scale
    does not oscillate."""

    SETTLE = 4
    """Frames after a change that are not judged."""
    SETTLE_FIRST = 10
    """Frames not judged at the start (the first frames still upload and build what later
    frames reuse)."""
    WINDOW = 8
    """Frames whose median is judged (a single slow frame is not a trend)."""
    OVER = 1.0
    """A median over this much of the budget steps down."""
    HEADROOM = 0.9
    """A step up needs the estimate at the next level under this much of the budget."""
    RISE_FRAMES = 45
    """Frames at a level before a step up."""

    def __init__(self, mode: float | str = "auto", *, target_fps: float = 30.0,
                 levels: Sequence[float] = LEVELS) -> None:
        self.auto = mode == "auto"
        self.levels = tuple(levels)
        self.budget_ms = 1000.0 / float(target_fps)
        self.scale = 1.0 if self.auto else float(mode)
        self._index = 0
        self._times: list[float] = []
        self._since_change = self.SETTLE - self.SETTLE_FIRST
        self._rise_after = self.RISE_FRAMES
        self._rose = False  # the last change was a step up

    def update(self, frame_ms: float) -> float:
        """Record the last frame's time (drawn at `scale`); returns the scale for the next."""
        if not self.auto:
            return self.scale
        self._since_change += 1
        if self._rose and self._since_change >= 2 * self._rise_after:  # the step up held: patience as at first
            self._rose = False
            self._rise_after = self.RISE_FRAMES
        if self._since_change <= self.SETTLE:
            return self.scale
        self._times = (self._times + [float(frame_ms)])[-self.WINDOW:]
        if len(self._times) < min(self.WINDOW, 3):
            return self.scale
        typical = sorted(self._times)[len(self._times) // 2]  # the median: one slow frame (a hitch) is not a trend
        if typical > self.OVER * self.budget_ms and self._index + 1 < len(self.levels):
            if self._rose and self._since_change < 2 * self._rise_after:  # the step up did not hold:
                self._rise_after *= 2  # wait longer before the next one
            # Down as far as the pixels say at once (an optimistic estimate: one step at least).
            steps = 1
            while self._index + steps + 1 < len(self.levels) and \
                    typical * (self.levels[self._index + steps] / self.scale) ** 2 > self.budget_ms:
                steps += 1
            self._step(steps, rose=False)
        elif self._index > 0 and self._since_change >= self._rise_after:
            grow = (self.levels[self._index - 1] / self.levels[self._index]) ** 2
            if typical * grow < self.HEADROOM * self.budget_ms:
                self._step(-1, rose=True)
        return self.scale

    def _step(self, direction: int, *, rose: bool) -> None:
        self._index += direction
        self.scale = self.levels[self._index]
        self._times = []
        self._since_change = 0
        self._rose = rose
