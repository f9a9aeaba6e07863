"""The machine's floor for a hybrid frame, and each target's export frames/s as a ratio to it,
measured in one run.

    python benchmarks/bench_floor.py [--size 1280x720] [--frames 90] [--cases birds,glossy,sway] [--rounds 1]
        [--relief cached|cold]

The floor is what no hybrid frame of this size can undercut, written here without the scene
renderer (raw moderngl on the context `hs.create_context()` makes): per frame, one full-screen
pass that samples the plate (an sRGB8 texture, bilinear, through a slightly different mapping
each frame so nothing can be cached), encodes to sRGB into an RGBA8 target, reads back RGB
(3 bytes per pixel), converts to yuv420p (BT.709, limited range, PyAV's ``reformat`` of the
read-back's buffer, wrapped without a copy, as
`hybridscene.sinks.VideoSink` does) and encodes with libx264 (preset veryfast, CRF 20, as the
sink does) into an MP4 in a temporary folder, one frame at a time (the reference for the
ratios); once also with the conversion and x264 on a worker thread (as the library's export may
overlap them), and once reading back RGBA (4 bytes per pixel, as the target stores them:
llvmpipe copies them where RGB is repacked pixel by pixel; libswscale converts from RGBA, to
the same bytes), which video exports on a CPU rasteriser do (``ratio_to_rgba_floor``). Each part's median per frame is reported; a floor's frames/s counts the frames,
the encoder's flush and the file's close.

The targets (the issue's: ``birds.py`` 0.8x the floor, ``glossy.py`` 0.5x, the plate-only
parallax sway of ``benchmarks/_scenes.py`` 0.5x) are exported with ``hs.render(scene, "x.mp4",
frames=N, fps=30)`` and the library's defaults, after a 2-frame export that warms the context's
program cache and the plate (and computes the plate's relief when the camera moves: a
measured export reads it from the relief cache, `hybridscene.plate.relief_cache`, as every run
after a plate's first does; ``--relief cold`` removes it first, so the export computes it, as a
plate's very first run does). The benchmark's caches live in a temporary folder
(``HYBRIDSCENE_CACHE``), so yours is neither read nor written. A target's frames/s is ``N / RenderResult.seconds`` (the frames,
the encoder's flush and the file's close; the plate and its overscan come before);
``fps_steady`` leaves out the first frame (from the progress callback's clock). The load of a
shared machine drifts, so the floor is measured again after every export, and each export's
ratio is to the mean of the floors just before and after it (``--rounds``: the median over
several). Prints one JSON object with the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from _machine import machine
from _scenes import sway_scene

import hybridscene as hs
from hybridscene.gpu.textures import GL_SRGB8

ROOT = Path(__file__).resolve().parents[1]

TARGETS = {"birds": 0.8, "glossy": 0.5, "sway": 0.5}
"""The issue's targets: export frames/s as a fraction of the floor's."""

CASES = ("birds", "glossy", "sway")
"""The targets: ``examples/<name>.py``'s ``build_scene(size)``, or ``sway``: `sway_scene`."""

PLATE_PASS = """
#version 330
#if defined VERTEX_SHADER
uniform vec2 u_scale;   // this frame's mapping: a zoom about the centre ...
uniform vec2 u_offset;  // ... and a shift, in texture units
out vec2 v_uv;
void main() {  // one triangle covering the screen; row 0 of the target samples row 0 of the image
    vec2 p = vec2(float((gl_VertexID & 1) << 2), float((gl_VertexID & 2) << 1)) - 1.0;
    v_uv = 0.5 + (0.5 * p) * u_scale + u_offset;
    gl_Position = vec4(p, 0.0, 1.0);
}
#elif defined FRAGMENT_SHADER
uniform sampler2D u_plate;  // GL_SRGB8: decoded to linear light by the sampler
in vec2 v_uv;
out vec4 f_color;

vec3 linear_to_srgb(vec3 c) {  // as shaders/include/colour.glsl
    c = clamp(c, 0.0, 1.0);
    bvec3 low = lessThanEqual(c, vec3(0.0031308));
    return mix(1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, c * 12.92, vec3(low));
}

void main() {
    f_color = vec4(linear_to_srgb(texture(u_plate, v_uv).rgb), 1.0);
}
#endif
"""


