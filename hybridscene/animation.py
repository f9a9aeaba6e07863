"""Keyframe animation: tracks of ``(time, value)`` keys with easing, for any numeric attribute.

``scene.animate(node, "position", [(0, (0, 1, -8)), (2, (3, 1, -8))], easing="ease-in-out")``

Values interpolate by kind: numbers and vectors linearly; rotations (attribute ``rotation``,
unit quaternions) by spherical interpolation along the shorter arc; colours (attributes named
``color``, ``emissive``, ``background``, or any string value) in linear light, so a fade from red
to green passes through a bright yellow, not a muddy one. Tracks are functions of time only: any
frame can be rendered on its own, in any order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .colors import linear_to_srgb, parse_color, srgb_to_linear
from .errors import SceneError

__all__ = ["EASINGS", "Track", "ease"]


def _bounce_out(t: float) -> float:
    n, d = 7.5625, 2.75
    if t < 1 / d:
        return n * t * t
    if t < 2 / d:
        t -= 1.5 / d
        return n * t * t + 0.75
    if t < 2.5 / d:
        t -= 2.25 / d
        return n * t * t + 0.9375
    t -= 2.625 / d
    return n * t * t + 0.984375


_C1 = 1.70158
EASINGS: dict[str, Callable[[float], float]] = {
    "linear": lambda t: t,
    "step": lambda t: 1.0 if t >= 1.0 else 0.0,
    "smoothstep": lambda t: t * t * (3 - 2 * t),
    "ease-in": lambda t: t * t,
    "ease-out": lambda t: 1 - (1 - t) ** 2,
    "ease-in-out": lambda t: 4 * t**3 if t < 0.5 else 1 - (-2 * t + 2) ** 3 / 2,
    "sine-in-out": lambda t: -(math.cos(math.pi * t) - 1) / 2,
    "expo-out": lambda t: 1.0 if t >= 1 else 1 - 2 ** (-10 * t),
    "back-out": lambda t: 1 + (_C1 + 1) * (t - 1) ** 3 + _C1 * (t - 1) ** 2,
    "elastic-out": lambda t: t if t in (0.0, 1.0) else 2 ** (-10 * t) * math.sin((t * 10 - 0.75) * (2 * math.pi) / 3) + 1,
    "bounce-out": _bounce_out,
}
"""Easing curves by name: each maps 0..1 to 0..1 (overshooting ones leave that range between)."""


def ease(name: str | Callable[[float], float]) -> Callable[[float], float]:
    """The easing function called ``name`` (or ``name`` itself if it is callable)."""
    if callable(name):
        return name
    try:
        return EASINGS[name]
    except KeyError:
        raise SceneError(f"unknown easing {name!r}; choose one of {', '.join(EASINGS)} or pass a function") from None


_COLOR_ATTRS = {"color", "emissive", "background"}


class Track:
    """Keyframes for one attribute of one object.

    Args:
        target: the object (a [`Node`][hybridscene.Node], camera, material, light, ...).
        attribute: the attribute name, set with ``setattr`` each frame (so setters validate).
        keys: ``[(time_seconds, value), ...]`` in increasing time (at least one).
        easing: an `EASINGS` name or a function, for every segment; or a list, one per
            segment (``len(keys) - 1``).
        loop: ``"clamp"`` (hold the ends), ``"repeat"`` or ``"pingpong"``.
        orient: for a ``"position"`` track, ``"path"`` also turns the target to face along its
            path at every time (the direction of motion, from the track itself, so a plane or a
            bird points where it flies); ``None`` (default) leaves its rotation alone.
        up: the up direction kept while facing along the path.
        forward: the object's front axis (``"+z"``, glTF's convention; ``"-z"``, ...; or a
            vector), as in [`Node.look_at`][hybridscene.Node.look_at].
    """

    def __init__(
        self,
        target: Any,
        attribute: str,
        keys: Sequence[tuple[float, Any]],
        *,
        easing: str | Callable[[float], float] | Sequence[str | Callable[[float], float]] = "linear",
        loop: str = "clamp",
        orient: str | None = None,
        up: Any = (0.0, 1.0, 0.0),
        forward: Any = "+z",
    ) -> None:
        if not hasattr(target, attribute):
            raise SceneError(f"{type(target).__name__} has no attribute {attribute!r} to animate")
        if not keys:
            raise SceneError(f"track for {attribute!r} needs at least one keyframe")
        times = [float(k[0]) for k in keys]
        if any(not math.isfinite(t) for t in times) or any(b <= a for a, b in zip(times, times[1:])):
            raise SceneError(f"keyframe times for {attribute!r} must be finite and increasing, got {times}")
        if loop not in ("clamp", "repeat", "pingpong"):
            raise SceneError(f"loop must be 'clamp', 'repeat' or 'pingpong', got {loop!r}")
        self.target, self.attribute, self.loop = target, attribute, loop
        self.kind = self._kind(attribute, keys[0][1])
        self.times = np.array(times)
        self.values = [self._encode(v) for _, v in keys]
        shapes = {np.shape(v) for v in self.values}
        if len(shapes) != 1:
            raise SceneError(f"keyframe values for {attribute!r} have different shapes: {sorted(shapes)}")
        if isinstance(easing, (str,)) or callable(easing):
            self.easings = [ease(easing)] * max(1, len(keys) - 1)
        else:
            if len(easing) != len(keys) - 1:
                raise SceneError(f"{len(keys) - 1} segments need {len(keys) - 1} easings, got {len(easing)}")
            self.easings = [ease(e) for e in easing]
        if orient not in (None, "path"):
            raise SceneError(f"orient must be 'path' or None, got {orient!r}")
        if orient == "path" and (attribute != "position" or not hasattr(target, "rotation")):
            raise SceneError(f"orient='path' turns a node along its path: animate a node's 'position' with it, "
                             f"not {type(target).__name__}.{attribute}")
        self.orient = orient
        if orient is not None:
            from .transforms import axis

            self.up, self.forward = axis(up, "up"), axis(forward, "forward")

    @staticmethod
    def _kind(attribute: str, value: Any) -> str:
        if attribute == "rotation":
            return "quaternion"
        if attribute in _COLOR_ATTRS or isinstance(value, str):
            return "color"
        return "vector"

    def _encode(self, value: Any) -> np.ndarray:
        if self.kind == "color":
            return srgb_to_linear(np.array(parse_color(value, f"keyframe {self.attribute}")))
        arr = np.asarray(value, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise SceneError(f"keyframe value for {self.attribute!r} is not finite: {value!r}")
        if self.kind == "quaternion":
            arr = arr / np.linalg.norm(arr)
        return arr

    def _local_time(self, t: float) -> float:
        start, end = float(self.times[0]), float(self.times[-1])
        span = end - start
        if span <= 0 or self.loop == "clamp":
            return min(max(t, start), end)
        u = (t - start) % (2 * span if self.loop == "pingpong" else span)
        if self.loop == "pingpong" and u > span:
            u = 2 * span - u
        return start + u

    def value_at(self, t: float) -> Any:
        """The interpolated value at scene time ``t`` (as the attribute takes it)."""
        return self._decode(self._raw_at(t))

    def _raw_at(self, t: float) -> np.ndarray:
        """The interpolated value at ``t`` in the track's own float64 encoding."""
        t = self._local_time(float(t))
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        if i < 0:
            v = self.values[0]
        elif i >= len(self.values) - 1:
            v = self.values[-1]
        else:
            t0, t1 = self.times[i], self.times[i + 1]
            w = self.easings[i]((t - t0) / (t1 - t0))
            a, b = self.values[i], self.values[i + 1]
            v = _slerp(a, b, w) if self.kind == "quaternion" else a + (b - a) * w
        return v

    def _decode(self, v: np.ndarray) -> Any:
        if self.kind == "color":
            return tuple(float(c) for c in np.clip(linear_to_srgb(v), 0.0, 1.0))
        if v.shape == ():
            return float(v)
        return v.astype(np.float32)

    def apply(self, t: float) -> None:
        """Set the attribute to its value at time ``t`` (and, with ``orient="path"``, the
        target's rotation to face along the path there)."""
        setattr(self.target, self.attribute, self.value_at(t))
        if self.orient == "path":
            direction = self.direction_at(t)
            if direction is not None:
                from .transforms import quat_look_rotation

                try:
                    self.target.rotation = quat_look_rotation(direction, self.up, self.forward)
                except SceneError:  # moving straight along up: keep the rotation of this pose
                    pass

    def direction_at(self, t: float) -> np.ndarray | None:
        """The direction of motion at time ``t`` (a unit vector), from the track alone, so that it
        depends on ``t`` only: the difference across a small step around ``t`` (one-sided at the
        ends), else the direction of ``t``'s segment; ``None`` when the keys do not move."""
        span = self.duration or 1.0
        h = 1e-3 * span
        start, end = float(self.times[0]), float(self.times[-1])
        t = float(t)
        if self.loop == "clamp":
            t = min(max(t, start), end)
        a = self._raw_at(t - h if self.loop != "clamp" or t - h >= start else t)
        b = self._raw_at(t + h if self.loop != "clamp" or t + h <= end else t)
        d = b - a
        if float(np.linalg.norm(d)) > 1e-9 * max(1.0, float(np.abs(a).max())):
            return d / np.linalg.norm(d)
        local = self._local_time(t)
        i = min(max(int(np.searchsorted(self.times, local, side="right")) - 1, 0), len(self.values) - 2)
        if i < 0:
            return None
        d = self.values[i + 1] - self.values[i]
        n = float(np.linalg.norm(d))
        return d / n if n > 0 else None

    @property
    def duration(self) -> float:
        return float(self.times[-1] - self.times[0])


def _slerp(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    dot = float(np.dot(a, b))
    if dot < 0.0:  # the shorter way round
        b, dot = -b, -dot
    if dot > 0.9995:
        q = a + (b - a) * w
        return q / np.linalg.norm(q)
    theta = math.acos(min(1.0, dot))
    s = math.sin(theta)
    return (math.sin((1 - w) * theta) * a + math.sin(w * theta) * b) / s
