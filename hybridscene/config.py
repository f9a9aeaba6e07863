"""Settings: one typed dataclass, with ``HYBRIDSCENE_*`` environment overrides read in one place.

===========================  ======================  =============================================
environment variable         field                   meaning
===========================  ======================  =============================================
``HYBRIDSCENE_CACHE``        ``cache_dir``           plate cache folder (default: the platform's
                                                     user cache folder, e.g. ``~/.cache/hybridscene``)
``HYBRIDSCENE_GL_BACKEND``   ``gl_backend``          glcontext backend for headless contexts
                                                     (``egl`` on Linux by default)
``HYBRIDSCENE_GL_DEVICE``    ``gl_device``           EGL device index (default: the first, or the
                                                     first hardware one when an NVIDIA GPU is
                                                     present and device 0 is a CPU rasteriser)
``HYBRIDSCENE_REQUIRE_GPU``  ``require_gpu``         ``1``: a CPU rasteriser (llvmpipe) is an error
                                                     instead of a warning
``HYBRIDSCENE_MSAA``         ``msaa``                foreground multisample count (default 4,
                                                     clamped to what the driver allows)
``HYBRIDSCENE_PREVIEW_MSAA`` ``preview_msaa``        multisample count in the preview window
                                                     (default: ``msaa`` on a GPU, 1 on a CPU
                                                     rasteriser such as llvmpipe)
``HYBRIDSCENE_PREVIEW_EDGE_AA`` ``preview_edge_aa``  ``1``: an edge anti-aliasing pass over the
                                                     preview's single-sample foreground (default off)
``HYBRIDSCENE_PREVIEW_SCALE`` ``preview_scale``      the preview's render scale: ``auto`` (default:
                                                     lower it while frames miss the frame rate) or
                                                     a fixed scale in 0.25..1
``HYBRIDSCENE_YUV``          ``yuv``                 where video frames become yuv420p: ``gpu`` (a
                                                     shader, 1.5 bytes per pixel read back), ``cpu``
                                                     (libswscale) or ``auto`` (default: ``gpu`` on a
                                                     GPU, ``cpu`` on a CPU rasteriser)
``HYBRIDSCENE_MODEL``        ``model``               default text-to-image model (hub id or
                                                     folder) for AI plates
``HYBRIDSCENE_TORCH_COMPILE`` ``acceleration``       ``torch.compile`` mode for the denoiser:
                                                     ``default``, ``reduce-overhead``,
                                                     ``max-autotune`` (unset: no compile)
``HYBRIDSCENE_CHANNELS_LAST`` ``acceleration``       ``1``: channels-last memory layout for
                                                     convolutional models (UNet, VAE)
``HYBRIDSCENE_ATTENTION``    ``acceleration``        attention kernel: ``sdpa`` (default),
                                                     ``sdpa-flash``, ``sdpa-efficient``,
                                                     ``sdpa-cudnn``, ``sdpa-math`` or ``eager``
===========================  ======================  =============================================
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from .errors import ConfigError

__all__ = ["ATTENTION_KERNELS", "COMPILE_MODES", "YUV_CHOICES", "Acceleration", "Settings", "check_acceleration",
           "check_render_scale", "check_samples", "get_settings"]


def _default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("hybridscene", appauthor=False))


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
"""``torch.compile`` modes [`Acceleration`][hybridscene.Acceleration] accepts."""

YUV_CHOICES = ("auto", "gpu", "cpu")
"""Values of the ``yuv`` setting (`Settings.yuv`)."""

ATTENTION_KERNELS = ("sdpa", "sdpa-flash", "sdpa-efficient", "sdpa-cudnn", "sdpa-math", "eager")
"""Attention choices: ``sdpa`` lets torch's ``scaled_dot_product_attention`` pick its fastest
kernel; ``sdpa-*`` pins one kernel (``torch.nn.attention.sdpa_kernel``); ``eager`` is diffusers'
pre-SDPA ``AttnProcessor`` (matmul, softmax, matmul), for comparison."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Acceleration:
    """How the diffusion model runs, not what it paints: the pixels agree with a plain run up to
    float rounding, so these options are not part of the plate's cache key.

    Args:
        compile: a ``torch.compile`` mode for the denoiser (UNet or transformer), one of
            `COMPILE_MODES`, or ``None``. The first image pays the compile (tens of seconds
            to minutes); later images with the same size reuse it. Needs a C++ compiler on a CPU
            and Triton on an NVIDIA GPU.
        channels_last: store convolution weights and activations as NHWC, which cuDNN's and
            oneDNN's fastest convolutions use (UNet and VAE; transformer models are left as they are).
        attention: one of `ATTENTION_KERNELS`.
    """

    compile: str | None = None
    channels_last: bool = False
    attention: str = "sdpa"

    def __post_init__(self) -> None:
        if self.compile is not None and self.compile not in COMPILE_MODES:
            raise ConfigError(
                f"unknown torch.compile mode {self.compile!r}; use one of {', '.join(COMPILE_MODES)} (or None for no compile)"
            )
        if not isinstance(self.channels_last, bool):
            raise ConfigError(f"channels_last must be True or False, got {self.channels_last!r}")
        if self.attention not in ATTENTION_KERNELS:
            raise ConfigError(f"unknown attention {self.attention!r}; use one of {', '.join(ATTENTION_KERNELS)}")

    @property
    def plain(self) -> bool:
        """True when nothing is changed from diffusers' defaults."""
        return self == Acceleration()

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def check_acceleration(value: object) -> Acceleration | None:
    """``value`` if it is an [`Acceleration`][hybridscene.Acceleration] or ``None``; a [`ConfigError`][hybridscene.ConfigError] otherwise."""
    if value is not None and not isinstance(value, Acceleration):
        raise ConfigError(f"acceleration must be a hybridscene.Acceleration, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Library-wide settings. Build one with [`get_settings`][hybridscene.get_settings] to honour the environment."""

    cache_dir: Path = dataclasses.field(default_factory=_default_cache_dir)
    """Folder of the plate cache."""
    gl_backend: str | None = None
    """glcontext backend for headless contexts; ``None`` picks ``egl`` on Linux, the default elsewhere."""
    gl_device: int | None = None
    """EGL device index for headless contexts; ``None`` picks the first, skipping CPU rasterisers
    when an NVIDIA GPU is present."""
    require_gpu: bool = False
    """Refuse to render on a CPU rasteriser (raise [`GPUError`][hybridscene.GPUError]) instead of
    warning; for GPU machines where a silent fallback would waste hours."""
    msaa: int = 4
    """Multisample count for the foreground (1 disables MSAA)."""
    preview_msaa: int | None = None
    """Multisample count in the preview window; ``None``: `msaa` on a GPU, 1 on a CPU
    rasteriser (llvmpipe, softpipe), where 4x MSAA costs more than a third of the frame."""
    preview_edge_aa: bool = False
    """Anti-alias the preview's single-sample foreground with an edge pass
    (`hybridscene.gpu.edge_aa`: about 3 ms for a small foreground on a CPU rasteriser, up to 20
    for a whole-frame one); off by default: it closes about half of 1x's gap to 4x MSAA on mesh
    edges, not all of it."""
    preview_scale: float | str = "auto"
    """The preview's render scale (`hybridscene.live.resolution`): ``"auto"`` draws a frame
    at a lower scale, filtered up to the window, while frames take longer than the frame rate
    allows (down to 0.5, back up when there is time again; paused frames and screenshots at
    full size); a number in 0.25..1 fixes it (1: always full size)."""
    yuv: str = "auto"
    """Where a video export converts frames to yuv420p (BT.709, limited range): ``"gpu"`` in a
    shader, reading back 1.5 bytes per pixel instead of 3 (`hybridscene.gpu.yuv`); ``"cpu"``
    with libswscale in the video sink; ``"auto"``: ``"gpu"`` on a GPU, ``"cpu"`` on a CPU
    rasteriser (llvmpipe), where it measured as fast or faster. The planes are identical either
    way (x86-64; chroma within one level on other CPUs)."""
    model: str = "CompVis/stable-diffusion-v1-4"
    """Default text-to-image model for AI plates: the paper's Stable Diffusion v1.4."""
    acceleration: Acceleration = dataclasses.field(default_factory=Acceleration)
    """How AI plates are computed (``torch.compile``, channels-last, attention kernel)."""

    def __post_init__(self) -> None:
        if self.gl_device is not None and (
            not isinstance(self.gl_device, int) or isinstance(self.gl_device, bool) or self.gl_device < 0
        ):
            raise ConfigError(f"gl_device must be a device index 0, 1, ..., got {self.gl_device!r}")
        for name in ("msaa", "preview_msaa"):
            value = getattr(self, name)
            if value is None and name == "preview_msaa":
                continue
            check_samples(value, name)
        if self.yuv not in YUV_CHOICES:
            raise ConfigError(f"yuv must be one of {', '.join(YUV_CHOICES)}, got {self.yuv!r}")
        object.__setattr__(self, "preview_scale", check_render_scale(self.preview_scale, "preview_scale"))


MIN_RENDER_SCALE = 0.25
"""The smallest render scale the preview takes."""


def check_render_scale(value: object, what: str = "render scale") -> float | str:
    """``"auto"`` or a render scale in 0.25..1 (a number or its text); a one-line
    [`ConfigError`][hybridscene.ConfigError] naming ``what`` and the value otherwise."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        scale = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        scale = float("nan")
    if isinstance(value, bool) or not MIN_RENDER_SCALE <= scale <= 1.0:
        raise ConfigError(f"{what} must be 'auto' or a number in {MIN_RENDER_SCALE}..1, got {value!r}")
    return scale


def check_samples(value: object, what: str = "samples") -> int:
    """An MSAA sample count: 1 (off) or a power of two (2, 4, 8, 16, ...), which is what GL
    drivers offer; a [`ConfigError`][hybridscene.ConfigError] naming ``what`` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1 or value & (value - 1):
        raise ConfigError(f"{what} must be 1 (no MSAA) or a power of two such as 2, 4 or 8, got {value!r}")
    return value


def get_settings(**overrides: object) -> Settings:
    """Settings from the defaults, then ``HYBRIDSCENE_*`` environment variables, then ``overrides``."""
    values: dict[str, object] = {}
    env = os.environ
    if env.get("HYBRIDSCENE_CACHE"):
        values["cache_dir"] = Path(env["HYBRIDSCENE_CACHE"]).expanduser()
    if env.get("HYBRIDSCENE_GL_BACKEND"):
        values["gl_backend"] = env["HYBRIDSCENE_GL_BACKEND"]
    for var, field, hint in (
        ("HYBRIDSCENE_MSAA", "msaa", "set it to 1, 2, 4 or 8"),
        ("HYBRIDSCENE_PREVIEW_MSAA", "preview_msaa", "set it to 1, 2, 4 or 8"),
        ("HYBRIDSCENE_GL_DEVICE", "gl_device", "set it to an EGL device index: 0, 1, ..."),
    ):
        if env.get(var):
            raw = env[var]
            try:
                values[field] = int(raw)
            except ValueError:
                raise ConfigError(f"{var}={raw!r} is not an integer; {hint}") from None
    if env.get("HYBRIDSCENE_REQUIRE_GPU"):
        values["require_gpu"] = _flag("HYBRIDSCENE_REQUIRE_GPU", env["HYBRIDSCENE_REQUIRE_GPU"])
    if env.get("HYBRIDSCENE_PREVIEW_EDGE_AA"):
        values["preview_edge_aa"] = _flag("HYBRIDSCENE_PREVIEW_EDGE_AA", env["HYBRIDSCENE_PREVIEW_EDGE_AA"])
    if env.get("HYBRIDSCENE_PREVIEW_SCALE"):
        values["preview_scale"] = check_render_scale(env["HYBRIDSCENE_PREVIEW_SCALE"], "HYBRIDSCENE_PREVIEW_SCALE")
    if env.get("HYBRIDSCENE_YUV"):
        raw = env["HYBRIDSCENE_YUV"]
        if raw.strip().lower() not in YUV_CHOICES:
            raise ConfigError(f"HYBRIDSCENE_YUV={raw!r} is not a yuv420p converter; set it to auto, gpu or cpu")
        values["yuv"] = raw.strip().lower()
    if env.get("HYBRIDSCENE_MODEL"):
        values["model"] = env["HYBRIDSCENE_MODEL"]
    accel: dict[str, object] = {}
    if env.get("HYBRIDSCENE_TORCH_COMPILE"):
        mode = env["HYBRIDSCENE_TORCH_COMPILE"].strip().lower()
        accel["compile"] = None if mode in ("0", "off", "no", "none") else "default" if mode in ("1", "on", "yes") else mode
    if env.get("HYBRIDSCENE_CHANNELS_LAST"):
        accel["channels_last"] = _flag("HYBRIDSCENE_CHANNELS_LAST", env["HYBRIDSCENE_CHANNELS_LAST"])
    if env.get("HYBRIDSCENE_ATTENTION"):
        accel["attention"] = env["HYBRIDSCENE_ATTENTION"].strip().lower()
    if accel:
        try:
            values["acceleration"] = Acceleration(**accel)  # type: ignore[arg-type]
        except ConfigError as exc:
            raise ConfigError(f"{exc} (from the HYBRIDSCENE_TORCH_COMPILE / _CHANNELS_LAST / _ATTENTION environment)") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]


def _flag(var: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{var}={raw!r} is not a yes/no value; set it to 1 or 0")
