"""The one place an OpenGL context is created, and its owner object.

Headless contexts use EGL on Linux (Mesa llvmpipe without a GPU, NVIDIA's EGL with one), CGL on
macOS and WGL on Windows, through moderngl/glcontext. [`create_context`][hybridscene.create_context] returns a
[`GLContext`][hybridscene.GLContext]: the ``moderngl.Context`` plus what hybridscene keeps per context (compiled
programs, the default framebuffer), [`GLContext.make_current`][hybridscene.GLContext.make_current] and [`GLContext.release`][hybridscene.GLContext.release].
Renderers and compositors never create a context: they take a ``GLContext`` as their first
argument. A window's context (moderngl-window) is wrapped with [`GLContext.wrap`][hybridscene.GLContext.wrap], which does
not own it.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config import get_settings
from ..errors import GPUError, SoftwareRendererWarning

if TYPE_CHECKING:
    import moderngl

__all__ = ["MIN_GL_VERSION", "GLContext", "check_renderer", "create_context", "gl_info", "is_software_renderer",
           "nvidia_driver"]

log = logging.getLogger(__name__)

MIN_GL_VERSION = 330
"""OpenGL 3.3 core is required (everything newer is optional)."""

_INSTALL_HINT = (
    "install an OpenGL driver with EGL: on Debian/Ubuntu `apt-get install libegl1 libgl1-mesa-dri` "
    "(Mesa, works without a GPU), on Fedora `dnf install mesa-libEGL mesa-dri-drivers`; on an "
    "NVIDIA machine install the NVIDIA driver, which ships libEGL_nvidia"
)


class GLContext:
    """One OpenGL context and hybridscene's state on it; pass it to renderers explicitly.

    ``with hs.create_context() as gl: frame = hs.FrameRenderer(gl, (640, 360)).render_frame(scene)``

    Attributes:
        mgl: the ``moderngl.Context``, for your own GL calls.
        programs: compiled shader programs by key (see
            `hybridscene.gpu.programs.load_program`), released with this object.
        owned: whether this object created the context (and so releases it and makes it
            current before drawing); ``False`` for a window's context from its toolkit.
    """

    def __init__(self, mgl: moderngl.Context, *, owned: bool = False,
                 default_framebuffer: moderngl.Framebuffer | None = None) -> None:
        self.mgl = mgl
        self.owned = owned
        self.programs: dict[Any, moderngl.Program] = {}
        self._default_framebuffer = default_framebuffer
        self.released = False
        self._finish: Callable[[], None] | None = None

    @classmethod
    def wrap(cls, ctx: GLContext | moderngl.Context) -> GLContext:
        """``ctx`` itself if it is a [`GLContext`][hybridscene.GLContext], else a non-owning wrapper of a
        ``moderngl.Context`` (a window's, or one you made yourself)."""
        if isinstance(ctx, GLContext):
            return ctx
        if not hasattr(ctx, "framebuffer") or not hasattr(ctx, "program"):
            from ..errors import ConfigError

            raise ConfigError(
                f"expected a GL context from hybridscene.create_context() (or a moderngl.Context), "
                f"got {type(ctx).__name__}"
            )
        return cls(ctx, owned=False)

    @property
    def default_framebuffer(self) -> moderngl.Framebuffer:
        """The context's default framebuffer (a window's back buffer; name 0 when headless,
        which moderngl does not wrap as ``ctx.screen``), wrapped once."""
        if self._default_framebuffer is None:
            self._default_framebuffer = self.mgl.screen or self.mgl.detect_framebuffer(0)
        return self._default_framebuffer

    @property
    def info(self) -> dict[str, Any]:
        """The driver's ``GL_*`` strings and limits (``moderngl.Context.info``)."""
        return self.mgl.info

    @property
    def software(self) -> bool:
        """True on a CPU rasteriser (llvmpipe and the like); see `is_software_renderer`."""
        return is_software_renderer(self.mgl)

    def make_current(self) -> None:
        """Make this context current on the calling thread (a no-op for a wrapped context,
        whose toolkit keeps its own current).

        moderngl sends GL calls to whichever context is current; creating another context (say,
        ``hs.render()`` without ``ctx=``) makes that one current. hybridscene calls this before
        it draws; do the same (or ``with gl.mgl:``) before your own GL calls when you mix
        contexts.
        """
        if self.owned:
            self.mgl.__enter__()

    def wait(self) -> None:
        """Wait until the GL work queued so far is done (``glFinish``) without holding Python's
        GIL, so other Python threads (an encoder) run meanwhile: moderngl's calls that wait for
        the driver (a read-back, a blit) hold it throughout. Called before such a call, it leaves
        that one nothing to wait for. Through the GL library's own ``glFinish`` (ctypes drops the
        GIL), sent to the context current on this thread; ``moderngl``'s where none loads."""
        if self._finish is None:
            self._finish = _gl_finish() or self.mgl.finish
        self._finish()

    def unbind(self, framebuffers: list[moderngl.Framebuffer | None]) -> None:
        """Bind the default framebuffer if one of ``framebuffers`` is bound, before they are
        released: moderngl re-binds the current framebuffer after creating a new one, and a
        deleted one raises GL_INVALID_OPERATION."""
        bound = self.mgl.fbo
        if bound is not None and any(bound is f for f in framebuffers if f is not None):
            self.default_framebuffer.use()

    def release(self) -> None:
        """Release the programs compiled on this context and, when owned, the context itself."""
        if self.released:
            return
        self.released = True
        if self.owned:
            self.make_current()
        for program in self.programs.values():
            program.release()
        self.programs.clear()
        if self.owned:
            self.mgl.release()

    def __enter__(self) -> GLContext:
        self.make_current()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "released" if self.released else str(self.mgl.info.get("GL_RENDERER", "?"))
        return f"<GLContext {state}{' (owned)' if self.owned else ''}>"


def create_context(
    *,
    backend: str | None = None,
    require: int = MIN_GL_VERSION,
    device: int | None = None,
    require_gpu: bool | None = None,
) -> GLContext:
    """Create a headless (standalone) OpenGL context.

    On a machine with an NVIDIA GPU the context must run on NVIDIA's EGL, not on Mesa's CPU
    rasteriser: when EGL's first device is a CPU rasteriser, the other EGL devices are tried, and
    if none is a GPU a [`SoftwareRendererWarning`][hybridscene.SoftwareRendererWarning] (or, with ``require_gpu``, a
    [`GPUError`][hybridscene.GPUError]) says what to install.

    Args:
        backend: glcontext backend (``"egl"``, ``"x11"``, ...); default ``HYBRIDSCENE_GL_BACKEND``
            or ``"egl"`` on Linux, the platform's default elsewhere.
        require: minimum GL version as an int (330 = 3.3).
        device: EGL device index (``HYBRIDSCENE_GL_DEVICE``); ``None`` picks as above.
        require_gpu: raise instead of warning when GL runs on a CPU rasteriser; default
            ``HYBRIDSCENE_REQUIRE_GPU``.

    Returns:
        A [`GLContext`][hybridscene.GLContext] that owns the new context: call ``release()`` when done, or use it
        in a ``with`` block.

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

    def make(index: int | None) -> moderngl.Context:
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
    return GLContext(ctx, owned=True)


def _gl_finish() -> Callable[[], None] | None:
    """``glFinish`` of the platform's GL library (GLVND's dispatcher on Linux, which serves EGL
    and GLX contexts alike), as a ctypes function: the call drops the GIL. ``None`` when no GL
    library loads (moderngl has no GIL-free wait of its own)."""
    import ctypes
    import ctypes.util

    if sys.platform == "darwin":
        names = ["/System/Library/Frameworks/OpenGL.framework/OpenGL"]
    elif sys.platform == "win32":
        names = ["opengl32"]
    else:
        names = ["libOpenGL.so.0", "libGL.so.1", ctypes.util.find_library("OpenGL"), ctypes.util.find_library("GL")]
    for name in names:
        if not name:
            continue
        try:
            fn = getattr(ctypes, "WinDLL", ctypes.CDLL)(name).glFinish
        except (OSError, AttributeError):
            continue
        fn.restype, fn.argtypes = None, []
        return fn  # type: ignore[no-any-return]
    log.debug("no GL library with glFinish found: GLContext.wait holds the GIL")
    return None


def _first_hardware_device(ctx: moderngl.Context, make: Callable[[int], moderngl.Context]) -> moderngl.Context:
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


def check_renderer(ctx: GLContext | moderngl.Context, *, where: str, require_gpu: bool | None = None, stacklevel: int = 2) -> None:
    """Warn ([`SoftwareRendererWarning`][hybridscene.SoftwareRendererWarning]) when ``ctx`` runs on a CPU rasteriser
    although an NVIDIA GPU is present; raise [`GPUError`][hybridscene.GPUError] instead when
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


