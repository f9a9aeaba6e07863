"""Images into the GPU, and the row-order convention (the one place it is decided).

Row order
---------
numpy images are top row first. They are uploaded **as they are**, so texel row 0 holds the
image's top row and shaders sample images at ``(u, v_img)`` with ``v_img = 0`` at the top.
Offscreen output targets are written the same way (the compositor's ``u_top_down``), so reading
them back needs no flip. Targets rasterised in GL's bottom-up order (the foreground, its depth and
ids, the shadow amount, a window) are addressed with a flipped row inside ``composite.glsl`` and
flipped on read-back in exactly one function, `hybridscene.gpu.readback.read_pixels`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import GPUError

if TYPE_CHECKING:
    import moderngl

    from .context import GLContext

__all__ = ["GL_SRGB8", "GL_SRGB8_ALPHA8", "upload_depth", "upload_image"]

GL_SRGB8 = 0x8C41
GL_SRGB8_ALPHA8 = 0x8C43


def upload_image(gl: GLContext, image: np.ndarray, *, srgb: bool = True, mipmaps: bool = True) -> moderngl.Texture:
    """Upload an ``(H, W, 3|4) uint8`` top-down image as a texture (sRGB-decoding by default).

    Returns a ``moderngl.Texture`` with linear filtering, clamped edges and mipmaps, owned by the
    caller (``release()`` it).
    """
    import moderngl

    ctx = gl.mgl
    img = np.ascontiguousarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (3, 4):
        raise GPUError(f"upload_image needs an (H, W, 3|4) uint8 array, got {img.shape} {img.dtype}")
    h, w, c = img.shape
    limit = int(ctx.info.get("GL_MAX_TEXTURE_SIZE", 8192))
    if max(w, h) > limit:
        raise GPUError(f"image {w}x{h} exceeds this GPU's texture limit of {limit} pixels; downscale it")
    fmt = (GL_SRGB8 if c == 3 else GL_SRGB8_ALPHA8) if srgb else None
    tex = ctx.texture((w, h), c, img.tobytes(), alignment=1, internal_format=fmt)
    tex.repeat_x = tex.repeat_y = False
    if mipmaps:
        tex.build_mipmaps()
        tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
    else:
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
    return tex


def upload_depth(gl: GLContext, depth: np.ndarray) -> moderngl.Texture:
    """Upload an ``(H, W) float32`` top-down depth map (metres, ``inf`` allowed) as an R32F
    texture with nearest filtering (depth must not be blended across a silhouette)."""
    import moderngl

    ctx = gl.mgl
    d = np.ascontiguousarray(depth, dtype=np.float32)
    if d.ndim != 2:
        raise GPUError(f"upload_depth needs an (H, W) array, got shape {d.shape}")
    h, w = d.shape
    tex = ctx.texture((w, h), 1, d.tobytes(), dtype="f4", alignment=1)
    tex.repeat_x = tex.repeat_y = False
    tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
    return tex
