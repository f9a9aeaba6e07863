"""Compositing: the layer stack to the final frame, on the GPU, in linear light."""

from .compositor import Compositor, cover_rect, plate_mapping

__all__ = ["Compositor", "cover_rect", "plate_mapping"]
