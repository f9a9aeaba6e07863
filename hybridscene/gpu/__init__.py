"""Everything that touches OpenGL: the context, programs, textures, targets, the scene renderer."""

from .context import create_context, gl_info, is_software_renderer
from .programs import load_program, shader_dir
from .renderer import SceneRenderer
from .targets import ForegroundTarget, OutputTarget
from .textures import read_rgb, upload_image

__all__ = [
    "ForegroundTarget",
    "OutputTarget",
    "SceneRenderer",
    "create_context",
    "gl_info",
    "is_software_renderer",
    "load_program",
    "read_rgb",
    "shader_dir",
    "upload_image",
]
