"""AI plates end to end: resolve the spec, look in the cache, generate on a miss, store.

[`generate_plate`][hybridscene.generate_plate] blocks (use it for exports and scripts); [`PlateWorker`][hybridscene.PlateWorker] and
[`generate_plate_async`][hybridscene.generate_plate_async] run generation in a separate process and hand back a future, so a
window or a render loop keeps drawing on the main thread meanwhile.

[`background_plate`][hybridscene.background_plate] is what scene files call. Settings a scene file does not name (steps,
guidance, scheduler, device, ...) come from the caller through `plate_defaults`, a
context-local default (``contextvars``) that ``load_scene_file(plate_options=...)`` and the CLI's
``--steps``, ``--guidance``, ... set, so a scene's plate takes them without the scene passing them.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .._validate import check_finite
from ..config import Acceleration, check_acceleration
from ..errors import ConfigError
from .cache import PlateCache
from .plate import Plate, PlateCamera
from .spec import PlateSpec, ResolvedSpec, resolve_spec

__all__ = [
    "DEFAULT_CAMERA_HEIGHT",
    "LAYOUT_OPTIONS",
    "PLATE_OPTIONS",
    "PlateDefaults",
    "PlateResult",
    "background_plate",
    "current_plate_defaults",
    "generate_plate",
    "plate_defaults",
]

log = logging.getLogger(__name__)

_GENERATOR: Any = None
_DEPTH: dict[tuple[str, str], Any] = {}


@dataclasses.dataclass(frozen=True)
class PlateResult:
    """What [`generate_plate`][hybridscene.generate_plate] did."""

    plate: Plate
    """The plate (image, depth when asked, metadata)."""
    key: str
    """The cache key (32 hex digits)."""
    cache_hit: bool
    """True when the plate came from the cache."""
    entry: Path | None
    """The cache entry folder (``None`` with ``cache=False``, or when the cache could not be written)."""
    seconds: float
    """Wall-clock seconds for the whole call."""


def _generator(threads: int | None, acceleration: Acceleration | None) -> Any:
    """The process's generator (pipelines stay loaded between plates); a new one when the threads
    or the acceleration change."""
    global _GENERATOR
    from ..config import get_settings
    from .diffusion import DiffusionGenerator

    acceleration = acceleration or get_settings().acceleration
    if (_GENERATOR is None or (threads and _GENERATOR.threads != threads)
            or _GENERATOR.acceleration != acceleration):
        _GENERATOR = DiffusionGenerator(threads=threads, acceleration=acceleration)
    return _GENERATOR


def _check_depth_image(resolved: ResolvedSpec) -> Any:
    """The ``(H, W) float32`` depth of ``spec.depth_image``, loaded and checked against the size
    the plate will have, before any model runs; ``None`` without a depth image."""
    spec = resolved.spec
    if not spec.depth_image:
        return None
    from .image import _load_depth

    depth = _load_depth(spec.depth_image)
    width, height = spec.resize_to or resolved.size
    if depth.shape != (height, width):
        raise ConfigError(
            f"depth image {spec.depth_image!r} is {depth.shape[1]}x{depth.shape[0]} but the plate is "
            f"{width}x{height}; give a depth image of the plate's size"
        )
    return depth


def _paint(resolved: ResolvedSpec, callback: Callable[[int, int], Any] | None, threads: int | None,
           acceleration: Acceleration | None = None,
           depth_image: Any = None) -> tuple[Plate, dict[str, Any], dict[str, float]]:
    """Paint ``resolved``; ``depth_image`` is `_check_depth_image`'s array, loaded beforehand."""
    import numpy as np

    spec = resolved.spec
    t0 = time.perf_counter()
    from .layout import final_fields, passes_through, plate_fields

    passthrough = passes_through(resolved)
    if passthrough:  # img2img at strength 0: the layout's colours at the final size, exactly; no model runs
        image, info = np.array(resolved.layout.image), {"pipeline": None, "scheduler": None}
    else:
        image, info = _generator(threads, acceleration).generate(resolved, callback=callback)
    if spec.resize_to and spec.resize_to != resolved.size and not passthrough:
        from PIL import Image

        image = np.asarray(Image.fromarray(image).resize(spec.resize_to, Image.Resampling.LANCZOS))
    depth = None
    timings: dict[str, float] = {k: v for k, v in info.items() if isinstance(v, float)}
    if spec.depth_model:
        from .depth import DepthEstimator

        t1 = time.perf_counter()
        key = (spec.depth_model, resolved.device)
        if key not in _DEPTH:
            _DEPTH[key] = DepthEstimator(spec.depth_model, device=resolved.device)
        depth = _DEPTH[key].estimate(image, scale=spec.depth_scale)
        timings["depth_s"] = round(time.perf_counter() - t1, 3)
    elif spec.depth_image:
        depth = depth_image if depth_image is not None else _check_depth_image(resolved)
    # A layout gives the plate its depth, camera and water; a depth model's estimate is a check.
    layout = plate_fields(resolved, depth, image.shape[1::-1]) if resolved.layout is not None else {"depth": depth, "meta": {}}
    camera = layout.get("camera")
    if camera is None and resolved.tiled and spec.wrap:  # a 360 degree panorama (panorama.py)
        from .panorama import panorama_camera

        camera = panorama_camera(image.shape[1], image.shape[0], height_m=DEFAULT_CAMERA_HEIGHT)
    timings["total_s"] = round(time.perf_counter() - t0, 3)
    plate = Plate(
        image=image,
        depth=layout["depth"],
        water=layout.get("water"),
        camera=camera,
        source="diffusers",
        prompt=spec.prompt,
        seed=spec.seed,
        meta={
            "model": resolved.model.name,
            "model_identity": resolved.model.identity,
            "pipeline": info.get("pipeline"),
            "scheduler": info.get("scheduler"),
            "steps": resolved.steps,
            "guidance": resolved.guidance,
            "negative_prompt": spec.negative_prompt,
            "device": resolved.device,
            "dtype": resolved.dtype,
            "generated_size": list(resolved.size),
            **({"vae": spec.vae} if spec.vae else {}),
            **({"acceleration": info["acceleration"]} if "acceleration" in info else {}),
            **({"tiling": resolved.inputs["tiling"]} if resolved.tiled else {}),
            **layout["meta"],
        },
    )
    if resolved.upscaler_identity and not passthrough:  # after any layout: the final plate's image, depth and water
        from .upscale import upscale_resolved

        plate = upscale_resolved(plate, resolved, callback)
        if resolved.layout is not None:  # the layout's exact depth at the final size, not an upscaled one
            plate = final_fields(plate, resolved)
        timings["upscale_s"] = plate.meta["upscale_s"]
        timings["total_s"] = round(time.perf_counter() - t0, 3)
    return plate, resolved.inputs, timings


