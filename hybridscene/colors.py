"""Colour values given by users.

Colours in the public API are **sRGB-encoded**, like a colour picker shows them: a CSS-style
string (``"#ff8800"``, ``"#f80"``, ``"orange"``), three floats in 0..1, or three ints in 0..255.
Images are decoded to linear light on the GPU (sRGB textures, ``shaders/include/colour.glsl``);
a colour set as a uniform is decoded once on the CPU (`linear_rgb`), not per pixel. The numpy
twins below serve that, metadata and tests, and must match that file.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Union

import numpy as np

from .errors import ConfigError

__all__ = ["Color", "ColorFields", "linear_to_srgb", "parse_color", "srgb_to_linear", "tonemap"]

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


@functools.lru_cache(maxsize=4096)
def linear_rgb(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    """`srgb_to_linear` of one colour (a material's, a light's), in Python floats and cached:
    for uniforms set per draw, which the shaders take linear."""
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
    return (r, g, b)


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


_AGX_INSET = np.array([[0.842479062253094, 0.0784335999999992, 0.0792237451477643],
                       [0.0423282422610123, 0.878468636469772, 0.0791661274605434],
                       [0.0423756549057051, 0.0784336, 0.879142973793104]])
_AGX_OUTSET = np.array([[1.19687900512017, -0.0980208811401368, -0.0990297440797205],
                        [-0.0528968517574562, 1.15190312990417, -0.0989611768448433],
                        [-0.0529716355144438, -0.0980434501171241, 1.15107367264116]])
_ACES_IN = np.array([[0.59719, 0.35458, 0.04823], [0.07600, 0.90834, 0.01566], [0.02840, 0.13383, 0.83777]])
_ACES_OUT = np.array([[1.60475, -0.53108, -0.07367], [-0.10208, 1.10813, -0.00605], [-0.00327, -0.07276, 1.07602]])


def tonemap(x: np.ndarray, curve: str = "agx") -> np.ndarray:
    """Apply a foreground tone curve (one of ``hybridscene.TONEMAPS``) to ``(..., 3)`` linear
    scene-referred RGB; returns linear display RGB in 0..1. The numpy twin of
    ``shaders/include/tonemap.glsl`` (what ``Scene(tonemap=...)`` does on the GPU)."""
    c = np.maximum(np.asarray(x, np.float64), 0.0)
    if curve == "none":
        return np.minimum(c, 1.0)
    if curve == "agx":
        lo, hi = -12.47393, 4.026069
        v = (np.clip(np.log2(np.maximum(c @ _AGX_INSET.T, 1e-10)), lo, hi) - lo) / (hi - lo)
        v2 = v * v
        v4 = v2 * v2
        v = 15.5 * v4 * v2 - 40.14 * v4 * v + 31.96 * v4 - 6.868 * v2 * v + 0.4298 * v2 + 0.1191 * v - 0.00232
        return np.clip(v @ _AGX_OUTSET.T, 0.0, 1.0) ** 2.2
    if curve == "aces":
        v = (c / 0.6) @ _ACES_IN.T
        v = (v * (v + 0.0245786) - 0.000090537) / (v * (0.983729 * v + 0.4329510) + 0.238081)
        return np.clip(v @ _ACES_OUT.T, 0.0, 1.0)
    if curve == "neutral":
        start, d = 0.76, 0.24
        low = c.min(axis=-1, keepdims=True)
        c = c - np.where(low < 0.08, low - 6.25 * low * low, 0.04)
        peak = c.max(axis=-1, keepdims=True)
        new_peak = 1.0 - d * d / (peak + d - start)
        safe = np.maximum(peak, 1e-12)
        g = 1.0 - 1.0 / (0.15 * (peak - new_peak) + 1.0)
        squeezed = c * (new_peak / safe) * (1.0 - g) + new_peak * g
        return np.where(peak < start, c, squeezed)
    from .errors import SceneError

    raise SceneError(f"unknown tonemap {curve!r}; choose one of agx, aces, neutral, none")
