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
``HYBRIDSCENE_MODEL``        ``model``               default text-to-image model (hub id or
                                                     folder) for AI plates
===========================  ======================  =============================================
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from .errors import ConfigError

__all__ = ["Settings", "get_settings"]


def _default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("hybridscene", appauthor=False))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Library-wide settings. Build one with :func:`get_settings` to honour the environment."""

    cache_dir: Path = dataclasses.field(default_factory=_default_cache_dir)
    """Folder of the plate cache."""
    gl_backend: str | None = None
    """glcontext backend for headless contexts; ``None`` picks ``egl`` on Linux, the default elsewhere."""
    gl_device: int | None = None
    """EGL device index for headless contexts; ``None`` picks the first, skipping CPU rasterisers
    when an NVIDIA GPU is present."""
    require_gpu: bool = False
    """Refuse to render on a CPU rasteriser (raise :class:`~hybridscene.GPUError`) instead of
    warning; for GPU machines where a silent fallback would waste hours."""
    msaa: int = 4
    """Multisample count for the foreground (1 disables MSAA)."""
    preview_msaa: int | None = None
    """Multisample count in the preview window; ``None``: :attr:`msaa` on a GPU, 1 on a CPU
    rasteriser (llvmpipe, softpipe), where 4x MSAA costs more than a third of the frame."""
    model: str = "CompVis/stable-diffusion-v1-4"
    """Default text-to-image model for AI plates: the paper's Stable Diffusion v1.4."""

    def __post_init__(self) -> None:
        if self.gl_device is not None and (
            not isinstance(self.gl_device, int) or isinstance(self.gl_device, bool) or self.gl_device < 0
        ):
            raise ConfigError(f"gl_device must be a device index 0, 1, ..., got {self.gl_device!r}")
        for name in ("msaa", "preview_msaa"):
            value = getattr(self, name)
            if value is None and name == "preview_msaa":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}; use 1 to disable MSAA")


def get_settings(**overrides: object) -> Settings:
    """Settings from the defaults, then ``HYBRIDSCENE_*`` environment variables, then ``overrides``."""
    values: dict[str, object] = {}
    env = os.environ
    if env.get("HYBRIDSCENE_CACHE"):
        values["cache_dir"] = Path(env["HYBRIDSCENE_CACHE"]).expanduser()
    if env.get("HYBRIDSCENE_GL_BACKEND"):
        values["gl_backend"] = env["HYBRIDSCENE_GL_BACKEND"]
    for var, field, hint in (
        ("HYBRIDSCENE_MSAA", "msaa", "set it to 1, 2 or 4"),
        ("HYBRIDSCENE_PREVIEW_MSAA", "preview_msaa", "set it to 1, 2 or 4"),
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
    if env.get("HYBRIDSCENE_MODEL"):
        values["model"] = env["HYBRIDSCENE_MODEL"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]


def _flag(var: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{var}={raw!r} is not a yes/no value; set it to 1 or 0")
