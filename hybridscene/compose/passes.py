"""Render passes: what a frame can be split into, and the record that carries them.

=================  ===========================  =================================================
pass               array (top row first)        meaning
=================  ===========================  =================================================
``composite``      ``(H, W, 3) float32``        the final frame, linear light (Rec.709 primaries)
``plate``          ``(H, W, 3) float32``        the plate as fitted to the frame, before shadows
``plate_depth``    ``(H, W) float32``           metres along the view axis, ``inf`` sky (plates
                                                with depth only)
``foreground``     ``(H, W, 4) float32``        linear RGB premultiplied by alpha, already hidden
                                                where the plate is nearer; additive glows have
                                                alpha 0 and colour > 0
``depth``          ``(H, W) float32``           metres along the view axis to the nearest
                                                foreground surface, ``inf`` where empty
``ids``            ``(H, W) uint32``            node id of that surface, 0 = none (see
                                                ``FramePasses.names``)
``shadow``         ``(H, W) float32``           linear multiplier of the plate, 1 = unshadowed
                                                (scenes with shadows only)
``normals``        ``(H, W, 3) float32``        unit surface normal in camera space (OpenGL:
                                                +x right, +y up, +z towards the viewer); 0 empty
``flow``           ``(H, W, 2) float32``        forward optical flow to the next frame in pixels,
                                                +x right, +y down (as OpenCV and Middlebury)
=================  ===========================  =================================================

``composite == foreground + (1 - foreground.alpha) * plate * shadow`` (premultiplied *over*).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["ALL_PASSES", "DEFAULT_PASSES", "CameraInfo", "FramePasses", "InstanceInfo", "check_passes", "srgb8",
           "straight_srgba8"]

ALL_PASSES: tuple[str, ...] = ("composite", "plate", "plate_depth", "foreground", "depth", "ids", "shadow",
                               "normals", "flow")
"""Every pass, in the order files and EXR layers list them."""

DEFAULT_PASSES: tuple[str, ...] = ("composite", "plate", "plate_depth", "foreground", "depth", "ids", "shadow")
"""What ``--layers`` writes when ``--passes`` is not given (what 0.2 wrote)."""


def check_passes(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Normalise a pass choice: ``None`` = the defaults, ``"all"``, a comma-separated string or
    an iterable of names. Returns the names in `ALL_PASSES` order, without repeats.

    Raises:
        ConfigError: an unknown name (the message lists the valid ones) or an empty choice.
    """
    if value is None:
        return DEFAULT_PASSES
    items = list(value) if isinstance(value, Iterable) and not isinstance(value, str) else None
    if isinstance(value, str):
        names = [p.strip() for p in value.split(",") if p.strip()]
    elif items is not None and all(isinstance(p, str) for p in items):
        names = [p.strip() for p in items]
    else:
        raise ConfigError(f"passes must be names (a list of strings or comma-separated), 'default' or 'all', "
                          f"got {value!r}")
    unknown = [n for n in names if n not in (*ALL_PASSES, "all", "default")]
    if unknown:
        raise ConfigError(f"unknown pass {unknown[0]!r}; choose from {', '.join(ALL_PASSES)}, default or all "
                          "(comma-separated, e.g. --passes composite,depth,ids)")
    if not names:
        raise ConfigError(f"no pass chosen; give one or more of {', '.join(ALL_PASSES)}, default or all")
    if "all" in names:
        return ALL_PASSES
    if "default" in names:
        names += list(DEFAULT_PASSES)
    return tuple(p for p in ALL_PASSES if p in names)


@dataclasses.dataclass(frozen=True)
class CameraInfo:
    """The camera of one frame, in the conventions datasets and compositors use."""

    view: np.ndarray
    """``(4, 4) float64`` camera-from-world (OpenGL: the camera looks down -z, +y up). EXR files
    carry it as ``worldToCamera`` converted to OpenEXR's conventions (see `hybridscene.sinks.exr`)."""
    projection: np.ndarray
    """``(4, 4) float64`` clip-from-camera (OpenGL, depth -1..1); EXR's ``worldToNDC`` is
    ``projection @ view`` converted to OpenEXR's 0..1, y-down NDC."""
    size: tuple[int, int]
    """``(width, height)`` of the frame in pixels."""

    @property
    def world_from_camera_gl(self) -> np.ndarray:
        """``(4, 4)`` camera pose, OpenGL axes (+x right, +y up, looking down -z)."""
        return np.linalg.inv(self.view)

    @property
    def world_from_camera_cv(self) -> np.ndarray:
        """``(4, 4)`` camera pose, OpenCV axes (+x right, +y down, looking down +z)."""
        return self.world_from_camera_gl @ np.diag([1.0, -1.0, -1.0, 1.0])

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the name every vision paper uses
        """``(3, 3)`` OpenCV intrinsics in pixels for a perspective camera: pixel ``(u, v)`` (column,
        row, from the top-left) has its centre at the integer coordinates, as in OpenCV, so a
        centred camera has ``cx = (w - 1) / 2``. (For an orthographic camera the same layout maps
        camera x/y in metres to pixels.)"""
        w, h = self.size
        p = self.projection
        k = np.eye(3)
        k[0, 0] = p[0, 0] * w / 2
        k[1, 1] = p[1, 1] * h / 2
        k[0, 2] = w / 2 * (1 - p[0, 2]) - 0.5
        k[1, 2] = h / 2 * (1 + p[1, 2]) - 0.5
        return k

    @property
    def orthographic(self) -> bool:
        return bool(self.projection[3, 3] == 1.0)


