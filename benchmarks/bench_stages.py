"""Where a frame's time goes, per stage, from the library's own timers (`StageTimer`).

    python benchmarks/bench_stages.py [--size 1280x720] [--frames 60] [--samples N]
                                      [--cases glossy,birds,sway] (also: flight, fireflies)

For each case (``examples/<name>.py``'s ``build_scene(size)``, or ``sway``: the plate-only
parallax sway of ``benchmarks/_scenes.py``), a `FrameRenderer` at the size and MSAA samples
(default: the library's export default, `Settings.msaa`) draws the frames at 30 frames/s from
t = 0, after the scene's overscan is applied as ``hs.render`` applies it (`_scenes.ready`):

1. 3 warm-up frames (programs, the plate's textures and relief, the shadow map);
2. the frames with the timer off: ``fps`` and ``ms_per_frame`` of ``render_frame`` (the frame
   drawn and read back as RGB), the frame rate the stages add up to without their fences;
3. the same frames with ``renderer.timer.enabled = True`` (``ctx.finish()`` around each stage,
   so a stage's time is its own work, not the driver's queue), kept;
4. then those frames converted to yuv420p and encoded with libx264 as `VideoSink` does, timed
   here and added to the timer as ``yuv420p conversion`` and ``x264`` (after the drawing, so
   libx264's threads, which keep working after each ``encode()`` call, do not lengthen the
   next frame's stages).

Reports every stage the timer holds (``medians`` in ms and ``counts``: a stage skipped in some
frames ran fewer times), whatever stages the renderer has, in the order they first ran. Prints
one JSON object with the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import machine
from _scenes import ready
from bench_floor import X264, build, environment, parse_size

import hybridscene as hs
from hybridscene.config import get_settings

CASES = ("glossy", "birds", "sway", "flight", "fireflies")
DEFAULT_CASES = ("glossy", "birds", "sway")
WARM_UP = 3


def stages(case: str, gl: Any, size: tuple[int, int], frames: int, samples: int | None, folder: Path) -> dict[str, Any]:
    """One case's figures: the frame rate with the timer off, then every stage's median."""
    scene = build(case, size)
    scene.wait_for_plates()
    ready(scene, size, (frames - 1) / 30.0)
    times = [i / 30.0 for i in range(frames)]
    with hs.FrameRenderer(gl, size, samples=samples) as renderer:
        for t in times[:WARM_UP]:
            renderer.render_frame(scene, t)
        # 1. Timer off: the frame as export draws it (without the encoder).
        t0 = time.perf_counter()
        for t in times:
            renderer.render_frame(scene, t)
        seconds = time.perf_counter() - t0
        # 2. Timer on, the same frames, with the conversion and x264 of each.
        timer = renderer.timer
        timer.reset()
        timer.enabled = True
        frame_ms, kept = [], []
        try:
            for t in times:
                t1 = time.perf_counter()
                kept.append(renderer.render_frame(scene, t))
                frame_ms.append((time.perf_counter() - t1) * 1000.0)
            # 3. Then the frames' conversion and x264, apart (libx264's threads would otherwise
            #    run behind the next frame's stages and lengthen them).
            x264 = X264(folder / f"{case}.mp4", size)
            for rgb in kept:
                x264.write(rgb)
                timer.add("yuv420p conversion", x264.convert_s[-1] * 1000.0)
                timer.add("x264", x264.encode_s[-1] * 1000.0)
            x264.close()
        finally:
            timer.enabled = False
        medians, counts = timer.medians(), timer.counts()
        used = renderer.samples
    frame_ms.sort()
    return {"samples": used, "fps": round(frames / seconds, 2), "ms_per_frame": round(1000.0 * seconds / frames, 2),
            "median_ms": medians, "counts": counts,
            "timed_frame_ms": round(frame_ms[len(frame_ms) // 2], 2),
            "sum_of_medians_ms": round(sum(medians.values()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720", help="frame size WxH (even)")
    parser.add_argument("--frames", type=int, default=60, help="frames timed per case (after 3 of warm-up)")
    parser.add_argument("--samples", type=int, default=None, help="MSAA samples (default: the export default)")
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help=f"of {','.join(CASES)}")
    args = parser.parse_args()
    size = parse_size(args.size)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown or args.frames < WARM_UP:
        raise SystemExit(f"--cases takes {','.join(CASES)} (got {','.join(unknown)}); --frames at least {WARM_UP}")

    gl = hs.create_context()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            results[case] = stages(case, gl, size, args.frames, args.samples, Path(tmp))
            print(case, results[case]["fps"], results[case]["median_ms"], file=sys.stderr)
    gl.release()
    json.dump({"benchmark": "stages", "size": f"{size[0]}x{size[1]}", "frames": args.frames,
               "samples": args.samples if args.samples is not None else get_settings().msaa,
               "note": "median ms per stage with ctx.finish() around each; fps with the timer off, read-back included",
               "results": results, "environment": environment(), "machine": machine(gl=True)}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
