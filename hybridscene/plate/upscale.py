"""Upscaling plates: Lanczos, or a diffusers upscaler run tile by tile; depth follows, edge-aware.

A painted plate is small (a model's native 512 or 1024 pixels a side); ``upscale=`` enlarges it
after painting, before it is cached, so a 4K plate is paid for once:

* ``"lanczos"`` resamples with Pillow (any factor, milliseconds).
* a diffusers upscaler (hub id or folder) repaints detail: ``StableDiffusionUpscalePipeline``
  (``stabilityai/stable-diffusion-x4-upscaler``, x4) or ``StableDiffusionLatentUpscalePipeline``
  (``stabilityai/sd-x2-latent-upscaler``, x2). A model gives its own factor; a smaller factor is
  its output resampled down with Lanczos (sharper than Lanczos alone); a larger one is refused.

Model upscalers run on overlapping tiles of the low-resolution image (`DEFAULT_TILE` pixels
with `DEFAULT_OVERLAP` shared with each neighbour), blended with linear feather weights in the
overlaps, so the models' memory is bounded by the tile, not the plate. The x4 upscaler's noise
(of its latents and of the low-resolution conditioning) is drawn once for the whole image and cut
per tile, so tiles agree with one another and with an untiled run away from the seams.

Depth is not resampled like colour: blending a mountain's 800 m with the sky's ``inf`` or a tree's
9 m with the valley's 300 m behind it would invent surfaces that do not exist. `upscale_depth`
interpolates only inside smooth surfaces and, across a silhouette, picks one of the neighbouring
original depths, the one whose colour matches the upscaled image there (so the depth edge lands
on the image's edge).

This module imports torch and diffusers only inside the functions that run a model.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import Cancelled, ConfigError, PlateError
from .plate import Plate

__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_TILE",
    "MAX_UPSCALED_SIDE",
    "UPSCALER_FACTORS",
    "check_upscale",
    "check_upscaler",
    "upscale_depth",
    "upscale_image",
    "upscale_plate",
    "upscale_water",
    "upscaled_size",
]

log = logging.getLogger(__name__)

DEFAULT_TILE = 128
"""Low-resolution pixels a side of one tile a model upscaler sees (x4: 512 output pixels)."""
DEFAULT_OVERLAP = 32
"""Low-resolution pixels two neighbouring tiles share (blended with feather weights)."""
MAX_UPSCALED_SIDE = 16384
"""The largest upscaled plate side, in pixels."""
UPSCALER_FACTORS = {"StableDiffusionUpscalePipeline": 4, "StableDiffusionLatentUpscalePipeline": 2}
"""The diffusers upscaler pipelines and their factor."""
_NOISE_LEVEL = 20  # StableDiffusionUpscalePipeline's default
_SMOOTH = 0.25  # depths within 25% of each other are one surface: interpolated
_COLOR_SIGMA = 24.0  # sRGB levels: how far a colour may be from a candidate's and still match it
_PIPES: dict[tuple[str, str, str, str], Any] = {}


def upscaled_size(size: tuple[int, int], factor: float) -> tuple[int, int]:
    """``(width, height)`` times ``factor``, rounded."""
    return max(1, round(size[0] * factor)), max(1, round(size[1] * factor))


def check_upscaler(pipeline_class: str, factor: float, name: str) -> int:
    """The native factor of the upscaler model ``name`` (a diffusers ``pipeline_class``),
    checked against ``factor``.

    Raises:
        ConfigError: the model is not an upscaler, or ``factor`` is larger than it gives.
    """
    native = UPSCALER_FACTORS.get(pipeline_class)
    if native is None:
        raise ConfigError(
            f"upscaler {name!r} is a {pipeline_class}, not an upscaler; use 'lanczos', a "
            "StableDiffusionUpscalePipeline (e.g. stabilityai/stable-diffusion-x4-upscaler, x4) or a "
            "StableDiffusionLatentUpscalePipeline (stabilityai/sd-x2-latent-upscaler, x2)"
        )
    if factor > native:
        raise ConfigError(
            f"upscale {factor:g} is more than upscaler {name!r} gives ({pipeline_class}, x{native}); use "
            f"upscale <= {native} with it, or upscaler='lanczos' for any factor"
        )
    return native


# -- colour ------------------------------------------------------------------------------------
def upscale_image(
    image: np.ndarray,
    factor: float,
    upscaler: str = "lanczos",
    *,
    prompt: str = "",
    negative_prompt: str | None = None,
    seed: int = 0,
    steps: int = 20,
    guidance: float = 0.0,
    device: str = "cpu",
    dtype: str = "float32",
    revision: str | None = None,
    tile: int | None = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    callback: Callable[[int, int], Any] | None = None,
) -> np.ndarray:
    """Enlarge an image by ``factor``.

    Args:
        image: ``(H, W, 3) uint8`` sRGB.
        factor: the scale, > 1 (output ``round(W * factor) x round(H * factor)``).
        upscaler: ``"lanczos"``, or a diffusers upscaler's hub id or folder (see the module
            docstring); the model is loaded once per (model, device, dtype) and kept.
        prompt: what the image shows (the plate's prompt), for a model upscaler.
        negative_prompt: what to avoid, for a model upscaler.
        seed: seeds the model upscaler's noise.
        steps: the model upscaler's denoising steps.
        guidance: classifier-free guidance scale (> 1 runs the model twice per step).
        device: torch device of the model upscaler.
        dtype: ``"float32"``, ``"float16"`` or ``"bfloat16"``.
        revision: a branch, tag or commit of a hub upscaler.
        tile: low-resolution pixels a side of a tile (a multiple of 8, >= 16); ``None`` runs the
            model once on the whole image (memory grows with the image).
        overlap: low-resolution pixels shared by neighbouring tiles (< ``tile / 2``).
        callback: ``callback(step, total)`` after each denoising step (of all tiles); return
            ``False`` to cancel.

    Returns:
        ``(round(H * factor), round(W * factor), 3) uint8`` sRGB.

    Raises:
        ConfigError: a bad factor, tile or overlap, or a model that is not an upscaler or gives
            less than ``factor``.
        PlateError: the model cannot be loaded.
        Cancelled: ``callback`` returned ``False``.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ConfigError(f"upscale_image needs an (H, W, 3) uint8 image, got shape {image.shape} dtype {image.dtype}")
    check_upscale(factor, image.shape[1::-1])
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 16 or tile % 8):
        raise ConfigError(f"upscale tile must be a multiple of 8, at least 16 (low-resolution pixels), got {tile!r}")
    if tile is not None and (isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < tile // 2):
        raise ConfigError(f"upscale overlap must be an integer in 0..{tile // 2 - 1} for tile {tile}, got {overlap!r}")
    size = upscaled_size(image.shape[1::-1], factor)
    if upscaler == "lanczos":
        return _lanczos(image, size)
    pipe = _pipeline(upscaler, revision, device, dtype)
    native = check_upscaler(type(pipe).__name__, factor, upscaler)
    run = _x4 if native == 4 else _latent_x2
    import torch

    try:
        out = run(pipe, image, prompt=prompt, negative_prompt=negative_prompt, seed=seed, steps=steps,
                  guidance=guidance, tile=tile, overlap=overlap, callback=callback)
    except torch.OutOfMemoryError:
        raise PlateError(f"out of memory upscaling {image.shape[1]}x{image.shape[0]} with {upscaler!r} in tiles of "
                         f"{tile}; use smaller tiles (tile=64), dtype float16 on a GPU, or upscaler='lanczos'") from None
    return out if out.shape[1::-1] == size else _lanczos(out, size)


def check_upscale(factor: float, size: tuple[int, int], *, full_turn: bool = False) -> tuple[int, int]:
    """The size ``(width, height)`` becomes when upscaled by ``factor``, checked; ``full_turn``: a
    360 degree plate, upscaled with `_WRAP_PAD` columns from its other end on each side.

    Raises:
        ConfigError: ``factor`` is not in 1..16, or the result is over `MAX_UPSCALED_SIDE`.
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 1 < factor <= 16:
        raise ConfigError(f"upscale factor must be a number above 1 and at most 16 (e.g. 4), got {factor!r}")
    out = upscaled_size(size, factor)
    if full_turn:  # what the upscaler works on: the plate with its borrowed columns
        out = upscaled_size((size[0] + 2 * min(_WRAP_PAD, size[0]), size[1]), factor)
    if max(out) > MAX_UPSCALED_SIDE:
        raise ConfigError(f"upscaling {size[0]}x{size[1]} by {factor:g} gives {out[0]}x{out[1]}, more than "
                          f"{MAX_UPSCALED_SIDE} pixels a side; use a smaller factor or plate")
    return out


def _lanczos(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


# -- model upscalers ---------------------------------------------------------------------------
def _pipeline(name: str, revision: str | None, device: str, dtype: str) -> Any:
    """The loaded upscaler pipeline, kept per (model, revision, device, dtype)."""
    key = (name, revision or "", device, dtype)
    if key in _PIPES:
        return _PIPES[key]
    if dtype not in ("float32", "float16", "bfloat16"):
        raise ConfigError(f"unknown dtype {dtype!r}; use float32, float16 or bfloat16")
    from ._torch import _check_device, _import_torch, _quiet_loading, torch_dtype

    torch = _import_torch()
    from diffusers import DiffusionPipeline

    _check_device(device, dtype)  # a device this torch cannot use: one line, before loading
    t0 = time.perf_counter()
    try:
        with _quiet_loading():
            pipe = DiffusionPipeline.from_pretrained(name, revision=revision, dtype=torch_dtype(dtype))
        check_upscaler(type(pipe).__name__, 1.5, name)
        pipe = pipe.to(device)
    except ConfigError:
        raise
    except Exception as exc:  # missing files, offline hub, a folder of another kind, no room on the device: one line
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PlateError(f"cannot load upscaler {name!r}: {detail}") from None
    pipe.set_progress_bar_config(disable=True)
    if dtype == "float16" and getattr(pipe.vae.config, "force_upcast", False):
        pipe.vae.to(torch.float32)  # the x4 decoder overflows in float16 (its config says so)
    log.info("loaded upscaler %s (%s) on %s as %s in %.1f s", name, type(pipe).__name__, device, dtype,
             time.perf_counter() - t0)
    _PIPES[key] = pipe
    return pipe


def _starts(n: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along an axis of ``n`` pixels: every ``tile - overlap``, the last flush with the end."""
    if tile >= n:
        return [0]
    return [*range(0, n - tile, tile - overlap), n - tile]


def _tiles(height: int, width: int, tile: int | None, overlap: int) -> list[tuple[int, int, int, int]]:
    """``(y, x, h, w)`` of the low-resolution tiles covering the image."""
    if tile is None:
        return [(0, 0, height, width)]
    th, tw = min(tile, height), min(tile, width)
    return [(y, x, th, tw) for y in _starts(height, tile, overlap) for x in _starts(width, tile, overlap)]


def _feather(start: int, length: int, total: int, ramp: int) -> np.ndarray:
    """1-D blend weights of one tile (output pixels): rising linearly over ``ramp`` pixels on each
    side that has a neighbour, 1 elsewhere (and at the image's own edges)."""
    w = np.ones(length, np.float32)
    if ramp <= 0:
        return w
    r = (np.arange(min(ramp, length), dtype=np.float32) + 0.5) / ramp
    if start > 0:
        w[: r.size] = np.minimum(w[: r.size], r)
    if start + length < total:
        w[length - r.size:] = np.minimum(w[length - r.size:], r[::-1])
    return w


class _Blend:
    """Accumulates feathered tiles of the output (``scale`` output pixels per input pixel)."""

    def __init__(self, height: int, width: int, scale: int, overlap: int) -> None:
        self.h, self.w, self.k, self.ramp = height, width, scale, overlap * scale
        self.sum = np.zeros((height * scale, width * scale, 3), np.float32)
        self.weight = np.zeros((height * scale, width * scale, 1), np.float32)

    def add(self, y: int, x: int, pixels: np.ndarray) -> None:
        k = self.k
        ph, pw = pixels.shape[:2]
        wy = _feather(y * k, ph, self.h * k, self.ramp)
        wx = _feather(x * k, pw, self.w * k, self.ramp)
        weight = (wy[:, None] * wx[None, :])[..., None]
        self.sum[y * k:y * k + ph, x * k:x * k + pw] += pixels * weight
        self.weight[y * k:y * k + ph, x * k:x * k + pw] += weight

    def result(self) -> np.ndarray:
        rgb = self.sum / np.maximum(self.weight, 1e-8)
        return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


class _Steps:
    """Counts denoising steps over all tiles for the callback (and its cancel)."""

    def __init__(self, callback: Callable[[int, int], Any] | None, total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0

    def step(self) -> None:
        self.done += 1
        if self.callback is not None and self.callback(self.done, self.total) is False:
            raise Cancelled(f"upscaling cancelled after {self.done} of {self.total} steps")


def _x4(pipe: Any, image: np.ndarray, *, prompt: str, negative_prompt: str | None, seed: int, steps: int,
        guidance: float, tile: int | None, overlap: int, callback: Callable[[int, int], Any] | None) -> np.ndarray:
    """``StableDiffusionUpscalePipeline``'s denoising, tile by tile, with the noise of the whole
    image drawn once (its ``__call__`` step for step otherwise: noise-augmented low-resolution
    conditioning at ``noise_level`` 20, the pipeline's scheduler, the VAE's x4 decoder)."""
    import torch

    device, dtype = pipe.unet.device, pipe.unet.dtype
    height, width = image.shape[:2]
    cfg = guidance > 1.0
    with torch.no_grad():
        embeds, negative = pipe.encode_prompt(prompt, device, 1, cfg, negative_prompt)
        if cfg:
            embeds = torch.cat([negative, embeds])
        low = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()[None] / 127.5 - 1.0
        gen = torch.Generator("cpu").manual_seed(seed)
        noise = torch.randn(low.shape, generator=gen)
        latent_noise = torch.randn((1, pipe.vae.config.latent_channels, height, width), generator=gen)
        level = torch.tensor([min(_NOISE_LEVEL, pipe.config.max_noise_level)], dtype=torch.long)
        low = pipe.low_res_scheduler.add_noise(low, noise, level).to(device, dtype)
        level = level.to(device).repeat(2 if cfg else 1)
        blend = _Blend(height, width, 4, overlap)
        tiles = _tiles(height, width, tile, overlap)
        counter = _Steps(callback, steps * len(tiles))
        vae_dtype = next(iter(pipe.vae.post_quant_conv.parameters())).dtype
        for y, x, th, tw in tiles:
            cond = low[:, :, y:y + th, x:x + tw]
            cond = torch.cat([cond, cond]) if cfg else cond
            pipe.scheduler.set_timesteps(steps, device=device)  # resets multistep schedulers' state per tile
            latents = latent_noise[:, :, y:y + th, x:x + tw].to(device, dtype) * pipe.scheduler.init_noise_sigma
            for t in pipe.scheduler.timesteps:
                model_in = torch.cat([latents, latents]) if cfg else latents
                model_in = torch.cat([pipe.scheduler.scale_model_input(model_in, t), cond], dim=1)
                pred = pipe.unet(model_in, t, encoder_hidden_states=embeds, class_labels=level, return_dict=False)[0]
                if cfg:
                    uncond, text = pred.chunk(2)
                    pred = uncond + guidance * (text - uncond)
                latents = pipe.scheduler.step(pred, t, latents, return_dict=False)[0]
                counter.step()
            pixels = pipe.vae.decode(latents.to(vae_dtype) / pipe.vae.config.scaling_factor, return_dict=False)[0]
            blend.add(y, x, ((pixels[0].float().permute(1, 2, 0).cpu().numpy() + 1.0) / 2.0).clip(0.0, 1.0))
    return blend.result()


def _latent_x2(pipe: Any, image: np.ndarray, *, prompt: str, negative_prompt: str | None, seed: int, steps: int,
               guidance: float, tile: int | None, overlap: int, callback: Callable[[int, int], Any] | None) -> np.ndarray:
    """``StableDiffusionLatentUpscalePipeline`` per tile, its initial latents cut from one noise
    tensor for the whole image (the VAE's sampling of each tile's encoding is drawn per tile)."""
    import torch
    from PIL import Image

    height, width = image.shape[:2]
    vsf = int(getattr(pipe, "vae_scale_factor", 8))
    # The UNet halves the 2x latent (len(blocks) - 1) times: image sides are multiples of m, >= 2m.
    m = max(8, vsf * 2 ** (len(pipe.unet.config.block_out_channels) - 1) // 2)
    ph, pw = max(2 * m, -(-height // m) * m), max(2 * m, -(-width // m) * m)
    padded = np.pad(image, ((0, ph - height), (0, pw - width), (0, 0)), mode="edge")
    if tile is not None:
        tile = max(2 * m, tile // m * m)
        overlap = min(overlap // vsf * vsf, max(0, (tile // 2 - 1) // vsf * vsf))
    gen = torch.Generator("cpu").manual_seed(seed)
    latent_noise = torch.randn((1, pipe.vae.config.latent_channels, 2 * ph // vsf, 2 * pw // vsf), generator=gen)
    tiles = _tiles(ph, pw, tile, overlap)
    blend = _Blend(ph, pw, 2, overlap)
    counter = _Steps(callback, steps * len(tiles))
    device, dtype = pipe.unet.device, pipe.unet.dtype
    for y, x, th, tw in tiles:
        latents = latent_noise[:, :, 2 * y // vsf:2 * (y + th) // vsf, 2 * x // vsf:2 * (x + tw) // vsf].to(device, dtype)
        out = pipe(prompt=prompt, negative_prompt=negative_prompt, image=Image.fromarray(padded[y:y + th, x:x + tw]),
                   num_inference_steps=steps, guidance_scale=guidance, latents=latents,
                   generator=torch.Generator("cpu").manual_seed(seed), output_type="np",
                   callback=lambda *_: counter.step())
        blend.add(y, x, np.asarray(out.images[0], np.float32))
    return blend.result()[: 2 * height, : 2 * width]


# -- depth and water ---------------------------------------------------------------------------
def _grid(n: int, out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ``out`` output samples over ``n`` input samples (pixel centres aligned): the lower and
    upper input index and the weight of the upper one."""
    pos = np.clip((np.arange(out, dtype=np.float64) + 0.5) * n / out - 0.5, 0, n - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def upscale_depth(
    depth: np.ndarray,
    factor: float,
    guide_image: np.ndarray | None = None,
    *,
    guide_low: np.ndarray | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Enlarge a depth map without inventing depths across silhouettes.

    Each output pixel looks at its four nearest input depths. Where they are one smooth surface
    (finite, within 25% of each other) it interpolates them bilinearly. Across a silhouette it
    takes one of the four unchanged: the one whose colour in ``guide_low`` is closest to the
    output pixel's colour in ``guide_image`` (weighed by nearness), so the depth edge follows the
    upscaled image's edge; without a guide, the nearest. ``inf`` (sky) stays ``inf``, and no
    depth between a foreground's and the background's appears.

    Args:
        depth: ``(H, W) float32`` metres, ``inf`` for sky.
        factor: the scale (the output is ``round(W * factor) x round(H * factor)``).
        guide_image: ``(H', W', 3) uint8``, the upscaled image at the output size.
        guide_low: ``(H, W, 3) uint8``, the image at the depth's size (default: ``guide_image``
            box-filtered down to it).
        size: ``(width, height)`` of the output instead of the factor's.

    Returns:
        ``(H', W') float32`` depth.
    """
    depth = np.asarray(depth, np.float32)
    h, w = depth.shape
    ow, oh = size or upscaled_size((w, h), factor)
    if guide_image is not None:
        guide_image = np.asarray(guide_image)
        if guide_image.shape[:2] != (oh, ow):
            raise ConfigError(f"guide image is {guide_image.shape[1]}x{guide_image.shape[0]} but the upscaled depth is {ow}x{oh}")
        if guide_low is None:
            from PIL import Image

            guide_low = np.asarray(Image.fromarray(guide_image[..., :3]).resize((w, h), Image.Resampling.BOX))
    y0, y1, fy = _grid(h, oh)
    x0, x1, fx = _grid(w, ow)
    out = np.empty((oh, ow), np.float32)
    low_rgb = None if guide_low is None else np.asarray(guide_low, np.float32)[..., :3]
    rows = max(1, 1_000_000 // max(1, ow))  # bounded memory: a few dozen floats per output pixel of a chunk
    for r0 in range(0, oh, rows):
        sl = slice(r0, r0 + rows)
        ys, yw = (y0[sl], y1[sl]), (1.0 - fy[sl], fy[sl])
        idx = [(ys[a][:, None], xs[None, :]) for a in (0, 1) for xs in (x0, x1)]
        cand = np.stack([depth[i] for i in idx])  # (4, rows, ow)
        wts = np.stack([yw[a][:, None] * xw[None, :] for a in (0, 1) for xw in (1.0 - fx, fx)])
        finite = np.isfinite(cand).all(axis=0)
        with np.errstate(invalid="ignore", over="ignore"):
            smooth = finite & (cand.max(axis=0) <= cand.min(axis=0) * (1.0 + _SMOOTH))
            bilinear = (cand * wts).sum(axis=0)
        score = wts + 1e-6  # nearness; without a guide, the nearest wins
        if guide_image is not None and low_rgb is not None:
            hi_rgb = guide_image[sl, :, :3].astype(np.float32)
            for c, i in enumerate(idx):  # times colour likeness (nearness decides when no colour is alike)
                dist2 = ((low_rgb[i] - hi_rgb) ** 2).sum(axis=-1)
                score[c] *= np.exp(-dist2 / (2.0 * _COLOR_SIGMA**2)) + 1e-6
        picked = np.take_along_axis(cand, score.argmax(axis=0)[None], axis=0)[0]
        out[sl] = np.where(smooth, bilinear, picked)
    return out


def upscale_water(water: np.ndarray, factor: float, *, size: tuple[int, int] | None = None) -> np.ndarray:
    """Enlarge a ``(H, W)`` 0..1 water mask bilinearly (``(H', W') float32``, 0..1)."""
    from PIL import Image

    water = np.asarray(water, np.float32)
    out = size or upscaled_size(water.shape[::-1], factor)
    return np.clip(np.asarray(Image.fromarray(water, mode="F").resize(out, Image.Resampling.BILINEAR)), 0.0, 1.0)


def upscale_plate(plate: Plate, factor: float, upscaler: str = "lanczos", **options: Any) -> Plate:
    """A plate enlarged by ``factor``: its image by `upscale_image` (``options`` are its keyword
    arguments; the prompt and seed default to the plate's), its depth by `upscale_depth`
    guided by the new image, its water mask bilinearly. The camera is unchanged (its field of view
    and horizon are fractions of the frame). ``meta`` gains ``upscale``, ``upscaler``,
    ``upscaled_from`` (the size before), ``upscaled_size`` and ``upscale_s``."""
    t0 = time.perf_counter()
    options.setdefault("prompt", plate.prompt or "")
    options.setdefault("seed", plate.seed or 0)
    # A full turn (a 360 degree panorama) is upscaled round the circle: with columns from the other
    # end on each side, cropped off afterwards, so its ends still meet without a seam.
    pad = min(_WRAP_PAD, plate.size[0]) if plate.camera is not None and plate.camera.full_turn else 0
    out_w = upscaled_size(plate.size, factor)[0]
    low = _wrapped(plate.image, pad)
    image = upscale_image(low, factor, upscaler, **options)
    size = image.shape[1::-1]
    depth = None if plate.depth is None else upscale_depth(_wrapped(plate.depth, pad), factor, image, guide_low=low, size=size)
    water = None if plate.water is None else upscale_water(_wrapped(plate.water, pad), factor, size=size)
    if pad:
        left = round(pad * size[0] / low.shape[1])
        image, depth, water = (None if a is None else np.ascontiguousarray(a[:, left:left + out_w]) for a in (image, depth, water))
    meta = {**plate.meta, "upscale": factor, "upscaler": upscaler, "upscaled_from": list(plate.size),
            "upscaled_size": list(size), "upscale_s": round(time.perf_counter() - t0, 3)}
    return dataclasses.replace(plate, image=image, depth=depth, water=water, meta=meta)


_WRAP_PAD = 32  # low-resolution columns a full-turn plate borrows from its other end while it is upscaled


def _wrapped(array: np.ndarray, pad: int) -> np.ndarray:
    """``array`` with ``pad`` columns from the other end on each side (a full turn's neighbours)."""
    return np.concatenate([array[:, -pad:], array, array[:, :pad]], axis=1) if pad else array


def upscale_resolved(plate: Plate, resolved: Any, callback: Callable[[int, int], Any] | None = None) -> Plate:
    """`upscale_plate` as a resolved [`PlateSpec`][hybridscene.PlateSpec] asks (``upscale``,
    ``upscaler`` at the commit its key names; the plate's steps, guidance, negative prompt,
    device and dtype), for ``generate.py``."""
    spec, identity = resolved.spec, resolved.upscaler_identity or ""
    return upscale_plate(
        plate, spec.upscale, spec.upscaler, negative_prompt=spec.negative_prompt, steps=resolved.steps,
        guidance=resolved.guidance, device=resolved.device, dtype=resolved.dtype,
        revision=identity.rsplit("@", 1)[1] if identity.startswith("hub:") else None, callback=callback,
    )
