"""Option parsing the ``hybridscene`` commands share (no output: only `hybridscene.cli` prints):
the plate options every command that paints a plate takes, parsed into one `_PlateOptions`."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from .errors import ConfigError


class _PlateOptions:
    """The plate options ``plate``, ``demo``, ``render`` and ``preview`` share, as parsed by
    `_plate_options` (defaults, like ``--scheduler default``, count as not given)."""

    NAMES = ("model", "seed", "steps", "guidance", "negative", "scheduler", "device", "dtype", "revision", "vae",
             "compile_mode", "channels_last", "attention", "depth_model", "layout", "layout_image", "layout_depth",
             "controlnet", "control_scale", "strength", "upscale", "upscaler", "wrap", "tiling")

    def __init__(self, values: dict[str, Any]) -> None:
        self.model: str | None = values["model"]
        self.seed: int | None = values["seed"]
        self._values = values

    def spec_fields(self) -> dict[str, Any]:
        """The ``PlateSpec`` fields given on the command line."""
        v = self._values
        fields = {"steps": v["steps"], "guidance": v["guidance"], "negative_prompt": v["negative"],
                  "revision": v["revision"], "vae": v["vae"], "depth_model": v["depth_model"],
                  "scheduler": None if v["scheduler"] == "default" else v["scheduler"],
                  "device": None if v["device"] == "auto" else v["device"],
                  "dtype": None if v["dtype"] == "auto" else v["dtype"]}
        fields.update(self._layout_fields())
        if v["upscale"] is not None:
            fields["upscale"] = v["upscale"]
        if v["upscaler"] is not None:
            if v["upscale"] is None:
                raise ConfigError("--upscaler given without --upscale FACTOR; add e.g. --upscale 4")
            fields["upscaler"] = v["upscaler"]
        if v["wrap"]:
            fields["wrap"] = True
        if v["tiling"] is not None:
            fields["tiling"] = v["tiling"]
        return {k: value for k, value in fields.items() if value is not None}

    def _layout_fields(self) -> dict[str, Any]:
        """``layout``, ``controlnet``, ``control_scale`` and ``strength`` from ``--layout NAME[:SEED]``
        or ``--layout-image IMG --layout-depth DEPTH``, ``--controlnet`` (repeatable) and the rest."""
        v = self._values
        fields: dict[str, Any] = {}
        if v["layout"] is not None and (v["layout_image"] or v["layout_depth"]):
            raise ConfigError("give --layout NAME[:SEED] or --layout-image IMG --layout-depth DEPTH, not both")
        if v["layout"] is not None:
            fields["layout"] = v["layout"]
        elif v["layout_image"] or v["layout_depth"]:
            if not (v["layout_image"] and v["layout_depth"]):
                missing = "--layout-depth DEPTH" if v["layout_image"] else "--layout-image IMG"
                raise ConfigError(f"a layout from files needs both --layout-image and --layout-depth; add {missing}")
            from .plate.layout import Layout

            fields["layout"] = Layout.from_files(v["layout_image"], v["layout_depth"])
        if v["controlnet"]:
            fields["controlnet"] = tuple(v["controlnet"])
        if v["control_scale"]:
            scales = tuple(v["control_scale"])
            fields["control_scale"] = scales[0] if len(scales) == 1 else scales
        if v["strength"] is not None:
            fields["strength"] = v["strength"]
        return fields

    def acceleration(self) -> Any:
        """The settings' ``Acceleration`` with the command line's changes; ``None`` when none."""
        import dataclasses

        from .config import get_settings

        v = self._values
        changes: dict[str, Any] = {}
        if v["compile_mode"] is not None:
            mode = v["compile_mode"].lower()
            changes["compile"] = None if mode in ("off", "none", "no") else mode
        if v["channels_last"] is not None:
            changes["channels_last"] = v["channels_last"]
        if v["attention"] is not None:
            changes["attention"] = v["attention"].lower()
        return dataclasses.replace(get_settings().acceleration, **changes) if changes else None

    def plate_options(self) -> dict[str, Any]:
        """``spec_fields()`` plus ``acceleration`` when given: ``load_scene_file(plate_options=...)``."""
        acceleration = self.acceleration()
        return {**self.spec_fields(), **({"acceleration": acceleration} if acceleration is not None else {})}


def _plate_options(*, model_help: str, seed_default: int | None, seed_help: str | None) -> Callable[[Any], Any]:
    """Add the shared plate options to a command; it receives them as one ``plate_opts`` argument.
    The model and seed differ per command only in their default and help."""
    options = [
        click.option("--model", default=None, help=model_help),
        click.option("--seed", type=int, default=seed_default, show_default=seed_default is not None, help=seed_help),
        click.option("--steps", type=int, default=None, help="Denoising steps [default: the model's: 50, Turbo 1, LCM 4]."),
        click.option("--guidance", type=float, default=None, help="Guidance scale [default: 7.5, SDXL 5, Turbo 0]."),
        click.option("--negative", default=None, help="Negative prompt."),
        click.option("--scheduler", default="default", show_default=True, help="default, euler, euler-a, dpm++, dpm++-karras, ddim, pndm, unipc, lcm."),
        click.option("--device", default="auto", show_default=True, help="auto (cuda, mps, cpu), cuda, mps or cpu."),
        click.option("--dtype", default="auto", show_default=True, help="auto (float16 on GPU, float32 on CPU), float32, float16, bfloat16."),
        click.option("--revision", default=None, help="Branch, tag or commit of a hub model."),
        click.option("--vae", default=None, help="A replacement autoencoder (hub id or folder), e.g. madebyollin/taesd: a tiny, fast decoder."),
        click.option("--compile", "compile_mode", default=None, help="torch.compile the denoiser: default, reduce-overhead, max-autotune [default: $HYBRIDSCENE_TORCH_COMPILE or off]."),
        click.option("--channels-last/--no-channels-last", default=None, help="Channels-last memory layout for UNet and VAE [default: $HYBRIDSCENE_CHANNELS_LAST or off]."),
        click.option("--attention", default=None, help="sdpa (torch picks), sdpa-flash, sdpa-efficient, sdpa-cudnn, sdpa-math or eager [default: $HYBRIDSCENE_ATTENTION or sdpa]."),
        click.option("--depth-model", default=None, help="Depth-estimation model (hub id or folder) for a depth map."),
        click.option("--layout", default=None, metavar="NAME[:SEED]",
                     help="Paint over a procedural layout (mountains, mountains:7): the plate keeps its exact depth and camera."),
        click.option("--layout-image", default=None, metavar="IMG", help="Paint over this image (with --layout-depth)."),
        click.option("--layout-depth", default=None, metavar="DEPTH", help="The layout image's depth (.npy metres, 16-bit PNG mm)."),
        click.option("--controlnet", multiple=True, metavar="MODEL",
                     help="A depth ControlNet (hub id or folder) steering the painting by the layout's depth; repeat for several."),
        click.option("--control-scale", type=float, multiple=True, metavar="S",
                     help="ControlNet conditioning scale [default: 1.0]; one, or one per --controlnet."),
        click.option("--strength", type=float, default=None,
                     help="img2img strength over the layout's colours, 0..1 [default: 0.75 without --controlnet]."),
        click.option("--upscale", type=float, default=None, metavar="FACTOR", help="Enlarge the plate (and its depth) by FACTOR."),
        click.option("--upscaler", default=None, metavar="lanczos|MODEL",
                     help="lanczos, or a diffusers upscaler (x4 StableDiffusionUpscalePipeline, x2 latent upscaler) [default: lanczos]."),
        click.option("--wrap", is_flag=True, default=False, help="Paint a seamless 360 degree panorama (MultiDiffusion, wrapping windows)."),
        click.option("--tiling", type=click.Choice(["auto", "multidiffusion", "none"]), default=None,
                     help="MultiDiffusion windows for plates larger than the model's native size [default: auto]."),
    ]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs["plate_opts"] = _PlateOptions({name: kwargs.pop(name) for name in _PlateOptions.NAMES})
            return command(*args, **kwargs)

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


@contextlib.contextmanager
def _progress_bar(quiet: bool, *, unit: str, desc: str) -> Iterator[Callable[[int, int], None]]:
    """A ``callback(done, total)`` that drives a progress bar on stderr (made on the first call,
    none when ``quiet``), closed when the block ends: denoising steps, frames assembled."""
    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if quiet:
            return
        if bar is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit=unit, desc=desc, file=sys.stderr)
        elif total != bar.total or done < bar.n:  # a new stage (the upscaler's steps after the painter's)
            bar.reset(total=total)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
