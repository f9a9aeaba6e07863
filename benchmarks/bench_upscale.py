"""Upscaling a plate 512 -> 2048 on this CPU: Lanczos, and the full-size x4 upscaler architecture
(``stabilityai/stable-diffusion-x4-upscaler``'s configs with random weights, built locally: the
real model's compute, no download) run tile by tile as ``upscale=4, upscaler=...`` does.

    python benchmarks/bench_upscale.py [--size 512] [--steps 1] [--guidance 0] [--tiles 128,64]
                                       [--untiled 128] [--measure-tiles K] [--model DIR]

Each configuration runs in a child process of its own, so its peak resident memory (``ru_maxrss``)
is its own: ``seconds`` (wall clock) and ``cpu_s`` (this process's CPU time over all its threads: the
figure to trust on a shared machine), ``rss_loaded_mb`` after the model is loaded, ``peak_rss_mb`` over the whole run, and
their difference, the working memory the upscaling itself needed. ``--tiles`` lists tile sizes
(low-resolution pixels, overlap a quarter of the tile) for SIZE -> 4 x SIZE; ``--untiled`` lists
image sides upscaled in one piece (the untiled x4 at 512 is out of reach of a CPU: its VAE
attends over all 262144 latent positions at once). ``--steps 1 --guidance 0`` times one model
evaluation per tile; the real model's defaults (75 steps, guidance 9, two evaluations a step)
scale the UNet part by 150. ``--measure-tiles K`` runs only K tiles of each tiled run and
extrapolates its seconds to all tiles (marked ``"extrapolated": true``; the peak memory is
measured, as every tile needs the same). Prints one JSON object with the figures and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from _machine import machine


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def one(args: argparse.Namespace) -> dict:
    """One configuration, in this (child) process."""
    import torch

    import hybridscene as hs
    from hybridscene.plate import upscale as up

    low = hs.procedural_plate("mountains", size=(args.size, args.size), seed=3).image
    if args.upscaler == "lanczos":
        t0 = time.perf_counter()
        out = up.upscale_image(low, 4, "lanczos")
        return {"seconds": round(time.perf_counter() - t0, 3), "output": list(out.shape[1::-1]),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    t0 = time.perf_counter()
    pipe = up._pipeline(args.upscaler, None, "cpu", "float32")
    with torch.no_grad():  # page the memory-mapped weights in, so rss_loaded_mb counts them
        for module in (pipe.unet, pipe.vae, pipe.text_encoder):
            sum(float(p.sum()) for p in module.parameters())
    load_s = time.perf_counter() - t0
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    overlap = args.tile // 4 if args.tile else 0
    tiles = len(up._tiles(args.size, args.size, args.tile or None, overlap))
    if args.measure_tiles and args.measure_tiles < tiles:  # the first K tiles only (every tile costs the same)
        all_tiles = up._tiles
        up._tiles = lambda *a: all_tiles(*a)[: args.measure_tiles]
    seen: list[tuple[int, int]] = []
    spent = {"unet": 0.0, "vae": 0.0}
    started: dict[str, float] = {}

    def timer(name: str, module) -> list:
        def pre(m, a):
            started[name] = time.perf_counter()
            if name == "unet":
                seen.append(tuple(a[0].shape[-2:]))

        def post(m, a, out):
            spent[name] += time.perf_counter() - started[name]

        return [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]

    hooks = timer("unet", pipe.unet) + timer("vae", pipe.vae.decoder)
    t0, cpu0 = time.perf_counter(), time.process_time()
    out = up.upscale_image(low, 4, args.upscaler, prompt="Landscape with mountains and a river", steps=args.steps,
                           guidance=args.guidance, tile=args.tile or None, overlap=args.tile // 4 if args.tile else 0)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    for h in hooks:
        h.remove()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ran = min(tiles, args.measure_tiles or tiles)
    return {
        "seconds": round(seconds * tiles / ran, 2), "cpu_s": round(cpu * tiles / ran, 2),
        "extrapolated": ran < tiles, "tiles": tiles, "tiles_run": ran, "steps": args.steps, "guidance": args.guidance,
        "load_s": round(load_s, 2), "unet_input": list(max(seen)), "output": list(out.shape[1::-1]),
        "seconds_per_tile": round(seconds / ran, 2), "cpu_s_per_tile": round(cpu / ran, 2),
        "unet_s_per_tile_step": round(spent["unet"] / ran / args.steps, 2),
        "vae_decode_s_per_tile": round(spent["vae"] / ran, 2),
        "rss_loaded_mb": round(loaded, 1), "rss_now_mb": round(_rss_mb(), 1), "peak_rss_mb": round(peak, 1),
        "working_mb": round(peak - loaded, 1), "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="low-resolution side (x4 output)")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--guidance", type=float, default=0.0)
    parser.add_argument("--tiles", default="128", help="comma-separated tile sizes ('' for none)")
    parser.add_argument("--untiled", default="", help="comma-separated sides to upscale untiled, e.g. 128")
    parser.add_argument("--measure-tiles", type=int, default=0,
                        help="run only the first K tiles of each tiled run and extrapolate its seconds (marked)")
    parser.add_argument("--model", default="/tmp/hybridscene-bench/sd-x4-upscaler-random")
    parser.add_argument("--tiny", action="store_true", help="smoke run: the tiny x4 upscaler from hybridscene.testing")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--upscaler", default="lanczos", help=argparse.SUPPRESS)
    parser.add_argument("--tile", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if args.one:
        print(json.dumps(one(args)))
        return

    model = args.model
    if args.tiny:
        from hybridscene.testing import build_tiny_sd_upscaler

        model = str(build_tiny_sd_upscaler(Path("/tmp/hybridscene-bench/tiny-x4")))
    elif not (Path(model) / "model_index.json").is_file():
        from hybridscene.testing import build_sd_x4_upscaler_random

        print(f"building the full-size x4 upscaler with random weights in {model} (3.3 GB) ...", file=sys.stderr)
        build_sd_x4_upscaler_random(model)

    def run(*extra: str, size: int | None = None) -> dict:
        cmd = [sys.executable, __file__, "--one", "--size", str(size or args.size), "--steps", str(args.steps),
               "--guidance", str(args.guidance), "--measure-tiles", str(args.measure_tiles), *extra]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
        return json.loads(out.stdout.strip().splitlines()[-1])

    results: dict[str, dict] = {f"lanczos {args.size} -> {4 * args.size}": run("--upscaler", "lanczos")}
    for tile in [int(t) for t in args.tiles.split(",") if t]:
        key = f"x4 {args.size} -> {4 * args.size}, tile {tile} overlap {tile // 4}"
        results[key] = run("--upscaler", model, "--tile", str(tile))
        print(f"{key}: {results[key]}", file=sys.stderr)
    for side in [int(s) for s in args.untiled.split(",") if s]:
        key = f"x4 {side} -> {4 * side}, untiled"
        results[key] = run("--upscaler", model, "--tile", "0", size=side)
        print(f"{key}: {results[key]}", file=sys.stderr)
    print(json.dumps({"model": "tiny x4 (hybridscene.testing)" if args.tiny else
                      "stable-diffusion-x4-upscaler architecture, random weights (869 M parameters, float32)",
                      "results": results, "machine": machine(torch=True)}, indent=2))


if __name__ == "__main__":
    main()
