"""Overhead of hybridscene over calling the same diffusers pipeline directly, same seed and steps.

    python benchmarks/bench_plate_overhead.py [--model DIR] [--size 256] [--steps 3] [--repeat 3]

Both paths use one loaded pipeline (the full-size SD v1.4 architecture with random weights by
default, built locally), alternate run by run, and are compared by median wall time:
  direct: pipe(prompt, num_inference_steps, guidance_scale, width, height, generator, output_type="np")
  hybridscene: generate_plate(spec, cache=False)  (spec resolution, callbacks, checks, uint8 plate)
  hybridscene+cache: generate_plate(spec) on a miss (also writes the cache entry)
The pixels of both paths are compared too (same seed: the same image). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="/tmp/hybridscene-bench/sd-v1-4-random")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    cache_root = Path(tempfile.mkdtemp(prefix="hs-overhead-"))
    os.environ["HYBRIDSCENE_CACHE"] = str(cache_root)

    import numpy as np
    import torch

    import hybridscene as hs
    from hybridscene.plate import generate as gen_mod
    from hybridscene.plate.spec import resolve_spec
    from hybridscene.testing import build_sd_v1_4_random

    model = Path(args.model)
    if not (model / "model_index.json").is_file():
        build_sd_v1_4_random(model)
    prompt = "Landscape with mountains and a river"
    spec = hs.PlateSpec(prompt=prompt, model=str(model), size=(args.size, args.size), steps=args.steps,
                        guidance=7.5, dtype="float32", device="cpu")
    resolved = resolve_spec(spec)
    pipe = gen_mod._generator(None).pipeline(resolved)  # the pipeline both paths share

    def direct() -> np.ndarray:
        out = pipe(prompt, num_inference_steps=args.steps, guidance_scale=7.5, width=args.size, height=args.size,
                   generator=torch.Generator("cpu").manual_seed(0), output_type="np")
        return out.images[0]

    times: dict[str, list[float]] = {"direct": [], "hybridscene": [], "hybridscene_cache_miss": []}
    images = {}
    direct()  # warm-up
    for i in range(args.repeat):
        for name in (list(times) if i % 2 == 0 else list(times)[::-1]):
            if name == "hybridscene_cache_miss":
                shutil.rmtree(cache_root / "plates", ignore_errors=True)
            t0 = time.perf_counter()
            if name == "direct":
                images[name] = direct()
            else:
                images[name] = hs.generate_plate(spec, cache=(name != "hybridscene")).plate.image
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    direct_u8 = np.clip(np.round(images["direct"] * 255), 0, 255).astype(np.uint8)
    results = {
        "size": f"{args.size}x{args.size}", "steps": args.steps,
        "seconds_median": {k: round(v, 3) for k, v in med.items()},
        "seconds_all": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "overhead_pct": round(100 * (med["hybridscene"] / med["direct"] - 1), 2),
        "overhead_with_cache_write_pct": round(100 * (med["hybridscene_cache_miss"] / med["direct"] - 1), 2),
        "same_pixels": bool(np.array_equal(direct_u8, images["hybridscene"])),
    }
    shutil.rmtree(cache_root, ignore_errors=True)
    json.dump({"benchmark": "plate_overhead", "goal_pct": 2.0, "results": results, "machine": machine(torch=True)},
              sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