def environment() -> dict[str, str]:
    """The environment variables that change these figures (the library's settings, llvmpipe's threads)."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(("HYBRIDSCENE_", "LP_", "GALLIUM_"))}


def parse_size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    if w < 2 or h < 2 or w % 2 or h % 2:
        raise SystemExit(f"--size {text!r}: give an even WxH such as 1280x720")
    return w, h


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000.0, 3)


class X264:
    """An MP4 written as `VideoSink` writes it (libx264, yuv420p, BT.709 limited range,
    faststart), with the conversion and the encoder timed apart: ``convert_s`` and
    ``encode_s`` hold one time per frame, ``flush_s`` the encoder's drain and the file's close."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float = 30.0, *, crf: int = 20,
                 preset: str = "veryfast") -> None:
        import av

        self._av = av
        self.container = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
        rate = Fraction(fps).limit_denominator(1001)
        stream: Any = self.container.add_stream("libx264", rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = 1 / rate
        stream.options = {"crf": str(crf), "preset": preset}
        cc = stream.codec_context
        cc.colorspace = cc.color_primaries = cc.color_trc = 1  # BT.709
        cc.color_range = 1  # limited ("MPEG") range
        self.stream = stream
        self.frames = 0
        self.convert_s: list[float] = []
        self.encode_s: list[float] = []
        self.flush_s = 0.0

    def write(self, rgb: np.ndarray) -> None:
        """Convert and encode one ``(H, W, 3)`` (or RGBA ``(H, W, 4)``) uint8 top-down frame."""
        t0 = time.perf_counter()
        vf = self._av.VideoFrame.from_numpy_buffer(rgb, format="rgba" if rgb.shape[2] == 4 else "rgb24")  # no copy
        vf = vf.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG", threads=1)  # as VideoSink
        vf.pts = self.frames
        t1 = time.perf_counter()
        for packet in self.stream.encode(vf):
            self.container.mux(packet)
        t2 = time.perf_counter()
        self.frames += 1
        self.convert_s.append(t1 - t0)
        self.encode_s.append(t2 - t1)

    def close(self) -> None:
        t0 = time.perf_counter()
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
        self.flush_s = time.perf_counter() - t0


class PlatePass:
    """The floor's GPU part: the plate through a full-screen pass into an RGBA8 target, read back."""

    def __init__(self, mgl: Any, image: np.ndarray, size: tuple[int, int]) -> None:
        import moderngl

        self.mgl = mgl
        self.size = size
        self.program = mgl.program(vertex_shader=PLATE_PASS.replace("#version 330", "#version 330\n#define VERTEX_SHADER"),
                                   fragment_shader=PLATE_PASS.replace("#version 330", "#version 330\n#define FRAGMENT_SHADER"))
        h, w = image.shape[:2]
        self.plate = mgl.texture((w, h), 3, np.ascontiguousarray(image).tobytes(), alignment=1, internal_format=GL_SRGB8)
        self.plate.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.plate.repeat_x = self.plate.repeat_y = False
        self.target = mgl.texture(size, 4)
        self.fbo = mgl.framebuffer([self.target])
        self.vao = mgl.vertex_array(self.program, [])
        self.program["u_plate"] = 0

    def draw(self, i: int, components: int = 3) -> np.ndarray:
        """Frame ``i``: a zoom of 0.97-0.99 and a shift of up to 1% that change every frame
        (read back as RGB, or RGBA with ``components=4``)."""
        a = 2.0 * math.pi * i / 120.0
        zoom = 0.98 + 0.01 * math.sin(a)
        self.program["u_scale"] = (zoom, zoom)
        self.program["u_offset"] = (0.01 * math.sin(a), 0.003 * math.sin(2.0 * a))
        self.fbo.use()
        self.plate.use(0)
        self.vao.render(vertices=3)
        w, h = self.size
        data = self.fbo.read(components=components, alignment=1)
        return np.frombuffer(data, np.uint8).reshape(h, w, components)

    def release(self) -> None:
        for obj in (self.vao, self.fbo, self.target, self.plate, self.program):
            obj.release()


@dataclasses.dataclass
class FloorRun:
    """One measurement of the floor: its wall time and each part's time per frame (seconds)."""

    frames: int
    seconds: float
    draw_s: list[float]
    convert_s: list[float]
    encode_s: list[float]
    flush_s: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds


def summary(runs: list[FloorRun]) -> dict[str, Any]:
    """The floor over ``runs``: the median run's frames/s, every run's, and each part's median
    over all their frames."""
    fps = statistics.median(r.fps for r in runs)

    def pooled(name: str) -> float:
        return median_ms([v for r in runs for v in getattr(r, name)])

    return {"fps": round(fps, 2), "ms_per_frame": round(1000.0 / fps, 2), "runs_fps": [round(r.fps, 2) for r in runs],
            "median_ms": {"pass + read-back": pooled("draw_s"), "yuv420p conversion": pooled("convert_s"),
                          "x264": pooled("encode_s")},
            "flush_ms": round(statistics.median(r.flush_s for r in runs) * 1000.0, 1)}


def floor_sequential(plate: PlatePass, path: Path, frames: int, components: int = 3) -> FloorRun:
    """Each frame drawn, read back (``components``: 3, RGB, or 4, RGBA), converted and encoded
    before the next."""
    x264 = X264(path, plate.size)
    draw_s: list[float] = []
    t0 = time.perf_counter()
    for i in range(frames):
        t1 = time.perf_counter()
        rgb = plate.draw(i, components)
        draw_s.append(time.perf_counter() - t1)
        x264.write(rgb)
    x264.close()
    return FloorRun(frames, time.perf_counter() - t0, draw_s, x264.convert_s, x264.encode_s, x264.flush_s)


def floor_threaded(plate: PlatePass, path: Path, frames: int) -> FloorRun:
    """The pass and read-back here; conversion and x264 on a worker thread (a queue of 4 frames)."""
    x264 = X264(path, plate.size)
    todo: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=4)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while (rgb := todo.get()) is not None:
                x264.write(rgb)
            x264.close()
        except BaseException as exc:  # reported on the main thread
            errors.append(exc)

    draw_s: list[float] = []
    worker = threading.Thread(target=work, name="floor-encoder")
    t0 = time.perf_counter()
    worker.start()
    for i in range(frames):
        t1 = time.perf_counter()
        rgb = plate.draw(i)  # a fresh buffer per read-back: safe to hand over
        draw_s.append(time.perf_counter() - t1)
        todo.put(rgb)
    todo.put(None)
    worker.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return FloorRun(frames, seconds, draw_s, x264.convert_s, x264.encode_s, x264.flush_s)


