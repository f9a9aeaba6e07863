"""The frame: scene, time and passes in; layers and a composite out, on the GPU, in linear light.
[`FrameRenderer`][hybridscene.FrameRenderer] is the one frame function that export, window and stills share."""

from .compositor import Compositor
from .frame import FrameLayers, FrameRenderer
from .layers import ForegroundLayer, Layer, PlateLayer
from .passes import ALL_PASSES, DEFAULT_PASSES, CameraInfo, FramePasses, InstanceInfo, check_passes

__all__ = ["ALL_PASSES", "DEFAULT_PASSES", "CameraInfo", "Compositor", "ForegroundLayer", "FrameLayers", "FramePasses",
           "FrameRenderer", "InstanceInfo", "Layer", "PlateLayer", "check_passes"]