def generate_plate(
    spec: PlateSpec | None = None,
    *,
    cache: bool | PlateCache = True,
    callback: Callable[[int, int], Any] | None = None,
    threads: int | None = None,
    acceleration: Acceleration | None = None,
    **spec_kwargs: Any,
) -> PlateResult:
    """Paint an AI plate, or fetch it from the cache.

    ``generate_plate(prompt="Landscape with mountains and a river", model="CompVis/stable-diffusion-v1-4")``

    Args:
        spec: a [`PlateSpec`][hybridscene.PlateSpec], or give its fields as keywords.
        cache: ``True`` for the default cache, a [`PlateCache`][hybridscene.PlateCache], or ``False`` to neither
            read nor write a cache. A cache that cannot be written (read-only, full, a file) costs
            only the caching: the plate is returned with ``entry=None`` and a logged warning.
        callback: ``callback(step, total)`` after each denoising step; return ``False`` to cancel
            (raises [`Cancelled`][hybridscene.Cancelled], nothing is cached).
        threads: torch CPU threads for generation.
        acceleration: how the model runs (``torch.compile``, channels-last, attention kernel);
            default the settings'. It does not change the cache key.

    Returns:
        A [`PlateResult`][hybridscene.PlateResult]. A hit imports neither torch nor diffusers.
    """
    t0 = time.perf_counter()
    # 1. Validate and resolve (small files only; raises before any model is loaded).
    if spec is None:
        spec = PlateSpec(**spec_kwargs)
    elif spec_kwargs:
        spec = dataclasses.replace(spec, **spec_kwargs)
    check_acceleration(acceleration)
    store = (cache if isinstance(cache, PlateCache) else PlateCache()) if cache is not False else None
    resolved = resolve_spec(spec, cache_dir=store.root if store else None)
    depth_image = _check_depth_image(resolved)  # a bad depth file fails now, not after painting
    # 2. The cache, or 3. the model.
    if store is None:
        plate, _, _ = _paint(resolved, callback, threads, acceleration, depth_image)
        return PlateResult(plate, resolved.key, False, None, time.perf_counter() - t0)
    plate, hit = store.get_or_create(resolved.key, lambda: _paint(resolved, callback, threads, acceleration, depth_image))
    log.info("plate %s: cache %s", resolved.key, "hit" if hit else "miss")
    used = _USED.get()
    if used is not None:
        used.append((store, resolved.key, resolved.device, resolved.dtype))
    entry = plate.meta.get("cache_entry")  # absent when the cache could not be written
    return PlateResult(plate, resolved.key, hit, Path(entry) if entry else None, time.perf_counter() - t0)


_USED: contextvars.ContextVar[list[tuple[PlateCache, str, str, str]] | None] = contextvars.ContextVar(
    "hybridscene_plates_used", default=None)


