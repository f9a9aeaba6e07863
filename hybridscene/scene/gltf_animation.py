"""Node animations from model files (glTF): channels that drive a node's translation, rotation
or scale with STEP, LINEAR or CUBICSPLINE samplers, and a player that runs one on the scene clock.

``model = hs.load_mesh("walker.glb"); model.play(scene, "Walk", loop=True)``

Interpolation follows the glTF 2.0 specification (Appendix C): LINEAR rotations are spherical
(the shorter arc), CUBICSPLINE outputs are ``(in-tangent, value, out-tangent)`` triplets whose
tangents are scaled by the key interval, and cubic rotations are normalised. At a key's time a
channel gives exactly the file's value. Players are functions of time only, like
[`Track`][hybridscene.Track]: any frame can be posed on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..animation import _slerp
from ..errors import SceneError

__all__ = ["INTERPOLATIONS", "Animation", "AnimationPlayer", "Channel", "play", "read_animations"]

INTERPOLATIONS = ("STEP", "LINEAR", "CUBICSPLINE")
_WIDTH = {"translation": 3, "rotation": 4, "scale": 3}
_ATTRIBUTE = {"translation": "position", "rotation": "rotation", "scale": "scale"}


class Channel:
    """One animated property of one node.

    Args:
        node: the [`Node`][hybridscene.Node] it drives.
        path: ``"translation"``, ``"rotation"`` (quaternion ``(x, y, z, w)``) or ``"scale"``.
        times: ``(K,)`` key times in seconds of animation time, increasing.
        values: ``(K, C)`` values (``(3K, C)`` for ``"CUBICSPLINE"``: in-tangent, value,
            out-tangent per key), ``C`` = 3, or 4 for rotations.
        interpolation: one of `INTERPOLATIONS`.
    """

    def __init__(self, node: Any, path: str, times: Any, values: Any, interpolation: str = "LINEAR") -> None:
        if path not in _WIDTH:
            raise SceneError(f"animation path must be one of {', '.join(_WIDTH)}, got {path!r}")
        if interpolation not in INTERPOLATIONS:
            raise SceneError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
        t = np.asarray(times, np.float64).reshape(-1)
        if len(t) == 0 or not np.isfinite(t).all() or (np.diff(t) <= 0).any():
            raise SceneError(f"{path} key times must be finite and increasing, got {t.tolist()[:8]}")
        v = np.asarray(values, np.float64)
        width = _WIDTH[path]
        per_key = 3 if interpolation == "CUBICSPLINE" else 1
        if v.ndim != 2 or v.shape != (per_key * len(t), width) or not np.isfinite(v).all():
            raise SceneError(f"{len(t)} {interpolation} {path} keys need {per_key * len(t)} finite values of {width}, "
                             f"got shape {v.shape}")
        self.node, self.path, self.interpolation = node, path, interpolation
        self.attribute = _ATTRIBUTE[path]
        """The node attribute set: ``"position"``, ``"rotation"`` or ``"scale"``."""
        self.times = t
        if per_key == 3:
            v = v.reshape(len(t), 3, width)
            self.in_tangents, self.values, self.out_tangents = v[:, 0], v[:, 1], v[:, 2]
        else:
            self.values = v
        for arr in (self.times, self.values):
            arr.setflags(write=False)

    @property
    def start(self) -> float:
        return float(self.times[0])

    @property
    def end(self) -> float:
        return float(self.times[-1])

    def value_at(self, t: float) -> np.ndarray:
        """``(C,) float64`` at animation time ``t`` (held before the first key and after the last)."""
        times, values = self.times, self.values
        t = float(t)
        i = int(np.searchsorted(times, t, side="right")) - 1
        if i < 0:
            return values[0]
        if i >= len(times) - 1 or t == times[i]:
            return values[i]
        if self.interpolation == "STEP":
            return values[i]
        t0, t1 = times[i], times[i + 1]
        dt = t1 - t0
        u = (t - t0) / dt
        if self.interpolation == "LINEAR":
            if self.path == "rotation":
                return _slerp(values[i], values[i + 1], u)
            return values[i] + (values[i + 1] - values[i]) * u
        u2, u3 = u * u, u * u * u
        v = ((2 * u3 - 3 * u2 + 1) * values[i] + (u3 - 2 * u2 + u) * dt * self.out_tangents[i]
             + (-2 * u3 + 3 * u2) * values[i + 1] + (u3 - u2) * dt * self.in_tangents[i + 1])
        if self.path == "rotation":
            v = v / max(float(np.linalg.norm(v)), 1e-12)
        return v

    def apply(self, t: float) -> None:
        """Set the node's attribute to its value at animation time ``t``."""
        setattr(self.node, self.attribute, self.value_at(t))

    def __repr__(self) -> str:
        return (f"Channel({getattr(self.node, 'name', None)!r}, {self.path!r}, {len(self.times)} keys, "
                f"{self.interpolation})")


class Animation:
    """A named set of channels that play together (one glTF animation).

    ``duration`` is the last key time of any channel; animation time starts at 0.
    """

    def __init__(self, name: str, channels: Sequence[Channel]) -> None:
        self.name = name
        self.channels: tuple[Channel, ...] = tuple(channels)
        self.duration = max((c.end for c in self.channels), default=0.0)
        """Seconds of animation time: the last key of any channel."""

    @property
    def nodes(self) -> tuple[Any, ...]:
        """The nodes it drives, each once, in channel order."""
        out: list[Any] = []
        for c in self.channels:
            if all(c.node is not n for n in out):
                out.append(c.node)
        return tuple(out)

    def apply(self, t: float) -> None:
        """Pose the nodes at animation time ``t`` (clamped to ``0..duration``)."""
        for channel in self.channels:
            channel.apply(t)

    def __repr__(self) -> str:
        return f"Animation({self.name!r}, {len(self.channels)} channels, {self.duration:g} s)"


