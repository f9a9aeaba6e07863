"""Painting over a [`Layout`][hybridscene.Layout] with diffusers: the pipeline class, the
ControlNets and the call's arguments (used by ``diffusion.py``; imports torch and diffusers only
inside its functions).

* ``control="depth"``: the ControlNets are loaded with ``AutoModel.from_pretrained`` (a hub id
  through the Hugging Face cache, honouring ``HF_HUB_OFFLINE``, or a folder with ``config.json``)
  and passed as ``controlnet=`` to ``AutoPipelineForText2Image.from_pretrained``, which picks the
  family's ControlNet pipeline (SD 1.x/2.x: ``StableDiffusionControlNetPipeline``, SDXL:
  ``StableDiffusionXLControlNetPipeline``; several nets: a ``MultiControlNetModel``). Each gets
  `control_image` as ``image=``, with ``controlnet_conditioning_scale``. With a ``strength``
  too, both: ``AutoPipelineForImage2Image`` with ``controlnet=`` (the family's ControlNet img2img
  pipeline), the layout's colours as ``image=`` and its depth as ``control_image=``.
* ``control="image"``: ``AutoPipelineForImage2Image`` with `init_image` and ``strength``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import ConfigError, PlateError
from .layout import check_family, control_image, init_image, layout_strength

__all__ = ["call_arguments", "control_key", "pipeline_loader"]

log = logging.getLogger(__name__)


def control_key(resolved: Any) -> tuple[str, ...]:
    """What the loaded pipeline depends on besides the model: ``()`` without a layout."""
    if resolved.layout is None:
        return ()
    img2img = resolved.spec.control == "image" or resolved.spec.strength is not None
    return (str(resolved.spec.control), "img2img" if img2img else "text2img", *resolved.controlnet_identities)


def pipeline_loader(resolved: Any, dtype: Any) -> tuple[Any, dict[str, Any]]:
    """``(AutoPipeline class, extra from_pretrained keywords)`` for a resolved spec."""
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

    if resolved.layout is None:
        return AutoPipelineForText2Image, {}
    if resolved.spec.control == "image":
        return AutoPipelineForImage2Image, {}
    nets = [_load_controlnet(name, identity, dtype)
            for name, identity in zip(resolved.spec.controlnet, resolved.controlnet_identities, strict=True)]
    unet_config = _unet_config(resolved.model)
    if unet_config is not None:
        for name, net in zip(resolved.spec.controlnet, nets, strict=True):
            check_family(net.config, unet_config, name, resolved.model.name)
    auto = AutoPipelineForText2Image if resolved.spec.strength is None else AutoPipelineForImage2Image
    return auto, {"controlnet": nets[0] if len(nets) == 1 else nets}


def _load_controlnet(name: str, identity: str, dtype: Any) -> Any:
    from diffusers import AutoModel

    kwargs: dict[str, Any] = {"dtype": dtype}
    if identity.startswith("model:hub:"):
        kwargs["revision"] = identity.rsplit("@", 1)[1]
    try:
        net = AutoModel.from_pretrained(name, **kwargs)
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise PlateError(f"cannot load ControlNet {name!r}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if "ControlNet" not in type(net).__name__:
        raise ConfigError(f"{name!r} is a {type(net).__name__}, not a ControlNet; give a depth ControlNet "
                          "(e.g. 'lllyasviel/sd-controlnet-depth', 'diffusers/controlnet-depth-sdxl-1.0')")
    return net


def _unet_config(model: Any) -> dict[str, Any] | None:
    """The model's ``unet/config.json`` when it is on this machine (``None`` for transformer
    models, or when it cannot be read)."""
    import json

    path = Path(model.folder) / "unet" / "config.json" if model.folder else None
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def call_arguments(resolved: Any, call: dict[str, Any]) -> None:
    """Add the layout's arguments to a pipeline call (in place): ``image=`` (the depth condition
    or the colours), ``controlnet_conditioning_scale`` or ``strength``."""
    from PIL import Image

    if resolved.layout is None:
        return
    spec, size = resolved.spec, resolved.size
    if spec.control == "image":
        call.pop("width", None)  # img2img paints at the size of its image
        call.pop("height", None)
        call["image"] = Image.fromarray(init_image(resolved.layout, size))
        call["strength"] = layout_strength(spec)
        return
    cond = Image.fromarray(control_image(resolved.layout, size))
    n = len(resolved.controlnet_identities)
    scale = spec.control_scale
    target = "image"
    if spec.strength is not None:  # ControlNet img2img: the colours as the start, the depth as the control
        call["image"] = Image.fromarray(init_image(resolved.layout, size))
        call["strength"] = layout_strength(spec)
        target = "control_image"
    if n == 1:
        call[target] = cond
        call["controlnet_conditioning_scale"] = float(scale if not isinstance(scale, tuple) else scale[0])
    else:
        call[target] = [cond] * n
        call["controlnet_conditioning_scale"] = list(scale) if isinstance(scale, tuple) else [float(scale)] * n
