"""The [`Plate`][hybridscene.Plate]: a background image made once (painted, generated or loaded) and reused by
every frame, with an optional depth map, an optional water mask and the metadata that says where
it came from."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import PlateError

__all__ = ["META_VERSION", "PROJECTIONS", "Plate", "PlateCamera", "upgrade_meta"]

META_VERSION = 2
"""Version of the conventions of [`Plate.meta`][hybridscene.Plate.meta], stored beside metadata written to disk (the
plate cache's ``plate.json``) so older files are read in today's conventions by `upgrade_meta`.

* 1 (no version recorded): ``sun_direction`` pointed from the scene toward the sun.
* 2: ``sun_direction`` is the way the light travels, like ``DirectionalLight.direction``.
"""


PROJECTIONS = ("perspective", "cylindrical", "equirectangular")
"""How a [`PlateCamera`][hybridscene.PlateCamera] maps view directions to the plate's pixels."""


@dataclasses.dataclass(frozen=True)
class PlateCamera:
    """The camera a plate was painted with, so a foreground camera can match it.

    The camera stands at ``(0, height, 0)``, level, looking down -Z; ground level is ``y = 0``.
    Its ``projection`` says how a view direction lands on the plate:

    * ``"perspective"`` (a pinhole; the default): ``fov_y`` is the vertical field of view and the
      horizontal one follows from the plate's aspect.
    * ``"cylindrical"``: columns are equal steps of azimuth across ``fov_x`` degrees (360: a full
      turn, the left and right edges meet behind the camera); rows are a pinhole's, ``fov_y``
      vertically. Depth is the horizontal distance from the camera's vertical axis.
    * ``"equirectangular"``: columns are equal steps of azimuth across ``fov_x``, rows equal steps
      of elevation across ``fov_y`` (360 x 180: the whole sphere). Depth is the distance from the
      camera.
    """

    fov_y: float
    """Vertical field of view in degrees."""
    height: float
    """Camera height above the ground in metres."""
    horizon: float
    """Row of the horizon as a fraction of the image height from the top (0 = top, 1 = bottom)."""
    projection: str = "perspective"
    """One of `PROJECTIONS`."""
    fov_x: float | None = None
    """Horizontal coverage in degrees for ``"cylindrical"`` and ``"equirectangular"`` plates
    (360 = a full turn); ``None`` for perspective plates (it follows from the aspect)."""

    def __post_init__(self) -> None:
        if self.projection not in PROJECTIONS:
            raise PlateError(f"unknown plate projection {self.projection!r}; use one of {', '.join(PROJECTIONS)}")
        if self.projection == "perspective":
            if self.fov_x is not None:
                raise PlateError("fov_x is for cylindrical and equirectangular plates; a perspective plate's "
                                 "horizontal field of view follows from its aspect (leave fov_x=None)")
            limit = 179.0
        else:
            if self.fov_x is None or not (isinstance(self.fov_x, (int, float)) and 1.0 <= self.fov_x <= 360.0):
                raise PlateError(f"a {self.projection} plate needs fov_x, its horizontal coverage in degrees "
                                 f"(1..360, 360 = a full turn), got {self.fov_x!r}")
            limit = 180.0 if self.projection == "equirectangular" else 179.0
        if not (isinstance(self.fov_y, (int, float)) and 1.0 <= self.fov_y <= limit):
            raise PlateError(f"plate camera fov_y must be between 1 and {limit:g} degrees, got {self.fov_y!r}")

    @property
    def full_turn(self) -> bool:
        """True when the plate wraps all the way round (``fov_x == 360``)."""
        return self.fov_x is not None and self.fov_x >= 360.0

    @property
    def lens_shift(self) -> float:
        """Vertical lens shift, in half-heights (see `hybridscene.transforms.perspective`),
        that puts a level camera's horizon at `horizon`."""
        return 1.0 - 2.0 * self.horizon

    def as_dict(self) -> dict[str, Any]:
        """JSON-able fields (what the plate cache stores); `from_dict` reads them back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlateCamera:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


@dataclasses.dataclass(frozen=True, eq=False)
class Plate:
    """A background plate.

    Arrays are read-only; build a new plate instead of editing one.
    """

    image: np.ndarray
    """``(H, W, 3) uint8`` sRGB, row 0 at the top."""
    depth: np.ndarray | None = None
    """``(H, W) float32`` view-space depth in metres along the camera's forward axis, ``inf`` for
    sky; ``None`` when unknown (then the foreground is simply drawn in front)."""
    source: str = "array"
    """Where it came from: ``"procedural:mountains"``, ``"file"``, ``"diffusers"``, ``"array"``."""
    prompt: str | None = None
    """The text prompt, for generated plates."""
    seed: int | None = None
    """The seed, for generated and procedural plates."""
    camera: PlateCamera | None = None
    """The camera the plate was made with, when known."""
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Everything else, JSON-able values: palette name, file path, timings, the model and its
    settings, ... Procedural plates give the light they were painted with: ``sun_direction``
    (unit ``[x, y, z]``, world frame, the way the sunlight travels, from the sun toward the scene:
    the convention of ``DirectionalLight.direction``), ``sun_color`` and ``sky_color`` (linear RGB).
    The conventions are versioned by `META_VERSION`."""
    water: np.ndarray | None = None
    """``(H, W) float32`` 0..1: how much of each pixel is water (a river, a lake, the sea), laid
    out like ``image``; ``None`` when unknown. Procedural plates paint their river into it; the
    reflection catcher ([`ReflectionCatcher`][hybridscene.ReflectionCatcher]) mirrors the
    foreground in it."""

    def __post_init__(self) -> None:
        image = np.asarray(self.image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise PlateError(
                f"plate image must be an (H, W, 3) uint8 RGB array, got shape {image.shape} "
                f"dtype {image.dtype}; convert with np.asarray(img.convert('RGB'))"
            )
        if image.shape[0] < 1 or image.shape[1] < 1:
            raise PlateError(f"plate image is empty: shape {image.shape}")
        image = np.ascontiguousarray(image)
        image.setflags(write=False)
        object.__setattr__(self, "image", image)
        if self.depth is not None:
            depth = np.ascontiguousarray(self.depth, dtype=np.float32)
            if depth.shape != image.shape[:2]:
                raise PlateError(
                    f"plate depth has shape {depth.shape} but the image is {image.shape[:2]}; "
                    "depth must be (H, W) like the image"
                )
            if np.isnan(depth).any() or (depth <= 0).any():
                raise PlateError("plate depth must be positive (inf for sky) and contain no NaN")
            depth.setflags(write=False)
            object.__setattr__(self, "depth", depth)
        if self.water is not None:
            raw = np.asarray(self.water)
            if raw.dtype != bool and not np.issubdtype(raw.dtype, np.number):
                raise PlateError(f"plate water mask must be an (H, W) array of 0..1 or bool, got dtype {raw.dtype}")
            water = np.ascontiguousarray(raw, dtype=np.float32)
            if water.shape != image.shape[:2]:
                raise PlateError(
                    f"plate water mask has shape {water.shape} but the image is {image.shape[:2]}; "
                    "the mask must be (H, W) like the image"
                )
            if not np.isfinite(water).all() or (water < 0).any() or (water > 1).any():
                raise PlateError("plate water mask values must be in 0..1 (1 = water) and contain no NaN")
            if water is raw:
                water = water.copy()  # read-only below: never freeze the caller's array
            water.setflags(write=False)
            object.__setattr__(self, "water", water)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    @classmethod
    def solid(cls, color: tuple[int, int, int], size: tuple[int, int]) -> Plate:
        """A plate of one sRGB colour ``(r, g, b)`` in 0..255, ``size = (width, height)``."""
        w, h = size
        image = np.empty((h, w, 3), np.uint8)
        image[:] = np.asarray(color, np.uint8)
        return cls(image=image, source="solid")

    def to_pil(self):  # -> PIL.Image.Image
        from PIL import Image

        return Image.fromarray(self.image, "RGB")

    def save(self, path: str) -> None:
        """Save the image (format from the extension), written atomically."""
        from ..atomic import atomic_path

        with atomic_path(path) as tmp:
            self.to_pil().save(tmp, format=_pil_format(path))

    def __repr__(self) -> str:
        w, h = self.size
        extra = f", prompt={self.prompt!r}" if self.prompt else ""
        seed = f", seed={self.seed}" if self.seed is not None else ""
        depth = ", depth" if self.depth is not None else ""
        water = ", water" if self.water is not None else ""
        return f"Plate({w}x{h}, source={self.source!r}{extra}{seed}{depth}{water})"


def upgrade_meta(meta: dict[str, Any], version: int | None) -> dict[str, Any]:
    """Plate metadata written with conventions ``version`` (``None``: written before versions
    were recorded, i.e. 1), in today's (`META_VERSION`). Returns a new dict."""
    version = 1 if version is None else version
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= META_VERSION:
        raise PlateError(
            f"plate metadata version {version!r} is not one this hybridscene reads (1..{META_VERSION}); "
            "upgrade hybridscene, or generate the plate again"
        )
    meta = dict(meta)
    if version < 2 and meta.get("sun_direction") is not None:  # it pointed toward the sun
        meta["sun_direction"] = [-float(v) for v in meta["sun_direction"]]
    return meta


def _pil_format(path: str) -> str:
    from PIL import Image

    ext = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else ""
    Image.init()
    fmt = Image.EXTENSION.get("." + ext)
    if fmt is None:
        raise PlateError(f"cannot save a plate as {path!r}: use .png, .jpg or .webp")
    return fmt

