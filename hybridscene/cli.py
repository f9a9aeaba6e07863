"""The ``hybridscene`` command. Heavy modules are imported inside each command, so ``--help``
answers at once and never imports torch or a window toolkit."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import click

from ._cli_options import _PlateOptions, _plate_options, _progress_bar
from ._cli_scale import _scale_options, _ScaleOptions, assemble
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


def _fail_on_os_error(exc: OSError) -> None:
    """One ``error:`` line for an ``OSError`` that reached the command line (typically writing
    stdout to a full device or a closed pipe); stdout is then pointed at /dev/null so that
    Python's flush at exit adds no second message."""
    import os

    from .atomic import os_error_message

    where = exc.filename
    if where is None:  # the library names its files (SinkError); a nameless write is to stdout
        where = "standard output"
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
    click.echo(f"error: {os_error_message(exc, where)}", err=True)
    sys.exit(1)


class _Group(click.Group):
    """Turns library errors into one line on stderr and exit code 1 (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        from .errors import HybridSceneError

        try:
            return super().invoke(ctx)
        except HybridSceneError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:  # stdout is /dev/full or a closed pipe (library writes raise SinkError)
            _fail_on_os_error(exc)


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
    """Turn SIGTERM and SIGHUP (the terminal closed) into SystemExit, so outputs in progress
    are removed like on Ctrl-C."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if signum is not None:
                signal.signal(signum, lambda signum, frame: sys.exit(128 + signum))


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


def _announce_compile(acceleration: Any, quiet: bool) -> None:
    if acceleration is not None and acceleration.compile and not quiet:
        click.echo(f"torch.compile ({acceleration.compile}): on a cache miss the first image also compiles "
                   "the model, often for a minute or more", err=True)


def _check_length(frames: int | None, seconds: float | None, fps: float | None = None) -> None:
    """The export's own check of --frames/--seconds/--fps, before a scene (and its plate) is built."""
    from .export import frame_count

    frame_count(frames, seconds, *(() if fps is None else (fps,)))


def _preflight(size: tuple[int, int], *, layers: bool = False) -> None:
    """The export's size checks (driver limits, memory), before a plate is painted at ``size``."""
    from .config import get_settings
    from .gpu.targets import preflight_size

    preflight_size(size, samples=get_settings().msaa, layers=layers)


def _wrote(result: Any, build_seconds: float, *, rate: bool = False) -> str:
    """``wrote x.mp4: 48 frames, 640x360 at 24 fps in 3.1 s (scene and plate 0.4 s, frames 2.7 s)``"""
    per_second = f", {result.frames / result.seconds:.1f} frames/s" if rate and result.seconds > 0 else ""
    return (
        f"wrote {result.path}: {result.frames} frames, {result.size[0]}x{result.size[1]} at {result.fps:g} fps "
        f"in {build_seconds + result.seconds:.1f} s (scene and plate {build_seconds:.1f} s, "
        f"frames {result.seconds:.1f} s{per_second})"
    )


@main.command()
@click.option("-o", "--output", default="demo.mp4", show_default=True, help="Output: .mp4, .gif, .png (one frame) or DIR/ (PNG sequence).")
@click.option("--seconds", type=float, default=None, help="Length in seconds [default: 6].")
@click.option("--frames", type=int, default=None, help="Length in frames (instead of --seconds).")
@click.option("--fps", type=float, default=30.0, show_default=True, help="Frames per second.")
@click.option("--size", callback=_size, default="1280x720", show_default=True, help="Frame size WIDTHxHEIGHT.")
@_plate_options(model_help="Paint the plate with this text-to-image model (hub id or folder).",
                seed_default=1, seed_help="Seed of the plate (procedural or AI).")
