"""Per-frame layers for compositing software: ``DIR/{i:05d}.<name>``.

=====================  ======================================================================
file                   content
=====================  ======================================================================
``plate.png``          the plate as fitted to the frame, before shadows (8-bit sRGB)
``plate_depth.npy``    float32 metres along the view axis, ``inf`` sky (when the plate has depth)
``foreground.png``     RGBA, straight alpha, sRGB; already hidden where the plate is nearer
``depth.npy``          float32 metres to the nearest foreground surface, ``inf`` where empty
``ids.png``            16-bit object ids, 0 = none (``ids.json`` maps ids to node names)
``shadow.png``         8-bit *linear* multiplier of the plate, 255 = unshadowed (with shadows)
``composite.png``      the final frame
=====================  ======================================================================

``composite = foreground over (plate x shadow)`` in linear light with the foreground
premultiplied, as Nuke or OpenImageIO compute it (linearise the sRGB PNGs first). Additive
particles (glows) add light with zero alpha, which a straight-alpha PNG cannot hold: they are in
``composite.png`` but not in ``foreground.png``.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import numpy as np

from .images import PngSequenceSink

if TYPE_CHECKING:
    from ..compose.frame import FrameLayers

__all__ = ["LayerSink"]


class LayerSink(PngSequenceSink):
    """Writes [`FrameLayers`][hybridscene.FrameLayers] into a folder, atomically (the folder
    appears whole when the render finishes)."""

    frame_file = re.compile(r"^(\d{5}\.[a-z_]+\.(png|npy)|ids\.json)$")

    def write(self, frame: np.ndarray) -> None:  # pragma: no cover - use write_layers
        raise TypeError("LayerSink takes whole frames' layers: use write_layers()")

    def write_layers(self, layers: FrameLayers) -> None:
        with self._os_errors():
            self._write_layers(layers)
        self.frames_written += 1

    def _write_layers(self, layers: FrameLayers) -> None:
        from PIL import Image

        i = self.frames_written
        d = self.tmp_path
        level = self.compress_level
        Image.fromarray(layers.plate, "RGB").save(d / f"{i:05d}.plate.png", compress_level=level)
        Image.fromarray(layers.foreground, "RGBA").save(d / f"{i:05d}.foreground.png", compress_level=level)
        Image.fromarray(layers.composite, "RGB").save(d / f"{i:05d}.composite.png", compress_level=level)
        Image.fromarray(layers.ids.astype(np.uint16)).save(d / f"{i:05d}.ids.png", compress_level=level)
        np.save(d / f"{i:05d}.depth.npy", layers.depth)
        if layers.plate_depth is not None:
            np.save(d / f"{i:05d}.plate_depth.npy", layers.plate_depth)
        if layers.shadow is not None:
            Image.fromarray(layers.shadow, "L").save(d / f"{i:05d}.shadow.png", compress_level=level)
        (d / "ids.json").write_text(json.dumps({str(k): v for k, v in layers.names.items()}, indent=1))
