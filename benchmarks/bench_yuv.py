"""yuv420p on the GPU or on the CPU: what a video frame costs after it is composited.

    python benchmarks/bench_yuv.py [--scene examples/birds.py] [--frames 40] [--size 1280x720] [--exports 2]

A/B, interleaved frame by frame in one process, on the same `FrameRenderer` and scene:

- ``cpu``: read back RGB (3 bytes/px), then PyAV's ``reformat`` (libswscale), as `VideoSink` does;
- ``cpu, swscale threads=1``: the same with swscale on one thread;
- ``gpu``: the `YuvConverter` shader pass, read back the planes (1.5 bytes/px).

Each frame is rendered first (``ctx.finish()``); the figures are the read-back + conversion of
one frame (the encoder's part is the same either way), wall and CPU (all threads) ms, medians.
Then whole exports (``hs.render``, ``overlap="auto"``, the encoder's default threads) with
``HYBRIDSCENE_YUV=cpu`` and ``=gpu``, alternated ``--exports`` times each: frames/s (wall) and
the process's CPU seconds per frame (all threads: llvmpipe's, x264's, swscale's), the better
figure on a machine shared with other work. Prints one JSON object with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
from _machine import machine

import hybridscene as hs
from hybridscene.gpu.yuv import YuvConverter, use_gpu_yuv

ROOT = Path(__file__).resolve().parents[1]


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


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
    kw = {"format": "yuv420p", "dst_colorspace": "ITU709", "dst_color_range": "MPEG"}
    wall: dict[str, list[float]] = {"cpu": [], "cpu, swscale threads=1": [], "gpu": []}
    cpu: dict[str, list[float]] = {m: [] for m in wall}

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        scene = hs.load_scene_file(args.scene, size=size).scene
        with hs.FrameRenderer(gl, size) as renderer, YuvConverter(gl, size) as yuv:
            modes = list(wall)
            for i in range(args.frames + 3):  # 3 warm-up frames
                for mode in modes[i % 3:] + modes[: i % 3]:  # each mode first in turn
                    renderer.render_to(scene, renderer.output.fbo, t=i / 30.0, top_down=True)
                    gl.mgl.finish()
                    t0, c0 = time.perf_counter(), _cpu_seconds()
                    if mode == "gpu":
                        yuv.convert(renderer.output.texture)
                        yuv.read()
                    else:  # what VideoSink does with an RGB frame (PyAV's reformat: libswscale)
                        frame = av.VideoFrame.from_ndarray(renderer.output.read(), format="rgb24")
                        frame.reformat(**kw, **({"threads": 1} if "threads" in mode else {}))
                    if i >= 3:
                        wall[mode].append((time.perf_counter() - t0) * 1000.0)
                        cpu[mode].append((_cpu_seconds() - c0) * 1000.0)
        figures = {m: {"wall ms": round(statistics.median(wall[m]), 2), "CPU ms": round(statistics.median(cpu[m]), 2)}
                   for m in wall}
        print("read-back + conversion per frame", figures, file=sys.stderr)

        exports: dict[str, list[float]] = {"cpu": [], "gpu": []}
        cpu_ms: dict[str, list[float]] = {"cpu": [], "gpu": []}
        for k in range(args.exports):
            for mode in ("cpu", "gpu") if k % 2 == 0 else ("gpu", "cpu"):
                os.environ["HYBRIDSCENE_YUV"] = mode
                scene = hs.load_scene_file(args.scene, size=size).scene
                t0, c0 = time.perf_counter(), _cpu_seconds()
                hs.render(scene, tmp_path / f"export-{mode}.mp4", frames=args.export_frames, size=size, ctx=gl)
                exports[mode].append(args.export_frames / (time.perf_counter() - t0))
                cpu_ms[mode].append((_cpu_seconds() - c0) * 1000.0 / args.export_frames)
                print(mode, round(exports[mode][-1], 2), "fps", round(cpu_ms[mode][-1], 1), "CPU ms/frame",
                      file=sys.stderr)
        os.environ.pop("HYBRIDSCENE_YUV", None)
    auto = "gpu" if use_gpu_yuv(gl, "auto") else "cpu"
    result = {
        "benchmark": "yuv", "scene": Path(args.scene).name, "size": args.size, "frames": args.frames,
        "read-back + yuv420p conversion per frame (median, interleaved)": figures,
        "export fps (hs.render, overlap='auto')": {m: [round(v, 2) for v in f] for m, f in exports.items()},
        "export CPU ms per frame (all threads)": {m: [round(v, 1) for v in f] for m, f in cpu_ms.items()},
        "export medians": {m: {"fps": round(statistics.median(exports[m]), 2),
                               "cpu_ms_per_frame": round(statistics.median(cpu_ms[m]), 1)}
                           for m in exports if exports[m]},
        "auto picks here": auto, "software renderer": gl.software, "machine": machine(gl=True),
    }
    gl.release()
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
