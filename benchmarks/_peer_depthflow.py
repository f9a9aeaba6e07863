"""DepthFlow's side of `bench_peers.py`: the plate-only parallax sway, run inside the peers'
virtual environment (it imports DepthFlow and ShaderFlow, never hybridscene).

    <peers venv>/bin/python _peer_depthflow.py --image plate.png --depth depth.png --json out.json

DepthFlow draws one image and its depth map as a ray-marched height field (one full-screen
fragment shader, then ShaderFlow's final pass into an RGB8 texture). Its camera sways like
`_scenes.sway_scene`: ``state.offset = (0.5 sin a, 0.15 sin 2a)``, ``a = 2 pi t / period``; every
other setting is DepthFlow's default (height 0.2, isometric 0.3, quality 50, SSAA 1).

1. Frames to numpy: ``DepthScene.main(freewheel=True)``, each frame read back with
   ``scene.screenshot()`` (RGB8, flipped to top row first). Frames/s from the time stamps of the
   frames after the warm-up.
2. H.264: ``DepthScene.main(output=...mp4)``, DepthFlow's own export (TurboPipe into an ffmpeg
   process, libx264 preset veryfast CRF 20 yuv420p, as hybridscene's sink). Frames/s from the
   wall time of the whole call. ffmpeg: the one on PATH, else imageio-ffmpeg's binary.

Writes one JSON object to ``--json``: versions, the GL renderer and the figures.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _peer_common import ffmpeg_exe, report


def ffmpeg_on_path(folder: Path) -> str | None:
    """ShaderFlow runs ``ffmpeg`` from PATH: put imageio-ffmpeg's binary there when none is."""
    found = ffmpeg_exe()
    if found is None or shutil.which("ffmpeg"):
        return found
    link = folder / "ffmpeg"
    link.symlink_to(found)
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
    return str(link)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", required=True)
    parser.add_argument("--depth", required=True, help="16-bit grayscale PNG, normalised inverse depth (1 = nearest)")
    parser.add_argument("--json", required=True)
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--period", type=float, default=4.0, help="seconds of one sway")
    parser.add_argument("--no-export", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="peer-depthflow-"))
    try:
        report(args, ("depthflow", "shaderflow", "moderngl", "glcontext", "turbopipe", "numpy"),
               lambda result: run(args, result, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, result: dict, tmp: Path) -> None:
    # 1. Inputs: the plate and its depth as DepthFlow's estimator would hand them over
    #    (float32 in 0..1, 1 = nearest), so no model runs.
    ffmpeg = ffmpeg_on_path(tmp)
    import imageio.v3 as iio
    import numpy as np
    from attrs import define, field
    from depthflow.scene import DepthScene

    image = iio.imread(args.image)
    depth = iio.imread(args.depth).astype(np.float32) / 65535.0
    height, width = image.shape[:2]
    period = args.period

    @define
    class Sway(DepthScene):
        stamps: list = field(factory=list)
        readback: bool = False
        last: object = None

        def update(self) -> None:
            a = 2.0 * math.pi * self.time / period
            self.state.offset = (0.5 * math.sin(a), 0.15 * math.sin(2.0 * a))

        def next(self, dt: float = 0.0) -> None:
            DepthScene.next(self, dt)
            if self.readback:
                self.last = self.screenshot()  # (H, W, 3) uint8, top row first
            self.stamps.append(time.perf_counter())

    scene = Sway(backend="headless")
    scene.input(image=image, depth=depth)
    result["gl_renderer"] = scene.opengl.info.get("GL_RENDERER")
    # 2. Frames to numpy, timed between the frames after the warm-up.
    n, w = args.frames, max(1, args.warmup)
    scene.readback = True
    scene.main(width=width, height=height, fps=args.fps, time=(w + n) / args.fps, freewheel=True)
    stamps = scene.stamps
    if len(stamps) < w + n:
        raise RuntimeError(f"DepthFlow drew {len(stamps)} frames, expected {w + n}")
    steps = np.diff(stamps[w - 1:w + n])
    frame = np.asarray(scene.last)
    result["frames"] = {"fps": round(n / float(np.sum(steps)), 2), "ms_median": round(1000 * float(np.median(steps)), 1),
                        "frame_shape": list(frame.shape), "frame_mean": round(float(frame.mean()), 2)}
    print("depthflow frames", result["frames"], file=sys.stderr)
    if args.no_export:
        return
    # 3. H.264 through DepthFlow's own exporter (already warm: shaders compiled above).
    if ffmpeg is None:
        result["export"] = {"error": "no ffmpeg on PATH and no imageio-ffmpeg"}
        return
    scene.readback = False
    scene.ffmpeg.h264(preset="veryfast", crf=20)
    out = tmp / "depthflow.mp4"
    t0 = time.perf_counter()
    scene.main(width=width, height=height, fps=args.fps, time=n / args.fps, output=out)
    dt = time.perf_counter() - t0
    result["export"] = {"fps": round(n / dt, 2), "seconds": round(dt, 2), "bytes": out.stat().st_size,
                        "ffmpeg": ffmpeg}
    print("depthflow export", result["export"], file=sys.stderr)


if __name__ == "__main__":
    main()
