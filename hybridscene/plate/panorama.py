"""Wide and 360 degree AI plates: MultiDiffusion (Bar-Tal et al. 2023) over a loaded pipeline.

A model paints well at its native size (512 px for SD 1.x, 1024 for SDXL); asked for a much wider
image it repeats itself and loses the composition. MultiDiffusion paints the wide latent with
overlapping windows of the native size instead: at every denoising step each window's noise is
predicted (windows batched together), the predictions are averaged where windows overlap, and
the scheduler takes **one** step over the whole latent. For the schedulers Stable Diffusion uses,
a step is linear in the noise prediction, so this equals the paper's average of the windows'
denoised latents; it also keeps one scheduler state (multistep histories stay whole) and draws
an ancestral scheduler's fresh noise once for the whole latent, at the right variance (averaging
per-window draws would shrink it where windows overlap).

With ``wrap=True`` the windows wrap around horizontally (columns taken modulo the width), so the
painting has no left or right edge; the autoencoder's convolutions then pad with wrapped columns
instead of zeros while it decodes, so the decoded edges join too: a seamless 360 degree
panorama.

With one window (the plate at the model's native size) every step is the plain pipeline's, so
the same seed gives the same image as ``pipe(...)``.

The steps follow diffusers' ``StableDiffusionPipeline.__call__`` and
``StableDiffusionXLPipeline.__call__`` and reuse the pipeline's own pieces (``encode_prompt``,
``prepare_latents``, ``prepare_extra_step_kwargs``, the autoencoder, the safety checker).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import ConfigError
from .plate import PlateCamera

__all__ = ["MultiDiffusionOutput", "multidiffusion", "panorama_camera", "panorama_size", "tiled_painter", "tiling_inputs",
           "window_starts"]

AUTO_FACTOR = 1.5
"""``tiling="auto"`` paints by MultiDiffusion when the plate is wider or taller than this many
times the model's native size."""


@dataclasses.dataclass(frozen=True)
class MultiDiffusionOutput:
    """What [`multidiffusion`][hybridscene.plate.panorama.multidiffusion] painted (shaped like a
    diffusers pipeline output)."""

    images: list[np.ndarray]
    """One ``(H, W, 3) float32`` image, values 0..1."""
    nsfw_content_detected: list[bool] | None
    """The safety checker's answer, when the pipeline has one."""
    windows: int
    """Windows denoised at each step."""


def window_starts(size: int, window: int, stride: int, wrap: bool) -> list[int]:
    """Start cells of the windows along one axis of ``size`` latent cells.

    Without ``wrap``: every ``stride`` cells, plus one flush with the far edge when the stride
    does not land there (every cell is covered). With ``wrap``: every ``stride`` cells round the
    whole circle (windows past the edge continue from the start).
    """
    if wrap:
        return list(range(0, size, stride))
    if size <= window:
        return [0]
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] + window < size:
        starts.append(size - window)
    return starts


