"""Layouts: the known geometry an AI plate is painted over.

A [`Layout`][hybridscene.Layout] is an image with an exact depth map and the camera that sees
it: a procedural plate (``Layout.procedural("mountains", seed=3)``), any plate with depth and a
camera (``Layout.from_plate``), or files (``Layout.from_files(image, depth)``). A
[`PlateSpec`][hybridscene.PlateSpec] with ``layout=`` paints over it, steered by depth
ControlNets (``control="depth"``, conditioned on `depth_condition`) or by img2img
(``control="image"``, the layout's colours repainted with ``strength``), and the resulting plate
carries the layout's depth, camera and water: occlusion, shadows and parallax then follow the
layout exactly, with no depth model.

Sizes: a layout is resolved (`resolve_layout`) at the plate's final size; what the model is given
(`control_image`, `init_image`) is that layout scaled to the size the model paints at.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from typing import Any

import numpy as np

from .._validate import check_size
from ..errors import ConfigError, PlateError
from .plate import Plate, PlateCamera

__all__ = ["ASPECT_TOLERANCE", "CONDITION_FLOOR", "DEFAULT_STRENGTH", "Layout", "control_image", "depth_agreement", "depth_condition",
           "init_image", "resolve_layout"]

ASPECT_TOLERANCE = 0.02
"""How far (relative) a layout's aspect may differ from the plate's before `resolve_layout`
refuses it (a difference of up to 8 pixels, one size step of the model, is always accepted)."""

CONDITION_FLOOR = 0.1
"""`depth_condition`'s value for the farthest surface (the sky is 0), so a far ridge's
silhouette stands out from the sky as in a depth estimator's output."""

DEFAULT_STRENGTH = 0.75
"""img2img strength (``control="image"``) when ``PlateSpec.strength`` is not given."""