def _mgl(ctx: GLContext | moderngl.Context) -> moderngl.Context:
    return ctx.mgl if isinstance(ctx, GLContext) else ctx


def gl_info(ctx: GLContext | moderngl.Context) -> dict[str, Any]:
    """Vendor, renderer, version and limits of a context, as plain strings and ints."""
    ctx = _mgl(ctx)
    return {
        "vendor": ctx.info.get("GL_VENDOR", "?"),
        "renderer": ctx.info.get("GL_RENDERER", "?"),
        "version": ctx.info.get("GL_VERSION", "?"),
        "version_code": int(ctx.version_code),
        "max_samples": int(ctx.max_samples),
        "max_texture_size": int(ctx.info.get("GL_MAX_TEXTURE_SIZE", 0)),
        "software": is_software_renderer(ctx),
    }


def is_software_renderer(ctx: GLContext | moderngl.Context) -> bool:
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
    overrides = {k: os.environ[k] for k in ("MESA_GL_VERSION_OVERRIDE", "MESA_GLSL_VERSION_OVERRIDE") if os.environ.get(k)}
    if overrides and ("createcontext" in low or "version" in low or "require" in low):
        shown = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        return (
            f"the OpenGL driver{where} refused a GL {require // 100}.{require % 100 // 10} core context ({text}) "
            f"because {shown} is set; unset it (hybridscene needs GL {require // 100}.{require % 100 // 10} core)"
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
