"""The one place an OpenGL context is created.

Headless contexts use EGL on Linux (Mesa llvmpipe without a GPU, NVIDIA's EGL with one), CGL on
macOS and WGL on Windows, through moderngl/glcontext. Renderers and compositors never create a
context: they take one as their first argument.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from typing import Any

from ..config import get_settings
from ..errors import GPUError, SoftwareRendererWarning

__all__ = ["MIN_GL_VERSION", "check_renderer", "create_context", "gl_info", "is_software_renderer", "make_current", "nvidia_driver"]

log = logging.getLogger(__name__)

MIN_GL_VERSION = 330
"""OpenGL 3.3 core is required (everything newer is optional)."""

_INSTALL_HINT = (
    "install an OpenGL driver with EGL: on Debian/Ubuntu `apt-get install libegl1 libgl1-mesa-dri` "
    "(Mesa, works without a GPU), on Fedora `dnf install mesa-libEGL mesa-dri-drivers`; on an "
    "NVIDIA machine install the NVIDIA driver, which ships libEGL_nvidia"
)


def create_context(
    *,
    backend: str | None = None,
    require: int = MIN_GL_VERSION,
    device: int | None = None,
    require_gpu: bool | None = None,
) -> Any:
    """Create a headless (standalone) OpenGL context.

    On a machine with an NVIDIA GPU the context must run on NVIDIA's EGL, not on Mesa's CPU
    rasteriser: when EGL's first device is a CPU rasteriser, the other EGL devices are tried, and
    if none is a GPU a :class:`~hybridscene.SoftwareRendererWarning` (or, with ``require_gpu``, a
    :class:`~hybridscene.GPUError`) says what to install.

    Args:
        backend: glcontext backend (``"egl"``, ``"x11"``, ...); default ``HYBRIDSCENE_GL_BACKEND``
            or ``"egl"`` on Linux, the platform's default elsewhere.
        require: minimum GL version as an int (330 = 3.3).
        device: EGL device index (``HYBRIDSCENE_GL_DEVICE``); ``None`` picks as above.
        require_gpu: raise instead of warning when GL runs on a CPU rasteriser; default
            ``HYBRIDSCENE_REQUIRE_GPU``.

    Returns:
        A ``moderngl.Context``. The caller owns it: call ``ctx.release()`` when done.

    Raises:
        GPUError: no driver, no EGL library, a GL version below ``require``, an EGL device index
            that does not exist, or a CPU rasteriser with ``require_gpu``; the message says what
            to install or set.
    """
    try:
        import moderngl
    except ImportError as exc:  # pragma: no cover - moderngl is a hard dependency
        raise GPUError(f"moderngl is not importable ({exc}); run `pip install moderngl`") from None

    settings = get_settings()
    backend = backend or settings.gl_backend
    if backend is None and sys.platform.startswith("linux"):
        backend = "egl"
    device = settings.gl_device if device is None else device
    require_gpu = settings.require_gpu if require_gpu is None else require_gpu
    kwargs: dict[str, Any] = {"require": require}
    if backend:
        kwargs["backend"] = backend

    def make(index: int | None) -> Any:
        extra = {} if index is None else {"device_index": index}
        return moderngl.create_standalone_context(**kwargs, **extra)

    try:
        ctx = make(device if backend == "egl" else None)
    except Exception as exc:  # glcontext raises plain Exceptions with driver text
        raise GPUError(_explain(exc, backend, require, device)) from exc
    nvidia = nvidia_driver()
    if backend == "egl" and device is None and nvidia and is_software_renderer(ctx):
        ctx = _first_hardware_device(ctx, make)
    info = gl_info(ctx)
    log.debug("GL context: %s / %s / %s", info["vendor"], info["renderer"], info["version"])
    try:
        where = ("every EGL device" if device is None else f"EGL device {device}") if backend == "egl" \
            else f"the {backend or 'default'!r} backend"
        check_renderer(ctx, where=where, require_gpu=require_gpu, stacklevel=3)
    except GPUError:
        ctx.release()
        raise
    if ctx.extra is None:
        ctx.extra = {}
    ctx.extra["hybridscene.standalone"] = True
    return ctx


def _first_hardware_device(ctx: Any, make: Callable[[int], Any]) -> Any:
    """EGL device 0 is a CPU rasteriser: try devices 1, 2, ... (glcontext lists every EGL device,
    Mesa's software one among them) and keep the first hardware one."""
    for index in range(1, 16):
        try:
            other = make(index)
        except Exception as exc:  # "requested device index N, but found M devices", or a dead device
            log.debug("EGL device %d: %s", index, exc)
            if "found" in str(exc).lower():
                break
            continue
        if not is_software_renderer(other):
            log.info("GL: EGL device 0 is a CPU rasteriser; using device %d (%s)", index,
                     other.info.get("GL_RENDERER", "?"))
            ctx.release()
            return other
        other.release()
    ctx.__enter__()  # creating the others made them current
    return ctx


def nvidia_driver() -> str | None:
    """The loaded NVIDIA kernel driver's version line, or ``None`` when there is none (Linux only;
    read from ``/proc/driver/nvidia/version``, which containers with GPU access also see)."""
    try:
        with open("/proc/driver/nvidia/version", encoding="utf-8", errors="replace") as f:
            first = f.readline().strip()
    except OSError:
        return None
    return first or "NVIDIA driver"


def check_renderer(ctx: Any, *, where: str, require_gpu: bool | None = None, stacklevel: int = 2) -> None:
    """Warn (:class:`~hybridscene.SoftwareRendererWarning`) when ``ctx`` runs on a CPU rasteriser
    although an NVIDIA GPU is present; raise :class:`~hybridscene.GPUError` instead when
    ``require_gpu`` (default ``HYBRIDSCENE_REQUIRE_GPU``) is set, GPU or not.

    Args:
        where: what was tried, for the message (``"every EGL device"``, ``"the preview window"``).
    """
    if not is_software_renderer(ctx):
        return
    require_gpu = get_settings().require_gpu if require_gpu is None else require_gpu
    nvidia = nvidia_driver()
    if not (nvidia or require_gpu):
        return
    message = _software_message(str(ctx.info.get("GL_RENDERER", "?")), nvidia, where)
    if require_gpu:
        raise GPUError(message)
    warnings.warn(message, SoftwareRendererWarning, stacklevel=stacklevel + 1)


def _software_message(renderer: str, nvidia: str | None, where: str) -> str:
    if not nvidia:
        return (
            f"OpenGL runs on a CPU rasteriser ({renderer}) and HYBRIDSCENE_REQUIRE_GPU is set; "
            "install your GPU's OpenGL/EGL driver, or unset HYBRIDSCENE_REQUIRE_GPU to render on the CPU"
        )
    import re

    version = re.search(r"\b\d+\.\d+(?:\.\d+)?\b", nvidia)
    driver = f"driver {version.group(0)}" if version else "driver loaded"
    return (
        f"OpenGL runs on a CPU rasteriser ({renderer}) although an NVIDIA GPU is present "
        f"(NVIDIA {driver}): frames will be 10-100x slower. {where[0].upper() + where[1:]} renders "
        "in software, so libglvnd did not find NVIDIA's GL: install the driver's GL/EGL libraries "
        "(libnvidia-gl-<driver version> with libEGL_nvidia.so.0 and its 10_nvidia.json) and "
        "libglvnd's loader (apt-get install libegl1 libopengl0); point "
        "__EGL_VENDOR_LIBRARY_FILENAMES at 10_nvidia.json if it lives elsewhere; in a container "
        "run with NVIDIA_DRIVER_CAPABILITIES=graphics,compute,utility (or all); a window on Xvfb "
        "needs __GLX_VENDOR_LIBRARY_NAME=nvidia. Check with "
        "`hybridscene info`; set HYBRIDSCENE_REQUIRE_GPU=1 to make this an error, or "
        "HYBRIDSCENE_GL_DEVICE=N to pick an EGL device"
    )


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
    return any(s in renderer for s in ("llvmpipe", "softpipe", "swiftshader", "gdi generic", "swrast",
                                       "software rasterizer"))


def _explain(exc: Exception, backend: str | None, require: int, device: int | None = None) -> str:
    text = str(exc).strip() or type(exc).__name__
    low = text.lower()
    where = f" with the {backend!r} backend" if backend else ""
    if device is not None and "requested device index" in low:
        import re

        found = re.search(r"found (\d+) device", low)
        have = f"this machine's EGL lists {found.group(1)} device(s), 0..{int(found.group(1)) - 1}" if found else text
        return (
            f"EGL device {device} does not exist ({have}); set HYBRIDSCENE_GL_DEVICE to one of those "
            "or unset it to pick automatically"
        )
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