@click.option("--prompt", default="Landscape with mountains and a river", show_default=True, help="Prompt for --model.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def demo(
    output: str, seconds: float | None, frames: int | None, fps: float, size: tuple[int, int], prompt: str,
    quiet: bool, plate_opts: _PlateOptions,
) -> None:
    """Render the demo: shapes circling over a mountain river (procedural, or painted by --model)."""
    import time

    from .demo import build_demo_scene
    from .errors import ConfigError
    from .export import render
    from .sinks import VideoSink, sink_class

    # 1. Validate (the library's checks, before the plate is painted).
    _check_length(frames, seconds, fps)
    if sink_class(output) is VideoSink:
        size = VideoSink.fit_size(size)  # the plate is painted at the frame size
    _preflight(size)
    options = plate_opts.plate_options()
    if plate_opts.model is None and options:
        from .scenefile import _option

        raise ConfigError(f"{', '.join(_option(k) for k in options)} given without --model: the demo's plate is "
                          "procedural; add --model M or remove them")
    _announce_compile(options.get("acceleration"), quiet)
    # 2. The plate and the scene, 3. the frames.
    t0 = time.perf_counter()
    plate = None
    if plate_opts.model is not None:
        from .plate.generate import background_plate, plate_defaults

        with _step_bar(quiet) as on_step, plate_defaults(callback=on_step, **options):
            plate = background_plate(size, seed=plate_opts.seed, model=plate_opts.model, prompt=prompt)
    scene = build_demo_scene(size, seed=plate_opts.seed, plate=plate)
    build_seconds = time.perf_counter() - t0
    result = render(scene, output, seconds=6.0 if seconds is None and frames is None else seconds, frames=frames,
                    fps=fps, size=size, progress=not quiet)
    click.echo(_wrote(result, build_seconds, rate=True), err=True)


@main.command()
@click.argument("scene_file", metavar="SCENE.py")
@click.option("-o", "--output", default=None, help="Output: .mp4, .gif, .png (one frame) or DIR/ [default: SCENE.mp4].")
@click.option("--seconds", type=float, default=None, help="Length [default: the file's DURATION, else 4].")
@click.option("--frames", default=None, metavar="N|A:B",
              help="Length in frames (instead of --seconds), or only frames A to B-1 of the film (a half-open range).")
@click.option("--fps", type=float, default=None, help="Frames per second [default: the file's FPS, else 30].")
@click.option("--size", callback=_size, default=None, help="WIDTHxHEIGHT [default: the file's SIZE, else 1280x720].")
@_plate_options(model_help="Paint the plate with this model: passed to build_scene(model=...).",
                seed_default=None, seed_help="Passed to build_scene(seed=...).")
@click.option("--prompt", default=None, help="Prompt for --model: passed to build_scene(prompt=...).")
@_scale_options(what="frames")
@click.option("--layers", default=None, metavar="DIR", help="Also write per-frame render passes for compositing into this folder.")
@click.option("--passes", default=None, metavar="LIST",
              help="Passes for --layers, comma-separated: composite, plate, plate_depth, foreground, depth, ids, "
                   "shadow, normals, flow; or all [default: all but normals and flow].")
@click.option("--layer-format", type=click.Choice(["png", "exr"]), default="png", show_default=True,
              help="--layers as PNG and .npy files, or one multi-layer OpenEXR per frame (linear, half float).")