DEFAULT_LAYOUT_CAMERA = PlateCamera(fov_y=50.0, height=1.6, horizon=0.5)
"""The camera `Layout.from_files` assumes when none is given (the one
``PerspectiveCamera.from_plate`` assumes for a plate without a camera)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Layout:
    """Known geometry to paint an AI plate over. Arrays are read-only.

    Build one with `procedural`, `from_plate` or `from_files`, or directly from arrays.
    """

    image: np.ndarray
    """``(H, W, 3) uint8`` sRGB colours, row 0 at the top (img2img starts from them)."""
    depth: np.ndarray
    """``(H, W) float32`` metres along the camera's forward axis, ``inf`` for sky."""
    camera: PlateCamera
    """The camera that sees the layout (the plate painted over it gets it)."""
    water: np.ndarray | None = None
    """``(H, W) float32`` 0..1 water mask, or ``None``."""
    source: str = "array"
    """Where it came from: ``"procedural:mountains:3"``, ``"file"``, ``"plate:..."``, ``"array"``."""
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    """JSON-able notes (file paths, the procedural palette)."""

    def __post_init__(self) -> None:
        if self.depth is None:
            raise ConfigError("a layout needs a depth map (metres, inf for sky); give depth=, or use a plain "
                              "image as an img2img start without a layout")
        if not isinstance(self.camera, PlateCamera):
            raise ConfigError(f"a layout's camera must be a PlateCamera, got {type(self.camera).__name__}")
        try:  # Plate checks shapes, dtypes and values, and freezes the arrays
            plate = Plate(image=self.image, depth=self.depth, water=self.water)
        except PlateError as exc:
            raise ConfigError(str(exc).replace("plate ", "layout ", 1)) from None
        object.__setattr__(self, "image", plate.image)
        object.__setattr__(self, "depth", plate.depth)
        object.__setattr__(self, "water", plate.water)
        if not np.isfinite(plate.depth).any():
            raise ConfigError("the layout's depth is all sky (inf); a layout needs some geometry to follow")

    def __setstate__(self, state: dict[str, Any]) -> None:  # unpickled arrays are writable: freeze them
        for name, value in state.items():
            if isinstance(value, np.ndarray):
                value = value.copy()
                value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    @functools.cached_property
    def identity(self) -> str:
        """``"sha256:<hex>"`` of the image, depth, water and camera: what a plate's cache key
        records of its layout (the same content, the same identity)."""
        h = hashlib.sha256(b"hybridscene-layout-1\0")
        for name in ("image", "depth", "water"):
            arr = getattr(self, name)
            if arr is None:
                h.update(f"{name}:none\0".encode())
                continue
            h.update(f"{name}:{arr.dtype.str}:{arr.shape}\0".encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(json.dumps(self.camera.as_dict(), sort_keys=True).encode())
        return "sha256:" + h.hexdigest()

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def procedural(cls, style: str = "mountains", seed: int = 0, *, size: tuple[int, int] = (1280, 720),
                   fov_y: float = 50.0, camera_height: float = 4.0, horizon: float = 0.45) -> Layout:
        """The layout of a procedural plate (`procedural_plate`'s arguments): its exact
        depth, camera and river."""
        from .procedural import procedural_plate

        plate = procedural_plate(style, size=size, seed=seed, fov_y=fov_y, camera_height=camera_height, horizon=horizon)
        return cls.from_plate(plate, source=f"procedural:{style}:{seed}")

    @classmethod
    def from_plate(cls, plate: Plate, *, camera: PlateCamera | None = None, source: str | None = None) -> Layout:
        """The layout of a plate that has depth (procedural plates, ``load_plate(img, depth=d)``),
        seen by ``camera`` (default: the plate's own; required when it has none)."""
        if not isinstance(plate, Plate):
            raise ConfigError(f"Layout.from_plate needs a Plate, got {type(plate).__name__}")
        camera = camera or plate.camera
        if plate.depth is None or camera is None:
            missing = "depth" if plate.depth is None else "camera (pass camera=PlateCamera(...))"
            raise ConfigError(f"{plate!r} has no {missing}; a layout needs depth and the camera that sees it "
                              "(procedural plates have both; or use Layout.from_files(image, depth))")
        meta = {k: v for k, v in plate.meta.items() if k in ("variant", "path")}
        return cls(image=plate.image, depth=plate.depth, camera=camera, water=plate.water,
                   source=source or f"plate:{plate.source}", meta=meta)

    @classmethod
    def from_files(cls, image: str | os.PathLike[str], depth: str | os.PathLike[str] | np.ndarray,
                   camera: PlateCamera | None = None) -> Layout:
        """A layout from an image file and a depth file of the same size.

        Args:
            image: PNG, JPEG or WebP.
            depth: ``.npy`` of metres (``inf`` for sky), a 16-bit PNG of millimetres (0 = sky), or
                an ``(H, W)`` array.
            camera: the camera that sees it; default level, 1.6 m up, 50 degrees, horizon centred
                (what ``PerspectiveCamera.from_plate`` assumes for a plate without a camera).
        """
        from pathlib import Path

        from .image import _load_depth, _open_image, _to_rgb8

        rgb = _to_rgb8(_open_image(Path(image), "layout image"))
        depth_arr = _load_depth(depth)
        if depth_arr.shape != rgb.shape[:2]:
            raise ConfigError(
                f"layout depth {str(depth) if not isinstance(depth, np.ndarray) else 'array'!r} is "
                f"{depth_arr.shape[1]}x{depth_arr.shape[0]} but the image {str(image)!r} is "
                f"{rgb.shape[1]}x{rgb.shape[0]}; give a depth map of the image's size")
        meta = {"path": str(Path(image).resolve())}
        if not isinstance(depth, np.ndarray):
            meta["depth_path"] = str(Path(depth).resolve())
        return cls(image=rgb, depth=depth_arr, camera=camera or DEFAULT_LAYOUT_CAMERA, source="file", meta=meta)

    # -- resizing -----------------------------------------------------------------------------
    def resized(self, size: tuple[int, int]) -> Layout:
        """The layout at ``size = (width, height)``: the image with Lanczos, the water mask
        bilinear, the depth by nearest sampling (every depth is one the layout has: a silhouette
        is never blurred into depths between the ridge and the sky). The camera is unchanged."""
        width, height = check_size(size, "layout size")
        if (width, height) == self.size:
            return self
        from PIL import Image

        image = np.asarray(Image.fromarray(self.image).resize((width, height), Image.Resampling.LANCZOS))
        water = None
        if self.water is not None:
            water = np.clip(np.asarray(Image.fromarray(self.water, "F").resize((width, height), Image.Resampling.BILINEAR)), 0, 1)
        return dataclasses.replace(self, image=image, depth=_nearest(self.depth, (width, height)), water=water,
                                   meta={**self.meta, "resized_from": list(self.size)})

    def __repr__(self) -> str:
        w, h = self.size
        return f"Layout({w}x{h}, source={self.source!r}, {self.identity[:15]})"


def _nearest(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``arr`` sampled at the pixel centres of a ``size`` grid (nearest neighbour)."""
    h, w = arr.shape
    rows = np.minimum(((np.arange(size[1]) + 0.5) * h / size[1]).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(size[0]) + 0.5) * w / size[0]).astype(np.intp), w - 1)
    return arr[rows[:, None], cols[None, :]]


@functools.lru_cache(maxsize=4)
def _named(style: str, seed: int, size: tuple[int, int], cache_dir: Any = None) -> Layout:
    """A named procedural layout; with ``cache_dir``, its painting is kept in that plate cache
    (under a key of the name, seed, size and the painter's code), so a plate cache hit in a new
    process does not paint the layout again (1-4 s at 1280x720) to know its identity."""
    if cache_dir is None:
        return Layout.procedural(style, seed, size=size)
    from pathlib import Path

    from .cache import PlateCache
    from .procedural import procedural_plate

    painter = hashlib.sha256()
    for name in ("procedural.py", "_landscape.py"):
        painter.update((Path(__file__).parent / name).read_bytes())
    inputs = {"kind": "procedural layout", "prompt": f"(layout {style}:{seed})", "style": style, "seed": seed, "size": list(size),
              "painter": painter.hexdigest(), "numpy": np.__version__}
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:32]

    def paint() -> tuple[Plate, dict[str, Any], dict[str, float]]:
        return procedural_plate(style, size=size, seed=seed), inputs, {}

    plate, _ = PlateCache(cache_dir).get_or_create(key, paint)
    return Layout.from_plate(plate, source=f"procedural:{style}:{seed}")


def resolve_layout(value: Any, size: tuple[int, int], *, cache_dir: Any = None) -> Layout:
    """``PlateSpec.layout`` as a [`Layout`][hybridscene.Layout] of ``size = (width, height)``.

    Args:
        value: ``"mountains"`` or ``"mountains:SEED"`` (painted procedurally at ``size``), a
            `Layout` (scaled to ``size``: its aspect must match within `ASPECT_TOLERANCE`), or a
            [`Plate`][hybridscene.Plate] with depth and a camera.
        size: the plate's final size.
        cache_dir: a plate cache folder to keep the paintings of named layouts in (``None``: none).

    Raises:
        ConfigError: an unknown name, a bad seed, a plate without depth, another aspect.
    """
    size = check_size(size, "plate size")
    if isinstance(value, str):
        from .procedural import PROCEDURAL_STYLES

        style, _, seed_text = value.strip().partition(":")
        if style not in PROCEDURAL_STYLES:
            raise ConfigError(f"unknown layout {value!r}; use one of {', '.join(PROCEDURAL_STYLES)} "
                              "(optionally NAME:SEED), or give a Layout (Layout.from_files(image, depth))")
        try:
            seed = int(seed_text) if seed_text else 0
            if seed < 0:
                raise ValueError
        except ValueError:
            raise ConfigError(f"layout {value!r}: the seed after ':' must be a whole number >= 0, e.g. '{style}:3'") from None
        return _named(style, seed, size, None if cache_dir is None else str(cache_dir))
    if isinstance(value, Plate):
        value = Layout.from_plate(value)
    if not isinstance(value, Layout):
        raise ConfigError(f"layout must be a name like 'mountains:3', a Layout or a Plate with depth, got {type(value).__name__}")
    lw, lh = value.size
    tw, th = size
    off = abs(tw * lh - th * lw) / (th * lw)
    if off > ASPECT_TOLERANCE and abs(lw * th / lh - tw) > 8 and abs(lh * tw / lw - th) > 8:
        raise ConfigError(
            f"the layout is {lw}x{lh} but the plate is {tw}x{th} (another aspect); give the plate a size "
            f"of the layout's aspect (e.g. size={_near_size(value.size, size)}), or crop the layout")
    return value.resized(size)


def _near_size(layout: tuple[int, int], plate: tuple[int, int]) -> str:
    """A size of about ``plate``'s pixel count with ``layout``'s aspect, multiples of 8."""
    aspect = layout[0] / layout[1]
    w = (plate[0] * plate[1] * aspect) ** 0.5
    return f"({max(8, round(w / 8) * 8)}, {max(8, round(w / aspect / 8) * 8)})"


# -- what the model is given ----------------------------------------------------------------------
def depth_condition(depth: np.ndarray) -> np.ndarray:
    """Depth as depth ControlNets expect it: normalised inverse depth on a log scale, near = 1
    (white), the farthest surface = `CONDITION_FLOOR`, the sky = 0 (black).

    Depth ControlNets were trained on the relative inverse depth of estimators (MiDaS, DPT,
    Depth Anything), min-max normalised. Those compress the far range: distant mountains come out
    clearly grey against a black sky. The exact inverse depth of a landscape does not: with the
    ground 8 m away, a ridge 250 m away is 3% grey and one 12 km away 0.07%, the same 8-bit level
    as the sky, so the ControlNet would not see the ridges at all. So the inverse depth is
    normalised on a log scale between the nearest and farthest surfaces (a surface twice as far
    is always the same step darker), and everything finite stays above the sky.

    Args:
        depth: ``(H, W)`` metres, ``inf`` for sky.

    Returns:
        ``(H, W) float32`` in 0..1: ``1 - (1 - floor) * ln(d / d_min) / ln(d_max / d_min)`` for
        finite depths (1 everywhere when they are all equal), 0 for the sky.
    """
    depth = np.asarray(depth, np.float64)
    finite = np.isfinite(depth)
    out = np.zeros(depth.shape, np.float32)
    if not finite.any():
        return out
    logs = np.log(np.maximum(depth[finite], 1e-6))
    lo, hi = float(logs.min()), float(logs.max())
    t = (logs - lo) / (hi - lo) if hi > lo else np.zeros_like(logs)
    out[finite] = 1.0 - (1.0 - CONDITION_FLOOR) * t
    return out


def control_image(layout: Layout, size: tuple[int, int]) -> np.ndarray:
    """Exactly what a depth ControlNet is given for ``layout`` at ``size = (width, height)``:
    `depth_condition` of the layout's depth (at the layout's size), scaled to ``size``
    (area-weighted, as the condition is smooth), ``(H, W, 3) uint8`` grey. The pipeline turns it
    into ``image / 255``."""
    from PIL import Image

    cond = depth_condition(layout.depth)
    if tuple(size) != layout.size:
        cond = np.asarray(Image.fromarray(cond, "F").resize(tuple(size), Image.Resampling.BOX))
    grey = np.clip(np.round(cond * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def init_image(layout: Layout, size: tuple[int, int]) -> np.ndarray:
    """What img2img starts from: the layout's colours at ``size`` (Lanczos), ``(H, W, 3) uint8``."""
    return layout.resized(size).image if tuple(size) != layout.size else layout.image


def depth_agreement(estimate: np.ndarray, depth: np.ndarray) -> float:
    """How well an estimated depth map orders the pixels like a known one: Spearman's rank
    correlation of their inverse depths (sky = 0), in -1..1 (1: the same order; scale and
    shift do not matter, as relative depth models predict neither)."""
    a, b = (np.where(np.isfinite(d), 1.0 / np.maximum(np.asarray(d, np.float64), 1e-6), 0.0).ravel() for d in (estimate, depth))
    ra, rb = _ranks(a), _ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    den = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / den) if den > 0 else 0.0


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties given their average rank."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2.0)[inverse]


# -- the cache key and the plate ------------------------------------------------------------------
def layout_strength(spec: Any) -> float:
    """The img2img strength a spec paints with (`DEFAULT_STRENGTH` when not given)."""
    return float(spec.strength) if spec.strength is not None else DEFAULT_STRENGTH


def layout_inputs(spec: Any, model: Any, size: tuple[int, int], steps: int, *,
                  cache_dir: Any = None) -> tuple[Layout, tuple[str, ...], dict[str, Any]]:
    """For ``resolve_spec``: the layout at the plate's final size, the ControlNets' identities
    and the key's inputs for a spec with a layout (checked before any model loads)."""
    if spec.depth_image:
        raise ConfigError("a layout brings its own depth; drop depth_image (depth_model may stay, as a check)")
    final = spec.resize_to or size
    if spec.upscale is not None and spec.upscale != 1:  # the plate's final size is after upscaling
        from .upscale import upscaled_size

        final = upscaled_size(final, spec.upscale)
    layout = resolve_layout(spec.layout, final, cache_dir=cache_dir)
    inputs: dict[str, Any] = {"layout": layout.identity, "control": spec.control}
    identities: tuple[str, ...] = ()
    if spec.control == "image" or spec.strength is not None:  # img2img (with ControlNets too, for depth)
        strength = layout_strength(spec)
        if 0 < strength and int(steps * strength) < 1:
            raise ConfigError(f"strength {strength:g} with {steps} steps leaves no denoising step (diffusers runs "
                              f"int(steps * strength)); use steps >= {int(np.ceil(1 / strength))} or a higher strength")
        inputs["strength"] = strength
    if spec.control == "depth":
        identities = tuple(_controlnet_identity(name, model, cache_dir) for name in spec.controlnet)
        inputs["controlnet"] = list(identities)
        scale = spec.control_scale
        inputs["control_scale"] = list(scale) if isinstance(scale, tuple) else float(scale)
    return layout, identities, inputs


def _controlnet_identity(name: str, model: Any, cache_dir: Any) -> str:
    from pathlib import Path

    from .fingerprint import model_identity

    path = Path(name).expanduser()
    if path.is_dir():
        config_file = path / "config.json"
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ConfigError(f"ControlNet folder {name!r} has no readable config.json; save the ControlNet "
                              "there with controlnet.save_pretrained(folder)") from None
        cls = str(config.get("_class_name", "")) if isinstance(config, dict) else ""
        if "ControlNet" not in cls:
            raise ConfigError(f"{name!r} holds a {cls or 'model without _class_name'}, not a ControlNet; give a depth "
                              "ControlNet folder or hub id (e.g. 'lllyasviel/sd-controlnet-depth')")
        unet_file = Path(model.folder) / "unet" / "config.json" if model.folder else None
        if unet_file is not None and unet_file.is_file():
            try:
                unet = json.loads(unet_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                unet = None
            if isinstance(unet, dict):
                check_family(config, unet, name, model.name)
    elif name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1:
        raise ConfigError(f"ControlNet folder {name!r} does not exist; check the path, or give a hub id "
                          "like 'lllyasviel/sd-controlnet-depth'")
    return "model:" + model_identity(name, cache_dir=cache_dir)


def check_family(net_config: Any, unet_config: Any, name: str, model: str) -> None:
    """A ControlNet made for another family (SD 1.x vs 2.x vs SDXL: another cross-attention
    width, or SDXL's added time conditioning on one side only) is one `ConfigError`."""
    def get(config: Any, key: str) -> Any:
        return config.get(key) if isinstance(config, dict) else getattr(config, key, None)

    have, want = get(net_config, "cross_attention_dim"), get(unet_config, "cross_attention_dim")
    if have is None or want is None:
        return
    if have != want or get(net_config, "addition_embed_type") != get(unet_config, "addition_embed_type"):
        family = {768: " (SD 1.x)", 1024: " (SD 2.x)", 2048: " (SDXL)"}
        raise ConfigError(
            f"ControlNet {name!r} is built for another model family than {model!r} (cross-attention width "
            f"{have}{family.get(have, '')} vs {want}{family.get(want, '')}); use a depth ControlNet made for this model's family")


def plate_fields(resolved: Any, estimate: np.ndarray | None = None, size: tuple[int, int] | None = None) -> dict[str, Any]:
    """What a plate painted over ``resolved.layout`` takes from it: ``depth``, ``water`` and
    ``camera`` (at ``size``, the painted image's, default the layout's: the plate's final size),
    and ``meta["layout"]`` (source, identity, control, and with a depth model the estimate's
    `depth_agreement` with the layout: a check of how closely the painting followed).

    An upscaled plate is painted smaller than its final size: it gets the layout at the painted
    size here, and the layout's own depth and water once upscaled (`final_fields`)."""
    spec = resolved.spec
    layout = resolved.layout if size is None or tuple(size) == resolved.layout.size else resolved.layout.resized(size)
    info: dict[str, Any] = {"source": layout.source, "identity": resolved.layout.identity, "control": spec.control}
    if spec.control == "image" or spec.strength is not None:
        info["strength"] = layout_strength(spec)
    if spec.control == "depth":
        info["controlnet"] = list(spec.controlnet)
        info["control_scale"] = list(spec.control_scale) if isinstance(spec.control_scale, tuple) else spec.control_scale
    if estimate is not None:
        info["depth_check"] = {"model": spec.depth_model, "spearman": round(depth_agreement(estimate, layout.depth), 4)}
    return {"depth": layout.depth, "water": layout.water, "camera": layout.camera, "meta": {"layout": info}}


def passes_through(resolved: Any) -> bool:
    """True when the plate is the layout's colours unchanged (img2img with strength 0): no model runs."""
    spec = resolved.spec
    return resolved.layout is not None and (spec.control == "image" or spec.strength is not None) and layout_strength(spec) == 0


def final_fields(plate: Plate, resolved: Any) -> Plate:
    """An upscaled plate painted over a layout, with the layout's exact depth and water at its
    final size in place of the upscaled ones."""
    layout = resolved.layout if plate.size == resolved.layout.size else resolved.layout.resized(plate.size)
    return dataclasses.replace(plate, depth=layout.depth, water=layout.water)
