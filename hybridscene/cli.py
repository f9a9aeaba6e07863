"""The ``hybridscene`` command. Heavy modules are imported inside each command, so ``--help``
answers at once and never imports torch or a window toolkit."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from ._version import __version__


class _StderrHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"{record.levelname.lower()}: {record.getMessage()}", err=True)


def _setup_logging(verbose: int) -> None:
    logger = logging.getLogger("hybridscene")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    logger.propagate = False
    if not verbose:
        # transformers announces optional back-ends it lacks at import (torchvision, ...): noise
        # for a command-line user. Read when transformers is first imported; -v shows it again.
        import os

        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


class _Group(click.Group):
    """Turns library errors into one line on stderr and exit code 1 (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        from .errors import HybridSceneError

        try:
            return super().invoke(ctx)
        except HybridSceneError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    from ._validate import parse_size

    return parse_size(value, f"--{param.name or 'size'}")  # a ConfigError: one line, exit 1


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="hybridscene")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """hybridscene: AI or procedural background plates, a ModernGL foreground, GPU compositing."""
    _setup_logging(verbose)
    _exit_cleanly_on_sigterm()


def _exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so outputs in progress are removed like on Ctrl-C."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--exact", is_flag=True, help="Import torch to ask it for the device (takes seconds).")
def info(as_json: bool, exact: bool) -> None:
    """Show the OpenGL driver, the torch device and the plate cache folder."""
    from .info import collect_info

    data = collect_info(exact_torch=exact)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    width = max(len(k) for k in data)
    for key, value in data.items():
        click.echo(f"{key:<{width}}  {value}")


@main.command()
@click.option("-o", "--output", default="demo.mp4", show_default=True, help="Output: .mp4, .gif, .png (one frame) or DIR/ (PNG sequence).")
@click.option("--seconds", type=float, default=None, help="Length in seconds [default: 6].")
@click.option("--frames", type=int, default=None, help="Length in frames (instead of --seconds).")
@click.option("--fps", type=float, default=30.0, show_default=True, help="Frames per second.")
@click.option("--size", callback=_size, default="1280x720", show_default=True, help="Frame size WIDTHxHEIGHT.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the plate (procedural or AI).")
@click.option("--model", default=None, help="Paint the plate with this text-to-image model (hub id or folder).")
@click.option("--prompt", default="Landscape with mountains and a river", show_default=True, help="Prompt for --model.")
@click.option("--steps", type=int, default=None, help="Denoising steps for --model.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def demo(
    output: str, seconds: float | None, frames: int | None, fps: float, size: tuple[int, int], seed: int,
    model: str | None, prompt: str, steps: int | None, quiet: bool,
) -> None:
    """Render the demo: shapes circling over a mountain river (procedural, or painted by --model)."""
    from .demo import build_demo_scene
    from .errors import ConfigError
    from .export import render
    from .sinks import VideoSink, sink_class

    if seconds is not None and frames is not None:
        raise ConfigError("give --seconds or --frames, not both")
    if seconds is None and frames is None:
        seconds = 6.0
    if sink_class(output) is VideoSink:
        size = VideoSink.fit_size(size)
    plate = None
    if model is not None:
        from .plate.generate import background_plate

        with _step_bar(quiet) as on_step:
            plate = background_plate(size, seed=seed, model=model, prompt=prompt, steps=steps, callback=on_step)
    scene = build_demo_scene(size, seed=seed, plate=plate)
    result = render(scene, output, seconds=seconds, frames=frames, fps=fps, size=size, progress=not quiet)
    click.echo(
        f"wrote {result.path}: {result.frames} frames, {result.size[0]}x{result.size[1]} at {result.fps:g} fps "
        f"in {result.seconds:.1f} s ({result.frames / result.seconds:.1f} frames/s)",
        err=True,
    )


