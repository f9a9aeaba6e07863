"""Scenes the benchmarks share, so every script measures the same thing."""

from __future__ import annotations

import math

import hybridscene as hs

SWAY_PERIOD = 4.0
"""Seconds of one sway of the plate-only parallax scene."""


def sway_scene(size: tuple[int, int] = (1280, 720), seed: int = 1) -> hs.Scene:
    """The plate-only parallax sway: the procedural mountains plate (exact depth) and nothing
    else, the camera swaying 0.5 m side to side and 0.15 m up and down around where the plate
    was painted from, looking at the same far point (what DepthFlow's default animation does to
    one image and its depth)."""
    scene = hs.Scene(hs.background_plate(size, seed=seed), shadows=False)
    cam = scene.camera
    x, y, z = (float(v) for v in cam.position)
    cam.target = (x, y, z - 1000.0)  # a far point straight ahead, as the plate was painted
    keys = []
    for i in range(17):  # keyframes (not an on_frame callback), so the overscan sees the whole path
        t = SWAY_PERIOD * i / 16
        a = 2.0 * math.pi * t / SWAY_PERIOD
        keys.append((t, (x + 0.5 * math.sin(a), y + 0.15 * math.sin(2.0 * a), z)))
    scene.animate(cam, "position", keys, loop="repeat")
    return scene


def ready(scene: hs.Scene, size: tuple[int, int], seconds: float) -> hs.Scene:
    """The scene as `hs.render` would draw it over ``seconds``: the plate repainted with the
    margins the camera path needs (the overscan), for scripts that drive a `FrameRenderer`
    themselves."""
    from hybridscene.scene.overscan import cover_camera_path

    cover_camera_path(scene, size, [i / 30.0 for i in range(int(seconds * 30) + 1)])
    return scene
