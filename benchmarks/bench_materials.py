"""Physically based materials at 1280x720 on this machine: frames/s for 1 and 100 meshes drawn
with the PBR shading lit by the plate's environment (untextured; and textured with base colour,
metallic-roughness and normal maps), against the same scenes in Blinn-Phong with flat ambient
light (the shading before PBR); and the time to build a plate's environment once.

    python benchmarks/bench_materials.py [--size 1280x720] [--frames 20]

Each figure renders, composites and reads back the frame, without shadows (so the shading is
what differs). Prints one JSON object with the figures and the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
from _machine import machine

import hybridscene as hs


def textures() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(60, 255, (256, 256, 3), dtype=np.uint8)
    mr = np.zeros((256, 256, 3), np.uint8)
    mr[..., 1] = 128  # roughness
    mr[..., 2] = rng.integers(0, 2, (256, 256)) * 255  # metallic
    normal = np.zeros((256, 256, 3), np.uint8)
    normal[..., 0] = 128 + (40 * np.sin(np.arange(256) / 6.0)).astype(np.uint8)[None, :]
    normal[..., 1], normal[..., 2] = 128, 240
    return {"texture": base, "metallic_roughness_texture": mr, "normal_texture": normal}


def material(shading: str, textured: bool, i: int, maps: dict[str, np.ndarray]) -> hs.Material:
    color = (0.3 + 0.7 * (i % 3 == 0), 0.5, 0.8)
    if shading == "blinn-phong":
        return hs.Material(color=color, shading="blinn-phong", specular=0.5, shininess=32)
    mat = hs.Material(color=color, metallic=float(i % 2), roughness=0.2 + 0.6 * (i % 4) / 3)
    if textured:
        for name, image in maps.items():
            setattr(mat, name, image)
    return mat


def scene_for(count: int, shading: str, textured: bool, plate: hs.Plate, maps: dict[str, np.ndarray]) -> hs.Scene:
    # Blinn-Phong with a flat ambient light (what every mesh had before); PBR with the plate's environment.
    kwargs = {"environment": "ambient", "tonemap": "none"} if shading == "blinn-phong" else {}
    scene = hs.Scene(plate, shadows=False, **kwargs)
    # One big sphere (48x24 segments, 2,300 triangles); 100 small ones of 24x12 (550 each): on a
    # CPU rasteriser 100 big spheres are bound by their 230,000 multisampled triangles, not shading.
    sphere = hs.Geometry.sphere(1.0) if count == 1 else hs.Geometry.sphere(0.35, segments=24, rings=12)
    for i in range(count):
        if count == 1:
            position = (0.0, 2.5, -10.0)
        else:
            a = 2 * math.pi * i / count
            position = (6 * math.cos(a), 1.5 + (i % 5) * 0.4, -14 + 6 * math.sin(a))
        scene.add(hs.Mesh(sphere, material(shading, textured, i, maps)), position=position)
    return scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    plate = hs.procedural_plate(size=size, seed=1)
    maps = textures()
    results: dict[str, dict[str, float]] = {}
    with hs.create_context() as gl, hs.FrameRenderer(gl, size) as renderer:
        # The environment of the plate, built once (the first PBR frame does it; timed apart).
        from hybridscene.gpu.environment import EnvironmentRenderer

        with EnvironmentRenderer(gl) as env:
            env.from_plate(plate)  # compiles the build shaders
            t0 = time.perf_counter()
            env.from_plate(plate)
            gl.mgl.finish()
            results["environment build"] = {"ms": round(1000 * (time.perf_counter() - t0), 1)}
        for count in (1, 100):
            for shading, textured in (("blinn-phong", False), ("pbr", False), ("pbr", True)):
                scene = scene_for(count, shading, textured, plate, maps)
                renderer.render_frame(scene, 0.0)  # warm-up: programs, textures, the environment
                t0 = time.perf_counter()
                for i in range(args.frames):
                    renderer.render_frame(scene, i / 30)
                dt = (time.perf_counter() - t0) / args.frames
                key = f"{count} mesh{'es' if count > 1 else ''}, {shading}{', textured' if textured else ''}"
                results[key] = {"fps": round(1 / dt, 1), "ms": round(1000 * dt, 1)}
                print(key, results[key], file=sys.stderr)
    json.dump({"benchmark": "materials", "size": args.size, "frames": args.frames, "results": results,
               "machine": machine(gl=True)}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
