"""Scaling out on Ray: one worker against two, Ray's own costs, and a speed-up estimate for N machines.

    python benchmarks/bench_scale.py [--scene examples/flight.py] [--size 1280x720] [--frames 96]
                                     [--chunk 8] [--workers 1,2] [--overhead-frames 96]

Every rasteriser is held to one thread (``LP_NUM_THREADS=1``, set before Ray starts, so the Ray
workers inherit it; the JSON reports what a worker saw), so a worker is one core's worth of work.

Figures: the seconds ``ray.init`` takes (Ray's start-up); the same render in this process
without Ray (the baseline); `hs.render(hs.SceneSource(...), sink, ray=hs.RayExecutor(workers=W,
chunk=C))` for each ``--workers`` W, into a sink that discards the frames (so no encoder competes
with the workers for the cores): wall seconds, the time to the first frame, steady frames/s
(after the first chunk is written, from the progress callback's timestamps) and the fixed cost
(wall seconds less the frames at the steady rate). Ray's cost per chunk, two ways: a tiny render
(64x36) with chunks of 1 against chunks of 16 on one worker, and round trips of a no-op actor
method. The same renders into a PNG sequence, whose files the workers write (only digests come
back). The cost per frame of writing a PNG sequence and an H.264 video at ``--size`` in one
process (a video is encoded by the driver, in order: Amdahl's serial part; a PNG sequence is
written by the workers when they see the folder, else by the driver). Then the estimate

    T(N) = S + F * max((t_frame + o / C) / (N * w), t_write)

(S start-up, F frames, t_frame one worker's seconds per frame, o Ray's seconds per chunk, C frames
per chunk, N machines of w workers, t_write the driver's seconds per frame) and the speed-ups it
predicts for N = 1 ... 32 machines like this one. Prints one JSON object with the machine.
"""

from __future__ import annotations

import os

os.environ["LP_NUM_THREADS"] = "1"  # before any GL context, here or in a Ray worker

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _machine import machine  # noqa: E402

