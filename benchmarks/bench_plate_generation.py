"""Plate generation on this CPU with the full-size Stable Diffusion v1.4 architecture (random
weights built locally from the published configs: the compute of the real model, no download),
set beside the paper's 5 min 48 s for one 512x512 image with diffusers on a CPU; and the
one-step SD-Turbo class (the SD 2.1 architecture, one step, no guidance).

    python benchmarks/bench_plate_generation.py [--presets paper,bf16,dpm25,...,turbo-1step]
                                                [--model DIR] [--turbo-model DIR] [--measure-steps K]

Each preset is one full image at 512x512 (prompt "Landscape with mountains and a river", seed 0),
timed with a step callback: seconds per denoising step (median), seconds for the whole image, and
the VAE decode. `--measure-steps K` runs only K steps per preset and extrapolates the image time
(marked "extrapolated": true). Prints one JSON object with the figures and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from _machine import machine

PAPER_SECONDS = 5 * 60 + 48
PRESETS = {
    # name: (architecture, dtype, scheduler, steps, tiny autoencoder, guidance)
    "paper": ("sd-v1-4", "float32", "default", 50, False, 7.5),
    "bf16": ("sd-v1-4", "bfloat16", "default", 50, False, 7.5),
    "dpm25": ("sd-v1-4", "float32", "dpm++", 25, False, 7.5),
    "dpm20-bf16": ("sd-v1-4", "bfloat16", "dpm++", 20, False, 7.5),
    "dpm25-bf16": ("sd-v1-4", "bfloat16", "dpm++", 25, False, 7.5),
    "dpm25-bf16-taesd": ("sd-v1-4", "bfloat16", "dpm++", 25, True, 7.5),
    "turbo-1step": ("sd-turbo", "float32", "default", 1, False, 0.0),
    "turbo-1step-bf16-taesd": ("sd-turbo", "bfloat16", "default", 1, True, 0.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--model", default="/tmp/hybridscene-bench/sd-v1-4-random")
    parser.add_argument("--turbo-model", default="/tmp/hybridscene-bench/sd-turbo-random")
    parser.add_argument("--measure-steps", type=int, default=None)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    import torch
    from diffusers import AutoencoderTiny, AutoPipelineForText2Image, DPMSolverMultistepScheduler

    from hybridscene.testing import build_sd_turbo_random, build_sd_v1_4_random, build_tiny_autoencoder

    names = args.presets.split(",")
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        raise SystemExit(f"unknown presets {unknown}; choose from {list(PRESETS)}")
    models = {"sd-v1-4": Path(args.model), "sd-turbo": Path(args.turbo_model)}
    builders = {"sd-v1-4": build_sd_v1_4_random, "sd-turbo": build_sd_turbo_random}
    for arch in sorted({PRESETS[n][0] for n in names}):
        if not (models[arch] / "model_index.json").is_file():
            print(f"building the full-size {arch} architecture with random weights in {models[arch]} ...",
                  file=sys.stderr)
            builders[arch](models[arch])
    taesd = build_tiny_autoencoder(models["sd-v1-4"].parent / "taesd-random")

    results = {}
    for name in names:
        arch, dtype_name, scheduler, steps, tiny_ae, guidance = PRESETS[name]
        dtype = getattr(torch, dtype_name)
        t0 = time.perf_counter()
        pipe = AutoPipelineForText2Image.from_pretrained(str(models[arch]), dtype=dtype)
        if scheduler == "dpm++":
            pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, algorithm_type="dpmsolver++")
        if tiny_ae:
            pipe.vae = AutoencoderTiny.from_pretrained(str(taesd), dtype=dtype)
        pipe.set_progress_bar_config(disable=True)
        load_s = time.perf_counter() - t0
        run_steps = args.measure_steps or steps
        marks: list[float] = []

        def on_step(p, i, t, kw, marks=marks):
            marks.append(time.perf_counter())
            return kw

        print(f"{name}: {run_steps} steps {dtype_name} {scheduler}{' taesd' if tiny_ae else ''} ...", file=sys.stderr)
        start = time.perf_counter()
        pipe("Landscape with mountains and a river", num_inference_steps=run_steps, guidance_scale=guidance,
             width=args.size, height=args.size, generator=torch.Generator("cpu").manual_seed(0),
             output_type="np", callback_on_step_end=on_step)
        end = time.perf_counter()
        diffs = [b - a for a, b in zip(marks, marks[1:])]
        if diffs:
            per_step = statistics.median(diffs)
            first = marks[0] - start - per_step  # text encoding and set-up before the first step
        else:  # one step: the step and the set-up cannot be told apart by the callback
            per_step, first = marks[0] - start, 0.0
        decode = end - marks[-1]
        image_s = end - start if not args.measure_steps else first + steps * per_step + decode
        results[name] = {
            "architecture": arch, "guidance": guidance, "dtype": dtype_name, "scheduler": type(pipe.scheduler).__name__, "steps": steps,
            "decoder": "AutoencoderTiny" if tiny_ae else "AutoencoderKL",
            "seconds_per_step": round(per_step, 3), "decode_s": round(decode, 3), "setup_s": round(first, 3),
            "image_s": round(image_s, 1), "vs_paper": round(PAPER_SECONDS / image_s, 2),
            "extrapolated": bool(args.measure_steps), "load_s": round(load_s, 1),
        }
        print(json.dumps({name: results[name]}), file=sys.stderr)
        del pipe

    json.dump({"benchmark": "plate_generation", "size": f"{args.size}x{args.size}", "paper_seconds": PAPER_SECONDS,
               "results": results, "machine": machine(torch=True)}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