def multidiffusion(
    pipe: Any,
    *,
    prompt: str,
    width: int,
    height: int,
    num_inference_steps: int,
    guidance_scale: float,
    generator: Any,
    negative_prompt: str | None = None,
    window: tuple[int, int] | None = None,
    stride: int | None = None,
    wrap: bool = False,
    batch: int = 8,
    eta: float = 0.0,
    latents: Any = None,
    output_type: str = "np",
    callback_on_step_end: Callable[[Any, int, Any, dict[str, Any]], Any] | None = None,
) -> MultiDiffusionOutput:
    """Paint ``width`` x ``height`` with a loaded SD 1.x/2.x or SDXL pipeline by MultiDiffusion.

    Args:
        pipe: a loaded ``StableDiffusionPipeline`` or ``StableDiffusionXLPipeline`` (its scheduler
            as set: any of diffusers' schedulers).
        prompt, negative_prompt, num_inference_steps, guidance_scale, generator, eta, latents: as
            for ``pipe(...)`` (``latents``: the starting noise of the whole image, ``(1, C, H/f, W/f)``).
        width, height: the image size in pixels, multiples of the autoencoder's factor.
        window: ``(width, height)`` of a window in pixels; default the model's native size
            (clipped to the image).
        stride: pixels between window starts, a multiple of the autoencoder's factor; default
            half the window's width.
        wrap: the windows wrap around horizontally (and the decode too): a seamless 360 degree
            panorama. ``width`` must then be a multiple of ``stride``, and at least a window wide.
        batch: windows per UNet call (times 2 with classifier-free guidance).
        output_type: ``"np"`` only.
        callback_on_step_end: ``fn(pipe, step, timestep, {})`` after each step, as diffusers calls it.

    Returns:
        A [`MultiDiffusionOutput`][hybridscene.plate.panorama.MultiDiffusionOutput].

    Raises:
        ConfigError: a pipeline that is not a UNet Stable Diffusion one, or sizes that do not fit.
    """
    import torch

    with torch.no_grad():
        return _paint(pipe, prompt=prompt, width=width, height=height, num_inference_steps=num_inference_steps,
                      guidance_scale=guidance_scale, generator=generator, negative_prompt=negative_prompt,
                      window=window, stride=stride, wrap=wrap, batch=batch, eta=eta, latents=latents, output_type=output_type,
                      callback_on_step_end=callback_on_step_end)


