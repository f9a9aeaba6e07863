"""Settings: one typed dataclass, with ``HYBRIDSCENE_*`` environment overrides read in one place.

===========================  ======================  =============================================
environment variable         field                   meaning
===========================  ======================  =============================================
``HYBRIDSCENE_CACHE``        ``cache_dir``           plate cache folder (default: the platform's
                                                     user cache folder, e.g. ``~/.cache/hybridscene``)
``HYBRIDSCENE_GL_BACKEND``   ``gl_backend``          glcontext backend for headless contexts
                                                     (``egl`` on Linux by default)
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
    msaa: int = 4
    """Multisample count for the foreground (1 disables MSAA)."""
    preview_msaa: int | None = None
    """Multisample count in the preview window; ``None``: :attr:`msaa` on a GPU, 1 on a CPU
    rasteriser (llvmpipe, softpipe), where 4x MSAA costs more than a third of the frame."""
    model: str = "CompVis/stable-diffusion-v1-4"
    """Default text-to-image model for AI plates: the paper's Stable Diffusion v1.4."""

    def __post_init__(self) -> None:
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
    for var, field in (("HYBRIDSCENE_MSAA", "msaa"), ("HYBRIDSCENE_PREVIEW_MSAA", "preview_msaa")):
        if env.get(var):
            raw = env[var]
            try:
                values[field] = int(raw)
            except ValueError:
                raise ConfigError(f"{var}={raw!r} is not an integer; set it to 1, 2 or 4") from None
    if env.get("HYBRIDSCENE_MODEL"):
        values["model"] = env["HYBRIDSCENE_MODEL"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]