@click.option("--labels", default=None, metavar="DIR",
              help="Also write ground-truth labels here: COCO coco.json, cameras.json, objects.json, the frames.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def render(
    scene_file: str, output: str | None, seconds: float | None, frames: str | None, fps: float | None,
    size: tuple[int, int] | None, prompt: str | None, layers: str | None, passes: str | None, layer_format: str,
    labels: str | None, quiet: bool, plate_opts: _PlateOptions, scale: _ScaleOptions,
) -> None:
    """Render a scene file (a .py defining build_scene()) to video, GIF, PNG or a PNG sequence.

    The plate options (--steps, --guidance, ...) reach the AI plate the file paints with
    hs.background_plate(size, model=model, ...). --frames A:B or --shard K/N render part of the
    film into a folder that `hybridscene assemble` joins; --ray renders on a Ray cluster.
    """
    import os
    import time

    from .export import render as render_scene
    from .export.shards import parse_frames
    from .plate.generate import plate_defaults
    from .scenefile import SceneSource, load_scene_file
    from .sinks import VideoSink, sink_class

    # 1. Validate (the library's checks, before the scene and its plate are built).
    length = parse_frames(frames)
    _check_length(None if isinstance(length, range) else length, seconds, fps)
    output = output or os.path.splitext(os.path.basename(scene_file))[0] + ".mp4"
    out_cls = sink_class(output)
    _check_pass_outputs(output, layers, passes, layer_format, labels)
    if size is not None:
        _preflight(size, layers=layers is not None or labels is not None)
    options = plate_opts.plate_options()
    _announce_compile(options.get("acceleration"), quiet)
    source = SceneSource(scene_file, options={"size": size, "seed": plate_opts.seed, "model": plate_opts.model,
                                              "prompt": prompt}, plate_options=options)
    # 2. The scene and its plate (here, or on the cluster), 3. the frames.
    t0 = time.perf_counter()
    if scale.ray is None:
        with _step_bar(quiet) as on_step, plate_defaults(callback=on_step):
            loaded = load_scene_file(scene_file, size=size, seed=plate_opts.seed, model=plate_opts.model,
                                     prompt=prompt, plate_options=options)
        scene, defaults = loaded.scene, (loaded.duration, loaded.fps, loaded.size)
    else:
        scene, defaults = source, source.defaults()
    build_seconds = time.perf_counter() - t0
    size = size or defaults[2] or (1280, 720)
    if out_cls is VideoSink:
        size = VideoSink.fit_size(size)
    if length is None and seconds is None:
        seconds = defaults[0] or 4.0
    fps = (defaults[1] or 30.0) if fps is None else fps  # --fps 0 is an error, not the default
    t1 = time.perf_counter()
    result = render_scene(scene, output, seconds=seconds, frames=length, fps=fps, shard=scale.shard,
                          size=size, progress=not quiet, layers=layers, passes=passes, layer_format=layer_format,
                          labels=labels, manifest={"scene": source.describe()}, ray=scale.executor())
    if scale.ray is not None:  # the scene and plate were built on the cluster, inside the render
        total = time.perf_counter() - t1
        click.echo(f"wrote {result.path}: {result.frames} frames, {result.size[0]}x{result.size[1]} at "
                   f"{result.fps:g} fps in {total:.1f} s on Ray (Ray and plates "
                   f"{total - result.seconds:.1f} s, workers and frames {result.seconds:.1f} s)", err=True)
        return
    click.echo(_wrote(result, build_seconds), err=True)


def _check_pass_outputs(output: str, layers: str | None, passes: str | None, layer_format: str,
                        labels: str | None) -> None:
    """--layers, --passes, --layer-format and --labels make sense together, before any work."""
    from ._validate import check_outputs_apart
    from .compose.passes import check_passes

    if layers is None and (passes is not None or layer_format != "png"):
        raise click.UsageError(f"{'--passes' if passes is not None else '--layer-format'} chooses what --layers writes; "
                               "add --layers DIR")
    check_passes(passes)
    for folder, name in ((layers, "--layers"), (labels, "--labels")):
        if folder is not None:
            check_outputs_apart(output, folder, ("-o", name))
    if layers is not None and labels is not None:
        check_outputs_apart(layers, labels, ("--layers", "--labels"))
    if layer_format == "exr":
        from .sinks.exr import require_openexr

        require_openexr()


@main.command()
@click.argument("scene_file", metavar="SCENE.py")
@click.option("--count", type=int, required=True, help="Number of items (variations) to make.")
@click.option("--out", required=True, metavar="DIR", help="Dataset folder; an existing dataset is resumed.")
@click.option("--prompts", default=None, metavar="FILE",
              help="Text file, one prompt per line: item k gets build_scene(prompt=line k mod lines).")
@click.option("--seconds", type=float, default=None, help="Length of each item [default: the file's DURATION, else 4].")
@click.option("--frames", type=int, default=None, help="Length in frames (instead of --seconds).")
@click.option("--fps", type=float, default=None, help="Frames per second [default: the file's FPS, else 30].")
@click.option("--size", callback=_size, default=None, help="WIDTHxHEIGHT [default: the file's SIZE, else 1280x720].")
@_plate_options(model_help="Paint the plates with this model: passed to build_scene(model=...).",
                seed_default=0, seed_help="Item k gets build_scene(seed=SEED + k).")
