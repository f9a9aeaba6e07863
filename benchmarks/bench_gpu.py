"""The GPU checklist: run this on a machine with an NVIDIA GPU (an H100 for the published peers).

    python benchmarks/bench_gpu.py [--sections gl,preview,export,generation] [--reps 3]
                                   [--compile-mode max-autotune] [--model DIR] [--turbo-model DIR]
    python benchmarks/bench_gpu.py --quick      # the same code on tiny sizes, to check it on a CPU

1. gl: which OpenGL the headless context got. On a machine with an NVIDIA driver it must be
   NVIDIA's EGL; a fallback to Mesa llvmpipe prints hybridscene's SoftwareRendererWarning and the
   script exits with status 2 (unless --allow-software), since every figure after it would be a
   CPU figure.
2. preview: 1920x1080, the plate, 100,000 particles and one mesh, rendered and composited into a
   frame target as the preview window does at 1:1 (no read-back), with the GPU synchronised
   (``ctx.mgl.finish()``) every frame; frames/s and p50/p99 frame times, with 4x MSAA and without.
3. export: ``hs.render`` of ``examples/glossy.py`` to H.264 at 1280x720 and 1920x1080, frames/s
   (render, pipelined read-back, encode).
4. generation, through hybridscene's own generator (``DiffusionGenerator`` with
   ``hs.Acceleration``): the SD v1.4 architecture with random weights (the real model's compute) at
   512x512, 50 steps, float16 on CUDA (bfloat16/float32 on a CPU): plain diffusers defaults (SDPA),
   eager attention (diffusers' pre-SDPA processor), channels-last, and ``torch.compile`` (with
   channels-last); then the one-step SD-Turbo class (the SD 2.1 architecture, 1 step, no guidance)
   plain, compiled, and compiled with the tiny autoencoder (TAESD architecture). Each variant: one
   warm-up image (which pays the compile; reported as ``first_s``), then the median of ``--reps``.
   Peers: about 1.1 s for SD v1.4-class 50 steps on an H100 with torch.compile; about 10 ms for a
   one-step Turbo model with TensorRT.

Prints one JSON object with the figures and the machine (CPU, GPU, GL renderer, versions).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from _machine import machine

import hybridscene as hs

ROOT = Path(__file__).resolve().parents[1]


def section_gl(args: argparse.Namespace) -> dict[str, Any]:
    from hybridscene.gpu.context import gl_info, nvidia_driver

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", hs.SoftwareRendererWarning)
        ctx = hs.create_context()
    info = gl_info(ctx)
    ctx.release()
    out = {"renderer": info["renderer"], "version": info["version"], "software": info["software"],
           "nvidia_driver": nvidia_driver(), "max_samples": info["max_samples"]}
    for w in caught:
        print(f"\n!!! {w.message}\n", file=sys.stderr)
        out["warning"] = str(w.message)
    return out


def particle_scene(size: tuple[int, int], n: int) -> hs.Scene:
    scene = hs.Scene(hs.procedural_plate("mountains", size=size, seed=1))
    scene.add(hs.ParticleEmitter(rate=n, lifetime=1.0, velocity=(0, 0.5, 0), gravity=(0, -0.5, 0), size=0.05,
                                 color=("#ffffff", 0.8), emit_box=(8, 3, 6)), position=(0, 3, -16))
    ball = scene.add(hs.Mesh.sphere(1.0, color="#e4572e", shading="blinn-phong"), position=(0, 2.5, -10))
    scene.animate(ball, "position", [(0, (-2, 2.5, -10)), (2, (2, 2.5, -10))], loop="pingpong")
    return scene


def section_preview(args: argparse.Namespace) -> dict[str, Any]:
    from hybridscene.gpu.targets import OutputTarget

    size = (480, 270) if args.quick else (1920, 1080)
    n = 2_000 if args.quick else 100_000
    frames = 10 if args.quick else args.preview_frames
    ctx = hs.create_context()
    out: dict[str, Any] = {"size": f"{size[0]}x{size[1]}", "particles": n, "frames": frames}
    for samples in (4, 1):
        scene = particle_scene(size, n)
        with hs.FrameRenderer(ctx, size, samples=samples) as renderer:
            target = OutputTarget(ctx, size)
            for i in range(3):  # warm-up: shaders, plate upload, the emitter's buffers
                renderer.render_to(scene, target.fbo, t=1.0 + i / 60)
            ctx.mgl.finish()
            times = []
            for i in range(frames):
                t0 = time.perf_counter()
                renderer.render_to(scene, target.fbo, t=1.0 + i / 60)
                ctx.mgl.finish()
                times.append(time.perf_counter() - t0)
            target.release()
        ms = sorted(1000 * t for t in times)
        out[f"msaa {renderer.samples}x"] = {
            "fps": round(1000 * len(ms) / sum(ms), 1), "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2)}
        print("preview", out[f"msaa {renderer.samples}x"], file=sys.stderr)
    ctx.release()
    return out


def section_export(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [(320, 180)] if args.quick else [(1280, 720), (1920, 1080)]
    n = 10 if args.quick else args.export_frames
    out: dict[str, Any] = {"scene": "glossy.py", "frames": n}
    ctx = hs.create_context()
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            def scene(size=size):
                return hs.load_scene_file(ROOT / "examples" / "glossy.py", size=size).scene
            hs.render(scene(), Path(tmp) / "warm.mp4", frames=3, size=size, ctx=ctx)
            t0 = time.perf_counter()
            hs.render(scene(), Path(tmp) / "out.mp4", frames=n, size=size, ctx=ctx)
            dt = time.perf_counter() - t0
            out[f"{size[0]}x{size[1]}"] = {"fps": round(n / dt, 1), "seconds": round(dt, 2)}
            print("export", size, out[f"{size[0]}x{size[1]}"], file=sys.stderr)
    ctx.release()
    return out


def _models(args: argparse.Namespace) -> dict[str, Path]:
    from hybridscene import testing

    if args.quick:
        base = Path(tempfile.mkdtemp(prefix="hybridscene-bench-gpu-"))
        sd = testing.build_tiny_sd_pipeline(base / "tiny-sd")
        return {"sd-v1-4": sd, "sd-turbo": sd, "taesd": testing.build_tiny_autoencoder(base / "taesd", scale_factor=2)}
    paths = {"sd-v1-4": Path(args.model), "sd-turbo": Path(args.turbo_model)}
    builders = {"sd-v1-4": testing.build_sd_v1_4_random, "sd-turbo": testing.build_sd_turbo_random}
    for arch, path in paths.items():
        if not (path / "model_index.json").is_file():
            print(f"building the full-size {arch} architecture with random weights in {path} ...", file=sys.stderr)
            builders[arch](path)
    paths["taesd"] = testing.build_tiny_autoencoder(Path(args.model).parent / "taesd-random")
    return paths


def section_generation(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from hybridscene.plate.diffusion import DiffusionGenerator
    from hybridscene.plate.spec import PlateSpec, resolve_spec

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    dtype = "float16" if cuda else ("float32" if args.quick else "bfloat16")
    if cuda and args.compile_mode and args.inductor_tuning:
        # The settings diffusers' "accelerate inference" guide uses with torch.compile on GPUs.
        import torch._inductor.config as inductor

        inductor.conv_1x1_as_mm = True
        inductor.coordinate_descent_tuning = True
        inductor.epilogue_fusion = False
        inductor.coordinate_descent_check_all_directions = True
    models = _models(args)
    size = 64 if args.quick else 512
    steps = 2 if args.quick else args.steps
    mode = args.compile_mode
    variants = [
        # name, architecture, steps, guidance, Acceleration, tiny autoencoder
        ("sd-v1-4 plain (SDPA)", "sd-v1-4", steps, 7.5, hs.Acceleration(), False),
        ("sd-v1-4 eager attention", "sd-v1-4", steps, 7.5, hs.Acceleration(attention="eager"), False),
        ("sd-v1-4 channels-last", "sd-v1-4", steps, 7.5, hs.Acceleration(channels_last=True), False),
        (f"sd-v1-4 compile {mode} + channels-last", "sd-v1-4", steps, 7.5,
         hs.Acceleration(compile=mode, channels_last=True), False),
        ("sd-turbo 1 step plain", "sd-turbo", 1, 0.0, hs.Acceleration(), False),
        (f"sd-turbo 1 step compile {mode}", "sd-turbo", 1, 0.0, hs.Acceleration(compile=mode, channels_last=True), False),
        (f"sd-turbo 1 step compile {mode} + taesd", "sd-turbo", 1, 0.0,
         hs.Acceleration(compile=mode, channels_last=True), True),
    ]
    wanted = args.variants.split(",") if args.variants else None
    out: dict[str, Any] = {"device": device, "dtype": dtype, "size": f"{size}x{size}", "steps": steps,
                           "gpu": torch.cuda.get_device_name() if cuda else None, "results": {}}
    for i, (name, arch, n_steps, guidance, acc, tiny) in enumerate(variants):
        if wanted and str(i) not in wanted and name not in wanted:
            continue
        if acc.compile and not args.compile_mode:
            continue
        spec = PlateSpec(prompt="Landscape with mountains and a river", model=str(models[arch]), seed=0,
                         steps=n_steps, guidance=guidance, size=(size, size), device=device, dtype=dtype,
                         vae=str(models["taesd"]) if tiny else None)
        resolved = resolve_spec(spec)
        gen = DiffusionGenerator(acceleration=acc)
        t0 = time.perf_counter()
        gen.pipeline(resolved)
        load_s = time.perf_counter() - t0
        flags: set[str] = set()
        t0 = time.perf_counter()
        _paint(gen, resolved, flags)
        first_s = time.perf_counter() - t0
        times = []
        for _ in range(args.reps):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            _paint(gen, resolved, flags)
            times.append(time.perf_counter() - t0)
        image_s = statistics.median(times)
        out["results"][name] = {"image_s": round(image_s, 4), "first_s": round(first_s, 2), "load_s": round(load_s, 1),
                                "ms_per_step": round(1000 * image_s / n_steps, 2), "acceleration": acc.as_dict(),
                                "decoder": "AutoencoderTiny" if tiny else "AutoencoderKL",
                                **({"random_weights_gave": sorted(flags)} if flags else {})}
        print("generation", name, out["results"][name], file=sys.stderr)
        gen.release()
        del gen
    return out


def _paint(gen: Any, resolved: Any, flags: set[str]) -> None:
    """One image. Random weights in float16 can overflow to NaN (or decode to black); the compute,
    and so the time, is the same as with real weights, so that is noted rather than fatal."""
    try:
        gen.generate(resolved)
    except hs.PlateError as exc:
        if "NaN" not in str(exc) and "black" not in str(exc):
            raise
        flags.add("NaN" if "NaN" in str(exc) else "black image")


SECTIONS = {"gl": section_gl, "preview": section_preview, "export": section_export, "generation": section_generation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default="gl,preview,export,generation")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and models: check the script, not the GPU")
    parser.add_argument("--allow-software", action="store_true", help="go on when GL runs on llvmpipe")
    parser.add_argument("--preview-frames", type=int, default=300)
    parser.add_argument("--export-frames", type=int, default=300)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--compile-mode", default="max-autotune", help="torch.compile mode; '' skips the compiled variants")
    parser.add_argument("--no-inductor-tuning", dest="inductor_tuning", action="store_false")
    parser.add_argument("--variants", default="", help="comma-separated indexes or names of generation variants")
    parser.add_argument("--model", default="/tmp/hybridscene-bench/sd-v1-4-random")
    parser.add_argument("--turbo-model", default="/tmp/hybridscene-bench/sd-turbo-random")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    names = [s for s in args.sections.split(",") if s]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown sections {unknown}; choose from {list(SECTIONS)}")
    results: dict[str, Any] = {}
    if "gl" in names or "preview" in names or "export" in names:
        results["gl"] = section_gl(args)
        if results["gl"]["software"] and results["gl"]["nvidia_driver"] and not args.allow_software:
            json.dump({"benchmark": "gpu", "results": results, "machine": machine(torch="generation" in names)},
                      sys.stdout, indent=2)
            print()
            sys.exit(2)
    for name in names:
        if name != "gl":
            results[name] = SECTIONS[name](args)
    json.dump({"benchmark": "gpu", "quick": args.quick, "results": results,
               "machine": machine(torch="generation" in names)}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
