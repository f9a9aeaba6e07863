"""The one exception tree of hybridscene.

Every error the library raises on purpose derives from [`HybridSceneError`][hybridscene.HybridSceneError], so an
application can catch them all with one ``except``; each message names the offending value and
says how to fix it::

    HybridSceneError
    ├── ConfigError            bad argument or setting (also a ValueError)
    ├── PlateError             a background plate cannot be loaded or made
    ├── SceneError             invalid scene data (also a ValueError)
    ├── GPUError               no usable OpenGL context or a GL failure
    │   └── ShaderError        a shader file failed to compile or link
    ├── SinkError              an output cannot be written
    │   └── UnsupportedOutputError   unknown output extension (also a ValueError)
    └── Cancelled              a progress callback asked to stop

Warnings derive from [`HybridSceneWarning`][hybridscene.HybridSceneWarning] (a ``UserWarning``)::

    HybridSceneWarning
    ├── SoftwareRendererWarning   OpenGL fell back to a CPU rasteriser although a GPU is present
    └── MeshFileWarning           part of a mesh file (a texture, a skin) could not be used
"""

from __future__ import annotations

__all__ = [
    "Cancelled",
    "ConfigError",
    "GPUError",
    "HybridSceneError",
    "HybridSceneWarning",
    "MeshFileWarning",
    "PlateError",
    "SceneError",
    "ShaderError",
    "SinkError",
    "SoftwareRendererWarning",
    "UnsupportedOutputError",
]


class HybridSceneError(Exception):
    """Base class of every error hybridscene raises on purpose."""


class ConfigError(HybridSceneError, ValueError):
    """An argument, setting or environment variable has an invalid value."""


class PlateError(HybridSceneError):
    """A background plate could not be loaded or generated."""


class SceneError(HybridSceneError, ValueError):
    """Scene data is invalid (a NaN in a transform, an unknown name, ...)."""


class GPUError(HybridSceneError):
    """No usable OpenGL context could be created, or a GL operation failed."""


class ShaderError(GPUError):
    """A shader failed to compile or link; the message names the file and line."""


class SinkError(HybridSceneError):
    """A frame output (video, GIF, PNG sequence) could not be written."""


class UnsupportedOutputError(SinkError, ValueError):
    """The output path has an extension no sink handles; the message lists the supported ones."""


class Cancelled(HybridSceneError):
    """A progress callback returned ``False``; nothing was written under the final name."""


class HybridSceneWarning(UserWarning):
    """Base class of every warning hybridscene issues."""


class SoftwareRendererWarning(HybridSceneWarning):
    """OpenGL runs on a CPU rasteriser (Mesa llvmpipe) although an NVIDIA GPU is present: frames
    are 10-100x slower than they should be. The message says what to install. Set
    ``HYBRIDSCENE_REQUIRE_GPU=1`` to make it a [`GPUError`][hybridscene.GPUError] instead."""


class MeshFileWarning(HybridSceneWarning):
    """Part of a mesh file could not be used (a texture, a material library, a skin, a points
    primitive); the rest loaded. The message names the file and the part."""
