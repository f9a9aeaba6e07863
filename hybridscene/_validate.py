"""Argument checks shared by the API and the CLI; each error names the value and the fix."""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import ConfigError

__all__ = ["MAX_FPS", "MAX_FRAMES", "MIN_FPS", "check_finite", "check_fps", "check_outputs_apart", "check_size",
           "parse_size"]

MAX_SIZE = 16384

MIN_FPS = 0.01
"""The slowest frame rate: one frame per 100 seconds."""
MAX_FPS = 1000.0
"""The fastest frame rate (video containers and players handle no more; GIF stops at 100)."""
MAX_FRAMES = 1_000_000
"""The longest export in frames (over 9 hours at 30 fps); longer ones are almost always a typo."""


def check_fps(fps: Any, what: str = "fps") -> float:
    """A frame rate in ``MIN_FPS..MAX_FPS`` that a video time base of ``1/1001`` steps can
    represent (29.97 is kept as 30000/1001), or a [`ConfigError`][hybridscene.ConfigError]."""
    from fractions import Fraction

    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise ConfigError(f"{what} must be a positive number, got {fps!r}; try 24, 30 or 60")
    if not MIN_FPS <= fps <= MAX_FPS:
        raise ConfigError(f"{what} {fps:g} is outside the range {MIN_FPS:g}..{MAX_FPS:g} frames per second; "
                          "try 24, 30 or 60")
    rate = Fraction(fps).limit_denominator(1001)
    if abs(float(rate) - fps) > 1e-3 * fps:
        raise ConfigError(f"{what} {fps!r} cannot be represented by a video time base (1/1001 steps); "
                          f"use {float(rate):g}")
    return float(fps)


def check_outputs_apart(first: Any, second: Any, what: tuple[str, str] = ("output", "layers")) -> None:
    """Two outputs (files or folders) must neither be the same nor one inside the other: the
    second one published would replace or remove the first."""
    import os

    a, b = (os.path.realpath(os.fspath(p).rstrip("/\\") or os.sep) for p in (first, second))
    if a == b or a.startswith(b.rstrip(os.sep) + os.sep) or b.startswith(a.rstrip(os.sep) + os.sep):
        raise ConfigError(
            f"{what[0]} {os.fspath(first)!r} and {what[1]} {os.fspath(second)!r} are the same or nested folders; "
            f"write them to separate places (e.g. {what[1]} in a sibling folder)"
        )


def check_size(size: Any, what: str = "size") -> tuple[int, int]:
    """``(width, height)`` as two positive ints, or a [`ConfigError`][hybridscene.ConfigError]."""
    if isinstance(size, str):
        return parse_size(size, what)
    try:
        width, height = size
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be (width, height), got {size!r}") from None
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (width, height))
    if not ok or width < 1 or height < 1:
        raise ConfigError(f"{what} must be two positive integers (width, height), got {size!r}")
    if width > MAX_SIZE or height > MAX_SIZE:
        raise ConfigError(f"{what} {width}x{height} is larger than {MAX_SIZE} pixels on a side")
    return int(width), int(height)


def parse_size(text: str, what: str = "size") -> tuple[int, int]:
    """Parse ``"1280x720"`` (also ``1280X720`` or ``1280*720``)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX*]\s*(\d+)\s*", text)
    if not m:
        raise ConfigError(f"{what} {text!r} is not WIDTHxHEIGHT; write it like 1280x720")
    return check_size((int(m.group(1)), int(m.group(2))), what)


def check_finite(value: Any, what: str, *, positive: bool = False) -> float:
    """A finite float (optionally > 0), or a [`ConfigError`][hybridscene.ConfigError] naming ``what``."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(f) or (positive and f <= 0):
        need = "a positive finite number" if positive else "a finite number"
        raise ConfigError(f"{what} must be {need}, got {value!r}")
    return f
