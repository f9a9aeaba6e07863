"""Frames per second of the demo scene: rendering only, and rendering plus encoding.

    python benchmarks/bench_demo.py [--size 1280x720] [--frames 120]

Prints one JSON object with the figures and the machine (CPU, cores, GL renderer, versions).
Numbers come from this machine as it is now; run it twice to see the noise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from _machine import machine

import hybridscene as hs
from hybridscene.demo import build_demo_scene
from hybridscene.gpu.context import gl_info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))

    t0 = time.perf_counter()
    scene = build_demo_scene(size)
    plate_s = time.perf_counter() - t0

    ctx = hs.create_context()
    info = gl_info(ctx)
    results: dict[str, float] = {"plate_paint_s": round(plate_s, 3)}

    # 1. Rendering only: draw, composite, read back to numpy (what hs.frames() yields),
    #    with the default 4x MSAA and without it (HYBRIDSCENE_MSAA=1).
    for samples, key in ((4, "render"), (1, "render_no_msaa")):
        with hs.FrameRenderer(ctx, size, samples=samples) as renderer:
            renderer.render_frame(scene, 0.0)  # warm-up: shader compile, plate upload
            t0 = time.perf_counter()
            for i in range(args.frames):
                renderer.render_frame(scene, i / args.fps)
            dt = time.perf_counter() - t0
        results[f"{key}_fps"] = round(args.frames / dt, 2)
        results[f"{key}_ms_per_frame"] = round(1000 * dt / args.frames, 2)

    # 2. Rendering plus H.264 encoding (libx264 veryfast CRF 20), as `hybridscene demo` does.
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.mp4")
        result = hs.render(scene, out, frames=args.frames, fps=args.fps, size=size, ctx=ctx)
        results["render_encode_fps"] = round(result.frames / result.seconds, 2)
        results["mp4_bytes"] = os.path.getsize(out)
    ctx.release()

    report = {
        "benchmark": "demo",
        "size": f"{size[0]}x{size[1]}",
        "frames": args.frames,
        "results": results,
        "encode_share_of_time": round(1 - results["render_encode_fps"] / results["render_fps"], 3),
        "machine": dict(
            machine(), gl_renderer=info["renderer"], gl_version=info["version"], msaa_samples=min(4, info["max_samples"])
        ),
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
