"""The frame: scene, time and passes in; layers and a composite out, on the GPU, in linear light.
[`FrameRenderer`][hybridscene.FrameRenderer] is the one frame function that export, window and stills share."""

from .compositor import Compositor
from .frame import FrameLayers, FrameRenderer
from .layers import ForegroundLayer, Layer, PlateLayer

__all__ = ["Compositor", "ForegroundLayer", "FrameLayers", "FrameRenderer", "Layer", "PlateLayer"]
