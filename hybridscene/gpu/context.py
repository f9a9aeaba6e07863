"""The one place an OpenGL context is created.

Headless contexts use EGL on Linux (Mesa llvmpipe without a GPU, NVIDIA's EGL with one), CGL on
macOS and WGL on Windows, through moderngl/glcontext. Renderers and compositors never create a
context: they take one as their first argument.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from ..config import get_settings
from ..errors import GPUError

__all__ = ["MIN_GL_VERSION", "create_context", "gl_info", "make_current"]

log = logging.getLogger(__name__)

MIN_GL_VERSION = 330
"""OpenGL 3.3 core is required (everything newer is optional)."""

_INSTALL_HINT = (
    "install an OpenGL driver with EGL: on Debian/Ubuntu `apt-get install libegl1 libgl1-mesa-dri` "
    "(Mesa, works without a GPU), on Fedora `dnf install mesa-libEGL mesa-dri-drivers`; on an "
    "NVIDIA machine install the NVIDIA driver, which ships libEGL_nvidia"
)


def create_context(*, backend: str | None = None, require: int = MIN_GL_VERSION) -> Any:
    """Create a headless (standalone) OpenGL context.

    Args:
        backend: glcontext backend (``"egl"``, ``"x11"``, ...); default ``HYBRIDSCENE_GL_BACKEND``
            or ``"egl"`` on Linux, the platform's default elsewhere.
        require: minimum GL version as an int (330 = 3.3).

    Returns:
        A ``moderngl.Context``. The caller owns it: call ``ctx.release()`` when done.

    Raises:
        GPUError: no driver, no EGL library, or a GL version below ``require``; the message says
            what to install.
    """
    try:
        import moderngl
    except ImportError as exc:  # pragma: no cover - moderngl is a hard dependency
        raise GPUError(f"moderngl is not importable ({exc}); run `pip install moderngl`") from None

    backend = backend or get_settings().gl_backend
    if backend is None and sys.platform.startswith("linux"):
        backend = "egl"
    kwargs: dict[str, Any] = {"require": require}
    if backend:
        kwargs["backend"] = backend
    try:
        ctx = moderngl.create_standalone_context(**kwargs)
    except Exception as exc:  # glcontext raises plain Exceptions with driver text
        raise GPUError(_explain(exc, backend, require)) from exc
    info = gl_info(ctx)
    log.debug("GL context: %s / %s / %s", info["vendor"], info["renderer"], info["version"])
    if ctx.extra is None:
        ctx.extra = {}
    ctx.extra["hybridscene.standalone"] = True
    return ctx


def make_current(ctx: Any) -> None:
    """Make a context from :func:`create_context` current on this thread (a no-op for others,
    such as a window's, whose toolkit keeps its own current).

    moderngl sends GL calls to whichever context is current; creating another context (say,
    ``hs.render()`` without ``ctx=``) makes that one current. hybridscene calls this before it
    draws; do the same (or ``with ctx:``) before your own GL calls when you mix contexts.
    """
    if ctx.extra and ctx.extra.get("hybridscene.standalone"):
        ctx.__enter__()


def gl_info(ctx: Any) -> dict[str, Any]:
    """Vendor, renderer, version and limits of a context, as plain strings and ints."""
    return {
        "vendor": ctx.info.get("GL_VENDOR", "?"),
        "renderer": ctx.info.get("GL_RENDERER", "?"),
        "version": ctx.info.get("GL_VERSION", "?"),
        "version_code": int(ctx.version_code),
        "max_samples": int(ctx.max_samples),
        "max_texture_size": int(ctx.info.get("GL_MAX_TEXTURE_SIZE", 0)),
        "software": is_software_renderer(ctx),
    }


def is_software_renderer(ctx: Any) -> bool:
    """True for CPU rasterisers (llvmpipe, softpipe, SwiftShader, Microsoft's GDI)."""
    renderer = str(ctx.info.get("GL_RENDERER", "")).lower()
    return any(s in renderer for s in ("llvmpipe", "softpipe", "swiftshader", "gdi generic", "swrast"))


def _explain(exc: Exception, backend: str | None, require: int) -> str:
    text = str(exc).strip() or type(exc).__name__
    low = text.lower()
    where = f" with the {backend!r} backend" if backend else ""
    if "cannot find supported backend" in low:
        return (
            f"unknown OpenGL backend {backend!r} ({text}); use 'egl' for headless rendering "
            "(unset HYBRIDSCENE_GL_BACKEND for the default)"
        )
    if "libegl" in low or ("egl" in low and ("cannot open" in low or "not found" in low)):
        return f"no EGL library found{where} ({text}); {_INSTALL_HINT}"
    if "version" in low or "require" in low:
        return (
            f"the OpenGL driver{where} does not offer GL {require // 100}.{require % 100 // 10} core "
            f"({text}); update the GPU driver or use Mesa: {_INSTALL_HINT}"
        )
    if "display" in low and backend not in (None, "egl"):
        return f"no display for the {backend!r} backend ({text}); unset HYBRIDSCENE_GL_BACKEND to use EGL"
    return f"could not create an OpenGL context{where} ({text}); {_INSTALL_HINT}"