class AnimationPlayer:
    """An `Animation` on the scene clock: the same
    protocol as [`Track`][hybridscene.Track] (``apply(t)``, ``duration``), so a scene runs it among
    its tracks.

    Scene time ``t`` maps to animation time ``(t - start) * speed``: before ``start`` the pose
    at animation time 0 holds; with ``loop`` the animation repeats over ``[0, duration]``, without
    it the last pose holds.
    """

    def __init__(self, animation: Animation, *, loop: bool = True, speed: float = 1.0, start: float = 0.0) -> None:
        speed, start = float(speed), float(start)
        if not (math.isfinite(speed) and speed > 0):
            raise SceneError(f"animation speed must be a finite number > 0, got {speed!r}")
        if not math.isfinite(start):
            raise SceneError(f"animation start must be a finite time in seconds, got {start!r}")
        self.animation, self.loop, self.speed, self.start = animation, bool(loop), speed, start

    @property
    def duration(self) -> float:
        """Scene seconds of one pass through the animation."""
        return self.animation.duration / self.speed

    def animation_time(self, t: float) -> float:
        """The animation time shown at scene time ``t``."""
        local = max(0.0, (float(t) - self.start) * self.speed)
        length = self.animation.duration
        if length <= 0.0:
            return 0.0
        if self.loop:
            return local % length
        return min(local, length)

    def apply(self, t: float) -> None:
        """Pose the animation's nodes for scene time ``t``."""
        self.animation.apply(self.animation_time(t))

    def __repr__(self) -> str:
        return f"AnimationPlayer({self.animation.name!r}, loop={self.loop}, speed={self.speed:g}, start={self.start:g})"


def play(scene: Any, node: Any, name: str | None = None, *, loop: bool = True, speed: float = 1.0,
         start: float = 0.0) -> AnimationPlayer:
    """Play the animation called ``name`` of a loaded model on ``scene``'s clock; returns the player.

    Args:
        scene: the [`Scene`][hybridscene.Scene]; the player joins its tracks (applied in
            ``Scene.pose_at``, in the order added) and poses the model at the scene's time now.
        node: a model from [`load_mesh`][hybridscene.load_mesh] (anything with ``animations``).
        name: the animation's name (unnamed ones are ``"animation0"``, ...); ``None``: the first.
        loop: repeat over ``[0, duration]``; otherwise the last pose holds.
        speed: animation seconds per scene second (> 0).
        start: the scene time at which the animation starts.

    Raises:
        SceneError: the model has no animation of that name (the message lists them).
    """
    animations = getattr(node, "animations", None)
    label = f"{getattr(node, 'name', None)!r}"
    if not animations:
        raise SceneError(f"node {label} has no animations to play")
    if name is None:
        name = next(iter(animations))
    if name not in animations:
        raise SceneError(f"node {label} has no animation {name!r}; its animations: {', '.join(map(repr, animations))}")
    player = AnimationPlayer(animations[name], loop=loop, speed=speed, start=start)
    scene._tracks.append(player)
    player.apply(scene.time)
    return player



def read_animations(animations: list, nodes: Sequence[Any], accessor: Callable[[int], np.ndarray],
                    warn: Callable[[Any, str], None]) -> dict[str, Animation]:
    """The glTF ``animations`` list as `Animation`s by name (unnamed: ``"animation<i>"``).

    ``nodes[i]`` is the `Node` made for glTF node ``i`` (``None`` when it is not in the loaded
    scene: its channels are dropped); ``accessor(i)`` reads accessor ``i``; ``warn(key, message)``
    reports channels that cannot be played (morph target weights), once per key.

    Raises:
        SceneError: a channel refers to a missing sampler or node, or its keys are malformed.
    """
    out: dict[str, Animation] = {}
    for a, info in enumerate(animations):
        name = str(info.get("name") or f"animation{a}")
        if name in out:
            name = f"{name}#{a}"
        samplers = info.get("samplers", [])
        channels = []
        for c, ch in enumerate(info.get("channels", [])):
            target = ch.get("target", {})
            path = target.get("path")
            where = f"animation {a} ({name!r}) channel {c}"
            if path not in _WIDTH:
                what = "morph target weights" if path == "weights" else repr(path)
                warn((a, path), f"{where} animates {what}, which {'is' if path != 'weights' else 'are'} not supported; "
                                "skipped")
                continue
            if "node" not in target:
                continue  # glTF: a channel without a node is for an extension; ignore it
            node_index, s = target["node"], ch["sampler"]
            if not isinstance(node_index, int) or not 0 <= node_index < len(nodes):
                raise SceneError(f"{where} targets node {node_index}, but the file has {len(nodes)} nodes")
            if not isinstance(s, int) or not 0 <= s < len(samplers):
                raise SceneError(f"{where} refers to sampler {s}, but the animation has {len(samplers)}")
            if nodes[node_index] is None:
                continue  # the node is not in the loaded scene
            sampler = samplers[s]
            try:
                channels.append(Channel(nodes[node_index], path, accessor(sampler["input"]), accessor(sampler["output"]),
                                        sampler.get("interpolation", "LINEAR")))
            except SceneError as exc:
                raise SceneError(f"{where}: {exc}") from None
        out[name] = Animation(name, channels)
    return out