@click.option("--passes", default="depth,ids,normals,flow", show_default=True, metavar="LIST",
              help="Render passes per item, comma-separated (see render --passes) or all.")
@click.option("--layer-format", type=click.Choice(["png", "exr"]), default="png", show_default=True,
              help="Passes as PNG and .npy files, or one multi-layer OpenEXR per frame.")
@_scale_options(what="items")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def dataset(
    scene_file: str, count: int, out: str, prompts: str | None, seconds: float | None, frames: int | None,
    fps: float | None, size: tuple[int, int] | None, passes: str, layer_format: str, quiet: bool,
    plate_opts: _PlateOptions, scale: _ScaleOptions,
) -> None:
    """Render COUNT variations of a scene file as a labelled dataset: DIR/000000/labels (COCO,
    cameras, objects, frames) and passes, DIR/coco.json, DIR/manifest.json.

    Item k gets build_scene(seed=SEED + k) and a prompt from --prompts. Each item appears whole;
    rerunning the command resumes (finished, intact items are skipped). --shard K/N makes part of
    the items (shards may share DIR); --ray makes them on a Ray cluster.
    """
    from .export.dataset import make_dataset

    options = plate_opts.plate_options()
    _announce_compile(options.get("acceleration"), quiet)
    result = make_dataset(scene_file, out, count=count, seed=plate_opts.seed or 0, prompts=prompts,
                          model=plate_opts.model, plate_options=options, frames=frames, seconds=seconds, fps=fps,
                          size=size, passes=passes, layer_format=layer_format, progress=not quiet,
                          shard=scale.shard, ray=scale.executor())
    per_item = f", {result.seconds / result.done:.2f} s per item" if result.done else ""
    click.echo(f"wrote {result.out}: {result.items} items ({result.done} made, {result.skipped} already done) "
               f"in {result.seconds:.1f} s{per_item}", err=True)


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
@click.option("--render-scale", default=None, metavar="auto|SCALE",
              help="auto: draw below full size while frames miss the frame rate (down to 0.5, filtered up); "
                   "a number in 0.25..1 fixes the scale [default: HYBRIDSCENE_PREVIEW_SCALE, else auto].")
@_plate_options(model_help="Paint the plate with this model: passed to build_scene(model=...).",
                seed_default=None, seed_help="Passed to build_scene(seed=...).")
@click.option("--prompt", default=None, help="Prompt for --model: passed to build_scene(prompt=...).")
def preview(
    scene_file: str, size: tuple[int, int] | None, fps: float | None, stats: bool, seconds: float | None,
    paused: bool, backend: str, no_vsync: bool, screenshots: str, samples: int | None, render_scale: str | None,
    prompt: str | None, plate_opts: _PlateOptions,
) -> None:
    """Show a scene file live in a window; saving the file reloads it.

    Keys: space pause, left/right step a frame, Home restart, R repaint the plate with a new
    seed, S screenshot, F frames/s overlay, L cycle layers, Esc quit.
    """
    from .live import preview as run_preview
    from .plate.generate import plate_defaults

    if render_scale is not None:
        from .config import check_render_scale

        render_scale = check_render_scale(render_scale, "--render-scale")  # type: ignore[assignment]
    options = plate_opts.plate_options()
    _announce_compile(options.get("acceleration"), False)
    # The plate options hold for every load of the file (the first and each reload): the
    # scene's hs.background_plate() takes them, and load_scene_file reports them unused.
    with plate_defaults(**options):
        result = run_preview(scene_file, size=size, fps=fps, stats=stats, seconds=seconds, paused=paused,
                             backend=backend, vsync=not no_vsync, screenshots=screenshots, samples=samples,
                             seed=plate_opts.seed, model=plate_opts.model, prompt=prompt,
                             render_scale=render_scale)
    if stats:
        click.echo(result.line())


