"""The diffusers generator: the one module that imports torch and diffusers.

Any text-to-image family loads through ``AutoPipelineForText2Image.from_pretrained`` (SD 1.x/2.x,
SDXL, SD-Turbo/SDXL-Turbo, LCM, ...), from a hub id (through the Hugging Face cache, honouring
``HF_HUB_OFFLINE``) or a local folder. Loaded pipelines are kept per (model, device, dtype) for
the life of the `DiffusionGenerator`, so painting again with a new seed does not reload.

Speed options ([`Acceleration`][hybridscene.Acceleration]: ``torch.compile``, channels-last, the attention
kernel) are applied once, when a pipeline is loaded; a replacement autoencoder such as TAESD
(``PlateSpec.vae``) is passed to ``from_pretrained`` so the pipeline's scale factor follows it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..config import Acceleration, check_acceleration, get_settings
from ..errors import Cancelled, ConfigError, PlateError
from ._torch import _check_device, _import_torch, _quiet_loading, torch_dtype
from .spec import SCHEDULERS, ResolvedSpec

__all__ = ["DiffusionGenerator", "StepCallback", "torch_dtype"]

log = logging.getLogger(__name__)

StepCallback = Callable[[int, int], Any]
"""``callback(step, total)`` after each denoising step; return ``False`` to cancel."""


class DiffusionGenerator:
    """Paints plates with diffusers pipelines, keeping loaded pipelines for reuse.

    Args:
        threads: torch CPU threads (``torch.set_num_threads``); ``None`` leaves torch's default.
            Limit it when a preview must stay smooth on the same CPU.
        acceleration: how the models run; default the settings' (``HYBRIDSCENE_TORCH_COMPILE``,
            ``HYBRIDSCENE_CHANNELS_LAST``, ``HYBRIDSCENE_ATTENTION``).
    """

    def __init__(self, *, threads: int | None = None, acceleration: Acceleration | None = None) -> None:
        self.threads = threads
        self.acceleration = check_acceleration(acceleration) or get_settings().acceleration
        self._pipes: dict[tuple[str, ...], Any] = {}

    # 1. Loading -----------------------------------------------------------------------------
    def pipeline(self, resolved: ResolvedSpec) -> Any:
        """The loaded pipeline for a resolved spec (loaded once per model, autoencoder, device and
        dtype), with `acceleration` applied."""
        from .control import control_key, pipeline_loader

        key = (resolved.model.identity, resolved.vae_identity or "", resolved.device, resolved.dtype, *control_key(resolved))
        pipe = self._pipes.get(key)
        if pipe is not None:
            return pipe
        torch = _import_torch()
        _check_device(resolved.device, resolved.dtype)
        if self.threads:
            torch.set_num_threads(int(self.threads))
        model = resolved.model
        source = model.name if model.identity.startswith("hub:") else str(model.folder)
        kwargs: dict[str, Any] = {"dtype": torch_dtype(resolved.dtype)}
        if model.identity.startswith("hub:"):
            kwargs["revision"] = model.identity.rsplit("@", 1)[1]
        t0 = time.perf_counter()
        log.info("loading %s ...", model.name)
        try:
            with _quiet_loading():
                if resolved.spec.vae:
                    kwargs["vae"] = _load_vae(resolved.spec.vae, kwargs["dtype"])
                auto, extra = pipeline_loader(resolved, kwargs["dtype"])  # a layout: ControlNets or img2img
                pipe = auto.from_pretrained(source, **kwargs, **extra)
        except (OSError, ValueError) as exc:
            raise PlateError(f"cannot load model {model.name!r}: {str(exc).splitlines()[0]}") from None
        if resolved.spec.vae:
            _check_vae(pipe, resolved.spec.vae, model.name)
        pipe = pipe.to(resolved.device)
        pipe.set_progress_bar_config(disable=True)
        _accelerate(pipe, self.acceleration)
        pipe._hybridscene_scheduler_config = dict(pipe.scheduler.config)
        pipe._hybridscene_scheduler_class = type(pipe.scheduler)
        log.info("loaded %s (%s) on %s as %s in %.1f s", model.name, type(pipe).__name__,
                 resolved.device, resolved.dtype, time.perf_counter() - t0)
        self._pipes[key] = pipe
        return pipe

    def _set_scheduler(self, pipe: Any, name: str) -> None:
        import diffusers

        config = pipe._hybridscene_scheduler_config
        if name == "default":
            cls, extra = pipe._hybridscene_scheduler_class, {}
        else:
            cls = getattr(diffusers, SCHEDULERS[name])
            extra = {"algorithm_type": "dpmsolver++"} if name.startswith("dpm++") else {}
            if name == "dpm++-karras":
                extra["use_karras_sigmas"] = True
        try:
            pipe.scheduler = cls.from_config(config, **extra)
        except Exception as exc:
            raise ConfigError(f"scheduler {name!r} does not work with this model ({exc}); try 'default' or 'euler'") from None

    # 2. Painting ----------------------------------------------------------------------------
    def generate(self, resolved: ResolvedSpec, *, callback: StepCallback | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Paint one image. Returns ``((H, W, 3) uint8 sRGB, info)``.

        Raises:
            Cancelled: ``callback`` returned ``False``.
            PlateError: NaN pixels, or an all-black image (the safety checker's answer).
        """
        torch = _import_torch()
        t0 = time.perf_counter()
        pipe = self.pipeline(resolved)
        load_s = time.perf_counter() - t0
        spec = resolved.spec
        self._set_scheduler(pipe, spec.scheduler)
        width, height = resolved.size
        gen_device = "cpu" if resolved.device.startswith("mps") else resolved.device
        steps_done = [0]

        def on_step_end(p: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            steps_done[0] = step + 1
            total = int(getattr(p, "num_timesteps", 0) or resolved.steps)
            if callback is not None and callback(step + 1, total) is False:
                raise Cancelled(f"plate generation cancelled after {step + 1} of {total} steps")
            return kwargs

        call: dict[str, Any] = dict(
            prompt=spec.prompt,
            num_inference_steps=resolved.steps,
            guidance_scale=resolved.guidance,
            width=width,
            height=height,
            output_type="np",
            callback_on_step_end=on_step_end,
        )
        if spec.negative_prompt:
            call["negative_prompt"] = spec.negative_prompt
        if resolved.layout is not None:  # a layout's depth condition or colours (control.py)
            from .control import call_arguments

            call_arguments(resolved, call)
        paint = pipe
        if resolved.tiled:  # MultiDiffusion windows: wide and 360 degree plates (panorama.py)
            from .panorama import tiled_painter

            paint = tiled_painter(pipe, resolved.inputs["tiling"])
        t1 = time.perf_counter()
        try:
            with _attention_kernel(self.acceleration, resolved):
                out = paint(generator=torch.Generator(gen_device).manual_seed(spec.seed), **call)
        except torch.OutOfMemoryError:
            if resolved.device.split(":")[0] != "cuda" or getattr(pipe, "_hybridscene_offloaded", False):
                raise PlateError(f"out of memory generating {width}x{height}; use a smaller size or --dtype float16") from None
            log.warning("out of GPU memory at %dx%d; retrying with model CPU offload (slower)", width, height)
            torch.cuda.empty_cache()
            pipe.enable_model_cpu_offload()
            pipe._hybridscene_offloaded = True
            with _attention_kernel(self.acceleration, resolved):
                out = paint(generator=torch.Generator(gen_device).manual_seed(spec.seed), **call)
        except RuntimeError as exc:
            explained = _explain_runtime_error(exc, self.acceleration, resolved)
            if explained is exc:
                raise
            raise explained from exc
        gen_s = time.perf_counter() - t1
        image = np.asarray(out.images[0], dtype=np.float32)
        if np.isnan(image).any():
            raise PlateError(
                f"the model produced NaN pixels with {resolved.dtype} on {resolved.device}; "
                "try --dtype float32 (or bfloat16), a different VAE, or another seed"
            )
        nsfw = getattr(out, "nsfw_content_detected", None)
        if image.max() < 1.0 / 255.0:
            if nsfw and any(nsfw):
                raise PlateError("the safety checker blacked out the image (flagged as NSFW); change the prompt or seed")
            raise PlateError("the model returned an all-black image; try another seed, more steps or --dtype float32")
        rgb = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
        info = {
            "pipeline": type(pipe).__name__,
            "scheduler": type(pipe.scheduler).__name__,
            "load_s": round(load_s, 3),
            "generate_s": round(gen_s, 3),
            "steps_done": steps_done[0] or resolved.steps,
            "seconds_per_step": round(gen_s / max(1, steps_done[0] or resolved.steps), 4),
        }
        if not self.acceleration.plain:
            info["acceleration"] = self.acceleration.as_dict()
        return rgb, info

    def release(self) -> None:
        """Drop the loaded pipelines (and their GPU memory)."""
        self._pipes.clear()
        torch = _import_torch()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


# -- the autoencoder ---------------------------------------------------------------------------
def _load_vae(name: str, dtype: Any) -> Any:
    """A replacement autoencoder (``madebyollin/taesd``, a fine-tuned VAE, ...) from a hub id or a
    folder holding ``config.json``; its class comes from the config (``AutoModel``)."""
    from diffusers import AutoModel

    try:
        return AutoModel.from_pretrained(name, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise PlateError(f"cannot load autoencoder {name!r}: {str(exc).splitlines()[0]}") from None


def _check_vae(pipe: Any, name: str, model: str) -> None:
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    want = getattr(getattr(denoiser, "config", None), "in_channels", None)
    have = getattr(pipe.vae.config, "latent_channels", None)
    if want is not None and have is not None and want != have:
        raise ConfigError(
            f"autoencoder {name!r} has {have} latent channels but model {model!r} works in {want}; use the "
            "matching tiny autoencoder (madebyollin/taesd for SD 1.x/2.x, madebyollin/taesdxl for SDXL, "
            "madebyollin/taesd3 for SD3, madebyollin/taef1 for FLUX)"
        )


# -- acceleration ------------------------------------------------------------------------------
_SDPA_BACKENDS = {
    "sdpa-flash": "FLASH_ATTENTION",
    "sdpa-efficient": "EFFICIENT_ATTENTION",
    "sdpa-cudnn": "CUDNN_ATTENTION",
    "sdpa-math": "MATH",
}


def _accelerate(pipe: Any, acc: Acceleration) -> None:
    """Apply the load-time options to a pipeline on its device (the order matters: memory
    format, then attention processors, then compile, which traces what the first two set)."""
    torch = _import_torch()
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    if acc.channels_last:
        for name in ("unet", "vae"):
            module = getattr(pipe, name, None)
            if module is not None:
                module.to(memory_format=torch.channels_last)
    if acc.attention == "eager":
        if getattr(pipe, "unet", None) is None:
            raise ConfigError(
                f"attention 'eager' works with UNet models; {type(pipe).__name__} has a transformer; use 'sdpa' or an sdpa-* kernel"
            )
        from diffusers.models.attention_processor import AttnProcessor

        pipe.unet.set_attn_processor(AttnProcessor())
        if hasattr(pipe.vae, "set_attn_processor"):
            pipe.vae.set_attn_processor(AttnProcessor())
    if acc.compile and denoiser is not None:
        log.info("torch.compile(mode=%r) on the %s: the first image also compiles it (often a minute or more)",
                 acc.compile, type(denoiser).__name__)
        denoiser.compile(mode=acc.compile)


@contextlib.contextmanager
def _attention_kernel(acc: Acceleration, resolved: ResolvedSpec) -> Iterator[None]:
    """Pin torch's scaled_dot_product_attention to one kernel for the call (``sdpa-*``)."""
    backend = _SDPA_BACKENDS.get(acc.attention)
    if backend is None:
        yield
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(getattr(SDPBackend, backend)):
        yield


def _explain_runtime_error(exc: RuntimeError, acc: Acceleration, resolved: ResolvedSpec) -> Exception:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    low = str(exc).lower()
    if acc.attention in _SDPA_BACKENDS and ("no available kernel" in low or "no viable backend" in low):
        return ConfigError(
            f"attention {acc.attention!r} has no kernel for {resolved.dtype} on {resolved.device} ({text}); "
            "use attention 'sdpa' to let torch choose (HYBRIDSCENE_ATTENTION / --attention)"
        )
    if acc.compile and type(exc).__module__.startswith("torch._dynamo"):
        return PlateError(
            f"torch.compile (mode {acc.compile!r}) failed: {text}; it needs a C++ compiler on a CPU and Triton on "
            "an NVIDIA GPU; turn it off (unset HYBRIDSCENE_TORCH_COMPILE, drop --compile) to run uncompiled"
        )
    return exc
