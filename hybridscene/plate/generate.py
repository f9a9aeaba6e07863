"""AI plates end to end: resolve the spec, look in the cache, generate on a miss, store.

:func:`generate_plate` blocks (use it for exports and scripts); :class:`PlateWorker` and
:func:`generate_plate_async` run generation in a separate process and hand back a future, so a
window or a render loop keeps drawing on the main thread meanwhile.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import Acceleration, check_acceleration
from ..errors import ConfigError
from .cache import PlateCache
from .plate import Plate
from .spec import PlateSpec, ResolvedSpec, resolve_spec

__all__ = ["PlateResult", "background_plate", "generate_plate"]

log = logging.getLogger(__name__)

_GENERATOR: Any = None
_DEPTH: dict[tuple[str, str], Any] = {}


@dataclasses.dataclass(frozen=True)
class PlateResult:
    """What :func:`generate_plate` did."""

    plate: Plate
    """The plate (image, depth when asked, metadata)."""
    key: str
    """The cache key (32 hex digits)."""
    cache_hit: bool
    """True when the plate came from the cache."""
    entry: Path | None
    """The cache entry folder (``None`` with ``cache=False``)."""
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


def _paint(resolved: ResolvedSpec, callback: Callable[[int, int], Any] | None, threads: int | None,
           acceleration: Acceleration | None = None) -> tuple[Plate, dict[str, Any], dict[str, float]]:
    import numpy as np

    spec = resolved.spec
    t0 = time.perf_counter()
    image, info = _generator(threads, acceleration).generate(resolved, callback=callback)
    if spec.resize_to and spec.resize_to != resolved.size:
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
        from .image import _load_depth

        depth = _load_depth(spec.depth_image)
        if depth.shape != image.shape[:2]:
            raise ConfigError(
                f"depth image {spec.depth_image!r} is {depth.shape[1]}x{depth.shape[0]} but the plate is "
                f"{image.shape[1]}x{image.shape[0]}; give a depth image of the plate's size"
            )
    timings["total_s"] = round(time.perf_counter() - t0, 3)
    plate = Plate(
        image=image,
        depth=depth,
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
        },
    )
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
        spec: a :class:`PlateSpec`, or give its fields as keywords.
        cache: ``True`` for the default cache, a :class:`PlateCache`, or ``False`` to neither
            read nor write a cache.
        callback: ``callback(step, total)`` after each denoising step; return ``False`` to cancel
            (raises :class:`~hybridscene.Cancelled`, nothing is cached).
        threads: torch CPU threads for generation.
        acceleration: how the model runs (``torch.compile``, channels-last, attention kernel);
            default the settings'. It does not change the cache key.

    Returns:
        A :class:`PlateResult`. A hit imports neither torch nor diffusers.
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
    # 2. The cache, or 3. the model.
    if store is None:
        plate, _, _ = _paint(resolved, callback, threads, acceleration)
        return PlateResult(plate, resolved.key, False, None, time.perf_counter() - t0)
    plate, hit = store.get_or_create(resolved.key, lambda: _paint(resolved, callback, threads, acceleration))
    log.info("plate %s: cache %s", resolved.key, "hit" if hit else "miss")
    return PlateResult(plate, resolved.key, hit, store.entry_path(resolved.key), time.perf_counter() - t0)


def background_plate(
    size: tuple[int, int] = (1280, 720),
    *,
    seed: int = 0,
    model: str | None = None,
    prompt: str = "Landscape with mountains and a river",
    steps: int | None = None,
    style: str = "mountains",
    callback: Callable[[int, int], Any] | None = None,
) -> Plate:
    """The plate a scene file usually wants: procedural by default, painted by ``model`` (and
    cached) when one is given, at the frame's aspect.

    Args:
        size: the frame size; AI plates are painted at this aspect with about the model's native
            pixel count and scaled on the GPU.
        seed: seeds the procedural painter or the diffusion model.
        model: a hub id or diffusers folder; ``None`` for the procedural plate.
        prompt: the text prompt, for ``model``.
        steps: denoising steps for ``model`` (default: the model's).
        style: the procedural style.
    """
    if model is None:
        from .procedural import procedural_plate

        return procedural_plate(style, size=size, seed=seed)
    from .spec import resolve_model, size_for_aspect

    spec = PlateSpec(prompt=prompt, model=model, seed=seed, steps=steps, size=size_for_aspect(resolve_model(model), size))
    return generate_plate(spec, callback=callback).plate