@contextlib.contextmanager
def record_plates() -> Iterator[list[tuple[PlateCache, str, str, str]]]:
    """Collect ``(cache, key, device, dtype)`` of every plate `generate_plate` paints or loads
    through a cache inside the block (Ray's plate workers ship those cache entries to the render
    workers, which ask for the same device and dtype, so they compute the same keys)."""
    used: list[tuple[PlateCache, str, str, str]] = []
    token = _USED.set(used)
    try:
        yield used
    finally:
        _USED.reset(token)


LAYOUT_OPTIONS = ("layout", "control", "controlnet", "control_scale", "strength", "upscale", "upscaler", "wrap", "tiling")
"""The [`PlateSpec`][hybridscene.PlateSpec] fields of layouts, upscaling and panoramas, which both `plate_defaults`
and [`background_plate`][hybridscene.background_plate]'s keyword arguments take."""

PLATE_OPTIONS = ("steps", "guidance", "negative_prompt", "scheduler", "device", "dtype", "revision", "vae",
                 "depth_model", "depth_image", "depth_scale", *LAYOUT_OPTIONS, "acceleration")
"""The options `plate_defaults` (and ``load_scene_file(plate_options=...)``) take: the
[`PlateSpec`][hybridscene.PlateSpec] fields a scene file's [`background_plate`][hybridscene.background_plate] call does not decide itself
(it decides prompt, model, seed and size), and ``acceleration``."""


@dataclasses.dataclass
class PlateDefaults:
    """The defaults in effect inside a `plate_defaults` block (what it yields)."""

    spec: dict[str, Any]
    """[`PlateSpec`][hybridscene.PlateSpec] fields, by name (inner blocks merged over outer ones)."""
    acceleration: Acceleration | None
    """How the model runs; ``None``: the settings'."""
    callback: Callable[[int, int], Any] | None
    """Progress of denoising steps, for plates painted without a callback of their own."""
    used: int = 0
    """How many AI plates [`background_plate`][hybridscene.background_plate] painted (or loaded) with these defaults."""
    parent: PlateDefaults | None = dataclasses.field(default=None, repr=False)

    @property
    def options(self) -> dict[str, Any]:
        """The plate options set (``spec`` plus ``acceleration`` when given)."""
        return {**self.spec, **({"acceleration": self.acceleration} if self.acceleration is not None else {})}

    def _mark_used(self) -> None:
        node: PlateDefaults | None = self
        while node is not None:
            node.used += 1
            node = node.parent


_DEFAULTS: contextvars.ContextVar[PlateDefaults | None] = contextvars.ContextVar("hybridscene_plate_defaults", default=None)


