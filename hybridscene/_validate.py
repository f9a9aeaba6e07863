"""Argument checks shared by the API and the CLI; each error names the value and the fix."""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import ConfigError

__all__ = ["check_finite", "check_size", "parse_size"]

MAX_SIZE = 16384


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
