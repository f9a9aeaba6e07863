"""Motion for the optical-flow pass: the scene one frame ahead, and the flow of the plate
under a moving camera.

Flow is *forward* (this frame to the next), in pixels, image axes (+x right, +y down), the
convention of OpenCV and the Middlebury/Sintel benchmarks: the surface point under pixel
``(x, y)`` now is under ``(x + fx, y + fy)`` in the next frame. Objects get it from the GPU
(each vertex projected with both frames' matrices, ``shaders/include/motion.glsl``); the plate,
which is a picture and not geometry, gets it here from its depth: each pixel is taken back to
the world point the plate shows there and projected with the next frame's camera.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..gpu.renderer import NextFrame
from ..scene import Scene
from ..scene.camera import OrthographicCamera, PerspectiveCamera
from .passes import CameraInfo

__all__ = ["Peek", "background_flow", "camera_info", "look_ahead", "next_frame"]


def camera_info(cam: PerspectiveCamera | OrthographicCamera, size: tuple[int, int]) -> CameraInfo:
    """A camera's matrices now, for a frame of ``size``."""
    return CameraInfo(view=np.asarray(cam.view_matrix(), np.float64),
                      projection=np.asarray(cam.projection_matrix(size[0] / size[1]), np.float64), size=size)


@dataclasses.dataclass(frozen=True)
class Peek:
    """Where things are at the next frame's time (from `look_ahead`)."""

    worlds: dict[int, np.ndarray]
    camera: CameraInfo
    sprites: dict[int, np.ndarray]
    """``id(node)`` -> positions of a `SpriteSet` (set per frame by callbacks)."""


def look_ahead(scene: Scene, t_next: float, size: tuple[int, int]) -> Peek:
    """Pose the scene at ``t_next`` (`Scene.pose_at`: tracks and ``on_frame`` callbacks, no
    plate swaps) and record where every node, sprite and the camera are. The caller then poses
    it at the frame's own time (`Scene.update`) before drawing anything, so the frame and all
    its passes see the scene exactly as without flow."""
    scene.pose_at(t_next)
    worlds = {id(node): world for node, world in scene.visible_nodes()}
    sprites = {}
    for node in scene.root.walk():
        group = node.particles
        if group is not None and not hasattr(group, "motion"):  # a SpriteSet: positions set per frame
            sprites[id(node)] = np.array(group.instances(t_next)[0], np.float32)
    return Peek(worlds, camera_info(scene.camera, size), sprites)


def next_frame(scene: Scene, peek: Peek, t: float, dt: float) -> NextFrame:
    """The `NextFrame` for the scene as it is now (at ``t``), from what `look_ahead` saw at ``t + dt``."""
    motion: dict[int, np.ndarray] = {}
    for node in scene.root.walk():
        group = node.particles
        if group is None:
            continue
        if hasattr(group, "motion"):  # a ParticleEmitter: a function of time
            motion[id(node)] = group.motion(t, dt)
        elif id(node) in peek.sprites:
            now = group.instances(t)[0]
            if peek.sprites[id(node)].shape == now.shape:
                motion[id(node)] = peek.sprites[id(node)] - now
    view, proj = peek.camera.view, peek.camera.projection
    return NextFrame(view_proj=(proj @ view).astype(np.float32), view=view.astype(np.float32),
                     proj=proj.astype(np.float32), worlds=peek.worlds, motion=motion)


def background_flow(now: CameraInfo, after: CameraInfo, depth: np.ndarray | None) -> np.ndarray:
    """``(H, W, 2) float32`` forward flow of a plate drawn through its own camera: each pixel's
    point (at ``depth``, metres along the view axis, ``inf`` = infinitely far; ``None``: the
    whole plate infinitely far, as a plate drawn without parallax is) projected with ``after``.
    Zero for a camera that does not move. (A plate fitted to the frame, without a camera or
    under an orthographic camera, stays put: its flow is zero, see `FrameRenderer`.)"""
    w, h = now.size
    if now.orthographic or (
            np.allclose(now.view, after.view, atol=1e-9) and np.allclose(now.projection, after.projection, atol=1e-12)):
        return np.zeros((h, w, 2), np.float32)
    # float32 throughout: about 60 bytes per pixel at the peak, exact to a thousandth of a pixel.
    p = now.projection
    xs = ((np.arange(w) + 0.5) / w * 2 - 1).astype(np.float32)
    ys = (1 - (np.arange(h) + 0.5) / h * 2).astype(np.float32)
    a = (xs[None, :] + np.float32(p[0, 2])) / np.float32(p[0, 0])  # x / -z of the ray through each pixel centre
    b = (ys[:, None] + np.float32(p[1, 2])) / np.float32(p[1, 1])
    if depth is None:
        depth = np.full((h, w), np.inf, np.float32)
    finite = np.isfinite(depth)
    d = np.where(finite, depth, np.float32(1.0)).astype(np.float32)
    point = np.empty((h, w, 4), np.float32)  # view space, -z forward; w = 0: a direction
    point[..., 0] = a * d
    point[..., 1] = b * d
    point[..., 2] = -d
    point[..., 3] = finite
    to_next = (after.projection @ after.view @ np.linalg.inv(now.view)).astype(np.float32)
    clip = point @ to_next.T
    ok = clip[..., 3] > 1e-6
    cw = np.where(ok, clip[..., 3], 1.0)
    x_next = (clip[..., 0] / cw + 1) / 2 * w
    y_next = (1 - clip[..., 1] / cw) / 2 * h
    x_now = np.broadcast_to(np.arange(w) + 0.5, (h, w))
    y_now = np.broadcast_to((np.arange(h) + 0.5)[:, None], (h, w))
    flow = np.stack([x_next - x_now, y_next - y_now], -1)
    flow[~ok] = 0.0
    return flow.astype(np.float32)
