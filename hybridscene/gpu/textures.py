"""Images in and out of the GPU, and the row-order convention (the one place it is decided).

Row order
---------
numpy images are top row first. They are uploaded **as they are**, so texel row 0 holds the
image's top row and shaders sample images at ``(u, v_img)`` with ``v_img = 0`` at the top.
Offscreen output targets are written the same way (the compositor's ``u_top_down``), so
``Framebuffer.read()`` returns a top-down image with no flip on either side. Only the
foreground, rasterised in GL's bottom-up order, is addressed with a flipped row, inside
``composite.glsl``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GPUError

__all__ = ["GL_SRGB8", "GL_SRGB8_ALPHA8", "cover_rect", "plate_from_direction", "plate_mapping", "read_rgb", "upload_depth", "upload_image"]

GL_SRGB8 = 0x8C41
GL_SRGB8_ALPHA8 = 0x8C43


def upload_image(ctx: Any, image: np.ndarray, *, srgb: bool = True, mipmaps: bool = True) -> Any:
    """Upload an ``(H, W, 3|4) uint8`` top-down image as a texture (sRGB-decoding by default).

    Returns a ``moderngl.Texture`` with linear filtering, clamped edges and mipmaps, owned by the
    caller (``release()`` it).
    """
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
        import moderngl

        tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
    else:
        import moderngl

        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
    return tex


def upload_depth(ctx: Any, depth: np.ndarray) -> Any:
    """Upload an ``(H, W) float32`` top-down depth map (metres, ``inf`` allowed) as an R32F
    texture with nearest filtering (depth must not be blended across a silhouette)."""
    import moderngl

    d = np.ascontiguousarray(depth, dtype=np.float32)
    if d.ndim != 2:
        raise GPUError(f"upload_depth needs an (H, W) array, got shape {d.shape}")
    h, w = d.shape
    tex = ctx.texture((w, h), 1, d.tobytes(), dtype="f4", alignment=1)
    tex.repeat_x = tex.repeat_y = False
    tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
    return tex


def read_rgb(fbo: Any) -> np.ndarray:
    """Read a top-down target (see the row-order note) as an ``(H, W, 3) uint8`` array."""
    w, h = fbo.size
    data = fbo.read(components=3, alignment=1)
    return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)


def cover_rect(plate_size: tuple[int, int], frame_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """UV scale and offset ``(sx, sy, ox, oy)`` that fit a plate to a frame like CSS
    ``object-fit: cover``: fill the frame, keep the aspect, crop the overflow evenly."""
    pw, ph = plate_size
    fw, fh = frame_size
    plate_aspect, frame_aspect = pw / ph, fw / fh
    if plate_aspect > frame_aspect:  # plate wider: crop left and right
        sx = frame_aspect / plate_aspect
        return (sx, 1.0, (1.0 - sx) / 2.0, 0.0)
    sy = plate_aspect / frame_aspect  # plate taller: crop top and bottom
    return (1.0, sy, 0.0, (1.0 - sy) / 2.0)


def plate_mapping(plate: Any, camera: Any, size: tuple[int, int]) -> np.ndarray:
    """``(3, 3) float32`` homography from a frame pixel's NDC ``(x, y, 1)`` to the plate's image
    coordinates ``(u w, v w, w)`` (``u, v`` in 0..1, ``v = 0`` at the image's top).

    When the plate knows its camera and the scene's camera is a perspective one, each pixel
    looks along its own view ray into the plate: turning the camera pans across the plate and
    narrowing its field of view zooms in, exactly (a rotating camera sees a homography of the
    plate whatever its depth). ``w`` is then the ratio of the plate's depth axis to the view
    ray's: a plate depth ``d`` lies at view depth ``d / w``. Otherwise (no plate camera, or an
    orthographic camera) the plate is fit like CSS ``object-fit: cover`` and ``w = 1``.
    """
    from ..scene.camera import PerspectiveCamera

    cam = getattr(plate, "camera", None)
    if cam is None or not isinstance(camera, PerspectiveCamera):
        sx, sy, ox, oy = cover_rect(plate.size, size)
        return np.array([[sx / 2, 0, ox + sx / 2], [0, -sy / 2, oy + sy / 2], [0, 0, 1]], np.float32)
    w, h = size
    proj = camera.projection_matrix(w / h).astype(np.float64)
    # NDC -> view direction with z = -1 (undoes the projection's scale and lens shift).
    a = np.array([[1 / proj[0, 0], 0, proj[0, 2] / proj[0, 0]],
                  [0, 1 / proj[1, 1], proj[1, 2] / proj[1, 1]],
                  [0, 0, -1.0]])
    rot = camera.view_matrix()[:3, :3].astype(np.float64).T  # world-from-view rotation
    return (plate_from_direction(plate) @ rot @ a).astype(np.float32)


def plate_from_direction(plate: Any) -> np.ndarray:
    """``(3, 3) float64``: a world direction seen from the plate's camera (level, looking down
    -Z) -> the plate's image coordinates ``(u w, v w, w)``, ``w`` = depth along the plate
    camera's axis per unit of the direction. The plate must know its camera."""
    cam = plate.camera
    pw, ph = plate.size
    f = (ph / 2) / np.tan(np.radians(cam.fov_y) / 2)  # focal length in pixels
    return np.array([[f / pw, 0, -0.5], [0, -f / ph, -cam.horizon], [0, 0, -1.0]])
