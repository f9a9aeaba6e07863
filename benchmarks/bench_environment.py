"""Image-based light: the time to build a plate's environment on the GPU (projection, GGX
prefilter of every level, SH irradiance, read-back into an ``Environment``), and the time to
read it back from its ``.npz`` file next to the plate's cache entry.

    python benchmarks/bench_environment.py [--size 1280x720] [--env-size 256x128] [--levels 6]
                                           [--samples 64] [--repeat 5]

The first build also compiles the shaders (reported apart as ``first_build_ms``); the figure is
the median of ``--repeat`` builds after it. Prints one JSON object with the figures and the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from _machine import machine


def size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=size, default=(1280, 720), help="plate size")
    parser.add_argument("--env-size", type=size, default=(256, 128), help="environment level-0 size")
    parser.add_argument("--levels", type=int, default=6)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import hybridscene as hs
    from hybridscene.gpu.environment import EnvironmentRenderer
    from hybridscene.plate.cache import PlateCache

    plate = hs.procedural_plate("mountains", size=args.size, seed=3)
    with hs.create_context() as gl, tempfile.TemporaryDirectory() as tmp:
        renderer = EnvironmentRenderer(gl, size=args.env_size, levels=args.levels, samples=args.samples)
        t0 = time.perf_counter()
        renderer.from_plate(plate)
        first = 1000 * (time.perf_counter() - t0)
        builds = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            renderer.from_plate(plate)
            gl.mgl.finish()
            builds.append(1000 * (time.perf_counter() - t0))
        lut_t0 = time.perf_counter()
        renderer.brdf_lut()
        gl.mgl.finish()
        lut_ms = 1000 * (time.perf_counter() - lut_t0)
        # The disk cache: built once beside the entry, then read back by a "new process" (a new
        # Plate object from the cache).
        cache = PlateCache(Path(tmp) / "cache")
        key = "0123456789abcdef0123456789abcdef"
        cache.put(key, plate, inputs={}, timings={})
        renderer.for_plate(cache.get(key))
        reads = []
        for _ in range(args.repeat):
            fresh = cache.get(key)
            t0 = time.perf_counter()
            renderer.for_plate(fresh)
            reads.append(1000 * (time.perf_counter() - t0))
        renderer.release()
    print(json.dumps({
        "plate": f"{args.size[0]}x{args.size[1]}",
        "environment": f"{args.env_size[0]}x{args.env_size[1]}",
        "levels": args.levels,
        "samples": args.samples,
        "build_ms_median": round(statistics.median(builds), 2),
        "build_ms_min": round(min(builds), 2),
        "first_build_ms": round(first, 2),
        "brdf_lut_ms": round(lut_ms, 2),
        "sidecar_read_ms_median": round(statistics.median(reads), 2),
        "machine": machine(gl=True),
    }, indent=2))


if __name__ == "__main__":
    main()
