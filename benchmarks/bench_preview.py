"""Preview-window frames/s at 1280x720, and the Python work per frame.

    python benchmarks/bench_preview.py [--seconds 6] [--size 1280x720] [--cases ...]
                                       [--render-scales 1,auto] [--via window|serve]

Cases: the plate with 1,000 sprites (a SpriteSet moved every frame with numpy) and one mesh;
the same 1,000 sprites as 1,000 nodes; 10,000 particles; ``glossy`` and ``flight`` (the
examples' scene files, the issue's preview targets); and, with `--cases generating`, the
first case while an AI plate is painted in the background (full-size SD v1.4 architecture with
random weights, the generator limited to one thread).

Each case runs `hs.preview(scene, seconds=S, vsync=False)` once per render scale of
``--render-scales`` (``1``: always full size; ``auto``: the default dynamic resolution, holding
the scene's frame rate, 30) and reports its frames/s, frame-time percentiles and the median
render scale the frames were drawn at (results named ``CASE`` at scale 1 and ``CASE scale=auto``
otherwise). "python_ms" is the CPU time of the scene's Python work per frame, without GL:
`scene.update(t)` plus building the instance arrays the renderer uploads.

``--via serve``: the browser preview instead, `hs.serve(scene, seconds=S, render_scale=...)`
with one viewer reading its MJPEG stream as fast as frames come (so each frame is JPEG-encoded,
as for a person watching); frames/s and percentiles are of its render loop (paced at the scene's
frame rate). No display needed.

Needs a display for the window: without DISPLAY it starts its own Xvfb (apt-get install xvfb).
Prints one JSON object with the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _machine import machine

import hybridscene as hs

from hybridscene.scenefile import load_scene_file

SPRITES = 1000
EXAMPLES = ("glossy", "flight")
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


def dot(size: int = 32) -> np.ndarray:
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size - 0.5
    a = np.clip(1.0 - np.hypot(x, y) * 2.0, 0, 1) ** 0.7
    img = np.zeros((size, size, 4), np.uint8)
    img[..., :3] = (255, 226, 150)
    img[..., 3] = np.round(a * 255)
    return img


def lanterns(plate: hs.Plate, nodes: bool) -> hs.Scene:
    """1,000 lanterns drifting over the river and one turning mesh."""
    scene = hs.Scene(plate, shadows=False)
    rng = np.random.default_rng(0)
    base = rng.uniform((-12, 0.5, -40), (12, 6, -8), size=(SPRITES, 3)).astype(np.float32)
    phase = rng.uniform(0, 2 * math.pi, SPRITES).astype(np.float32)
    mesh = scene.add(hs.Mesh.sphere(0.8, color="#e4572e", shading="blinn-phong"), position=(0, 2, -10))
    if nodes:
        texture = hs.Texture(dot())
        items = [scene.add(hs.Sprite(texture, size=(0.3, 0.3)), position=p) for p in base]

        @scene.on_frame
        def drift(t: float) -> None:
            y = base[:, 1] + 0.3 * np.sin(t + phase)
            for node, p, yy in zip(items, base, y):
                node.position = (p[0], yy, p[2])
            mesh.rotation = hs.quat_from_euler(y=40 * t)
    else:
        sprites = scene.add(hs.SpriteSet(dot(), SPRITES, positions=base, sizes=(0.3, 0.3))).particles

        @scene.on_frame
        def drift(t: float) -> None:
            sprites.positions[:, 1] = base[:, 1] + 0.3 * np.sin(t + phase)  # one vectorised update
            mesh.rotation = hs.quat_from_euler(y=40 * t)

    return scene


def particles(plate: hs.Plate) -> hs.Scene:
    scene = hs.Scene(plate, shadows=False)
    scene.add(hs.ParticleEmitter(rate=10_000, lifetime=1.0, velocity=(0, 0.5, 0), gravity=(0, -0.5, 0), size=0.05,
                                 color=("#ffffff", 0.8), emit_box=(8, 3, 6), start=-2.0), position=(0, 3, -16))
    return scene


def python_ms(scene: hs.Scene, frames: int = 60) -> float:
    """Median CPU milliseconds of the Python work of a frame: update + instance arrays."""
    times = []
    for i in range(frames):
        t = 1.0 + i / 30
        t0 = time.process_time()
        scene.update(t)
        for node, _world in scene.visible_nodes():
            if node.particles is not None:
                node.particles.instances(t)
            if node.sprite is not None:
                node.sprite.uv_rect(t)
        times.append(time.process_time() - t0)
    return round(1000 * float(np.median(times)), 3)


def with_display() -> subprocess.Popen | None:
    if os.environ.get("DISPLAY"):
        return None
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        os.environ["DISPLAY"] = ":" + f.readline().strip()
    return proc


def watch(server: hs.Server) -> None:
    """One viewer reading ``server``'s MJPEG stream until it closes (on a thread of its own)."""
    import threading
    import urllib.request

    def read() -> None:
        try:
            with urllib.request.urlopen(server.url.split("?")[0] + "stream.mjpg", timeout=30) as r:
                while r.read(1 << 16):
                    pass
        except OSError:
            pass  # the server closed the stream

    threading.Thread(target=read, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--cases", default="sprite-set,sprite-nodes,particles,glossy,flight")
    parser.add_argument("--render-scales", default="1,auto", help="render scales to run each case at")
    parser.add_argument("--samples", type=int, default=None, help="MSAA samples [default: the preview's]")
    parser.add_argument("--model", default="/tmp/hybridscene-bench/sd-v1-4-random", help="for the generating case")
    parser.add_argument("--via", choices=("window", "serve"), default="window", help="the window, or hs.serve with one viewer")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    xvfb = with_display() if args.via == "window" else None
    plate = hs.procedural_plate(size=size, seed=1)
    results = {}
    try:
        for case, scale in [(c, r) for c in args.cases.split(",") for r in args.render_scales.split(",")]:
            source: hs.Scene | Path
            if case in EXAMPLES:
                source = EXAMPLES_DIR / f"{case}.py"
                scene = load_scene_file(source, size=size).scene
            elif case == "particles":
                scene = source = particles(plate)
            else:
                scene = source = lanterns(plate, nodes=case == "sprite-nodes")
            cpu = python_ms(scene)
            worker = None
            if case == "generating":
                from hybridscene.testing import build_sd_v1_4_random

                if not (Path(args.model) / "model_index.json").is_file():
                    build_sd_v1_4_random(args.model)
                worker = hs.PlateWorker(threads=1)
                seed = int(time.time()) % 100_000  # a new seed: never a cache hit
                future = worker.submit(prompt="Landscape with mountains and a river", model=args.model, seed=seed,
                                       steps=25, size=(512, 512))
                scene.set_plate(future, crossfade=1.0)
                time.sleep(8.0)  # the worker has loaded the model and is denoising
            if args.via == "serve":
                stats = hs.serve(source, port=0, size=size, seconds=args.seconds, samples=args.samples,
                                 render_scale=scale, on_ready=watch)
            else:
                stats = hs.preview(source, size=size, seconds=args.seconds, vsync=False, samples=args.samples,
                                   render_scale=scale)
            entry = {"fps": round(stats.fps, 1), "frame_ms": stats.frame_ms, "render_scale": stats.render_scale,
                     "python_ms": cpu}
            if worker is not None:
                entry["plate_still_generating_at_end"] = not future.done()
                if future.done() and future.exception() is not None:
                    entry["plate_error"] = str(future.exception())
                entry["generator_threads"] = worker.threads
                worker.close()
            name = case if scale == "1" else f"{case} scale={scale}"
            results[name] = entry
            print(name, entry, file=sys.stderr)
    finally:
        if xvfb is not None:
            xvfb.terminate()
    json.dump({"benchmark": "preview", "via": args.via, "size": args.size, "seconds": args.seconds,
               "render_scales": args.render_scales.split(","), "results": results,
               "machine": machine(gl=True)}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