@main.command()
@click.argument("scene_file", metavar="SCENE.py")
@click.option("-o", "--output", default=None, help="Output: .mp4, .gif, .png (one frame) or DIR/ [default: SCENE.mp4].")
@click.option("--seconds", type=float, default=None, help="Length [default: the file's DURATION, else 4].")
@click.option("--frames", type=int, default=None, help="Length in frames (instead of --seconds).")
@click.option("--fps", type=float, default=None, help="Frames per second [default: the file's FPS, else 30].")
@click.option("--size", callback=_size, default=None, help="WIDTHxHEIGHT [default: the file's SIZE, else 1280x720].")
@click.option("--seed", type=int, default=None, help="Passed to build_scene(seed=...) if it takes one.")
@click.option("--model", default=None, help="Paint the plate with this model: passed to build_scene(model=...).")
@click.option("--prompt", default=None, help="Prompt for --model: passed to build_scene(prompt=...).")
@click.option("--layers", default=None, help="Also write per-frame layers for compositing into this folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def render(
    scene_file: str, output: str | None, seconds: float | None, frames: int | None, fps: float | None,
    size: tuple[int, int] | None, seed: int | None, model: str | None, prompt: str | None, layers: str | None,
    quiet: bool,
) -> None:
    """Render a scene file (a .py defining build_scene()) to video, GIF, PNG or a PNG sequence."""
    import os

    from .errors import ConfigError
    from .export import render as render_scene
    from .scenefile import load_scene_file
    from .sinks import VideoSink, sink_class

    if seconds is not None and frames is not None:
        raise ConfigError("give --seconds or --frames, not both")
    output = output or os.path.splitext(os.path.basename(scene_file))[0] + ".mp4"
    out_cls = sink_class(output)  # an unsupported output fails before the scene is built
    loaded = load_scene_file(scene_file, size=size, seed=seed, model=model, prompt=prompt)
    size = size or loaded.size or (1280, 720)
    if out_cls is VideoSink:
        size = VideoSink.fit_size(size)
    fps = fps or loaded.fps or 30.0
    if frames is None and seconds is None:
        seconds = loaded.duration or 4.0
    result = render_scene(loaded.scene, output, seconds=seconds, frames=frames, fps=fps, size=size,
                          progress=not quiet, layers=layers)
    click.echo(
        f"wrote {result.path}: {result.frames} frames, {result.size[0]}x{result.size[1]} at {result.fps:g} fps "
        f"in {result.seconds:.1f} s",
        err=True,
    )


@main.command()
@click.argument("scene_file", metavar="SCENE.py")
@click.option("--size", callback=_size, default=None, help="Render size WIDTHxHEIGHT [default: the file's SIZE, else 1280x720].")
@click.option("--fps", type=float, default=None, help="Cap the frame rate (and set the frame step) [default: the display's rate].")
@click.option("--stats", is_flag=True, help="On exit, print fps=... and frame-time percentiles.")
@click.option("--seconds", type=float, default=None, help="Close by itself after this long.")
@click.option("--paused", is_flag=True, help="Start paused on the first frame.")
@click.option("--backend", default="pyglet", show_default=True, help="moderngl-window backend: pyglet, glfw, pyqt5, pyside2, sdl2, pygame2.")
@click.option("--no-vsync", is_flag=True, help="Do not wait for the display's refresh.")
@click.option("--screenshots", default=".", show_default=True, help="Folder the S key saves PNGs into.")
@click.option("--samples", type=int, default=None, help="MSAA samples [default: 4 on a GPU, 1 on a CPU rasteriser].")
@click.option("--seed", type=int, default=None, help="Passed to build_scene(seed=...) if it takes one.")
@click.option("--model", default=None, help="Paint the plate with this model: passed to build_scene(model=...).")
@click.option("--prompt", default=None, help="Prompt for --model: passed to build_scene(prompt=...).")
def preview(
    scene_file: str, size: tuple[int, int] | None, fps: float | None, stats: bool, seconds: float | None,
    paused: bool, backend: str, no_vsync: bool, screenshots: str, samples: int | None, seed: int | None,
    model: str | None, prompt: str | None,
) -> None:
    """Show a scene file live in a window; saving the file reloads it.

    Keys: space pause, left/right step a frame, Home restart, R repaint the plate with a new
    seed, S screenshot, F frames/s overlay, L cycle layers, Esc quit.
    """
    from .preview import preview as run_preview

    run_preview(scene_file, size=size, fps=fps, stats=stats, seconds=seconds, paused=paused, backend=backend,
                vsync=not no_vsync, screenshots=screenshots, samples=samples, seed=seed, model=model, prompt=prompt)


