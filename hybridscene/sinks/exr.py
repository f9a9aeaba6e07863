"""Render passes as one multi-channel OpenEXR file per frame: ``DIR/{i:05d}.exr``.

Each file is a single-part scanline EXR (ZIP, lossless) whose channels follow the Nuke/Blender
``layer.channel`` naming, so Nuke's Shuffle, Blender's compositor, OpenImageIO and DJV list the
passes as layers. Only the passes of `FramePasses.passes` are written:

==============================  =======  =================================================
channels                        type     content
==============================  =======  =================================================
``R G B A``                     half     ``composite``: the final frame, linear light,
                                         Rec.709 primaries; ``A = 1`` (so any viewer shows
                                         the picture)
``plate.R/G/B``                 half     the plate as fitted to the frame, before shadows,
                                         linear
``foreground.R/G/B/A``          half     linear RGB premultiplied by alpha; additive glows
                                         have ``A = 0`` and colour > 0 (kept as written)
``shadow.Y``                    half     linear multiplier of the plate, 1 = unshadowed
``depth.Z``                     float    metres along the view axis to the nearest
                                         foreground surface, ``inf`` where empty
``plate_depth.Z``               float    metres along the view axis of the plate, ``inf`` sky
``normals.X/Y/Z``               half     unit normal in OpenGL camera space (+x right, +y
                                         up, +z towards the viewer), 0 where empty
``flow.X/Y``                    float    forward optical flow in pixels, +x right, +y down
                                         (float: half would round a 600 px flow to 0.5 px)
``ids.id``                      float    node id as an exact integer (< 2**24), 0 = none
``CryptoObject00.R/G/B/A``      float    Cryptomatte of the node names (with ``ids``; one
                                         name per pixel, coverage 1): R = name hash, G = 1,
                                         B = A = 0; 0 everywhere where ``ids`` is 0
==============================  =======  =================================================

``DIR/ids.json`` maps every node id seen in the render to its name; each file also carries the
table of the ids seen so far in its ``hybridscene/ids`` string attribute (JSON), and the frame's
scene time in seconds in ``hybridscene/time`` (float).

Recompositing: ``composite == foreground over (plate x shadow)`` (premultiplied *over*, linear
light), to half-float precision. With OpenImageIO's ``oiiotool`` (leave out the second line when
the file has no ``shadow.Y``)::

    oiiotool 00000.exr --ch R=foreground.R,G=foreground.G,B=foreground.B,A=foreground.A \\
        00000.exr --ch R=plate.R,G=plate.G,B=plate.B,A=1.0 \\
        00000.exr --ch R=shadow.Y,G=shadow.Y,B=shadow.Y,A=1.0 --mul \\
        --over -o recomposite.exr

Camera attributes follow the definitions of OpenEXR's standard attributes
(``ImfStandardAttributes.h``), not the raw OpenGL matrices, so tools that read them (Nuke
scripts, OpenImageIO's ``worldtocamera``/``worldtoNDC``) get what the standard promises:

- Imath's ``M44f`` multiplies row vectors (``p' = p M``, translation in the last row): the
  matrices are stored *transposed* relative to our column-vector numpy matrices.
- ``worldToCamera``: camera space is RenderMan's, left-handed, +x right, +y up, **+z forward**
  (objects in front have z > 0), i.e. ``(F @ view).T`` with ``F = diag(1, 1, -1, 1)``.
- ``worldToNDC``: NDC is the image plane with (0, 0) the top-left and (1, 1) the bottom-right
  corner of the display window, +y down, after division by w; i.e. ``(S @ projection @ view).T``
  with ``S = [[.5, 0, 0, .5], [0, -.5, 0, .5], [0, 0, 1, 0], [0, 0, 0, 1]]`` (z keeps the OpenGL
  clip depth, which NDC ignores).

The OpenGL matrices of `CameraInfo` come back exactly::

    view = F @ worldToCamera.T
    projection = inv(S) @ worldToNDC.T @ inv(view)

The header also has ``chromaticities`` (Rec.709/sRGB primaries, D65 white).

Cryptomatte (specification 1.2, as Nuke's, Blender's and Fusion's keyers read it): node names
are hashed with MurmurHash3_x86_32 (seed 0, UTF-8), the hash's bits read as a float32 after
flipping one exponent bit when they would be a denormal, inf or NaN; the header holds
``cryptomatte/<key>/name = CryptoObject``, ``/hash = MurmurHash3_32``, ``/conversion =
uint32_to_float32`` and ``/manifest`` (JSON name -> 8-digit hex of those float bits), ``<key>``
being the first 7 hex digits of the hashed layer name. The ids pass has one node per pixel and no
antialiased edges, so one rank (coverage 1) describes every pixel exactly.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SinkError
from .images import PngSequenceSink
from .manifest import frame_digest

if TYPE_CHECKING:
    from ..compose.passes import FramePasses

__all__ = ["ExrLayerSink"]

REC709_CHROMATICITIES: tuple[float, ...] = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)
"""Red, green, blue and white (D65) CIE xy, as OpenEXR's ``chromaticities`` attribute orders them."""

