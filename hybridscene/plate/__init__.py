"""Background plates: what to show behind the foreground, made once and reused by every frame."""

from .cache import PlateCache
from .generate import PlateResult, background_plate, generate_plate
from .image import SUPPORTED_IMAGE_EXTENSIONS, load_plate
from .layout import Layout
from .plate import Plate, PlateCamera
from .procedural import PROCEDURAL_STYLES, procedural_plate
from .spec import SCHEDULERS, PlateSpec
from .upscale import upscale_plate
from .worker import PlateFuture, PlateWorker, generate_plate_async

__all__ = [
    "PROCEDURAL_STYLES",
    "SCHEDULERS",
    "SUPPORTED_IMAGE_EXTENSIONS",
    "Layout",
    "Plate",
    "PlateCache",
    "PlateCamera",
    "PlateFuture",
    "PlateResult",
    "PlateSpec",
    "PlateWorker",
    "background_plate",
    "generate_plate",
    "generate_plate_async",
    "load_plate",
    "procedural_plate",
    "upscale_plate",
]
