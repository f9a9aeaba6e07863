"""Exports: drive a scene's frames, in order, into sinks (files, arrays, callbacks).

[`render`][hybridscene.render] writes a video, GIF, PNG sequence or still (or part of one: a frame range or a
shard); [`assemble`][hybridscene.assemble] joins the parts; [`frames`][hybridscene.frames] yields numpy frames.
"""

from .dataset import DatasetProgress, DatasetResult, make_dataset
from .driver import Progress, ProgressCallback, RenderResult, frame_count, frames, render
from .shards import AssembleResult, assemble

__all__ = ["AssembleResult", "DatasetProgress", "DatasetResult", "Progress", "ProgressCallback", "RenderResult",
           "assemble", "frame_count", "frames", "make_dataset", "render"]
