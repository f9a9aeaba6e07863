"""The ``hybridscene`` command. Heavy modules are imported inside each command, so ``--help``
answers at once and never imports torch or a window toolkit."""

from __future__ import annotations

import json
import logging
import sys
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
    from .errors import ConfigError

    try:
        return parse_size(value, param.name or "size")
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


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
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the procedural plate.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def demo(output: str, seconds: float | None, frames: int | None, fps: float, size: tuple[int, int], seed: int, quiet: bool) -> None:
    """Render the demo: shapes circling over a procedural mountain river."""
    from .demo import build_demo_scene
    from .errors import ConfigError
    from .render import render
    from .sinks import VideoSink, sink_class

    if seconds is not None and frames is not None:
        raise ConfigError("give --seconds or --frames, not both")
    if seconds is None and frames is None:
        seconds = 6.0
    if sink_class(output) is VideoSink:
        size = VideoSink.fit_size(size)
    scene = build_demo_scene(size, seed=seed)
    result = render(scene, output, seconds=seconds, frames=frames, fps=fps, size=size, progress=not quiet)
    click.echo(
        f"wrote {result.path}: {result.frames} frames, {result.size[0]}x{result.size[1]} at {result.fps:g} fps "
        f"in {result.seconds:.1f} s ({result.frames / result.seconds:.1f} frames/s)",
        err=True,
    )


if __name__ == "__main__":  # pragma: no cover
    main()
