"""What to generate ([`PlateSpec`][hybridscene.PlateSpec]) and its cache key.

Resolving a spec reads only small files (model configs, the Hugging Face cache's refs) and never
imports torch, so a cache hit costs milliseconds. The key covers everything that changes pixels:

* the model's identity: a hub id with its resolved commit, or a content fingerprint of a local
  folder's configs and weights (new weights, new key);
* the pipeline class, prompt, negative prompt, seed, steps, guidance, scheduler, size, dtype,
  device type and the diffusers version;
* the depth source, when depth is asked for;
* the upscale factor and upscaler (``lanczos``, or the model's identity and tile size), when upscaling;
* the MultiDiffusion windows (``tiling``: window, stride, wrap), when the plate is painted by them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

from .._validate import check_size
from .._version import package_version
from ..errors import ConfigError, PlateError

__all__ = ["CONTROLS", "SCHEDULERS", "TILINGS", "ModelRef", "PlateSpec", "ResolvedSpec", "resolve_model", "resolve_spec", "size_for_aspect"]

log = logging.getLogger(__name__)

SCHEDULERS = {
    "default": None,
    "euler": "EulerDiscreteScheduler",
    "euler-a": "EulerAncestralDiscreteScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "dpm++-karras": "DPMSolverMultistepScheduler",
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "unipc": "UniPCMultistepScheduler",
    "lcm": "LCMScheduler",
}
"""Scheduler names accepted by ``--scheduler`` and [`PlateSpec`][hybridscene.PlateSpec], with their diffusers class."""

CONTROLS = ("depth", "image")
"""How a layout steers an AI plate ([`PlateSpec.control`][hybridscene.PlateSpec])."""
TILINGS = ("auto", "multidiffusion", "none")
"""[`PlateSpec.tiling`][hybridscene.PlateSpec] values."""

_ALIASES = {"dpmpp": "dpm++", "dpm-solver++": "dpm++", "dpmsolver++": "dpm++", "euler_a": "euler-a",
            "euler-ancestral": "euler-a", "dpmpp-karras": "dpm++-karras"}
DTYPES = ("auto", "float32", "float16", "bfloat16")
DEVICES = ("auto", "cpu", "cuda", "mps")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[A-Za-z0-9][\w.\-]*)?$")


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlateSpec:
    """A request for an AI plate. Unset fields take the model's defaults.

    Args:
        prompt: what to paint, e.g. ``"Landscape with mountains and a river"``.
        model: a hub id (``"CompVis/stable-diffusion-v1-4"``) or a local diffusers folder.
        negative_prompt: what to avoid.
        seed: seeds a ``torch.Generator``; the same spec gives the same pixels on the same device.
        steps: denoising steps (default 50; 1 for Turbo models, 4 for LCM).
        guidance: classifier-free guidance scale (default 7.5, 5.0 for SDXL, 0 for Turbo).
        scheduler: one of `SCHEDULERS` (``"default"`` keeps the model's).
        size: ``(width, height)`` to generate; must be a multiple of the model's factor (8 for SD).
            Default: the model's native size.
        resize_to: resize the generated image to this ``(width, height)`` (only when asked).
        device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cuda"``, ``"mps"`` or ``"cpu"``.
        dtype: ``"auto"`` (float16 on a GPU, float32 on a CPU), ``"float32"``, ``"float16"`` or
            ``"bfloat16"``.
        revision: a branch, tag or commit of a hub model.
        vae: a replacement autoencoder (hub id or folder with ``config.json``), e.g.
            ``"madebyollin/taesd"`` for SD 1.x/2.x or ``"madebyollin/taesdxl"`` for SDXL: a tiny
            decoder that decodes many times faster at a small cost in detail. Part of the key.
        depth_model: a transformers depth-estimation model (hub id or folder) to give the plate depth.
        depth_image: a depth file for the plate instead (``.npy`` metres or 16-bit PNG of mm).
        depth_scale: metres at the median depth, for relative (not metric) depth models.
        layout: paint over a layout whose geometry is known, so the plate carries its depth,
            camera and horizon exactly: a [`Layout`][hybridscene.Layout], or the name of a
            procedural one (``"mountains"`` or ``"mountains:SEED"``), painted at the plate's size.
        control: how the layout steers the painting: ``"depth"`` (ControlNets given by
            ``controlnet``, conditioned on the layout's depth) or ``"image"`` (img2img: the
            layout's colours repainted with ``strength``). Default: ``"depth"`` when
            ``controlnet`` is given, else ``"image"``.
        controlnet: one ControlNet (hub id or folder) or several, for ``control="depth"``.
        control_scale: the ControlNets' conditioning scale, one number or one per ControlNet.
        strength: img2img strength (0 keeps the layout's colours, 1 repaints them entirely);
            default 0.75 for ``control="image"``. With ``control="depth"`` a strength makes it
            ControlNet img2img: the layout's colours repainted, following its depth.
        upscale: enlarge the painted plate by this factor (its depth too, edge-aware).
        upscaler: ``"lanczos"``, or a diffusers upscaler (hub id or folder):
            ``StableDiffusionUpscalePipeline`` (x4) or ``StableDiffusionLatentUpscalePipeline`` (x2).
        wrap: paint a seamless 360 degree panorama: the denoising windows wrap around
            horizontally, and the plate's left and right edges join.
        tiling: ``"auto"`` (MultiDiffusion, overlapping windows of the model's native size
            averaged at every step, when the plate is much wider or taller than the model's
            native size, or ``wrap``), ``"multidiffusion"`` (always) or ``"none"`` (never).
    """

    prompt: str
    model: str
    negative_prompt: str | None = None
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    scheduler: str = "default"
    size: tuple[int, int] | None = None
    resize_to: tuple[int, int] | None = None
    device: str = "auto"
    dtype: str = "auto"
    revision: str | None = None
    vae: str | None = None
    depth_model: str | None = None
    depth_image: str | None = None
    depth_scale: float = 10.0
    layout: Any = None
    control: str | None = None
    controlnet: str | tuple[str, ...] | None = None
    control_scale: float | tuple[float, ...] = 1.0
    strength: float | None = None
    upscale: float | None = None
    upscaler: str = "lanczos"
    wrap: bool = False
    tiling: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ConfigError("the prompt is empty; describe the plate, e.g. 'Landscape with mountains and a river'")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError("no model given; pass a hub id like 'CompVis/stable-diffusion-v1-4' or a local folder")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed must be an integer in 0..2**63-1, got {self.seed!r}")
        if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1):
            raise ConfigError(f"steps must be a positive integer, got {self.steps!r}")
        if self.guidance is not None and not (isinstance(self.guidance, (int, float)) and 0 <= self.guidance < 100):
            raise ConfigError(f"guidance must be a number in 0..100, got {self.guidance!r}")
        name = _ALIASES.get(self.scheduler.lower(), self.scheduler.lower()) if isinstance(self.scheduler, str) else None
        if name not in SCHEDULERS:
            raise ConfigError(f"unknown scheduler {self.scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
        object.__setattr__(self, "scheduler", name)
        if self.size is not None:
            object.__setattr__(self, "size", check_size(self.size, "plate size"))
        if self.resize_to is not None:
            object.__setattr__(self, "resize_to", check_size(self.resize_to, "resize size"))
        if self.device not in DEVICES and not str(self.device).startswith("cuda:"):
            raise ConfigError(f"unknown device {self.device!r}; use one of {', '.join(DEVICES)} (or cuda:N)")
        if self.dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {self.dtype!r}; use one of {', '.join(DTYPES)}")
        if self.vae is not None and (not isinstance(self.vae, str) or not self.vae.strip()):
            raise ConfigError(f"vae must be a hub id or folder of an autoencoder (e.g. 'madebyollin/taesd'), got {self.vae!r}")
        if self.depth_model and self.depth_image:
            raise ConfigError("give depth_model or depth_image, not both")
        if not (isinstance(self.depth_scale, (int, float)) and self.depth_scale > 0):
            raise ConfigError(f"depth_scale must be a positive number of metres, got {self.depth_scale!r}")
        self._check_layout()
        self._check_upscale()
        if not isinstance(self.wrap, bool):
            raise ConfigError(f"wrap must be True or False, got {self.wrap!r}")
        if self.tiling not in TILINGS:
            raise ConfigError(f"unknown tiling {self.tiling!r}; use one of {', '.join(TILINGS)}")
        if self.wrap and self.tiling == "none":
            raise ConfigError("wrap=True paints a 360 degree panorama with wrapping MultiDiffusion windows; "
                              "drop tiling='none' (--tiling none), or drop wrap")

    def _check_layout(self) -> None:
        if isinstance(self.controlnet, str):
            object.__setattr__(self, "controlnet", (self.controlnet,))
        elif self.controlnet is not None:
            object.__setattr__(self, "controlnet", tuple(self.controlnet))
        if self.controlnet is not None and (not self.controlnet or not all(isinstance(c, str) and c.strip() for c in self.controlnet)):
            raise ConfigError(f"controlnet must be a hub id or folder of a ControlNet (or several), got {self.controlnet!r}")
        control = self.control
        if control is None and (self.layout is not None or self.controlnet):
            control = "depth" if self.controlnet else "image"
        if control is not None and control not in CONTROLS:
            raise ConfigError(f"unknown control {control!r}; use one of {', '.join(CONTROLS)}")
        object.__setattr__(self, "control", control)
        if control is not None and self.layout is None:
            raise ConfigError(f"control={control!r} needs a layout to follow; give layout='mountains' (or a Layout)")
        if control == "depth" and not self.controlnet:
            raise ConfigError("control='depth' needs a ControlNet; give controlnet= a depth ControlNet "
                              "(e.g. 'lllyasviel/sd-controlnet-depth') or use control='image'")
        if control == "image" and self.controlnet:
            raise ConfigError("controlnet is for control='depth'; drop it, or set control='depth'")
        scales = self.control_scale if isinstance(self.control_scale, (tuple, list)) else (self.control_scale,)
        if not scales or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 10 for v in scales):
            raise ConfigError(f"control_scale must be a number in 0..10 (or one per ControlNet), got {self.control_scale!r}")
        if isinstance(self.control_scale, (tuple, list)):
            if self.controlnet and len(scales) not in (1, len(self.controlnet)):
                raise ConfigError(f"{len(scales)} control scales for {len(self.controlnet)} ControlNets; give one, or one per ControlNet")
            object.__setattr__(self, "control_scale", tuple(float(v) for v in scales) if len(scales) > 1 else float(scales[0]))
        if self.strength is not None:
            if isinstance(self.strength, bool) or not isinstance(self.strength, (int, float)) or not 0 <= self.strength <= 1:
                raise ConfigError(f"strength must be a number in 0..1 (0 keeps the layout, 1 repaints it), got {self.strength!r}")
            if self.layout is None:
                raise ConfigError("strength is for painting over a layout; give layout= too")

    def _check_upscale(self) -> None:
        if self.upscale is not None:
            if isinstance(self.upscale, bool) or not isinstance(self.upscale, (int, float)) or not 1 <= self.upscale <= 16:
                raise ConfigError(f"upscale must be a factor in 1..16 (e.g. 4), got {self.upscale!r}")
        if not isinstance(self.upscaler, str) or not self.upscaler.strip():
            raise ConfigError(f"upscaler must be 'lanczos' or a hub id or folder of a diffusers upscaler, got {self.upscaler!r}")


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """A resolved model: where its files are and what identifies its weights."""

    name: str
    """What the user gave (hub id or folder)."""
    identity: str
    """``hub:<id>@<commit>`` or ``local:<content fingerprint>``."""
    folder: Path | None
    """The snapshot folder holding the files, when they are on this machine."""
    config: dict[str, Any]
    """``model_index.json``."""
    vae_scale_factor: int
    """Pixels per latent cell (8 for Stable Diffusion's VAE)."""
    native_size: tuple[int, int]
    """The size the model was trained at (``unet.sample_size * vae_scale_factor``)."""

    @property
    def pipeline_class(self) -> str:
        return str(self.config.get("_class_name", "?"))

    @property
    def size_multiple(self) -> int:
        """Image sizes must be multiples of this: diffusers' UNet pipelines check for 8,
        transformer-based ones (SD3, Flux, PixArt) pack 2x2 latents, so twice the VAE factor."""
        if self.config.get("transformer"):
            return max(16, 2 * self.vae_scale_factor)
        return max(8, self.vae_scale_factor)


@dataclasses.dataclass(frozen=True)
class ResolvedSpec:
    """A [`PlateSpec`][hybridscene.PlateSpec] with every default decided, and its cache key."""

    spec: PlateSpec
    model: ModelRef
    size: tuple[int, int]
    steps: int
    guidance: float
    device: str
    dtype: str
    depth_identity: str | None
    key: str
    inputs: dict[str, Any]
    """Everything the key was made from, as JSON-able values (stored beside the plate)."""
    vae_identity: str | None = None
    """The replacement autoencoder's identity (``PlateSpec.vae``), or ``None``."""
    layout: Any = None
    """The [`Layout`][hybridscene.Layout] painted over, at the plate's size, or ``None``."""
    controlnet_identities: tuple[str, ...] = ()
    """The ControlNets' identities (``PlateSpec.controlnet``), in order."""
    upscaler_identity: str | None = None
    """``"lanczos"`` or the upscaler model's identity, when ``PlateSpec.upscale`` is set."""
    tiled: bool = False
    """True when the plate is painted by MultiDiffusion (``PlateSpec.tiling``, ``wrap``)."""


# -- models --------------------------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any]:
    """A model's JSON config, which must be an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlateError(f"cannot read {str(path)!r}: {exc}") from None
    if not isinstance(data, dict):
        raise PlateError(
            f"{str(path)!r} holds a JSON {type(data).__name__}, not an object; the model folder is damaged "
            "(save it again with pipe.save_pretrained(folder))"
        )
    return data


def resolve_model(name: str, *, revision: str | None = None, cache_dir: Path | None = None) -> ModelRef:
    """Find a model's files and identity without importing torch or diffusers.

    A local folder must hold ``model_index.json``. A hub id is looked up in the Hugging Face cache
    first (no network); when it is not there and ``HF_HUB_OFFLINE`` is not set, its small config
    files are downloaded through ``huggingface_hub``.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise PlateError(
                f"{str(path)!r} is not a diffusers model folder (no model_index.json); "
                "save one with pipe.save_pretrained(folder) or pass a hub id"
            )
        from .fingerprint import model_identity

        _check_components(path)
        return _model_ref(name, model_identity(str(path), cache_dir=cache_dir), path, lambda rel: path / rel)
    looks_local = name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1
    if looks_local or not _HUB_ID.match(name):
        raise PlateError(f"model folder {name!r} does not exist; check the path, or pass a hub id like 'org/model'")
    return _resolve_hub(name, revision)


def _resolve_hub(repo_id: str, revision: str | None) -> ModelRef:
    from huggingface_hub import constants

    from .fingerprint import hub_call, hub_commit, offline_error

    commit = hub_commit(repo_id, revision)
    snapshot = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "snapshots" / commit
    if (snapshot / "model_index.json").is_file():
        return _model_ref(repo_id, f"hub:{repo_id}@{commit}", snapshot, lambda rel: snapshot / rel)
    if constants.HF_HUB_OFFLINE:
        raise offline_error(repo_id, revision or "main")
    # Online: fetch the small config files of that commit.
    from huggingface_hub import hf_hub_download

    def fetch(rel: str) -> Path:
        return Path(hub_call(repo_id, commit, lambda timeout: hf_hub_download(repo_id, rel, revision=commit, etag_timeout=timeout)))

    return _model_ref(repo_id, f"hub:{repo_id}@{commit}", None, fetch)


def _check_components(folder: Path) -> None:
    """Every component ``model_index.json`` names (``"tokenizer": ["transformers",
    "CLIPTokenizer"]``) has its subfolder with files, before anything is loaded: a folder copied
    in part fails here in one line instead of deep inside the pipeline."""
    config = _read_json(folder / "model_index.json")
    for key, value in config.items():
        if key.startswith("_") or not (isinstance(value, list) and len(value) == 2 and all(value)):
            continue
        sub = folder / key
        if not sub.is_dir() or not any(sub.iterdir()):
            raise PlateError(
                f"model folder {str(folder)!r} has no {key!r} (model_index.json names {value[0]}.{value[1]} "
                f"there); copy the whole model folder, or save it again with pipe.save_pretrained(folder)"
            )


def _model_ref(name: str, identity: str, folder: Path | None, file: Any) -> ModelRef:
    index = file("model_index.json")
    config = _read_json(index)
    factor, native = 8, (512, 512)
    vae_entry = config.get("vae")
    try:
        vae = _read_json(file("vae/config.json")) if vae_entry else {}
        factor = 2 ** (len(vae.get("block_out_channels", [0, 0, 0, 0])) - 1)
        unet = _read_json(file("unet/config.json")) if config.get("unet") else {}
        sample = unet.get("sample_size") or (config.get("transformer") and 128) or 64
        sample = sample[0] if isinstance(sample, (list, tuple)) else sample
        native = (int(sample) * factor, int(sample) * factor)
    except PlateError:
        log.debug("no vae/unet config in %s; assuming factor 8 and 512x512", name)
    except Exception as exc:  # hub fetch errors for optional files
        log.debug("reading configs of %s failed (%s); assuming factor 8 and 512x512", name, exc)
    return ModelRef(name=name, identity=identity, folder=folder or index.parent, config=config, vae_scale_factor=factor, native_size=native)


# -- defaults and the key -------------------------------------------------------------------------
def _family_defaults(model: ModelRef) -> tuple[int, float]:
    name = model.name.lower()
    if "turbo" in name:
        return 1, 0.0
    if "lcm" in name:
        return 4, 1.0
    if "XL" in model.pipeline_class:
        return 50, 5.0
    return 50, 7.5


def resolve_spec(spec: PlateSpec, *, cache_dir: Path | None = None) -> ResolvedSpec:
    """Decide every default, check the size against the model, and compute the cache key."""
    from ..info import guess_torch_device

    model = resolve_model(spec.model, revision=spec.revision, cache_dir=cache_dir)
    frame = spec.resize_to or getattr(spec.layout, "size", None)  # a Layout's own aspect, when no size is given
    size = spec.size or size_for_aspect(model, frame)
    if spec.size is None and spec.wrap:  # a 360 degree panorama: four native widths round (panorama.py)
        from .panorama import panorama_size

        size = panorama_size(model)
    m = model.size_multiple
    if size[0] % m or size[1] % m:
        near = (max(m, round(size[0] / m) * m), max(m, round(size[1] / m) * m))
        raise ConfigError(
            f"plate size {size[0]}x{size[1]} must be a multiple of {m} for this model; use "
            f"{near[0]}x{near[1]} (add resize_to={size[0]}x{size[1]} / --resize to scale it to the scene)"
        )
    steps, guidance = _family_defaults(model)
    steps = spec.steps if spec.steps is not None else steps
    guidance = float(spec.guidance) if spec.guidance is not None else guidance
    device = spec.device
    if device == "auto":
        device = guess_torch_device() or "cpu"
    device_type = device.split(":")[0]
    dtype = spec.dtype if spec.dtype != "auto" else ("float32" if device_type == "cpu" else "float16")
    depth_identity = None
    if spec.depth_model:
        from .fingerprint import model_identity

        depth_identity = "model:" + model_identity(spec.depth_model, cache_dir=cache_dir)
    elif spec.depth_image:
        p = Path(spec.depth_image)
        if not p.is_file():
            raise PlateError(f"depth image {spec.depth_image!r} does not exist; check the path")
        depth_identity = "image:" + hashlib.sha256(p.read_bytes()).hexdigest()
    vae_identity = None
    if spec.vae:
        from .fingerprint import model_identity

        vae_identity = "model:" + model_identity(spec.vae, cache_dir=cache_dir)
    inputs = {
        "model": model.identity,
        "pipeline": model.pipeline_class,
        "prompt": spec.prompt,
        "negative_prompt": spec.negative_prompt or "",
        "seed": spec.seed,
        "steps": steps,
        "guidance": guidance,
        "scheduler": spec.scheduler,
        "size": list(size),
        "resize_to": list(spec.resize_to) if spec.resize_to else None,
        "dtype": dtype,
        "device_type": device_type,
        "diffusers": package_version("diffusers"),
        "depth": depth_identity,
        "depth_scale": spec.depth_scale if depth_identity and depth_identity.startswith("model:") else None,
    }
    if vae_identity:  # only when set, so keys made before this option existed stay valid
        inputs["vae"] = vae_identity
    layout, controlnet_identities = None, ()
    if spec.layout is not None:  # layout.py: the layout at the plate's final size, ControlNets, strength
        from .layout import layout_inputs

        layout, controlnet_identities, layout_keys = layout_inputs(spec, model, size, steps, cache_dir=cache_dir)
        inputs.update(layout_keys)
    upscaler_identity = None
    if spec.upscale is not None and spec.upscale != 1:  # upscale.py; keys only when set, so older keys stay valid
        from .upscale import DEFAULT_OVERLAP, DEFAULT_TILE, check_upscale, check_upscaler

        full_turn = spec.wrap or (layout is not None and layout.camera.full_turn)
        check_upscale(spec.upscale, spec.resize_to or size, full_turn=full_turn)
        upscaler_identity = "lanczos"
        if spec.upscaler != "lanczos":
            upscaler = resolve_model(spec.upscaler, cache_dir=cache_dir)
            check_upscaler(upscaler.pipeline_class, spec.upscale, spec.upscaler)
            upscaler_identity = upscaler.identity
            inputs["upscale_tile"] = [DEFAULT_TILE, DEFAULT_OVERLAP]
        inputs.update(upscale=spec.upscale, upscaler=upscaler_identity)
    tiling = None
    if spec.tiling != "none" or spec.wrap:  # panorama.py: MultiDiffusion; in the key only when tiled
        from .panorama import tiling_inputs

        tiling = tiling_inputs(spec, model, size)
        if tiling is not None:
            inputs["tiling"] = tiling
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]
    return ResolvedSpec(spec, model, size, steps, guidance, device, dtype, depth_identity, key, inputs, vae_identity,
                        layout=layout, controlnet_identities=controlnet_identities, upscaler_identity=upscaler_identity,
                        tiled=tiling is not None)


def size_for_aspect(model: ModelRef, frame: tuple[int, int] | None) -> tuple[int, int]:
    """The model's native size, or, for a frame of another aspect, a valid size of about the
    native pixel count with the frame's aspect (what the model paints best)."""
    if frame is None:
        return model.native_size
    m = model.size_multiple
    area = model.native_size[0] * model.native_size[1]
    aspect = frame[0] / frame[1]
    w = (area * aspect) ** 0.5
    return (max(m, round(w / m) * m), max(m, round(w / aspect / m) * m))
