"""Could the foreground target be 8-bit? The examples rendered with the RGBA16F foreground
(the library's) and with an RGBA8 one (linear, premultiplied, as an 8-bit target would hold
it), compared in 8-bit levels of the final frame, and the time of each.

    python benchmarks/bench_foreground_format.py [--size 640x360] [--times 0.5,1.7,3.1]

Prints one JSON object with the machine: per example the largest difference in levels and the
share of pixels off by more than one level (the issue's bar: identical within a level).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from _machine import machine

import hybridscene as hs
from hybridscene.gpu import targets

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def eight_bit(target: targets.ForegroundTarget) -> None:
    """Swap ``target``'s colour attachments for RGBA8 ones (same samples, same depth)."""
    ctx = target.gl.mgl
    old_draw, old_resolve = target.draw_fbo, target._resolve_fbo
    depth = old_draw.depth_attachment
    target.color.release()
    target.color = ctx.texture(target.size, 4)
    if target.samples > 1:
        ms = ctx.renderbuffer(target.size, 4, samples=target.samples)
        target.draw_fbo = ctx.framebuffer([ms], depth)
        target._resolve_fbo = ctx.framebuffer([target.color])
        target._resources += [ms, target.color, target.draw_fbo, target._resolve_fbo]
    else:
        target.draw_fbo = ctx.framebuffer([target.color], depth)
        target._resources += [target.color, target.draw_fbo]
    for fbo in (old_draw, old_resolve):
        if fbo is not None:
            target._resources.remove(fbo)
            fbo.release()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--times", default="0.5,1.7,3.1")
    ap.add_argument("--examples", default="glossy,birds,fireflies,rain_lanterns,flight")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    times = [float(t) for t in args.times.split(",")]
    sys.path.insert(0, str(EXAMPLES))
    argv, sys.argv = sys.argv, sys.argv[:1]  # examples read none at import
    results = {}
    with hs.create_context() as gl:
        for name in args.examples.split(","):
            scene = importlib.import_module(name).build_scene(size)
            frames, ms = {}, {}
            for fmt in ("rgba16f", "rgba8"):
                with hs.FrameRenderer(gl, size) as r:
                    if fmt == "rgba8":
                        eight_bit(r.foreground)
                    r.render_frame(scene, times[0])
                    t0 = time.perf_counter()
                    frames[fmt] = np.stack([r.render_frame(scene, t).astype(np.int16) for t in times])
                    ms[fmt] = (time.perf_counter() - t0) / len(times) * 1000.0
            d = np.abs(frames["rgba16f"] - frames["rgba8"]).max(axis=-1)
            results[name] = {"max_levels": int(d.max()), "pixels_over_1_level_pct": round(float((d > 1).mean() * 100), 3),
                             "pixels_differing_pct": round(float((d > 0).mean() * 100), 3),
                             "ms_per_frame": {k: round(v, 1) for k, v in ms.items()}}
    sys.argv = argv
    print(json.dumps({"size": f"{size[0]}x{size[1]}", "times": times, "results": results,
                      "identical_within_a_level": all(r["max_levels"] <= 1 for r in results.values()),
                      "machine": machine(gl=True)}, indent=2))


if __name__ == "__main__":
    main()