FLIP_Z = np.diag([1.0, 1.0, -1.0, 1.0])
"""OpenGL camera space (looking down -z) <-> OpenEXR/RenderMan camera space (looking down +z)."""

CLIP_TO_NDC = np.array([[0.5, 0.0, 0.0, 0.5], [0.0, -0.5, 0.0, 0.5], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
"""OpenGL clip space (x, y in -1..1 after division by w, +y up) -> OpenEXR NDC (0..1, +y down)."""

MAX_EXACT_ID = 2**24
"""Integers below this are exact in float32 (the ``ids.id`` channel)."""

CRYPTO_LAYER = "CryptoObject"
"""The Cryptomatte layer name (Blender's and Arnold's name for per-object mattes)."""


def murmurhash3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3_x86_32 of ``data`` as an unsigned 32-bit integer (what Cryptomatte hashes)."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    n = len(data) // 4 * 4
    for (k,) in struct.iter_unpack("<I", data[:n]):
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[n:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


def cryptomatte_bits(name: str) -> int:
    """The float32 bits of ``name``'s Cryptomatte id: its MurmurHash3 with one exponent bit
    flipped when the exponent is all zeros or all ones (no denormal, inf or NaN ids)."""
    h = murmurhash3_32(name.encode("utf-8"))
    if (h >> 23) & 0xFF in (0, 0xFF):
        h ^= 1 << 23
    return h


def cryptomatte_id(name: str) -> float:
    """``name``'s Cryptomatte id as the float the ``CryptoObject`` channels hold."""
    return struct.unpack("<f", struct.pack("<I", cryptomatte_bits(name)))[0]


def node_name(node_id: int, names: dict[int, str]) -> str:
    """The name Cryptomatte hashes for a node id: its node name; ``name#<id>`` when several
    nodes share that name (so each can be picked alone); ``node<id>`` without a name."""
    return crypto_names(names).get(node_id, f"node{node_id}")


def crypto_names(names: dict[int, str]) -> dict[int, str]:
    """`node_name` of every id of ``names`` at once."""
    import collections

    counts = collections.Counter(names.values())
    return {i: f"{n}#{i}" if counts[n] > 1 else n for i, n in names.items()}


# pass -> (layer, channel names, numpy dtype of the channel); in `ALL_PASSES` order
_LAYOUT: dict[str, tuple[str, tuple[str, ...], type]] = {
    "composite": ("", ("R", "G", "B"), np.float16),
    "plate": ("plate", ("R", "G", "B"), np.float16),
    "plate_depth": ("plate_depth", ("Z",), np.float32),
    "foreground": ("foreground", ("R", "G", "B", "A"), np.float16),
    "depth": ("depth", ("Z",), np.float32),
    "ids": ("ids", ("id",), np.float32),
    "shadow": ("shadow", ("Y",), np.float16),
    "normals": ("normals", ("X", "Y", "Z"), np.float16),
    "flow": ("flow", ("X", "Y"), np.float32),
}


def exr_camera_matrices(view: np.ndarray, projection: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(worldToCamera, worldToNDC)`` as stored in the header: ``(4, 4) float32``, row-vector
    (Imath) layout, OpenEXR's camera and NDC spaces (see the module docstring)."""
    view = np.asarray(view, dtype=np.float64)
    projection = np.asarray(projection, dtype=np.float64)
    world_to_camera = (FLIP_Z @ view).T
    world_to_ndc = (CLIP_TO_NDC @ projection @ view).T
    return np.ascontiguousarray(world_to_camera, np.float32), np.ascontiguousarray(world_to_ndc, np.float32)


def require_openexr() -> Any:
    try:
        import OpenEXR
    except ImportError as exc:
        raise SinkError('EXR output needs the OpenEXR package; install it with: pip install "hybridscene[exr]"') from exc
    return OpenEXR


class ExrLayerSink(PngSequenceSink):
    """Writes `FramePasses` as one multi-channel OpenEXR file per frame into a folder,
    atomically (the folder appears whole when the render finishes); see the module docstring for
    the channels and attributes. Use as a context manager and call `write_passes` per frame."""

    frame_file = re.compile(r"^(\d{5,}\.exr|ids\.json)$")
    kind = "exr"

    def __init__(
        self, path: str | os.PathLike[str], *, size: tuple[int, int], fps: float, cryptomatte: bool = True,
        first_frame: int = 0,
    ) -> None:
        """``cryptomatte``: also write ``CryptoObject00`` from the ``ids`` pass (see the module
        docstring). ``first_frame``: the index of the first frame (files are named by index)."""
        self._exr = require_openexr()  # before any folder is made: a missing package is one line
        super().__init__(path, size=size, fps=fps, first_frame=first_frame)
        self._names: dict[int, str] = {}
        self.cryptomatte = cryptomatte
        self._compression = getattr(self._exr, "ZIP_COMPRESSION", None) or self._exr.PIZ_COMPRESSION

    def write(self, frame: np.ndarray) -> None:  # pragma: no cover - use write_passes
        raise TypeError("ExrLayerSink takes whole frames' passes: use write_passes()")

    def write_passes(self, fp: FramePasses) -> None:
        """Write ``fp`` as ``DIR/{i:05d}.exr`` (``i`` = the frame's index, `index`).

        Raises:
            SinkError: a pass of the wrong shape, an id too large for the float ``ids.id``
                channel, or a failure of the file system.
        """
        self.accept(self.files(self.index, fp))

    def files(self, i: int, fp: Any) -> dict[str, Any]:
        """Write frame ``i``'s EXR file; return its record (see `PngSequenceSink.files`)."""
        channels = self._channels(fp)
        names = {**self._names, **{int(k): str(v) for k, v in fp.names.items()}}
        header = self._header(fp, names)
        if self.cryptomatte and "ids" in fp.passes:
            self._add_cryptomatte(np.asarray(fp.passes["ids"]), channels, header, names)
        buffer = io.BytesIO()
        try:
            self._exr.File(header, channels).write(buffer)
        except Exception as exc:  # the library's own errors (RuntimeError) carry no path
            raise SinkError(f"cannot encode frame {i} of {str(self.path)!r} as EXR: {exc}") from exc
        with self._os_errors():
            (self.tmp_path / f"{i:05d}.exr").write_bytes(buffer.getvalue())
        return {"digest": frame_digest(fp.frame), "names": names}

    def frame_files(self, i: int) -> list[str]:
        return [f"{i:05d}.exr"]

    def accept(self, record: dict[str, Any]) -> None:
        self._names.update(record["names"])
        super().accept(record)

    def __getstate__(self) -> dict[str, Any]:  # a copy for Ray's workers: the module is imported there
        state = dict(self.__dict__)
        state.pop("_exr", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._exr = require_openexr()

    def _finish(self) -> None:
        table = {str(k): v for k, v in sorted(self._names.items())}
        (self.tmp_path / "ids.json").write_text(json.dumps(table, indent=1))

    # -- pieces --------------------------------------------------------------------------------
    def _header(self, fp: FramePasses, names: dict[int, str]) -> dict[str, Any]:
        world_to_camera, world_to_ndc = exr_camera_matrices(fp.camera.view, fp.camera.projection)
        return {
            "type": self._exr.scanlineimage,
            "compression": self._compression,
            "chromaticities": REC709_CHROMATICITIES,
            "worldToCamera": world_to_camera,
            "worldToNDC": world_to_ndc,
            "hybridscene/ids": json.dumps({str(k): v for k, v in sorted(names.items())}),
            "hybridscene/time": float(fp.time),
        }

    def _add_cryptomatte(self, ids: np.ndarray, channels: dict[str, np.ndarray], header: dict[str, Any],
                         names: dict[int, str]) -> None:
        """``CryptoObject00.R/G/B/A`` and the ``cryptomatte/<key>/...`` attributes for ``ids``."""
        # Ids are node numbers, small and dense: a table indexed by id beats sorting the pixels.
        crypto = crypto_names(names)
        flat = ids.ravel()
        present = np.flatnonzero(np.bincount(flat))
        table = np.zeros(int(present[-1]) + 1 if present.size else 1, np.uint32)
        for i in present:
            if i:
                table[i] = cryptomatte_bits(crypto.get(int(i), f"node{int(i)}"))
        hashed = table[ids].view(np.float32)
        coverage = (ids != 0).astype(np.float32)
        zeros = np.zeros(ids.shape, np.float32)
        channels.update({f"{CRYPTO_LAYER}00.R": np.ascontiguousarray(hashed), f"{CRYPTO_LAYER}00.G": coverage,
                         f"{CRYPTO_LAYER}00.B": zeros, f"{CRYPTO_LAYER}00.A": zeros.copy()})
        manifest = {crypto.get(i, f"node{i}"): f"{cryptomatte_bits(crypto.get(i, f'node{i}')):08x}"
                    for i in sorted({*names, *(int(i) for i in present if i)})}
        key = "cryptomatte/" + f"{cryptomatte_bits(CRYPTO_LAYER):08x}"[:7]
        header.update({f"{key}/name": CRYPTO_LAYER, f"{key}/hash": "MurmurHash3_32",
                       f"{key}/conversion": "uint32_to_float32", f"{key}/manifest": json.dumps(manifest, sort_keys=True)})

    def _channels(self, fp: FramePasses) -> dict[str, np.ndarray]:
        w, h = self.size
        out: dict[str, np.ndarray] = {}
        for name, (layer, names, dtype) in _LAYOUT.items():
            if name not in fp.passes:
                continue
            data = np.asarray(fp.passes[name])
            want = (h, w) if len(names) == 1 else (h, w, len(names))
            if data.shape != want:
                raise SinkError(f"pass {name!r} has shape {data.shape}; the EXR sink of {str(self.path)!r} "
                                f"expects {want} (a {w}x{h} render)")
            if name == "ids" and data.size and int(data.max()) >= MAX_EXACT_ID:
                raise SinkError(f"node id {int(data.max())} is too large for the float ids.id channel "
                                f"(at most {MAX_EXACT_ID - 1}); the scene has too many nodes for EXR ids")
            planes = [data] if data.ndim == 2 else [data[..., c] for c in range(len(names))]
            for channel, plane in zip(names, planes, strict=True):
                out[f"{layer}.{channel}" if layer else channel] = np.ascontiguousarray(plane, dtype=dtype)
            if name == "composite":
                out["A"] = np.ones((h, w), dtype=dtype)
        return out
