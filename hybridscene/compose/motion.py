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

import numpy as np

from ..gpu.renderer import NextFrame
from ..scene import Scene
from ..scene.camera import OrthographicCamera, PerspectiveCamera
from .passes import CameraInfo

__all__ = ["background_flow", "camera_info", "look_ahead"]


def camera_info(cam: PerspectiveCamera | OrthographicCamera, size: tuple[int, int]) -> CameraInfo:
    """A camera's matrices now, for a frame of ``size``."""
    return CameraInfo(view=np.asarray(cam.view_matrix(), np.float64),
                      projection=np.asarray(cam.projection_matrix(size[0] / size[1]), np.float64), size=size)


def look_ahead(scene: Scene, t: float, dt: float, size: tuple[int, int]) -> tuple[NextFrame, CameraInfo]:
    """Pose the scene at ``t + dt``, record where every node, particle and the camera are, and
    pose it back at ``t`` (with `Scene.pose_at`: tracks and ``on_frame`` callbacks, no plate
    swaps)."""
    snapshot: dict[int, np.ndarray] = {}
    scene.pose_at(t + dt)
    try:
        worlds = {id(node): world for node, world in scene.visible_nodes()}
        camera = camera_info(scene.camera, size)
        for node in scene.root.walk():
            group = node.particles
            if group is not None and not hasattr(group, "motion"):  # a SpriteSet: positions set per frame
                snapshot[id(node)] = np.array(group.instances(t + dt)[0], np.float32)
    finally:
        scene.pose_at(t)
    motion: dict[int, np.ndarray] = {}
    for node in scene.root.walk():
        group = node.particles
        if group is None:
            continue
        if hasattr(group, "motion"):  # a ParticleEmitter: a function of time
            motion[id(node)] = group.motion(t, dt)
        elif id(node) in snapshot:
            now = group.instances(t)[0]
            if snapshot[id(node)].shape == now.shape:
                motion[id(node)] = snapshot[id(node)] - now
    view, proj = camera.view, camera.projection
    return NextFrame(view_proj=(proj @ view).astype(np.float32), view=view.astype(np.float32),
                     proj=proj.astype(np.float32), worlds=worlds, motion=motion), camera


def background_flow(now: CameraInfo, after: CameraInfo, depth: np.ndarray | None,
                    scene_camera: object = None) -> np.ndarray:
    """``(H, W, 2) float32`` forward flow of the plate: each pixel's point (at ``depth``,
    metres along the view axis, ``inf`` = infinitely far; ``None``: the whole plate infinitely
    far, as a plate without depth is drawn) projected with ``after``. Zero for a camera that
    does not move, and for orthographic cameras (whose plate does not move with them)."""
    w, h = now.size
    if isinstance(scene_camera, OrthographicCamera) or now.orthographic or (
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