@main.command()
@click.argument("scene_file", metavar="SCENE.py")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any but loopback needs a token (one is generated when not given).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0 picks a free one).")
@click.option("--size", callback=_size, default=None, help="Render size WIDTHxHEIGHT [default: the file's SIZE, else 1280x720].")
@click.option("--fps", type=float, default=None, help="Render rate and frame step [default: the file's FPS, else 30].")
@click.option("--token", default=None, help="Secret every request must carry (?token=..., or the cookie the page sets).")
@click.option("--stats", is_flag=True, help="On exit, print fps=... and frame-time percentiles.")
@click.option("--seconds", type=float, default=None, help="Stop by itself after this long.")
@click.option("--paused", is_flag=True, help="Start paused on the first frame.")
@click.option("--samples", type=int, default=None, help="MSAA samples [default: 4 on a GPU, 1 on a CPU rasteriser].")
@click.option("--render-scale", default=None, metavar="auto|SCALE",
              help="auto: while playing, draw below full size when frames miss the frame rate (down to 0.5, "
                   "shown at full size); a number in 0.25..1 fixes the scale [default: HYBRIDSCENE_PREVIEW_SCALE, else auto].")
@_plate_options(model_help="Paint the plate with this model: passed to build_scene(model=...).",
                seed_default=None, seed_help="Passed to build_scene(seed=...).")
@click.option("--prompt", default=None, help="Prompt for --model: passed to build_scene(prompt=...).")
def serve(
    scene_file: str, host: str, port: int, size: tuple[int, int] | None, fps: float | None, token: str | None,
    stats: bool, seconds: float | None, paused: bool, samples: int | None, render_scale: str | None,
    prompt: str | None, plate_opts: _PlateOptions,
) -> None:
    """Serve a scene file live to a web browser (MJPEG); saving the file reloads it.

    Open the printed URL. Keys on the page as in the window: space pause, left/right step a
    frame, Home or 0 restart, R repaint the plate, S screenshot, L cycle layers, F stats.
    Localhost only by default; from another machine use `ssh -L 8765:localhost:8765 HOST`.
    Ctrl-C or SIGTERM stops it.
    """
    from .live import serve as run_serve
    from .plate.generate import plate_defaults

    if render_scale is not None:
        from .config import check_render_scale

        render_scale = check_render_scale(render_scale, "--render-scale")  # type: ignore[assignment]
    options = plate_opts.plate_options()
    _announce_compile(options.get("acceleration"), False)

    def ready(server: Any) -> None:
        click.echo(f"serving {scene_file} at {server.url}  (Ctrl-C to stop)", err=True)

    with plate_defaults(**options):
        result = run_serve(scene_file, host=host, port=port, size=size, fps=fps, token=token, stats=stats,
                           seconds=seconds, paused=paused, samples=samples, render_scale=render_scale,
                           seed=plate_opts.seed, model=plate_opts.model, prompt=prompt, on_ready=ready)
    if stats:
        click.echo(result.line())


def _step_bar(quiet: bool) -> contextlib.AbstractContextManager[Callable[[int, int], None]]:
    """A ``callback(step, total)`` that drives a progress bar of denoising steps on stderr."""
    return _progress_bar(quiet, unit="step", desc="plate")


def _generate_with_progress(spec: Any, *, quiet: bool, cache: bool = True, acceleration: Any = None) -> Any:
    from .plate.generate import generate_plate

    with _step_bar(quiet) as on_step:
        return generate_plate(spec, cache=cache, callback=on_step, acceleration=acceleration)


@main.command()
@click.argument("prompt")
@_plate_options(model_help="Hub id or local diffusers folder [default: $HYBRIDSCENE_MODEL or CompVis/stable-diffusion-v1-4].",
                seed_default=0, seed_help=None)
