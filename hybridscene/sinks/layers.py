"""Per-frame render passes as PNG and NumPy files: ``DIR/{i:05d}.<pass>.<ext>``.

=====================  ======================================================================
file                   content
=====================  ======================================================================
``composite.png``      the final frame (exactly the video's frame, 8-bit sRGB)
``plate.png``          the plate as fitted to the frame, before shadows (8-bit sRGB)
``plate_depth.npy``    float32 metres along the view axis, ``inf`` sky (when the plate has depth)
``foreground.png``     RGBA, straight alpha, sRGB; already hidden where the plate is nearer
``depth.npy``          float32 metres to the nearest foreground surface, ``inf`` where empty
``ids.png``            16-bit object ids, 0 = none (``ids.json`` maps ids to node names)
``shadow.png``         8-bit *linear* multiplier of the plate, 255 = unshadowed (with shadows)
``normals.npy``        float32 ``(H, W, 3)`` camera-space unit normals (OpenGL axes), 0 empty
``flow.npy``           float32 ``(H, W, 2)`` forward optical flow in pixels, +x right, +y down
=====================  ======================================================================

``composite = foreground over (plate x shadow)`` in linear light with the foreground
premultiplied, as Nuke or OpenImageIO compute it (linearise the sRGB PNGs first).

What PNG cannot carry, and so what ``--layer-format exr`` is for: light brighter than white
(8-bit sRGB clips at 1.0), light with no alpha (additive particles, glows, have alpha 0 and
colour > 0: a straight-alpha PNG stores colour divided by alpha, so they are in
``composite.png`` but not in ``foreground.png``, and these layers do not recompose into the
composite where glows are), and any signed or unbounded value (depth, normals and flow are
therefore ``.npy`` files, which NumPy reads and compositors do not).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from ..compose.passes import DEFAULT_PASSES, check_passes, srgb8, straight_srgba8
from ..errors import SinkError
from .images import PngSequenceSink
from .manifest import frame_digest

if TYPE_CHECKING:
    import os

    from ..compose.frame import FrameLayers
    from ..compose.passes import FramePasses

__all__ = ["LayerSink"]


class LayerSink(PngSequenceSink):
    """Writes render passes ([`FramePasses`][hybridscene.FramePasses]) into a folder as PNG and
    NumPy files, atomically (the folder appears whole when the render finishes).

    Args:
        passes: which passes to write (default `DEFAULT_PASSES`; see
            [`check_passes`][hybridscene.check_passes]).
    """

    frame_file = re.compile(r"^(\d{5,}\.[a-z_]+\.(png|npy)|ids\.json)$")
    kind = "layers"

    def __init__(self, path: str | os.PathLike[str], *, size: tuple[int, int], fps: float, passes: Any = None,
                 compress_level: int = 3, first_frame: int = 0) -> None:
        self.passes = check_passes(passes) if passes is not None else DEFAULT_PASSES
        super().__init__(path, size=size, fps=fps, compress_level=compress_level, first_frame=first_frame)
        self._names: dict[int, str] = {}

    @property
    def render_passes(self) -> tuple[str, ...]:
        """The passes the renderer must compute for this sink (``composite.png`` is the
        displayed frame itself, so the float composite is not needed)."""
        return tuple(p for p in self.passes if p != "composite")

    def write(self, frame: np.ndarray) -> None:  # pragma: no cover - use write_passes
        raise TypeError("LayerSink takes a frame's render passes: use write_passes()")

    def write_passes(self, fp: FramePasses) -> None:
        """Write one frame's passes (those of this sink's ``passes`` that ``fp`` has)."""
        with self._os_errors():
            record = self.files(self.index, fp)
        self.accept(record)

    def files(self, i: int, fp: Any) -> dict[str, Any]:
        """Write frame ``i``'s pass files; return its record (see `PngSequenceSink.files`)."""
        self._write_passes(i, fp)
        return {"digest": frame_digest(fp.frame), "names": dict(fp.names) if "ids" in self.passes else {}}

    def frame_files(self, i: int) -> list[str]:
        # plate_depth and shadow are written only when the frame has them
        ext = {"plate": "png", "foreground": "png", "composite": "png", "ids": "png", "depth": "npy",
               "normals": "npy", "flow": "npy"}
        return [f"{i:05d}.{p}.{ext[p]}" for p in self.passes if p in ext]

    def accept(self, record: dict[str, Any]) -> None:
        if record["names"]:
            self._names.update(record["names"])
            with self._os_errors():
                self._write_names()
        super().accept(record)

    def write_layers(self, layers: FrameLayers) -> None:
        """Write one frame of 8-bit [`FrameLayers`][hybridscene.FrameLayers] (0.2's API)."""
        from PIL import Image

        i, d, level = self.index, self.tmp_path, self.compress_level
        with self._os_errors():
            Image.fromarray(layers.composite, "RGB").save(d / f"{i:05d}.composite.png", compress_level=level)
            Image.fromarray(layers.plate, "RGB").save(d / f"{i:05d}.plate.png", compress_level=level)
            Image.fromarray(layers.foreground, "RGBA").save(d / f"{i:05d}.foreground.png", compress_level=level)
            Image.fromarray(layers.ids.astype(np.uint16)).save(d / f"{i:05d}.ids.png", compress_level=level)
            np.save(d / f"{i:05d}.depth.npy", layers.depth)
            if layers.plate_depth is not None:
                np.save(d / f"{i:05d}.plate_depth.npy", layers.plate_depth)
            if layers.shadow is not None:
                Image.fromarray(layers.shadow, "L").save(d / f"{i:05d}.shadow.png", compress_level=level)
            self._names.update(layers.names)
            self._write_names()
        self.digests.append(frame_digest(layers.composite))
        self.frames_written += 1

    def _write_passes(self, i: int, fp: FramePasses) -> None:
        from PIL import Image

        d, level = self.tmp_path, self.compress_level
        p = fp.passes

        def png(name: str, image: Image.Image) -> None:
            image.save(d / f"{i:05d}.{name}.png", compress_level=level)

        for name in self.passes:
            if name == "composite":
                png(name, Image.fromarray(fp.frame, "RGB"))
            elif name not in p:
                continue  # plate_depth without a plate depth, shadow without shadows
            elif name == "plate":
                png(name, Image.fromarray(srgb8(p[name]), "RGB"))
            elif name == "foreground":
                png(name, Image.fromarray(straight_srgba8(p[name]), "RGBA"))
            elif name == "shadow":
                png(name, Image.fromarray(np.round(np.clip(p[name], 0, 1) * 255).astype(np.uint8), "L"))
            elif name == "ids":
                ids = p[name]
                if ids.size and int(ids.max()) > 65535:
                    raise SinkError(f"object id {int(ids.max())} does not fit a 16-bit ids.png; "
                                    "use --layer-format exr (32-bit float ids)")
                png(name, Image.fromarray(ids.astype(np.uint16)))
            else:  # plate_depth, depth, normals, flow: float arrays
                np.save(d / f"{i:05d}.{name}.npy", np.ascontiguousarray(p[name], np.float32))

    def _write_names(self) -> None:
        text = json.dumps({str(k): v for k, v in sorted(self._names.items())}, indent=1)
        (self.tmp_path / "ids.json").write_text(text)