def build(case: str, size: tuple[int, int]) -> hs.Scene:
    """A fresh scene at ``size``: ``sway`` (`sway_scene`) or ``examples/<case>.py``'s ``build_scene``."""
    if case == "sway":
        return sway_scene(size)
    spec = importlib.util.spec_from_file_location(f"_example_{case}", ROOT / "examples" / f"{case}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_scene(size)


def export(case: str, size: tuple[int, int], frames: int, ctx: Any, folder: Path, *, cold_relief: bool = False) -> dict[str, Any]:
    """``hs.render`` of ``case`` into an MP4 with the library's defaults, after a 2-frame warm-up
    (``cold_relief``: the cached reliefs removed after it)."""
    hs.render(build(case, size), folder / f"{case}-warm.mp4", frames=2, fps=30, size=size, ctx=ctx)
    if cold_relief:
        shutil.rmtree(hs.get_settings().cache_dir / "reliefs", ignore_errors=True)
    stamps: list[float] = []
    on_frame: Callable[[hs.Progress], None] = lambda p: stamps.append(time.perf_counter())  # noqa: E731
    result = hs.render(build(case, size), folder / f"{case}.mp4", frames=frames, fps=30, size=size, ctx=ctx,
                       progress=on_frame)
    out = {"fps": round(result.frames / result.seconds, 2), "seconds": round(result.seconds, 3),
           "ms_per_frame": round(1000.0 * result.seconds / result.frames, 2)}
    if len(stamps) > 2:
        out["fps_steady"] = round((len(stamps) - 1) / (stamps[-1] - stamps[0]), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720", help="frame size WxH (even)")
    parser.add_argument("--frames", type=int, default=90, help="frames per measurement")
    parser.add_argument("--cases", default=",".join(CASES), help=f"targets to export, of {','.join(CASES)}")
    parser.add_argument("--rounds", type=int, default=1, help="times each target is exported (the median ratio counts)")
    parser.add_argument("--relief", choices=("cached", "cold"), default="cached",
                        help="a moving camera's plate relief read from the relief cache (every run after a plate's "
                             "first) or computed during the export (a plate's first run)")
    args = parser.parse_args()
    size = parse_size(args.size)
    n = args.frames
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown or n < 3 or args.rounds < 1:
        raise SystemExit(f"--cases takes {','.join(CASES)} (got {','.join(unknown)}); --frames at least 3; "
                         "--rounds at least 1")

    gl = hs.create_context()
    software = gl.software
    floors: list[FloorRun] = []
    exports: dict[str, list[dict[str, Any]]] = {case: [] for case in cases}
    ratios: dict[str, list[float]] = {case: [] for case in cases}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["HYBRIDSCENE_CACHE"] = str(folder / "cache")  # plates and reliefs: not the user's cache

        def floor() -> float:
            floors.append(floor_sequential(plate, folder / "floor.mp4", n))
            print(f"floor {floors[-1].fps:.2f} fps", file=sys.stderr)
            return floors[-1].fps

        # 1. The floor: the sway scene's plate (the procedural mountains, seed 1) at the frame size;
        #    then the floor with the encoder on a thread, once.
        plate = PlatePass(gl.mgl, hs.background_plate(size, seed=1).image, size)
        floor_sequential(plate, folder / "floor-warm.mp4", 3)  # compile, first upload, encoder start-up
        before = floor()
        threaded = floor_threaded(plate, folder / "floor-threaded.mp4", n)
        print(f"floor, encoder thread {threaded.fps:.2f} fps", file=sys.stderr)
        rgba = floor_sequential(plate, folder / "floor-rgba.mp4", n, components=4)
        print(f"floor, RGBA read-back {rgba.fps:.2f} fps", file=sys.stderr)
        # 2. The targets, each between two floors on the same context (the load of a shared
        #    machine drifts): its ratio is to the mean of the floors just before and after it.
        for _ in range(args.rounds):
            for case in cases:
                exports[case].append(export(case, size, n, gl, folder, cold_relief=args.relief == "cold"))
                print(case, exports[case][-1], file=sys.stderr)
                after = floor()
                ratios[case].append(exports[case][-1]["fps"] / (0.5 * (before + after)))
                before = after
        plate.release()
    gl.release()

    results: dict[str, Any] = {"floor": summary(floors), "floor, encoder thread": summary([threaded]),
                               "floor, RGBA read-back": summary([rgba])}
    out_ratios = {}
    for case in cases:
        fps = [r["fps"] for r in exports[case]]
        steady = [r["fps_steady"] for r in exports[case] if "fps_steady" in r]
        results[case] = {"fps": round(statistics.median(fps), 2), "ms_per_frame": round(1000.0 / statistics.median(fps), 2),
                         "runs_fps": fps}
        if steady:
            results[case]["fps_steady"] = round(statistics.median(steady), 2)
        ratio = round(statistics.median(ratios[case]), 3)
        out_ratios[case] = {"ratio": ratio, "runs": [round(r, 3) for r in ratios[case]],
                            "target": TARGETS[case], "meets": ratio >= TARGETS[case],
                            "ratio_to_median_floor": round(results[case]["fps"] / results["floor"]["fps"], 3),
                            "ratio_to_threaded_floor": round(results[case]["fps"] / threaded.fps, 3),
                            "ratio_to_rgba_floor": round(results[case]["fps"] / rgba.fps, 3)}
    json.dump({"benchmark": "floor", "size": f"{size[0]}x{size[1]}", "frames": n, "rounds": args.rounds,
               "relief": args.relief, "software_renderer": software,
               "ratios_use": "floor (one frame at a time), the mean of the runs just before and after each export",
               "results": results, "ratios": out_ratios, "environment": environment(), "machine": machine(gl=True)}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
