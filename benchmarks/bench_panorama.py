"""Wide and 360 degree plates by MultiDiffusion (hybridscene/plate/panorama.py) against one plain
image, on the full-size Stable Diffusion v1.4 architecture (random weights built locally from the
published configs: the real model's compute, no download).

    python benchmarks/bench_panorama.py [--model DIR] [--steps 1] [--width 2048] [--height 512]
                                        [--dtype float32] [--tiny]

Times one plain ``pipe(...)`` image at the native 512x512 and one wrapped ``width`` x ``height``
panorama with the same steps, guidance 7.5 and the default (PNDM) scheduler: seconds for each,
windows per step, denoising and decoding apart, and the panorama's denoising per window against
the plain image's (the UNet does the same work per window as per plain image, so it should be
near 1; the decode is of a larger image).
``--tiny`` runs the tiny random-weight pipeline of the tests instead (64x64 native) for a smoke
run. Prints one JSON object with the figures and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from _machine import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="/tmp/hybridscene-bench/sd-v1-4-random")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny pipeline (64x64 native)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    import torch
    from diffusers import AutoPipelineForText2Image

    from hybridscene.plate.panorama import multidiffusion
    from hybridscene.testing import build_sd_v1_4_random, build_tiny_sd_pipeline

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = Path(args.model)
    if args.tiny:
        model = model.parent / "tiny-sd"
        build_tiny_sd_pipeline(model)
        args.width, args.height = args.width * 64 // 512, args.height * 64 // 512
    elif not (model / "model_index.json").is_file():
        print(f"building the full-size SD v1.4 architecture with random weights in {model} ...", file=sys.stderr)
        build_sd_v1_4_random(model)
    dtype = getattr(torch, args.dtype)
    pipe = AutoPipelineForText2Image.from_pretrained(str(model), dtype=dtype).to(args.device)
    pipe.set_progress_bar_config(disable=True)
    native = pipe.unet.config.sample_size * pipe.vae_scale_factor
    common = {"prompt": "Landscape with mountains and a river", "num_inference_steps": args.steps, "guidance_scale": 7.5}

    marks: list[float] = []

    def on_step(p, i, t, kwargs):
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        marks.append(time.perf_counter())
        return kwargs

    def timed(fn):
        """(total seconds, denoising seconds (to the last step's end; the rest is decoding), output)"""
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        marks.clear()
        t0 = time.perf_counter()
        out = fn(torch.Generator(args.device).manual_seed(0))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0, marks[-1] - t0, out

    timed(lambda g: pipe(generator=g, width=native, height=native, output_type="np", callback_on_step_end=on_step,
                         **{**common, "num_inference_steps": 1}))
    plain_s, plain_denoise, _ = timed(lambda g: pipe(generator=g, width=native, height=native, output_type="np",
                                                     callback_on_step_end=on_step, **common))
    pano_s, pano_denoise, out = timed(lambda g: multidiffusion(pipe, generator=g, width=args.width, height=args.height,
                                                              wrap=True, callback_on_step_end=on_step, **common))
    print(json.dumps({
        "model": "tiny-sd" if args.tiny else "sd-v1-4 (random weights)",
        "dtype": args.dtype,
        "device": args.device,
        "steps": args.steps,
        "timesteps": len(pipe.scheduler.timesteps),
        "plain": {"size": [native, native], "seconds": round(plain_s, 3), "denoise_s": round(plain_denoise, 3),
                  "decode_s": round(plain_s - plain_denoise, 3)},
        "panorama": {"size": [args.width, args.height], "wrap": True, "windows": out.windows,
                     "seconds": round(pano_s, 3), "denoise_s": round(pano_denoise, 3),
                     "decode_s": round(pano_s - pano_denoise, 3)},
        "denoise_per_window_vs_plain": round(pano_denoise / out.windows / plain_denoise, 3),
        "machine": machine(torch=True),
    }, indent=2))


if __name__ == "__main__":
    main()
