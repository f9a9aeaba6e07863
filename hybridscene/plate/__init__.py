"""Background plates: what to show behind the foreground, made once and reused by every frame."""

from .image import SUPPORTED_IMAGE_EXTENSIONS, load_plate
from .plate import Plate, PlateCamera
from .procedural import PROCEDURAL_STYLES, procedural_plate

__all__ = [
    "PROCEDURAL_STYLES",
    "SUPPORTED_IMAGE_EXTENSIONS",
    "Plate",
    "PlateCamera",
    "load_plate",
    "procedural_plate",
]