import hybridscene as hs  # noqa: E402
from hybridscene.scenefile import load_scene_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class NullSink:
    """Takes frames and keeps nothing but the first ``keep`` (the `Sink` protocol)."""

    def __init__(self, keep: int = 0) -> None:
        self.keep, self.kept = keep, []

    def write(self, frame) -> None:
        if len(self.kept) < self.keep:
            self.kept.append(frame)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class Clock:
    """A progress callback that records when each frame was written."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.times: list[float] = []

    def __call__(self, p) -> None:
        self.times.append(time.perf_counter() - self.t0)

    def steady_fps(self, skip: int) -> float:
        """Frames/s after the first ``skip`` frames (which carry the start-up)."""
        t = self.times
        skip = max(1, min(skip, len(t) - 1))
        return (len(t) - skip) / max(t[-1] - t[skip - 1], 1e-6)


def timed_render(ray_mod, scene: str, size, frames: int, workers: int, chunk: int, keep: int = 0) -> dict:
    clock = Clock()
    sink = NullSink(keep)
    source = hs.SceneSource(scene, options={"size": size})
    hs.render(source, sink, frames=frames, size=size, progress=clock,
              ray=hs.RayExecutor(workers=workers, chunk=chunk))
    wall = time.perf_counter() - clock.t0
    # From the first chunk written: a worker whose set-up finished late is not counted as speed
    # (skipping a whole first round would be: the chunks buffered meanwhile arrive at once).
    steady = clock.steady_fps(min(frames, chunk))
    return {"workers": workers, "chunk": chunk, "frames": frames, "wall_s": round(wall, 3),
            "fps_wall": round(frames / wall, 2), "first_frame_s": round(clock.times[0], 3),
            "fps_steady": round(steady, 2), "fixed_cost_s": round(wall - frames / steady, 3),
            "_per_frame": 1 / steady, "_sink": sink}


def timed_png(scene: str, size, frames: int, workers: int, chunk: int, folder: Path) -> dict:
    """The same render into a PNG sequence, whose files the workers write themselves (a folder
    they see: this machine), with only digests coming back to the driver."""
    clock = Clock()
    source = hs.SceneSource(scene, options={"size": size})
    hs.render(source, f"{folder}/", frames=frames, size=size, progress=clock,
              ray=hs.RayExecutor(workers=workers, chunk=chunk))
    wall = time.perf_counter() - clock.t0
    steady = clock.steady_fps(min(frames, chunk))
    written_by = json.loads((folder / "manifest.json").read_text())["ray"]["written_by"]
    shutil.rmtree(folder, ignore_errors=True)
    return {"workers": workers, "chunk": chunk, "frames": frames, "output": "PNG sequence", "written_by": written_by,
            "wall_s": round(wall, 3), "fps_wall": round(frames / wall, 2), "fps_steady": round(steady, 2),
            "_per_frame": 1 / steady}


def write_cost(kept: list, size, tmp: Path) -> dict:
    """The driver's seconds per frame to write a PNG sequence and an H.264 MP4 of these frames."""
    from hybridscene.sinks.images import PngSequenceSink
    from hybridscene.sinks.video import VideoSink

    out = {}
    reps = max(1, 24 // len(kept))
    frames = (kept * reps)[:24]
    for name, make in (("png", lambda: PngSequenceSink(tmp / "png", size=size, fps=30)),
                       ("mp4", lambda: VideoSink(tmp / "out.mp4", size=size, fps=30))):
        sink = make()
        t0 = time.perf_counter()
        for f in frames:
            sink.write(f)
        sink.close()
        out[f"{name}_s_per_frame"] = round((time.perf_counter() - t0) / len(frames), 5)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scene", default=str(ROOT / "examples" / "flight.py"))
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--overhead-frames", type=int, default=96, help="frames of the 64x36 per-chunk overhead render")
    ap.add_argument("--film-frames", type=int, default=3000, help="F of the N-machine estimate")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    counts = [int(w) for w in args.workers.split(",")]
    scene_path = str(Path(args.scene).resolve())
    import ray

    logging.getLogger("ray").setLevel(logging.ERROR)
    results: dict = {}

    # The baseline: this process, no Ray (the scene file built here; the render into a discarding sink).
    t0 = time.perf_counter()
    scene = load_scene_file(scene_path, size=size).scene
    scene.wait_for_plates()
    build = time.perf_counter() - t0
    clock = Clock()
    hs.render(scene, NullSink(), frames=args.frames, size=size, progress=clock)
    wall = time.perf_counter() - clock.t0
    base_fps = clock.steady_fps(1)
    results["no ray"] = {"build_scene_s": round(build, 3), "wall_s": round(wall, 3),
                         "fps_wall": round(args.frames / wall, 2), "fps_steady": round(base_fps, 2)}
    del scene

    # Ray's start-up, and what a worker sees.
    t0 = time.perf_counter()
    ray.init(num_cpus=4, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    startup = time.perf_counter() - t0
    try:
        @ray.remote(num_cpus=1)
        def env() -> str | None:
            return os.environ.get("LP_NUM_THREADS")

        worker_env = ray.get(env.remote())

        for w in counts:
            r = timed_render(ray, scene_path, size, args.frames, w, args.chunk, keep=4 if w == counts[0] else 0)
            if w == counts[0]:
                kept = r["_sink"].kept
            results[f"ray {w} worker{'s' if w > 1 else ''}"] = r

        # A PNG sequence: the workers write the files (only digests travel to the driver).
        png_dir = Path(tempfile.mkdtemp(prefix="bench_scale_png_"))
        try:
            for w in counts:
                results[f"ray {w} worker{'s' if w > 1 else ''} png"] = timed_png(
                    scene_path, size, args.frames, w, args.chunk, png_dir / f"w{w}")
        finally:
            shutil.rmtree(png_dir, ignore_errors=True)

        # Ray's cost per chunk: a tiny render, chunks of 1 against chunks of 16, one worker.
        tiny = {}
        for c in (1, 16):
            r = timed_render(ray, scene_path, (64, 36), args.overhead_frames, 1, c)
            tiny[c] = r["_per_frame"]
        per_chunk = (tiny[1] - tiny[16]) / (1 - 1 / 16)

        # And round trips of a no-op actor method (sequential, and 200 in flight at once).
        @ray.remote(num_cpus=1)
        class Noop:
            def call(self, x=None):
                return x

        a = Noop.remote()
        ray.get(a.call.remote())
        n = 200
        t0 = time.perf_counter()
        for _ in range(n):
            ray.get(a.call.remote())
        seq = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        ray.get([a.call.remote() for _ in range(n)])
        pipelined = (time.perf_counter() - t0) / n
        ray.kill(a)
    finally:
        ray.shutdown()
    results["ray overhead"] = {
        "tiny_size": "64x36", "tiny_frames": args.overhead_frames,
        "tiny_s_per_frame_chunk1": round(tiny[1], 5), "tiny_s_per_frame_chunk16": round(tiny[16], 5),
        "per_chunk_s": round(per_chunk, 5),
        "noop_round_trip_s": round(seq, 5), "noop_pipelined_s": round(pipelined, 5)}

    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        results["driver write"] = write_cost(kept, size, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # Speed-ups measured here.
    pngs = [v for k, v in results.items() if k.startswith("ray ") and k.endswith(" png")]
    rays = [v for k, v in results.items() if k.startswith("ray ") and "workers" in v and not k.endswith(" png")]
    one, top = rays[0], rays[-1]
    speedup = {"steady": round(top["fps_steady"] / one["fps_steady"], 3),
               "wall": round(top["fps_wall"] / one["fps_wall"], 3),
               f"{top['workers']} workers steady / no ray": round(top["fps_steady"] / base_fps, 3),
               f"{one['workers']} worker steady / no ray": round(one["fps_steady"] / base_fps, 3),
               "goal": 1.7, "met": top["fps_steady"] / one["fps_steady"] >= 1.7}
    if len(pngs) > 1:
        speedup["png sequence, workers write: steady"] = round(pngs[-1]["fps_steady"] / pngs[0]["fps_steady"], 3)
        speedup["png sequence, workers write: wall"] = round(pngs[-1]["fps_wall"] / pngs[0]["fps_wall"], 3)

    # The N-machine estimate: machines like this one, w workers each; the driver writes serially.
    w = top["workers"]
    efficiency = (top["fps_steady"] / one["fps_steady"]) / (w / one["workers"])
    t_frame = one["_per_frame"] * one["workers"] - per_chunk / args.chunk  # one worker's render seconds per frame
    S = startup + top["fixed_cost_s"]
    F = args.film_frames
    model = {"formula": "T(N) = S + F * max((t_frame + o/C) / (N * w * e), t_write); speedup(N) = T(1) / T(N)",
             "S_s": round(S, 3), "S_parts": {"ray_init_s": round(startup, 3), "render_fixed_s": top["fixed_cost_s"]},
             "F": F, "t_frame_s": round(t_frame, 5), "o_s": round(per_chunk, 5), "C": args.chunk, "w": w,
             "e": round(efficiency, 3), "predicted": {}}
    png_s = results["driver write"]["png_s_per_frame"]
    # (name, a worker's seconds per frame, the driver's serial seconds per frame)
    cases = [("none", t_frame, 0.0), ("mp4", t_frame, results["driver write"]["mp4_s_per_frame"]),
             ("png, workers write", t_frame + png_s, 0.0), ("png, driver writes", t_frame, png_s)]
    for sink, t_worker, t_write in cases:
        def T(n: int, t_worker=t_worker, t_write=t_write) -> float:
            return S + F * max((t_worker + per_chunk / args.chunk) / (n * w * efficiency), t_write)

        rows = {str(n): {"seconds": round(T(n), 1), "speedup": round(T(1) / T(n), 2)} for n in (1, 2, 4, 8, 16, 32)}
        saturates = (t_worker + per_chunk / args.chunk) / (w * efficiency * t_write) if t_write else None
        model["predicted"][f"sink {sink}"] = {"t_worker_s": round(t_worker, 5), "t_write_s": t_write, "machines": rows,
                                              "saturates_at_machines": round(saturates, 1) if saturates else None}

    for r in rays:
        r.pop("_per_frame"), r.pop("_sink")
    for r in pngs:
        r.pop("_per_frame")
    json.dump({"benchmark": "scale", "scene": Path(args.scene).name, "size": args.size, "frames": args.frames,
               "chunk": args.chunk, "workers": counts, "lp_num_threads": {"driver": os.environ["LP_NUM_THREADS"],
                                                                         "ray_worker": worker_env},
               "ray_init_s": round(startup, 3), "results": results, "speedup": speedup, "estimate": model,
               "machine": machine(gl=True)}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
