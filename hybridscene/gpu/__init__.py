"""Everything that touches OpenGL: the context owner, programs, textures, targets, read-back and
the renderers (the scene's foreground, the plate's parallax relief)."""

from .context import GLContext, create_context, gl_info, is_software_renderer
from .parallax import ParallaxRenderer
from .programs import load_program, shader_dir
from .readback import ReadbackRing, read_pixels
from .renderer import SceneRenderer
from .targets import ForegroundTarget, OutputTarget
from .textures import upload_depth, upload_image

__all__ = [
    "ForegroundTarget",
    "GLContext",
    "OutputTarget",
    "ParallaxRenderer",
    "ReadbackRing",
    "SceneRenderer",
    "create_context",
    "gl_info",
    "is_software_renderer",
    "load_program",
    "read_pixels",
    "shader_dir",
    "upload_depth",
    "upload_image",
]