@click.option("--size", callback=_size, default=None, help="Generate at WIDTHxHEIGHT (a multiple of 8 for SD) [default: the model's].")
@click.option("--resize", callback=_size, default=None, help="Resize the result to WIDTHxHEIGHT.")
@click.option("--depth-image", default=None, help="A depth file for the plate instead (.npy metres, 16-bit PNG mm).")
@click.option("-o", "--output", default=None, help="Write the image here (.png, .jpg, .webp); depth goes beside it as .depth.npy.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the plate cache.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def plate(
    prompt: str, size: Any, resize: Any, depth_image: str | None, output: str | None, no_cache: bool,
    as_json: bool, quiet: bool, plate_opts: _PlateOptions,
) -> None:
    """Paint an AI background plate from PROMPT (cached: the same inputs load in milliseconds)."""
    from .config import get_settings
    from .plate.spec import PlateSpec

    settings = get_settings()
    spec = PlateSpec(
        prompt=prompt, model=plate_opts.model or settings.model, seed=plate_opts.seed, size=size, resize_to=resize,
        depth_image=depth_image, **plate_opts.spec_fields(),
    )
    acceleration = plate_opts.acceleration() or settings.acceleration
    _announce_compile(acceleration, quiet or as_json)
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

            from .atomic import atomic_path

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
    from .plate.relief_cache import relief_files

    store = PlateCache()
    entries = list(store.entries())  # a cache that is not a folder: one error line
    for e in entries:
        inputs = e.info.get("inputs", {})
        if as_json:
            click.echo(json.dumps({"key": e.key, "bytes": e.bytes, "created": e.created, "path": str(e.path), "inputs": inputs}))
        else:
            size = "x".join(str(v) for v in e.info.get("plate", {}).get("size", [])) or "?"
            click.echo(f"{e.key}  {e.bytes / 1e6:7.2f} MB  {size:>9}  {e.created}  {inputs.get('prompt', '(damaged)')!s:.60}")
    if not as_json:
        reliefs = relief_files(store.root)  # each plate's relief, computed once (see hybridscene.plate.relief_cache)
        click.echo(f"{len(entries)} plates, {sum(e.bytes for e in entries) / 1e6:.2f} MB; {len(reliefs)} reliefs, "
                   f"{sum(r[1] for r in reliefs) / 1e6:.2f} MB in {store.root}", err=True)


@cache.command("verify")
def cache_verify() -> None:
    """Check every entry's checksums; remove damaged ones (they are regenerated when next asked for)."""
    from .plate.cache import PlateCache
    from .plate.relief_cache import verify_reliefs

    store = PlateCache()
    good, bad = store.verify()
    click.echo(f"{len(good)} plates verified, {len(bad)} damaged removed" + (f": {' '.join(bad)}" if bad else ""))
    whole, broken = verify_reliefs(store.root)  # reliefs: checked on every read too, and computed again if damaged
    click.echo(f"{whole} reliefs verified, {len(broken)} damaged removed" + (f": {' '.join(broken)}" if broken else ""))
    _cache_failures(store, "damaged plates")


@cache.command("prune")
@click.option("--max-size", required=True, help="Keep at most this much, e.g. 500M or 2G (least recently used go first).")
def cache_prune(max_size: str) -> None:
    """Remove cached reliefs, then least recently used plates, until the cache fits in --max-size."""
    from .plate.cache import PlateCache, parse_bytes

    store = PlateCache()
    removed = store.prune(parse_bytes(max_size))
    click.echo(f"removed {len(removed)} plates; {store.size() / 1e6:.2f} MB left")
    _cache_failures(store, "plates")


@cache.command("clear")
@click.option("--yes", is_flag=True, help="Do not ask.")
def cache_clear(yes: bool) -> None:
    """Remove every cached plate and plate relief."""
    from .plate.cache import PlateCache

    store = PlateCache()
    if not yes:
        click.confirm(f"remove every plate and relief in {store.root}?", abort=True)
    click.echo(f"removed {store.clear()} plates")
    _cache_failures(store, "plates")


def _cache_failures(store: Any, what: str) -> None:
    """Say what `PlateCache` could not remove: entries in use are a note, anything else one
    error line (exit 1)."""
    from .errors import PlateError

    busy = [k for k, why in store.failures.items() if why == "in use by another process"]
    if busy:
        click.echo(f"note: skipped {len(busy)} {what} in use by another process: {' '.join(busy)}", err=True)
    failed = {k: why for k, why in store.failures.items() if k not in busy}
    if failed:
        reasons = "; ".join(sorted(set(failed.values())))
        n = sum(k.endswith(".npz") for k in failed)  # reliefs are noted by file name, plates by key
        what = f"{what} and {n} reliefs" if n else what
        raise PlateError(f"{len(failed) - n} {what} could not be removed from {store.root} ({reasons})")


main.add_command(assemble)

if __name__ == "__main__":  # pragma: no cover
    main()
