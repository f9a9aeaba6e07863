"""Command-line options for rendering beyond one process (``--shard``, ``--ray``, ``--workers``)
and the ``assemble`` command that joins shards (no output but click's: see `hybridscene.cli`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click


class _ScaleOptions:
    """``--shard K/N``, ``--ray [ADDRESS]`` and ``--workers N`` as parsed."""

    def __init__(self, shard: str | None, ray: str | None, workers: int | None) -> None:
        from .export.shards import parse_shard

        self.shard = parse_shard(shard)
        self.ray = ray
        self.workers = workers
        if workers is not None and ray is None:
            raise click.UsageError("--workers sets how many Ray workers render; add --ray")
        if workers is not None and workers < 1:
            raise click.UsageError(f"--workers must be 1 or more, got {workers}")
        if ray is not None and self.shard is not None:
            raise click.UsageError("--shard renders one part here; --ray renders every part on the cluster: "
                                   "give one of them")

    def executor(self) -> Any:
        """The `RayExecutor` for ``render(ray=...)``, or ``None`` without ``--ray``."""
        if self.ray is None:
            return None
        from .cluster import RayExecutor, require_ray

        require_ray()  # the install command, in one line, before any scene is built
        return RayExecutor(address=None if self.ray == "local" else self.ray, workers=self.workers)


def _scale_options(*, what: str) -> Callable[[Any], Any]:
    """Add ``--shard``, ``--ray`` and ``--workers``; the command receives one ``scale`` argument."""
    options = [
        click.option("--shard", default=None, metavar="K/N",
                     help=f"Make only part K (from 0) of N near-equal parts of the {what} (e.g. a Slurm array task); "
                          "`hybridscene assemble` joins the parts."),
        click.option("--ray", "ray", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
                     help="Render on a Ray cluster: its ADDRESS (auto, ray://head:10001, host:6379), or none for "
                          "RAY_ADDRESS or a local Ray on this machine's cores (needs hybridscene[ray])."),
        click.option("--workers", type=int, default=None,
                     help="Ray workers that render [default: one per CPU the cluster offers]."),
    ]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs["scale"] = _ScaleOptions(kwargs.pop("shard"), kwargs.pop("ray"), kwargs.pop("workers"))
            return command(*args, **kwargs)

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


@click.command()
@click.argument("parts", nargs=-1, required=True, metavar="DIR...")
@click.option("-o", "--output", required=True,
              help="Output: .mp4, .gif or DIR/ for frames; a new folder for --layers or --labels parts.")
@click.option("--crf", type=int, default=None, help="Video quality: libx264 CRF (lower is better) [default: 20, as render].")
@click.option("--no-verify", is_flag=True, help="Do not check each frame against its manifest digest.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def assemble(parts: tuple[str, ...], output: str, crf: int | None, no_verify: bool, quiet: bool) -> None:
    """Join the folders of a render's shards (--shard K/N or --frames A:B) in frame order.

    Checks that the parts come from one render and hold every frame exactly once, then encodes
    the frames once (video, GIF) or joins the folders (PNG frames, --layers, --labels).
    """
    from ._cli_options import _progress_bar
    from .export.shards import assemble as join

    with _progress_bar(quiet, unit="frame", desc="assemble") as progress:
        result = join(list(parts), output, verify=not no_verify, progress=progress,
                      **({"crf": crf} if crf is not None else {}))
    click.echo(f"wrote {result.path}: {result.frames} frames from {result.parts} part{'s' if result.parts != 1 else ''}, "
               f"{result.size[0]}x{result.size[1]} at {result.fps:g} fps in {result.seconds:.1f} s", err=True)
