"""yuv420p on the GPU or on the CPU: what a video frame costs after it is composited.

    python benchmarks/bench_yuv.py [--scene examples/birds.py] [--frames 40] [--size 1280x720] [--exports 2]

A/B, interleaved frame by frame in one process, on the same `FrameRenderer` and scene:

- ``cpu``: read back RGB (3 bytes/px), then PyAV's ``reformat`` (libswscale) and libx264;
- ``gpu``: the `YuvConverter` shader pass, read back the planes (1.5 bytes/px), then libx264.

Each frame is rendered first (``ctx.finish()``), so the figures are the read-back + conversion +
encode of one frame, in ms (medians), with the split by step. Then whole exports
(``hs.render``, ``overlap="auto"``) with ``HYBRIDSCENE_YUV=cpu`` and ``=gpu``, alternated
``--exports`` times each, in frames/s. Prints one JSON object with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine

import hybridscene as hs
from hybridscene.gpu.yuv import YuvConverter, use_gpu_yuv
from hybridscene.sinks import VideoSink

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", default=str(ROOT / "examples" / "birds.py"))
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--exports", type=int, default=2, help="whole exports per mode (0: none)")
    parser.add_argument("--export-frames", type=int, default=60)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    gl = hs.create_context()
    ms: dict[str, dict[str, list[float]]] = {"cpu": {}, "gpu": {}}

    def add(mode: str, step: str, t0: float) -> float:
        t1 = time.perf_counter()
        ms[mode].setdefault(step, []).append((t1 - t0) * 1000.0)
        return t1

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        scene = hs.load_scene_file(args.scene, size=size).scene
        sinks = {m: VideoSink(tmp_path / f"{m}.mp4", size=size, fps=30.0) for m in ms}
        with hs.FrameRenderer(gl, size) as renderer, YuvConverter(gl, size) as yuv:
            for i in range(args.frames + 3):  # 3 warm-up frames
                for mode in ("cpu", "gpu") if i % 2 else ("gpu", "cpu"):
                    renderer.render_to(scene, renderer.output.fbo, t=i / 30.0, top_down=True)
                    gl.mgl.finish()
                    t0 = t = time.perf_counter()
                    if mode == "cpu":
                        frame = renderer.output.read()
                        t = add(mode, "read-back RGB", t)
                        sinks[mode].write(frame)  # reformat (swscale) + libx264
                        add(mode, "swscale + x264", t)
                    else:
                        yuv.convert(renderer.output.texture)
                        gl.mgl.finish()
                        t = add(mode, "yuv420p shader", t)
                        planes = yuv.read()
                        t = add(mode, "read-back planes", t)
                        sinks[mode].write(planes)
                        add(mode, "x264", t)
                    add(mode, "total", t0)
        for sink in sinks.values():
            sink.close()
        figures = {m: {k: round(statistics.median(v[3:]), 2) for k, v in steps.items()} for m, steps in ms.items()}
        print("per frame (ms)", figures, file=sys.stderr)

        exports: dict[str, list[float]] = {"cpu": [], "gpu": []}
        for k in range(args.exports):
            for mode in ("cpu", "gpu") if k % 2 == 0 else ("gpu", "cpu"):
                os.environ["HYBRIDSCENE_YUV"] = mode
                scene = hs.load_scene_file(args.scene, size=size).scene
                t0 = time.perf_counter()
                hs.render(scene, tmp_path / f"export-{mode}.mp4", frames=args.export_frames, size=size, ctx=gl)
                exports[mode].append(args.export_frames / (time.perf_counter() - t0))
                print(mode, round(exports[mode][-1], 2), "fps", file=sys.stderr)
        os.environ.pop("HYBRIDSCENE_YUV", None)
    auto = "gpu" if use_gpu_yuv(gl, "auto") else "cpu"
    result = {
        "benchmark": "yuv", "scene": Path(args.scene).name, "size": args.size, "frames": args.frames,
        "per frame after compositing, ms (median, interleaved)": figures,
        "export fps (hs.render, overlap='auto')": {m: [round(v, 2) for v in f] for m, f in exports.items()},
        "auto picks here": auto, "software renderer": gl.software, "machine": machine(gl=True),
    }
    gl.release()
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