@contextlib.contextmanager
def _step_bar(quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A ``callback(step, total)`` that drives a progress bar of denoising steps on stderr."""
    bar = None

    def on_step(step: int, total: int) -> None:
        nonlocal bar
        if quiet:
            return
        if bar is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="step", desc="plate", file=sys.stderr)
        bar.update(step - bar.n)

    try:
        yield on_step
    finally:
        if bar is not None:
            bar.close()


def _generate_with_progress(spec: Any, *, quiet: bool, cache: bool = True, acceleration: Any = None) -> Any:
    from .plate.generate import generate_plate

    with _step_bar(quiet) as on_step:
        return generate_plate(spec, cache=cache, callback=on_step, acceleration=acceleration)


@main.command()
@click.argument("prompt")
@click.option("--model", default=None, help="Hub id or local diffusers folder [default: $HYBRIDSCENE_MODEL or CompVis/stable-diffusion-v1-4].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--steps", type=int, default=None, help="Denoising steps [default: the model's: 50, Turbo 1, LCM 4].")
@click.option("--guidance", type=float, default=None, help="Guidance scale [default: 7.5, SDXL 5, Turbo 0].")
@click.option("--size", callback=_size, default=None, help="Generate at WIDTHxHEIGHT (a multiple of 8 for SD) [default: the model's].")
@click.option("--resize", callback=_size, default=None, help="Resize the result to WIDTHxHEIGHT.")
@click.option("--negative", default=None, help="Negative prompt.")
@click.option("--scheduler", default="default", show_default=True, help="default, euler, euler-a, dpm++, dpm++-karras, ddim, pndm, unipc, lcm.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda, mps, cpu), cuda, mps or cpu.")
@click.option("--dtype", default="auto", show_default=True, help="auto (float16 on GPU, float32 on CPU), float32, float16, bfloat16.")
@click.option("--revision", default=None, help="Branch, tag or commit of a hub model.")
@click.option("--vae", default=None, help="A replacement autoencoder (hub id or folder), e.g. madebyollin/taesd: a tiny, fast decoder.")
@click.option("--compile", "compile_mode", default=None, help="torch.compile the denoiser: default, reduce-overhead, max-autotune [default: $HYBRIDSCENE_TORCH_COMPILE or off].")
@click.option("--channels-last/--no-channels-last", default=None, help="Channels-last memory layout for UNet and VAE [default: $HYBRIDSCENE_CHANNELS_LAST or off].")
@click.option("--attention", default=None, help="sdpa (torch picks), sdpa-flash, sdpa-efficient, sdpa-cudnn, sdpa-math or eager [default: $HYBRIDSCENE_ATTENTION or sdpa].")
@click.option("--depth-model", default=None, help="Depth-estimation model (hub id or folder) for a depth map.")
@click.option("--depth-image", default=None, help="A depth file for the plate instead (.npy metres, 16-bit PNG mm).")
@click.option("-o", "--output", default=None, help="Write the image here (.png, .jpg, .webp); depth goes beside it as .depth.npy.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the plate cache.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def plate(
    prompt: str, model: str | None, seed: int, steps: int | None, guidance: float | None, size: Any, resize: Any,
    negative: str | None, scheduler: str, device: str, dtype: str, revision: str | None, vae: str | None,
    compile_mode: str | None, channels_last: bool | None, attention: str | None, depth_model: str | None,
    depth_image: str | None, output: str | None, no_cache: bool, as_json: bool, quiet: bool,
) -> None:
    """Paint an AI background plate from PROMPT (cached: the same inputs load in milliseconds)."""
    import dataclasses

    from .config import get_settings
    from .plate.spec import PlateSpec

    settings = get_settings()
    spec = PlateSpec(
        prompt=prompt, model=model or settings.model, seed=seed, steps=steps, guidance=guidance, size=size,
        resize_to=resize, negative_prompt=negative, scheduler=scheduler, device=device, dtype=dtype,
        revision=revision, vae=vae, depth_model=depth_model, depth_image=depth_image,
    )
    changes: dict[str, Any] = {}
    if compile_mode is not None:
        changes["compile"] = None if compile_mode.lower() in ("off", "none", "no") else compile_mode.lower()
    if channels_last is not None:
        changes["channels_last"] = channels_last
    if attention is not None:
        changes["attention"] = attention.lower()
    acceleration = dataclasses.replace(settings.acceleration, **changes)
    if acceleration.compile and not (quiet or as_json):
        click.echo(f"torch.compile ({acceleration.compile}): on a cache miss the first image also compiles "
                   "the model, often for a minute or more", err=True)
    if output is not None:
        from .plate.plate import _pil_format

        _pil_format(output)  # an unsupported extension fails before any work
    result = _generate_with_progress(spec, quiet=quiet or as_json, cache=not no_cache, acceleration=acceleration)
    depth_output = None
    if output is not None:
        result.plate.save(output)
        if result.plate.depth is not None:
            import os

            import numpy as np

            from .sinks.base import atomic_path

            depth_output = os.path.splitext(output)[0] + ".depth.npy"
            with atomic_path(depth_output) as tmp, open(tmp, "wb") as f:
                np.save(f, result.plate.depth)
    data = {
        "cache": "off" if no_cache else ("hit" if result.cache_hit else "miss"),
        "key": result.key,
        "entry": str(result.entry) if result.entry else None,
        "output": output,
        "depth_output": depth_output,
        "seconds": round(result.seconds, 4),
        "size": list(result.plate.size),
        "model": spec.model,
    }
    if as_json:
        click.echo(json.dumps(data))
    else:
        where = f" -> {output}" if output else ""
        click.echo(f"plate {result.key} ({data['cache']}, {data['seconds']:.2f} s){where}", err=True)


@main.group()
def cache() -> None:
    """List, verify, prune or clear the plate cache."""


@cache.command("ls")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def cache_ls(as_json: bool) -> None:
    """List cached plates, least recently used first."""
    from .plate.cache import PlateCache

    store = PlateCache()
    entries = list(store.entries())
    for e in entries:
        inputs = e.info.get("inputs", {})
        if as_json:
            click.echo(json.dumps({"key": e.key, "bytes": e.bytes, "created": e.created, "path": str(e.path), "inputs": inputs}))
        else:
            size = "x".join(str(v) for v in e.info.get("plate", {}).get("size", [])) or "?"
            click.echo(f"{e.key}  {e.bytes / 1e6:7.2f} MB  {size:>9}  {e.created}  {inputs.get('prompt', '(damaged)')!s:.60}")
    if not as_json:
        click.echo(f"{len(entries)} plates, {sum(e.bytes for e in entries) / 1e6:.2f} MB in {store.root}", err=True)


@cache.command("verify")
def cache_verify() -> None:
    """Check every entry's checksums; remove damaged ones (they are regenerated when next asked for)."""
    from .plate.cache import PlateCache

    good, bad = PlateCache().verify()
    click.echo(f"{len(good)} plates verified, {len(bad)} damaged removed" + (f": {' '.join(bad)}" if bad else ""))


@cache.command("prune")
@click.option("--max-size", required=True, help="Keep at most this much, e.g. 500M or 2G (least recently used go first).")
def cache_prune(max_size: str) -> None:
    """Remove least recently used plates until the cache fits in --max-size."""
    from .plate.cache import PlateCache, parse_bytes

    store = PlateCache()
    removed = store.prune(parse_bytes(max_size))
    click.echo(f"removed {len(removed)} plates; {store.size() / 1e6:.2f} MB left")


@cache.command("clear")
@click.option("--yes", is_flag=True, help="Do not ask.")
def cache_clear(yes: bool) -> None:
    """Remove every cached plate."""
    from .plate.cache import PlateCache

    store = PlateCache()
    if not yes:
        click.confirm(f"remove every plate in {store.plates}?", abort=True)
    click.echo(f"removed {store.clear()} plates")


if __name__ == "__main__":  # pragma: no cover
    main()
