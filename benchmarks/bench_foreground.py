"""Foreground frames/s at 1280x720 on this machine: 1 mesh, 100 meshes, 10,000 and 100,000
particles, each with and without shadows (render, composite and read back to numpy); then the
1-mesh scene with the camera moving, so the plate is drawn as a displaced surface (parallax).

    python benchmarks/bench_foreground.py [--size 1280x720] [--frames 30]

Prints one JSON object with the figures and the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from _machine import machine

import hybridscene as hs


def scene_for(case: str, plate: hs.Plate, shadows: bool) -> hs.Scene:
    scene = hs.Scene(plate, shadows=shadows)
    if case == "1 mesh":
        node = scene.add(hs.Mesh.sphere(1.0, color="#e4572e", shading="blinn-phong"), position=(0, 2.5, -10))
        scene.animate(node, "position", [(0, (-2, 2.5, -10)), (2, (2, 2.5, -10))], loop="pingpong")
    elif case == "100 meshes":
        cube = hs.Geometry.cube(0.5)
        for i in range(100):
            a = 2 * math.pi * i / 100
            node = scene.add(hs.Mesh(cube, color=(0.3 + 0.7 * (i % 3 == 0), 0.5, 0.8)),
                             position=(6 * math.cos(a), 1.5 + (i % 5) * 0.4, -14 + 6 * math.sin(a)))
            node.rotation = hs.quat_from_euler(y=i * 7)
    else:
        n = 10_000 if case.startswith("10,000") else 100_000
        scene.add(hs.ParticleEmitter(rate=n, lifetime=1.0, velocity=(0, 0.5, 0), gravity=(0, -0.5, 0), size=0.05,
                                     color=("#ffffff", 0.8), emit_box=(8, 3, 6)), position=(0, 3, -16))
    return scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    plate = hs.procedural_plate(size=size, seed=1)
    ctx = hs.create_context()
    results = {}
    with hs.FrameRenderer(ctx, size) as renderer:
        for case in ("1 mesh", "100 meshes", "10,000 particles", "100,000 particles"):
            for shadows in (False, True):
                scene = scene_for(case, plate, shadows)
                renderer.render_frame(scene, 1.0)  # warm-up
                t0 = time.perf_counter()
                for i in range(args.frames):
                    renderer.render_frame(scene, 1.0 + i / 30)
                dt = (time.perf_counter() - t0) / args.frames
                results[f"{case}{', shadows' if shadows else ''}"] = {"fps": round(1 / dt, 1), "ms": round(1000 * dt, 1)}
                print(case, "shadows" if shadows else "", results[f"{case}{', shadows' if shadows else ''}"], file=sys.stderr)
        # Parallax: the camera glides up the valley, so every frame draws the plate's surface.
        for shadows in (False, True):
            scene = scene_for("1 mesh", plate, shadows)
            scene.animate(scene.camera, "position", [(0, (0, plate.camera.height, 0)), (2, (-1.5, 6.0, -8.0))])
            t0 = time.perf_counter()
            renderer.render_frame(scene, 1.0)  # builds the surface mesh once per plate
            build = time.perf_counter() - t0
            t0 = time.perf_counter()
            for i in range(args.frames):
                renderer.render_frame(scene, 0.05 + 1.9 * i / args.frames)
            dt = (time.perf_counter() - t0) / args.frames
            key = f"1 mesh, camera moving (parallax){', shadows' if shadows else ''}"
            results[key] = {"fps": round(1 / dt, 1), "ms": round(1000 * dt, 1)}
            if not shadows:
                results[key]["first frame incl. surface build ms"] = round(1000 * build, 1)
            print(key, results[key], file=sys.stderr)
    ctx.release()
    json.dump({"benchmark": "foreground", "size": args.size, "results": results, "machine": machine(gl=True)},
              sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