@dataclasses.dataclass(frozen=True)
class InstanceInfo:
    """One labelled object instance in one frame (see ``Node.category``)."""

    track_id: int
    """Stable over the whole render: the same instance has the same number in every frame."""
    name: str
    """The instance's root node name."""
    category: str
    node_ids: tuple[int, ...]
    """The ``ids``-pass values that belong to this instance (its root and uncategorised descendants)."""
    world: np.ndarray
    """``(4, 4) float64`` world-from-local of the instance's root node."""
    bbox_local: np.ndarray | None
    """``(2, 3)`` min and max corner of its geometry in the root's frame, metres; ``None`` when it
    has no mesh geometry (sprites and particles)."""
    bbox_world: np.ndarray | None
    """``(8, 3)`` the eight corners of that box in world space."""
    visible_pixels: int
    """Pixels where this instance is the nearest surface in the frame (what ``ids`` shows)."""
    amodal_pixels: int
    """Pixels it would cover with nothing in front of it (no plate, no other object)."""
    hidden_by_plate: int
    """Of ``amodal_pixels``, those the plate's depth hides."""

    @property
    def visibility(self) -> float:
        """``visible_pixels / amodal_pixels`` (0 when it covers nothing)."""
        return self.visible_pixels / self.amodal_pixels if self.amodal_pixels else 0.0


@dataclasses.dataclass(frozen=True)
class FramePasses:
    """One frame split into render passes (see the table in `hybridscene.compose.passes`)."""

    time: float
    """Scene time of the frame, seconds."""
    frame: np.ndarray
    """``(H, W, 3) uint8`` sRGB: the displayed frame, exactly what the video gets."""
    passes: dict[str, np.ndarray]
    """Pass name -> array, for the passes asked for and available (``plate_depth`` needs a plate
    with depth, ``shadow`` a scene with shadows)."""
    names: dict[int, str]
    """Node id (``ids`` pass) -> node name, for every node drawn so far in this render."""
    camera: CameraInfo
    instances: tuple[InstanceInfo, ...] | None = None
    """Every labelled instance among the scene's visible nodes, when labels were asked for: also
    those outside the frame or wholly hidden (their pixel counts are 0)."""
    plate_camera: dict[str, Any] | None = None
    """The camera the frame's plate was painted with, as ``cameras.json`` records it (JSON-ready;
    set by the export driver when labels are written)."""

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.frame.shape[:2]
        return w, h


_SRGB8_LUT: np.ndarray | None = None


def srgb8(linear: np.ndarray) -> np.ndarray:
    """Linear light (any shape, clipped to 0..1) -> 8-bit sRGB, rounded (as the GPU encodes).

    Through a 65,536-entry table (a fifth of the time of the formula on a 720p image); values
    that fall within half a table step of a rounding boundary may land one level off (0.4 % of
    random values, most in the darks), as a GPU's own encoding may."""
    global _SRGB8_LUT
    if _SRGB8_LUT is None:
        from ..colors import linear_to_srgb

        _SRGB8_LUT = np.round(linear_to_srgb(np.arange(65536) / 65535.0) * 255.0).astype(np.uint8)
    index = np.clip(linear, 0.0, 1.0) * np.float32(65535.0)
    index += np.float32(0.5)
    return _SRGB8_LUT[index.astype(np.uint16)]


def straight_srgba8(premultiplied: np.ndarray) -> np.ndarray:
    """``(H, W, 4)`` linear premultiplied RGBA -> 8-bit sRGB with straight alpha (a PNG's
    convention). Light with zero alpha (additive glows) has no straight colour and is lost."""
    alpha = premultiplied[..., 3:4]
    straight = np.divide(premultiplied[..., :3], alpha, out=np.zeros_like(premultiplied[..., :3]), where=alpha > 1e-6)
    out = np.empty(premultiplied.shape[:2] + (4,), np.uint8)
    out[..., :3] = srgb8(straight)
    out[..., 3] = np.round(np.clip(alpha[..., 0], 0.0, 1.0) * 255.0)
    return out
