"""Plate generation on this CPU with the full-size Stable Diffusion v1.4 architecture (random
weights built locally from the published configs: the compute of the real model, no download),
set beside the paper's 5 min 48 s for one 512x512 image with diffusers on a CPU.

    python benchmarks/bench_plate_generation.py [--presets paper,bf16,dpm25,dpm25-bf16,dpm25-bf16-taesd]
                                                [--model DIR] [--measure-steps K]

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
    # name: (dtype, scheduler, steps, tiny autoencoder)
    "paper": ("float32", "default", 50, False),
    "bf16": ("bfloat16", "default", 50, False),
    "dpm25": ("float32", "dpm++", 25, False),
    "dpm25-bf16": ("bfloat16", "dpm++", 25, False),
    "dpm25-bf16-taesd": ("bfloat16", "dpm++", 25, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--model", default="/tmp/hybridscene-bench/sd-v1-4-random")
    parser.add_argument("--measure-steps", type=int, default=None)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    import torch
    from diffusers import AutoencoderTiny, AutoPipelineForText2Image, DPMSolverMultistepScheduler

    from hybridscene.testing import build_sd_v1_4_random, build_tiny_autoencoder

    model = Path(args.model)
    if not (model / "model_index.json").is_file():
        print(f"building the full-size SD v1.4 architecture with random weights in {model} ...", file=sys.stderr)
        build_sd_v1_4_random(model)
    taesd = build_tiny_autoencoder(model.parent / "taesd-random")

    results = {}
    for name in args.presets.split(","):
        dtype_name, scheduler, steps, tiny_ae = PRESETS[name]
        dtype = getattr(torch, dtype_name)
        t0 = time.perf_counter()
        pipe = AutoPipelineForText2Image.from_pretrained(str(model), dtype=dtype)
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
        pipe("Landscape with mountains and a river", num_inference_steps=run_steps, guidance_scale=7.5,
             width=args.size, height=args.size, generator=torch.Generator("cpu").manual_seed(0),
             output_type="np", callback_on_step_end=on_step)
        end = time.perf_counter()
        diffs = [b - a for a, b in zip(marks, marks[1:])]
        per_step = statistics.median(diffs) if diffs else marks[0] - start
        first = marks[0] - start - per_step  # text encoding and set-up before the first step
        decode = end - marks[-1]
        image_s = end - start if not args.measure_steps else first + steps * per_step + decode
        results[name] = {
            "dtype": dtype_name, "scheduler": type(pipe.scheduler).__name__, "steps": steps,
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
