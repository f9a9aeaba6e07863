"""pyrender's side of `bench_peers.py`: 100 lit spheres read back, run inside the peers' virtual
environment (it imports pyrender and trimesh, never hybridscene).

    <peers venv>/bin/python _peer_pyrender.py --scene spheres.npz --json out.json

The scene file holds hybridscene's own sphere (``positions``, ``normals``, ``indices``: the very
triangles `hs.Mesh.sphere` draws), the 100 positions, the colours, the camera (``fov_y``
degrees, at the origin looking down -Z), the sun's direction and the frame size.
pyrender draws it with `OffscreenRenderer` on EGL (``PYOPENGL_PLATFORM=egl``): one
`pyrender.Mesh` per colour, 100 nodes, its default metallic-roughness shader (metallic 0,
roughness 0.5), one `DirectionalLight`, ambient light, its fixed 4x MSAA, no shadows (its
default flags). Each ``render()`` draws, resolves and reads back RGB8 *and* the float depth
buffer (pyrender always reads the depth and linearises it in numpy).

Writes one JSON object to ``--json``: versions, the GL renderer and the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from _peer_common import report


def look_along(direction) -> object:
    """A (4, 4) pose whose -Z axis points along ``direction`` (pyrender's lights shine down -Z)."""
    import numpy as np

    z = -np.asarray(direction, np.float64)
    z /= np.linalg.norm(z)
    up = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.99 else np.array([1.0, 0.0, 0.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = x, np.cross(z, x), z
    return pose


def run(args: argparse.Namespace, result: dict) -> None:
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    import numpy as np
    import pyrender
    import trimesh

    data = np.load(args.scene)
    width, height = (int(v) for v in data["size"])
    tri = trimesh.Trimesh(vertices=data["positions"], faces=data["indices"], vertex_normals=data["normals"],
                          process=False)
    scene = pyrender.Scene(ambient_light=np.full(3, 0.25), bg_color=np.array([0.0, 0.0, 0.0, 1.0]))
    meshes = {}
    for position, color in zip(data["offsets"], data["colors"]):
        key = tuple(float(c) for c in color)
        if key not in meshes:
            material = pyrender.MetallicRoughnessMaterial(baseColorFactor=(*key, 1.0), metallicFactor=0.0,
                                                          roughnessFactor=0.5)
            meshes[key] = pyrender.Mesh.from_trimesh(tri, material=material, smooth=True)
        pose = np.eye(4)
        pose[:3, 3] = position
        scene.add(meshes[key], pose=pose)
    camera = pyrender.PerspectiveCamera(yfov=np.radians(float(data["fov_y"])), aspectRatio=width / height,
                                        znear=0.1, zfar=1000.0)
    scene.add(camera, pose=np.eye(4))
    scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=3.0), pose=look_along(data["sun"]))
    renderer = pyrender.OffscreenRenderer(width, height)
    try:
        from OpenGL import GL

        result["gl_renderer"] = GL.glGetString(GL.GL_RENDERER).decode()
        result["triangles_per_sphere"] = int(len(data["indices"]))
        for _ in range(max(1, args.warmup)):
            color, _depth = renderer.render(scene)
        steps = []
        for _ in range(args.frames):
            t0 = time.perf_counter()
            color, _depth = renderer.render(scene)  # (H, W, 3) uint8, top row first; (H, W) float32
            steps.append(time.perf_counter() - t0)
        result["frames"] = {"fps": round(len(steps) / sum(steps), 2),
                            "ms_median": round(1000 * float(np.median(steps)), 1),
                            "frame_shape": list(color.shape), "frame_mean": round(float(color.mean()), 2),
                            "covered": round(float((color.max(axis=2) > 0).mean()), 3)}
        print("pyrender frames", result["frames"], file=sys.stderr)
    finally:
        renderer.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", required=True)
    parser.add_argument("--json", required=True)
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    report(args, ("pyrender", "PyOpenGL", "trimesh", "numpy"), lambda result: run(args, result))


if __name__ == "__main__":
    main()
