"""Export speed against its ceiling: rendering + reading back + encoding a 1280x720 example,
beside ffmpeg encoding the very same frames alone with the same codec settings.

    python benchmarks/bench_export.py [--scene examples/glossy.py] [--frames 90] [--size 1280x720]

Figures (frames/s): the export pipelined (`overlap=True`: a ring of pixel buffers and an encoder
thread), the same export one frame at a time (`overlap=False`), rendering alone (frames to
numpy, no encoding), PyAV encoding alone (the library's sink), and the ffmpeg command line
encoding the frames from a pipe (libx264, preset veryfast, CRF 20, yuv420p, BT.709). The ratio
the target asks for is `export / ffmpeg`, with the export as `hs.render` does it by default
(`overlap="auto"`: pipelined on a GPU, one frame at a time on a CPU rasteriser). Prints one
JSON object with the machine.

ffmpeg: the one on PATH, else the binary of the `imageio-ffmpeg` package (pip install imageio-ffmpeg).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine
from _peer_common import ffmpeg_exe

import hybridscene as hs
from hybridscene.sinks import VideoSink

ROOT = Path(__file__).resolve().parents[1]


def ffmpeg_encode(exe: str, frames: list, size: tuple[int, int], fps: float, out: Path) -> float:
    """Seconds for the ffmpeg CLI to encode ``frames`` piped as raw RGB, our sink's settings."""
    w, h = size
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", str(fps), "-i", "-",
           "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
           "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
           "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
           "-movflags", "+faststart", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for frame in frames:
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("ffmpeg failed")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", default=str(ROOT / "examples" / "glossy.py"))
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    n = args.frames
    ctx = hs.create_context()
    out: dict[str, dict[str, float]] = {}

    def scene() -> hs.Scene:
        return hs.load_scene_file(args.scene, size=size).scene  # a fresh scene per run: same frames

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        hs.render(scene(), tmp_path / "warm.mp4", frames=3, fps=args.fps, size=size, ctx=ctx)  # shaders, plate
        for name, piped in (("export (pipelined)", True), ("export (one frame at a time)", False)):
            t0 = time.perf_counter()
            hs.render(scene(), tmp_path / f"{piped}.mp4", frames=n, fps=args.fps, size=size, ctx=ctx, overlap=piped)
            dt = time.perf_counter() - t0
            out[name] = {"fps": round(n / dt, 1), "seconds": round(dt, 2)}
            print(name, out[name], file=sys.stderr)
        t0 = time.perf_counter()
        frames = list(hs.frames(scene(), frames=n, fps=args.fps, size=size, ctx=ctx))
        dt = time.perf_counter() - t0
        out["render only (to numpy)"] = {"fps": round(n / dt, 1), "seconds": round(dt, 2)}
        t0 = time.perf_counter()
        sink = VideoSink(tmp_path / "pyav.mp4", size=size, fps=args.fps)
        for frame in frames:
            sink.write(frame)
        sink.close()
        dt = time.perf_counter() - t0
        out["encode only, PyAV (the library's sink)"] = {"fps": round(n / dt, 1), "seconds": round(dt, 2)}
        exe = ffmpeg_exe()
        if exe is not None:
            dt = ffmpeg_encode(exe, frames, size, args.fps, tmp_path / "ffmpeg.mp4")
            out["encode only, ffmpeg CLI"] = {"fps": round(n / dt, 1), "seconds": round(dt, 2)}
            version = subprocess.run([exe, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
        else:
            version = None
            print("no ffmpeg found (pip install imageio-ffmpeg): skipping the ffmpeg figure", file=sys.stderr)
    default_piped = not ctx.software  # what hs.render's overlap="auto" picks here
    ctx.release()
    export_fps = out["export (pipelined)" if default_piped else "export (one frame at a time)"]["fps"]
    ratios = {"export / ffmpeg encode": round(export_fps / out["encode only, ffmpeg CLI"]["fps"], 2)} if exe else {}
    ratios["export / render only"] = round(export_fps / out["render only (to numpy)"]["fps"], 2)
    ratios["pipelined / one at a time"] = round(out["export (pipelined)"]["fps"] / out["export (one frame at a time)"]["fps"], 2)
    json.dump({"benchmark": "export", "scene": Path(args.scene).name, "size": args.size, "frames": n,
               "default (overlap='auto')": "pipelined" if default_piped else "one frame at a time",
               "results": out, "ratios": ratios, "ffmpeg": version, "machine": machine(gl=True)},
              sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
