"""Exports: drive a scene's frames, in order, into sinks (files, arrays, callbacks).

[`render`][hybridscene.render] writes a video, GIF, PNG sequence or still; [`frames`][hybridscene.frames] yields numpy frames.
"""

from .driver import Progress, ProgressCallback, RenderResult, frame_count, frames, render

__all__ = ["Progress", "ProgressCallback", "RenderResult", "frame_count", "frames", "render"]