def _paint(pipe: Any, *, prompt: str, width: int, height: int, num_inference_steps: int, guidance_scale: float,
           generator: Any, negative_prompt: str | None, window: tuple[int, int] | None, stride: int | None,
           wrap: bool, batch: int, eta: float, latents: Any, output_type: str,
           callback_on_step_end: Callable[..., Any] | None) -> MultiDiffusionOutput:
    import torch

    # 1. Check the pipeline and lay out the windows (in latent cells).
    xl = _family(pipe)
    if output_type != "np":
        raise ConfigError(f"multidiffusion returns numpy images; output_type {output_type!r} is not supported")
    f = int(pipe.vae_scale_factor)
    unet = pipe.unet
    sample = unet.config.sample_size
    native = (sample, sample) if isinstance(sample, int) else (int(sample[1]), int(sample[0]))  # (w, h) cells
    win_px = window or (native[0] * f, native[1] * f)
    stride_px = stride or (min(win_px[0], width) // (2 * f)) * f or f
    for name, value in (("width", width), ("height", height), ("window width", win_px[0]),
                        ("window height", win_px[1]), ("stride", stride_px)):
        if value <= 0 or value % f:
            raise ConfigError(f"MultiDiffusion {name} {value} must be a positive multiple of {f} (the autoencoder's factor)")
    lat_w, lat_h, s = width // f, height // f, stride_px // f
    win_w, win_h = min(win_px[0] // f, lat_w), min(win_px[1] // f, lat_h)
    if wrap and (lat_w % s or win_px[0] // f > lat_w):
        raise ConfigError(f"a wrapped panorama's width ({width}) must be a multiple of the stride ({stride_px}) "
                          f"and at least a window ({win_px[0]}) wide; use width {max(win_px[0], -(-width // stride_px) * stride_px)}")
    views = [(y, x) for y in window_starts(lat_h, win_h, s, False) for x in window_starts(lat_w, win_w, s, wrap)]
    device = pipe._execution_device
    cfg = guidance_scale > 1 and unet.config.time_cond_proj_dim is None
    pipe._guidance_scale = guidance_scale
    pipe._interrupt = False

    # 2. The prompt (the pipeline's own encoder).
    if xl:
        embeds, neg_embeds, pooled, neg_pooled = pipe.encode_prompt(
            prompt=prompt, device=device, num_images_per_prompt=1, do_classifier_free_guidance=cfg,
            negative_prompt=negative_prompt)
    else:
        embeds, neg_embeds = pipe.encode_prompt(prompt, device, 1, cfg, negative_prompt)
    dtype = embeds.dtype

    # 3. Timesteps, then the starting noise of the whole latent (the plain call's order and draws).
    pipe.scheduler.set_timesteps(num_inference_steps, device=device)
    timesteps = pipe.scheduler.timesteps
    latents = pipe.prepare_latents(1, unet.config.in_channels, height, width, dtype, device, generator, latents)
    extra_step_kwargs = pipe.prepare_extra_step_kwargs(generator, eta)

    # 4. Per-window conditioning, repeated for a batch of n windows (uncond first, as diffusers).
    def conditioning(n: int) -> dict[str, Any]:
        cond: dict[str, Any] = {"encoder_hidden_states": _cfg_cat(embeds, neg_embeds, n, cfg, torch)}
        if xl:
            proj = (int(pooled.shape[-1]) if pipe.text_encoder_2 is None
                    else pipe.text_encoder_2.config.projection_dim)
            ids = pipe._get_add_time_ids((height, width), (0, 0), (win_h * f, win_w * f), dtype=dtype,
                                         text_encoder_projection_dim=proj).to(device)
            cond["added_cond_kwargs"] = {"text_embeds": _cfg_cat(pooled.to(device), neg_pooled, n, cfg, torch),
                                         "time_ids": _cfg_cat(ids, ids, n, cfg, torch)}
        if unet.config.time_cond_proj_dim is not None:
            w = torch.tensor(guidance_scale - 1).repeat(n)
            cond["timestep_cond"] = pipe.get_guidance_scale_embedding(
                w, embedding_dim=unet.config.time_cond_proj_dim).to(device=device, dtype=dtype)
        return cond

    columns = [torch.arange(x, x + win_w, device=device) % lat_w for _, x in views]
    count = torch.zeros((1, 1, lat_h, lat_w), device=device, dtype=dtype)
    for (y, _), cols in zip(views, columns, strict=True):
        count[:, :, y:y + win_h].index_add_(3, cols, torch.ones((1, 1, win_h, win_w), device=device, dtype=dtype))
    chunks = [list(range(i, min(i + max(1, batch), len(views)))) for i in range(0, len(views), max(1, batch))]
    conds = {len(c): conditioning(len(c)) for c in chunks}

    # 5. Denoise: every window's noise, averaged where they overlap, then one scheduler step.
    pipe._num_timesteps = len(timesteps)
    if xl and hasattr(pipe.scheduler, "set_begin_index"):
        pipe.scheduler.set_begin_index(0)
    for i, t in enumerate(timesteps):
        model_input = pipe.scheduler.scale_model_input(latents, t)
        noise = torch.zeros_like(latents)
        for chunk in chunks:
            tiles = torch.cat([model_input[:, :, views[k][0]:views[k][0] + win_h].index_select(3, columns[k]) for k in chunk])
            pred = unet(torch.cat([tiles, tiles]) if cfg else tiles, t, cross_attention_kwargs=None,
                        return_dict=False, **conds[len(chunk)])[0]
            if cfg:
                uncond, text = pred.chunk(2)
                pred = uncond + guidance_scale * (text - uncond)
            for j, k in enumerate(chunk):
                y = views[k][0]
                noise[:, :, y:y + win_h].index_add_(3, columns[k], pred[j:j + 1])
        noise = noise / count
        latents = pipe.scheduler.step(noise, t, latents, **extra_step_kwargs, return_dict=False)[0]
        if callback_on_step_end is not None:
            out = callback_on_step_end(pipe, i, t, {})
            if isinstance(out, dict) and "latents" in out:
                latents = out["latents"]

    # 6. Decode (round the circle when wrapping), check, post-process.
    image, nsfw = _decode(pipe, latents, xl=xl, wrap=wrap, generator=generator, dtype=dtype)
    pipe.maybe_free_model_hooks()
    return MultiDiffusionOutput(images=list(image), nsfw_content_detected=nsfw, windows=len(views))


def panorama_size(model: Any) -> tuple[int, int]:
    """The default size of a wrapped (360 degree) plate: four native widths round, one native
    height (2048x512 for SD 1.x, 4096x1024 for SDXL): a vertical field of view of 76 degrees."""
    return (4 * model.native_size[0], model.native_size[1])


def panorama_camera(width: int, height: int, *, height_m: float) -> PlateCamera:
    """The camera of a 360 degree panorama of ``width`` x ``height`` pixels: cylindrical, a full
    turn across the width, square pixels (``width / 2 pi`` pixels per radian, so
    ``fov_y = 2 atan(height / 2 / f)``), level with the horizon across the middle, ``height_m``
    metres above the ground."""
    f = width / (2.0 * math.pi)
    fov_y = math.degrees(2.0 * math.atan(height / 2.0 / f))
    return PlateCamera(fov_y=fov_y, height=height_m, horizon=0.5, projection="cylindrical", fov_x=360.0)


def tiling_inputs(spec: Any, model: Any, size: tuple[int, int]) -> dict[str, Any] | None:
    """Whether a [`PlateSpec`][hybridscene.PlateSpec] of ``size`` is painted by MultiDiffusion,
    and how: ``{"window": [w, h], "stride": px, "wrap": bool}`` (pixels; the cache key's
    ``"tiling"``), or ``None`` for the plain pipeline. Checks sizes before any model loads.

    Raises:
        ConfigError: ``wrap`` with ``tiling="none"``, a transformer model, a layout, or a wrapped
            width that is not a multiple of the stride.
    """
    width, height = size
    (nw, nh), f = model.native_size, model.vae_scale_factor
    transformer = bool(model.config.get("transformer"))
    if spec.tiling == "none":
        if spec.wrap:
            raise ConfigError("wrap=True paints a 360 degree panorama by MultiDiffusion; drop tiling='none' (--tiling none) or wrap")
        return None
    wide = width > AUTO_FACTOR * nw or height > AUTO_FACTOR * nh
    if spec.tiling == "auto" and not spec.wrap and (not wide or transformer or spec.layout is not None):
        return None
    if transformer:
        raise ConfigError(f"MultiDiffusion works with UNet models (Stable Diffusion 1.x/2.x, SDXL); {model.name!r} is "
                          f"a {model.pipeline_class} (a transformer); use tiling='none' and a size near {nw}x{nh}")
    if spec.layout is not None:
        raise ConfigError("a layout cannot be painted by MultiDiffusion windows yet; drop wrap/tiling='multidiffusion' "
                          "(tiling='none') or the layout")
    stride = max(f, nw // 2 // f * f)
    if spec.wrap and (width % stride or width < nw):
        fit = max(nw, -(-width // stride) * stride)
        raise ConfigError(f"a wrapped (360 degree) plate's width must be a multiple of {stride} and at least {nw} for "
                          f"this model, got {width}; use size {fit}x{height}")
    return {"window": [min(nw, width), min(nh, height)], "stride": stride, "wrap": bool(spec.wrap)}


def tiled_painter(pipe: Any, tiling: dict[str, Any]) -> Callable[..., MultiDiffusionOutput]:
    """``pipe``'s stand-in for a tiled plate: called with the pipeline's keywords, it paints by
    `multidiffusion` with ``tiling`` (``ResolvedSpec.inputs["tiling"]``: ``window``
    ``[width, height]`` and ``stride`` in pixels, ``wrap``)."""
    _family(pipe)  # refuse a transformer model before any step runs

    def paint(**call: Any) -> MultiDiffusionOutput:
        return multidiffusion(pipe, window=(int(tiling["window"][0]), int(tiling["window"][1])),
                              stride=int(tiling["stride"]), wrap=bool(tiling["wrap"]), **call)

    return paint


def _family(pipe: Any) -> bool:
    """True for SDXL, False for SD 1.x/2.x; a ConfigError for anything else."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    if isinstance(pipe, StableDiffusionXLPipeline):
        return True
    if isinstance(pipe, StableDiffusionPipeline):
        return False
    kind = "a transformer" if getattr(pipe, "transformer", None) is not None else "another design"
    raise ConfigError(
        f"MultiDiffusion works with UNet models (Stable Diffusion 1.x/2.x, SDXL); {type(pipe).__name__} has "
        f"{kind}; use tiling='none' (--tiling none) and a size near the model's native one"
    )


def _cfg_cat(cond: Any, uncond: Any, n: int, cfg: bool, torch: Any) -> Any:
    """``cond`` repeated for n windows, after ``uncond`` repeated too under guidance."""
    reps = (n,) + (1,) * (cond.dim() - 1)
    return torch.cat([uncond.repeat(*reps), cond.repeat(*reps)]) if cfg else cond.repeat(*reps)


def _decode(pipe: Any, latents: Any, *, xl: bool, wrap: bool, generator: Any, dtype: Any) -> tuple[Any, Any]:
    """The autoencoder's image of ``latents``, as the plain pipeline decodes it; with ``wrap`` its
    convolutions pad horizontally with wrapped columns (`_wrapped_convs`)."""
    import torch

    vae = pipe.vae
    upcast = xl and vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
    if upcast:
        vae.to(dtype=torch.float32)
        latents = latents.to(next(iter(vae.post_quant_conv.parameters())).dtype)
    mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
    if xl and mean is not None and std is not None:
        mean = torch.tensor(mean).view(1, 4, 1, 1).to(latents.device, latents.dtype)
        std = torch.tensor(std).view(1, 4, 1, 1).to(latents.device, latents.dtype)
        latents = latents * std / vae.config.scaling_factor + mean
    else:
        latents = latents / vae.config.scaling_factor
    kwargs = {} if xl else {"generator": generator}
    with _wrapped_convs(vae) if wrap else contextlib.nullcontext():
        image = vae.decode(latents, return_dict=False, **kwargs)[0]
    if upcast:
        vae.to(dtype=torch.float16)
    nsfw = None
    if xl:
        if getattr(pipe, "watermark", None) is not None:
            image = pipe.watermark.apply_watermark(image)
        return pipe.image_processor.postprocess(image, output_type="np"), None
    image, nsfw = pipe.run_safety_checker(image, latents.device, dtype)
    denormalize = [True] * image.shape[0] if nsfw is None else [not flagged for flagged in nsfw]
    return pipe.image_processor.postprocess(image, output_type="np", do_denormalize=denormalize), nsfw


@contextlib.contextmanager
def _wrapped_convs(module: Any) -> Iterator[None]:
    """Inside the block, every 2-D convolution of ``module`` pads left and right with the columns
    from the other side (circular) instead of zeros; top and bottom keep their zero padding.
    The autoencoder's other layers (nearest upsampling, group norms, attention without positions)
    do not care where the image starts, so the decoded panorama is the same all the way round:
    its last and first columns are neighbours like any other pair."""
    import torch
    import torch.nn.functional as F

    changed = []

    def pad_columns(conv: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (F.pad(args[0], (conv._hs_wrap, conv._hs_wrap, 0, 0), mode="circular"), *args[1:])

    try:
        for conv in module.modules():
            if isinstance(conv, torch.nn.Conv2d) and conv.padding_mode == "zeros" and not isinstance(conv.padding, str):
                ph, pw = conv.padding
                if pw:
                    conv._hs_wrap = pw
                    changed.append((conv, conv.padding, conv.register_forward_pre_hook(pad_columns)))
                    conv.padding = (ph, 0)
        yield
    finally:
        for conv, padding, hook in changed:
            hook.remove()
            conv.padding = padding
            del conv._hs_wrap