@contextlib.contextmanager
def plate_defaults(
    *, acceleration: Acceleration | None = None, callback: Callable[[int, int], Any] | None = None, **options: Any
) -> Iterator[PlateDefaults]:
    """Defaults for the AI plates [`background_plate`][hybridscene.background_plate] paints inside the block.

    ``with plate_defaults(steps=4, guidance=0.0): scene = build_scene(model="stabilityai/sd-turbo")``

    A scene file names the model, prompt and seed of its plate; everything else about how the
    model paints comes from here, where the plate call does not say otherwise (its own arguments
    win). Blocks nest (inner values win) and are local to the thread or asyncio task (they are
    ``contextvars``); values that are ``None`` are left unset.

    Args:
        acceleration: how the model runs ([`Acceleration`][hybridscene.Acceleration]).
        callback: ``callback(step, total)`` for plates painted without a callback of their own.
        options: [`PlateSpec`][hybridscene.PlateSpec] fields among `PLATE_OPTIONS`: ``steps``, ``guidance``,
            ``negative_prompt``, ``scheduler``, ``device``, ``dtype``, ``revision``, ``vae``,
            ``depth_model``, ``depth_image``, ``depth_scale``.

    Yields:
        The `PlateDefaults` in effect; its ``used`` counts the AI plates painted with them
        (``load_scene_file`` uses it to report options no plate took).

    Raises:
        ConfigError: an unknown option, or a value [`PlateSpec`][hybridscene.PlateSpec] refuses (checked on entry,
            before any scene is built).
    """
    unknown = sorted(set(options) - set(PLATE_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown plate option {unknown[0]!r}; use one of {', '.join(PLATE_OPTIONS)}")
    check_acceleration(acceleration)
    outer = _DEFAULTS.get()
    spec = {**(outer.spec if outer else {}), **{k: v for k, v in options.items() if v is not None}}
    PlateSpec(prompt="check", model="check", **spec)  # bad values fail here, with PlateSpec's message
    defaults = PlateDefaults(
        spec=spec,
        acceleration=acceleration if acceleration is not None else (outer.acceleration if outer else None),
        callback=callback if callback is not None else (outer.callback if outer else None),
        parent=outer,
    )
    token = _DEFAULTS.set(defaults)
    try:
        yield defaults
    finally:
        _DEFAULTS.reset(token)


def current_plate_defaults() -> PlateDefaults | None:
    """The `PlateDefaults` of the innermost `plate_defaults` block, or ``None``."""
    return _DEFAULTS.get()


DEFAULT_CAMERA_HEIGHT = 1.6
"""Metres: the height given to the camera of an AI plate whose ``fov_y`` is set (the same as
``PerspectiveCamera.from_plate`` assumes for a plate without a camera)."""


def background_plate(
    size: tuple[int, int] = (1280, 720),
    *,
    seed: int = 0,
    model: str | None = None,
    prompt: str = "Landscape with mountains and a river",
    steps: int | None = None,
    fov_y: float | None = None,
    style: str = "mountains",
    callback: Callable[[int, int], Any] | None = None,
    **options: Any,
) -> Plate:
    """The plate a scene file usually wants: procedural by default, painted by ``model`` (and
    cached) when one is given, at the frame's aspect.

    Args:
        size: the frame size; AI plates are painted at this aspect with about the model's native
            pixel count and scaled on the GPU.
        seed: seeds the procedural painter or the diffusion model.
        model: a hub id or diffusers folder; ``None`` for the procedural plate.
        prompt: the text prompt, for ``model``.
        steps: denoising steps for ``model`` (default: the enclosing `plate_defaults`',
            else the model's).
        fov_y: vertical field of view in degrees (1..179) of the camera the plate is seen
            through. The procedural painter paints with it (default 50). An AI plate gets a
            [`PlateCamera`][hybridscene.PlateCamera] with it (level, `DEFAULT_CAMERA_HEIGHT` m above the ground,
            horizon centred), so the scene's default camera, occlusion and shadows match a lens
            the prompt implies; the model itself does not see it, and it is not part of the
            cache key. Default for AI plates: no camera (as before).
        style: the procedural style.
        callback: ``callback(step, total)`` after each denoising step (default: the enclosing
            `plate_defaults`').
        options: [`PlateSpec`][hybridscene.PlateSpec] fields of `LAYOUT_OPTIONS`, over the enclosing
            `plate_defaults`': ``layout`` (paint over a layout whose depth and camera the plate
            keeps: ``background_plate(size, model=M, layout="mountains:7", controlnet=C)``),
            ``control``, ``controlnet``, ``control_scale``, ``strength``, ``upscale``, ``upscaler``,
            ``wrap``, ``tiling``. A layout's camera wins over ``fov_y``.

    Settings of the AI plate not named here (guidance, scheduler, device, dtype, ...) and the
    acceleration come from the enclosing `plate_defaults` block, if any.
    """
    unknown = sorted(set(options) - set(LAYOUT_OPTIONS))
    if unknown:
        raise ConfigError(f"background_plate() got an unknown option {unknown[0]!r}; use one of {', '.join(LAYOUT_OPTIONS)}")
    options = {k: v for k, v in options.items() if v is not None}
    if model is None and options:
        raise ConfigError(f"{', '.join(sorted(options))} given without a model: procedural plates are painted by code; "
                          "pass model= (a hub id or diffusers folder) or drop them")
    if model is None:
        from .procedural import procedural_plate

        return procedural_plate(style, size=size, seed=seed, **({"fov_y": fov_y} if fov_y is not None else {}))
    from .spec import resolve_model, size_for_aspect

    if fov_y is not None:  # before the model runs
        fov_y = check_finite(fov_y, "fov_y")
        if not 1.0 <= fov_y <= 179.0:
            raise ConfigError(f"fov_y must be between 1 and 179 degrees, got {fov_y!r}")

    defaults = _DEFAULTS.get()
    fields = dict(defaults.spec) if defaults is not None else {}
    if steps is not None:
        fields["steps"] = steps
    fields.update(options)
    model_ref = resolve_model(model, revision=fields.get("revision"))
    if fields.get("wrap"):  # a full turn: four native widths by one native height
        from .panorama import panorama_size

        frame_size = panorama_size(model_ref)
    else:
        frame_size = size_for_aspect(model_ref, size)
    spec = PlateSpec(prompt=prompt, model=model, seed=seed, size=frame_size, **fields)
    if defaults is not None:
        defaults._mark_used()
        callback = callback if callback is not None else defaults.callback
    plate = generate_plate(spec, callback=callback, acceleration=defaults.acceleration if defaults else None).plate
    if fov_y is not None and spec.layout is None and plate.camera is None:
        plate = dataclasses.replace(plate, camera=PlateCamera(fov_y=fov_y, height=DEFAULT_CAMERA_HEIGHT, horizon=0.5))
    return plate
