"""Particles and sprites: camera-facing quads drawn with GPU instancing.

Particles are *analytic*: particle ``i`` is born at ``i / rate`` seconds with random properties
from a counter-based hash of ``(seed, i)``, and its position at any time has a closed form
(gravity and linear drag). So a frame is a pure function of the scene time: any frame renders on
its own, in any order, identically, and the per-frame work is a few vectorised numpy operations
over the live particles (no Python loop per particle), then one buffer upload.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validate import check_finite
from ..colors import parse_color, srgb_to_linear
from ..errors import SceneError
from .mesh import Texture

__all__ = ["ParticleEmitter", "Sprite", "SpriteSet"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _hash_uniform(seed: int, index: np.ndarray, stream: int) -> np.ndarray:
    """Uniform floats in [0, 1) from (seed, index, stream) by SplitMix64: a counter-based RNG."""
    with np.errstate(over="ignore"):
        z = index.astype(np.uint64) * np.uint64(0x100000001B3) + np.uint64(seed) * _GOLDEN + np.uint64(stream) * np.uint64(0xD1B54A32D192ED03)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _pair(value: Any, what: str, *, positive: bool = False) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        value = (value, value)
    try:
        a, b = (check_finite(v, what) for v in value)
    except (TypeError, ValueError):
        raise SceneError(f"{what} must be a number or (start, end), got {value!r}") from None
    if positive and (a < 0 or b < 0):
        raise SceneError(f"{what} must be >= 0, got {value!r}")
    return a, b


def _is_one_color(value: Any) -> bool:
    """A colour: ``"#rrggbb"``, ``(r, g, b)``, ``(r, g, b, a)`` or ``(colour, alpha)``."""
    if isinstance(value, str):
        return True
    try:
        items = list(value)
    except TypeError:
        return False
    if len(items) in (3, 4) and all(isinstance(v, (int, float)) for v in items):
        return True
    return len(items) == 2 and isinstance(items[1], (int, float)) and not isinstance(items[0], (int, float))


def _rgba(value: Any, what: str) -> np.ndarray:
    """A colour (see `_is_one_color`) as linear ``(r, g, b)`` and straight alpha."""
    if not _is_one_color(value):
        raise SceneError(f"{what} {value!r} is not a colour; use '#rrggbb', (r, g, b[, a]) or (colour, alpha)")
    if isinstance(value, str):
        rgb, a = parse_color(value, what), 1.0
    elif len(value) == 2:
        rgb, a = parse_color(value[0], what), float(value[1])
    elif len(value) == 4:
        rgb, a = parse_color(tuple(value[:3]), what), float(value[3])
    else:
        rgb, a = parse_color(value, what), 1.0
    if not 0.0 <= a <= 1.0:
        raise SceneError(f"{what} alpha must be in 0..1, got {a!r}")
    return np.array([*srgb_to_linear(np.array(rgb)), a])


MAX_PARTICLES = 5_000_000
"""Live particles one emitter may keep (each costs about 60 bytes of arrays per frame)."""


class ParticleEmitter:
    """Emits particles from its node's origin (in the node's frame: particles move with it).

    Args:
        rate: particles born per second.
        lifetime: seconds each lives: a number or ``(min, max)``.
        velocity: initial velocity ``(x, y, z)`` in metres per second, before spread.
        spread: half-angle in degrees of the cone the initial direction is drawn from.
        speed_jitter: relative random variation of the initial speed (0.2 = ±20 %).
        gravity: acceleration ``(x, y, z)`` in m/s² (default: Earth's, down).
        drag: linear drag coefficient per second (velocity decays as ``exp(-drag * t)``).
        size: quad width in metres over life: a number or ``(start, end)``.
        aspect: quad height / width (rain streaks: 10 or more); quads stay upright on screen.
        color: over life, one colour or ``(start, end)``; a colour is ``"#rrggbb"``,
            ``(r, g, b)``, ``(r, g, b, a)`` or ``(colour, alpha)``; blended in linear light.
        emit_box: half-extents ``(x, y, z)`` of a box particles are born in (default a point).
        texture: an image (path, PIL image, array, [`Texture`][hybridscene.Texture]); default a soft round dot.
        additive: add light instead of covering (glows, sparks, fireflies).
        seed: the random stream; the same seed gives the same particles.
        start: scene time of the first particle (seconds).
        max_particles: cap on live particles (default ``ceil(rate * max lifetime)``).
    """

    def __init__(
        self,
        *,
        rate: float = 50.0,
        lifetime: Any = 2.0,
        velocity: Any = (0.0, 1.0, 0.0),
        spread: float = 20.0,
        speed_jitter: float = 0.2,
        gravity: Any = (0.0, -9.81, 0.0),
        drag: float = 0.0,
        size: Any = 0.1,
        aspect: float = 1.0,
        color: Any = ("#ffffff", "#ffffff"),
        emit_box: Any = (0.0, 0.0, 0.0),
        texture: Any = None,
        additive: bool = False,
        seed: int = 0,
        start: float = 0.0,
        max_particles: int | None = None,
    ) -> None:
        self.rate = check_finite(rate, "particle rate")
        if self.rate < 0:
            raise SceneError(f"particle rate must be >= 0 per second, got {rate!r}")
        self.lifetime = _pair(lifetime, "particle lifetime", positive=True)
        if max(self.lifetime) <= 0:
            raise SceneError(f"particle lifetime must be > 0 seconds, got {lifetime!r}")
        self.velocity = np.asarray(velocity, np.float64)
        self.gravity = np.asarray(gravity, np.float64)
        self.emit_box = np.asarray(emit_box, np.float64)
        for arr, what in ((self.velocity, "velocity"), (self.gravity, "gravity"), (self.emit_box, "emit_box")):
            if arr.shape != (3,) or not np.isfinite(arr).all():
                raise SceneError(f"particle {what} must be 3 finite numbers, got {arr.tolist()}")
        self.spread = check_finite(spread, "particle spread")
        self.speed_jitter = check_finite(speed_jitter, "particle speed_jitter")
        self.drag = check_finite(drag, "particle drag")
        if self.drag < 0:
            raise SceneError(f"particle drag must be >= 0, got {drag!r}")
        self.size = _pair(size, "particle size", positive=True)
        self.aspect = check_finite(aspect, "particle aspect", positive=True)
        colors = [color, color] if _is_one_color(color) else list(color)
        if len(colors) != 2:
            raise SceneError(f"particle color must be a colour or (start, end), got {color!r}")
        self.color_start, self.color_end = (_rgba(c, "particle color") for c in colors)
        self.texture = texture if texture is None or isinstance(texture, Texture) else Texture(texture)
        self.additive = bool(additive)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise SceneError(f"particle seed must be a non-negative integer, got {seed!r}")
        self.seed = seed
        self.start = check_finite(start, "particle start")
        cap = math.ceil(self.rate * max(self.lifetime)) + 1
        if max_particles is not None:
            if isinstance(max_particles, bool) or not isinstance(max_particles, int) or max_particles < 0:
                raise SceneError(f"max_particles must be a non-negative integer, got {max_particles!r}")
            cap = min(cap, max_particles)
        if cap > MAX_PARTICLES:
            raise SceneError(
                f"a particle emitter of rate {self.rate:g}/s living {max(self.lifetime):g} s keeps {cap:,} particles "
                f"alive, more than {MAX_PARTICLES:,} (about {MAX_PARTICLES * 60 // 10**6} MB of arrays); lower the "
                "rate or the lifetime, or set max_particles"
            )
        self.max_particles = cap

    def _live(self, t: float) -> tuple[list[np.ndarray], np.ndarray, np.ndarray] | None:
        """The particles alive at ``t``, oldest first: their random draws, ages and lifetimes."""
        local = float(t) - self.start
        if local < 0 or self.rate <= 0:
            return None
        newest = math.floor(local * self.rate)
        oldest = max(0, math.floor((local - max(self.lifetime)) * self.rate))
        idx = np.arange(max(oldest, newest - self.max_particles + 1), newest + 1, dtype=np.int64)
        born = idx / self.rate
        u = [_hash_uniform(self.seed, idx, k) for k in range(8)]
        life = self.lifetime[0] + (self.lifetime[1] - self.lifetime[0]) * u[0]
        age = local - born
        alive = (age >= 0) & (age < life)
        if not alive.any():
            return None
        return [x[alive] for x in u], age[alive], life[alive]

    def _positions(self, u: list[np.ndarray], age: np.ndarray) -> np.ndarray:
        """Positions in the node's frame of particles with random draws ``u`` at ``age`` seconds."""
        # Initial velocity: the base velocity's direction tilted within the spread cone.
        speed = float(np.linalg.norm(self.velocity)) * (1.0 + self.speed_jitter * (2 * u[1] - 1))
        base = self.velocity / (np.linalg.norm(self.velocity) or 1.0)
        if not np.linalg.norm(self.velocity):
            base = np.array([0.0, 1.0, 0.0])
        cos_max = math.cos(math.radians(min(max(self.spread, 0.0), 180.0)))
        cos_t = 1.0 - u[2] * (1.0 - cos_max)
        sin_t = np.sqrt(np.maximum(0.0, 1.0 - cos_t**2))
        phi = 2 * math.pi * u[3]
        a = np.array([1.0, 0.0, 0.0]) if abs(base[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        e1 = np.cross(base, a)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(base, e1)
        direction = (cos_t[:, None] * base + (sin_t * np.cos(phi))[:, None] * e1 + (sin_t * np.sin(phi))[:, None] * e2)
        v0 = direction * speed[:, None]
        p0 = (np.stack([u[4], u[5], u[6]], 1) * 2 - 1) * self.emit_box
        tau = age[:, None]
        g = self.gravity
        if self.drag > 0:
            k = self.drag
            decay = (1 - np.exp(-k * tau)) / k
            return p0 + g / k * tau + (v0 - g / k) * decay
        return p0 + v0 * tau + 0.5 * g * tau**2

    def motion(self, t: float, dt: float) -> np.ndarray:
        """``(N, 3) float32``: how far each particle of `state` ``(t)`` moves by ``t + dt``, in
        the node's frame (for the optical-flow pass)."""
        live = self._live(t)
        if live is None:
            return np.zeros((0, 3), np.float32)
        u, age, _ = live
        return (self._positions(u, age + dt) - self._positions(u, age)).astype(np.float32)

    def state(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The live particles at scene time ``t``: ``positions (N, 3)`` in the node's frame,
        ``sizes (N,)`` metres, ``colors (N, 4)`` linear RGB + straight alpha (all float32)."""
        live = self._live(t)
        if live is None:
            return (np.zeros((0, 3), np.float32), np.zeros(0, np.float32), np.zeros((0, 4), np.float32))
        u, age, life = live
        pos = self._positions(u, age)
        x = (age / life)[:, None]
        sizes = self.size[0] + (self.size[1] - self.size[0]) * x[:, 0]
        colors = self.color_start + (self.color_end - self.color_start) * x
        return pos.astype(np.float32), sizes.astype(np.float32), colors.astype(np.float32)

    def instances(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """What the renderer draws at ``t``: ``(positions (N, 3), sizes (N, 2) width and height
        in metres, colors (N, 4) linear + straight alpha, uv rects (N, 4) or None = whole image)``."""
        pos, size, color = self.state(t)
        return pos, np.stack([size, size * self.aspect], 1), color, None


class Sprite:
    """A textured quad: facing the camera (``billboard=True``) or fixed in its node's XY plane.

    Args:
        texture: image (path, PIL image, array or [`Texture`][hybridscene.Texture]), alpha honoured.
        size: ``(width, height)`` in metres (default: 1 m high, the image's aspect).
        billboard: always face the camera.
        frames: ``(columns, rows)`` of a sprite sheet, read left to right, top to bottom.
        fps: sprite-sheet frames per second (loops).
        color: sRGB tint multiplied with the texture; ``opacity`` scales alpha.
    """

    def __init__(
        self,
        texture: Any,
        *,
        size: tuple[float, float] | None = None,
        billboard: bool = True,
        frames: tuple[int, int] = (1, 1),
        fps: float = 12.0,
        color: Any = "#ffffff",
        opacity: float = 1.0,
    ) -> None:
        self.texture = texture if isinstance(texture, Texture) else Texture(texture)
        cols, rows = frames
        if not (isinstance(cols, int) and isinstance(rows, int) and cols >= 1 and rows >= 1):
            raise SceneError(f"sprite frames must be (columns, rows) of positive integers, got {frames!r}")
        self.frames = (cols, rows)
        w, h = self.texture.size
        aspect = (w / cols) / (h / rows)
        self.size = (float(aspect), 1.0) if size is None else _pair(size, "sprite size", positive=True)
        self.billboard = bool(billboard)
        self.fps = check_finite(fps, "sprite fps", positive=True)
        self.color = _rgba(color, "sprite color")
        self.opacity = check_finite(opacity, "sprite opacity")
        if not 0.0 <= self.opacity <= 1.0:
            raise SceneError(f"sprite opacity must be in 0..1, got {opacity!r}")

    def uv_rect(self, t: float) -> tuple[float, float, float, float]:
        """``(u0, v0, du, dv)`` of the sheet cell shown at time ``t`` (v from the image top)."""
        cols, rows = self.frames
        n = cols * rows
        i = int(math.floor(max(t, 0.0) * self.fps)) % n
        c, r = i % cols, i // cols
        return (c / cols, r / rows, 1.0 / cols, 1.0 / rows)


class SpriteSet:
    """Many sprites of one image drawn by one instanced draw call: a flock, a crowd, a city's
    windows, 1,000 lanterns. Their state lives in numpy arrays you change in place, vectorised,
    once per frame (``on_frame``), so a frame costs one buffer upload, not a call per sprite.

    Args:
        texture: image (path, PIL image, array or [`Texture`][hybridscene.Texture]), alpha honoured.
        count: number of sprites ``N``.
        positions: ``(N, 3)`` metres in the node's frame (default all at the origin).
        sizes: ``(width, height)`` for all, or ``(N, 2)``, metres (default 1 m high at the
            image cell's aspect).
        colors: one colour for all (``"#rrggbb"``, ``(r, g, b[, a])``, ``(colour, alpha)``), or
            an ``(N, 4)`` array of *linear* RGB and straight alpha; multiplies the texture.
        frames: ``(columns, rows)`` of a sprite sheet (cells read left to right, top to bottom).
        fps: sheet frames per second; each sprite starts at its ``phases`` offset (cells).
        phases: ``(N,)`` integer start cells (default 0): flapping out of step.
        additive: add light instead of covering.

    Sprites of a set always face the camera.

    Attributes (writable arrays, shapes fixed at construction): `positions`,
    `sizes`, `colors`, `phases`, `visible` (``(N,) bool``).
    """

    def __init__(
        self,
        texture: Any,
        count: int,
        *,
        positions: Any = None,
        sizes: Any = None,
        colors: Any = "#ffffff",
        frames: tuple[int, int] = (1, 1),
        fps: float = 12.0,
        phases: Any = None,
        additive: bool = False,
    ) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise SceneError(f"SpriteSet count must be a non-negative integer, got {count!r}")
        self.texture = texture if isinstance(texture, Texture) else Texture(texture)
        cols, rows = frames
        if not (isinstance(cols, int) and isinstance(rows, int) and cols >= 1 and rows >= 1):
            raise SceneError(f"sprite frames must be (columns, rows) of positive integers, got {frames!r}")
        self.frames = (cols, rows)
        self.fps = check_finite(fps, "sprite fps", positive=True)
        self.additive = bool(additive)
        self.count = count
        self.positions = self._array(positions, (count, 3), 0.0, "positions")
        w, h = self.texture.size
        default = ((w / cols) / (h / rows), 1.0)
        self.sizes = self._array(default if sizes is None else sizes, (count, 2), None, "sizes")
        if _is_one_color(colors):
            self.colors = np.tile(_rgba(colors, "SpriteSet colors").astype(np.float32), (count, 1))
        else:
            self.colors = self._array(colors, (count, 4), None, "colors")
        self.phases = np.zeros(count, np.int64) if phases is None else np.asarray(phases, np.int64).copy()
        if self.phases.shape != (count,):
            raise SceneError(f"SpriteSet phases must have shape ({count},), got {self.phases.shape}")
        self.visible = np.ones(count, bool)

    @staticmethod
    def _array(value: Any, shape: tuple[int, int], fill: float | None, what: str) -> np.ndarray:
        if value is None:
            return np.full(shape, fill, np.float32)
        arr = np.asarray(value, np.float32)
        try:
            arr = np.broadcast_to(arr, shape).copy()
        except ValueError:
            raise SceneError(f"SpriteSet {what} must broadcast to shape {shape}, got {arr.shape}") from None
        if not np.isfinite(arr).all():
            raise SceneError(f"SpriteSet {what} contain NaN or infinity")
        return arr

    def instances(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """What the renderer draws at ``t`` (the visible sprites): ``(positions (N, 3), sizes
        (N, 2), colors (N, 4), uv rects (N, 4) or None)``, float32."""
        vis = self.visible
        everything = bool(vis.all())
        pos = self.positions if everything else self.positions[vis]
        if not np.isfinite(pos).all():
            raise SceneError("SpriteSet positions contain NaN or infinity")
        sizes = self.sizes if everything else self.sizes[vis]
        colors = self.colors if everything else self.colors[vis]
        cols, rows = self.frames
        if cols * rows == 1:
            return pos, sizes, colors, None
        phases = self.phases if everything else self.phases[vis]
        cell = (int(math.floor(max(t, 0.0) * self.fps)) + phases) % (cols * rows)
        uv = np.empty((len(cell), 4), np.float32)
        uv[:, 0] = (cell % cols) / cols
        uv[:, 1] = (cell // cols) / rows
        uv[:, 2] = 1.0 / cols
        uv[:, 3] = 1.0 / rows
        return pos, sizes, colors, uv

    def __repr__(self) -> str:
        return f"SpriteSet({self.count} sprites, texture {self.texture.size[0]}x{self.texture.size[1]})"
