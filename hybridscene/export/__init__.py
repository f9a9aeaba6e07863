"""Exports: drive a scene's frames, in order, into sinks (files, arrays, callbacks).

[`render`][hybridscene.render] writes a video, GIF, PNG sequence or still; [`frames`][hybridscene.frames] yields numpy frames.
"""

from .dataset import DatasetProgress, DatasetResult, make_dataset
from .driver import Progress, ProgressCallback, RenderResult, frame_count, frames, render

__all__ = ["DatasetProgress", "DatasetResult", "Progress", "ProgressCallback", "RenderResult", "frame_count", "frames",
           "make_dataset", "render"]
