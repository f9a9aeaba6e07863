"""Colour values given by users.

Colours in the public API are **sRGB-encoded**, like a colour picker shows them: a CSS-style
string (``"#ff8800"``, ``"#f80"``, ``"orange"``), three floats in 0..1, or three ints in 0..255.
They are decoded to linear light on the GPU, by ``shaders/include/colour.glsl``; the numpy
twins below serve metadata and tests, and must match that file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

from .errors import ConfigError

__all__ = ["Color", "ColorFields", "linear_to_srgb", "parse_color", "srgb_to_linear"]

Color = Union[str, Sequence[float], Sequence[int]]


def parse_color(value: Color, what: str = "color") -> tuple[float, float, float]:
    """``(r, g, b)`` floats in 0..1, sRGB-encoded."""
    if isinstance(value, str):
        from PIL import ImageColor

        try:
            rgb = ImageColor.getrgb(value)
        except ValueError:
            raise ConfigError(
                f"{what} {value!r} is not a colour; use '#rrggbb', a CSS name, or (r, g, b) in 0..1"
            ) from None
        return (rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0)
    try:
        items = list(value)
    except TypeError:
        raise ConfigError(f"{what} must be a colour like '#ff8800' or (1.0, 0.5, 0.0), got {value!r}") from None
    if len(items) != 3:
        raise ConfigError(f"{what} needs 3 components (r, g, b), got {value!r}")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        if not all(0 <= v <= 255 for v in items):
            raise ConfigError(f"{what} {value!r}: integer components must be in 0..255")
        return (items[0] / 255.0, items[1] / 255.0, items[2] / 255.0)
    try:
        floats = [float(v) for v in items]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} {value!r} has non-numeric components") from None
    if not all(0.0 <= v <= 1.0 for v in floats):
        raise ConfigError(f"{what} {value!r}: float components must be in 0..1 (ints for 0..255)")
    return (floats[0], floats[1], floats[2])


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """The sRGB decoding function (IEC 61966-2-1) on floats in 0..1."""
    x = np.asarray(x, np.float64)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4))


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """The sRGB encoding function (IEC 61966-2-1) on linear floats, clipped at 0."""
    x = np.clip(np.asarray(x, np.float64), 0.0, None)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


class ColorFields:
    """Mixin for data classes with colour attributes: each name in ``_color_fields`` is
    validated whenever it is set, and its parsed value is kept in ``rgb[name]``, so per-frame
    code reads floats instead of parsing strings again."""

    _color_fields: tuple[str, ...] = ()
    _color_label: str = "color"

    def __setattr__(self, name: str, value: object) -> None:
        if name in self._color_fields:
            rgb = parse_color(value, f"{self._color_label} {name}")  # type: ignore[arg-type]
            if "rgb" not in self.__dict__:
                object.__setattr__(self, "rgb", {})
            self.__dict__["rgb"][name] = rgb
        super().__setattr__(name, value)
