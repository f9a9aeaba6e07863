"""Scene-graph nodes: a transform (position, rotation, scale), a parent, children, a name, and
optionally something to draw. Plain data: no GL here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import transforms
from ..errors import SceneError

if TYPE_CHECKING:
    from .mesh import Mesh
    from .particles import ParticleEmitter, Sprite, SpriteSet

__all__ = ["Node"]


def _vec3(value: Any, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    if arr.shape == ():
        arr = np.full(3, arr, np.float32)
    if arr.shape != (3,):
        raise SceneError(f"{what} must be 3 numbers (x, y, z), got {value!r}")
    if not np.isfinite(arr).all():
        raise SceneError(f"{what} must be finite, got {arr.tolist()} (a NaN or inf crept in)")
    return arr


class Node:
    """A transform in the scene graph.

    Args:
        name: optional name for [`Scene.find`][hybridscene.Scene.find].
        mesh: a mesh to draw at this node.
        sprite: a [`Sprite`][hybridscene.Sprite] to draw at this node.
        particles: a [`ParticleEmitter`][hybridscene.ParticleEmitter] emitting from this node, or a
            [`SpriteSet`][hybridscene.SpriteSet] (with none of the three, the node is a pure
            transform: a group).
        position: ``(3,)`` metres, in the parent's frame.
        rotation: unit quaternion ``(x, y, z, w)``; see [`quat_from_euler`][hybridscene.quat_from_euler].
        scale: a number or ``(3,)`` per-axis factors.
        visible: hidden nodes (and their children) are not drawn.
        category: the label class of this node and its descendants that have none of their
            own, which together are one *instance* in labels (an aircraft built from parts
            under one node is one instance); see `hybridscene.compose.instances`.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        mesh: Mesh | None = None,
        sprite: Sprite | None = None,
        particles: ParticleEmitter | SpriteSet | None = None,
        position: Any = (0.0, 0.0, 0.0),
        rotation: Any = None,
        scale: Any = 1.0,
        visible: bool = True,
        category: str | None = None,
    ) -> None:
        self.name = name
        self.category = category
        self.mesh = mesh
        self.sprite = sprite
        self.particles = particles
        self.position = position
        self.rotation = transforms.quat_identity() if rotation is None else rotation
        self.scale = scale
        self.visible = bool(visible)
        self._parent: Node | None = None
        self._children: list[Node] = []

    @property
    def category(self) -> str | None:
        """Label class (a non-empty string) or ``None``."""
        return self._category

    @category.setter
    def category(self, value: str | None) -> None:
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise SceneError(f"{self._label()} category must be a non-empty string or None, got {value!r}")
        self._category = value.strip() if value is not None else None

    # -- transform, validated on every set ---------------------------------------------------
    @property
    def position(self) -> np.ndarray:
        """``(3,) float32`` metres in the parent's frame."""
        return self._position

    @position.setter
    def position(self, value: Any) -> None:
        self._position = _vec3(value, f"position of {self._label()}")

    @property
    def rotation(self) -> np.ndarray:
        """``(4,) float32`` unit quaternion ``(x, y, z, w)``, normalised on set."""
        return self._rotation

    @rotation.setter
    def rotation(self, value: Any) -> None:
        q = np.asarray(value, dtype=np.float32)
        if q.shape != (4,):
            raise SceneError(
                f"rotation of {self._label()} must be a quaternion (x, y, z, w), got {value!r}; "
                "build one with hybridscene.quat_from_euler(x, y, z)"
            )
        norm = float(np.linalg.norm(q))
        if not np.isfinite(q).all() or norm == 0.0:
            raise SceneError(f"rotation of {self._label()} must be a finite non-zero quaternion, got {q.tolist()}")
        self._rotation = q / norm

    @property
    def scale(self) -> np.ndarray:
        """``(3,) float32`` per-axis scale factors."""
        return self._scale

    @scale.setter
    def scale(self, value: Any) -> None:
        self._scale = _vec3(value, f"scale of {self._label()}")

    # -- hierarchy -----------------------------------------------------------------------------
    @property
    def parent(self) -> Node | None:
        return self._parent

    @property
    def children(self) -> tuple[Node, ...]:
        return tuple(self._children)

    def add(self, child: Node) -> Node:
        """Attach ``child`` (detaching it from any previous parent) and return it."""
        if child is self or self in child.walk():
            raise SceneError(f"adding {child._label()} under {self._label()} would make a cycle")
        if child._parent is not None:
            child._parent._children.remove(child)
        child._parent = self
        self._children.append(child)
        return child

    def remove(self, child: Node) -> None:
        if child._parent is not self:
            raise SceneError(f"{child._label()} is not a child of {self._label()}")
        self._children.remove(child)
        child._parent = None

    def walk(self) -> Iterator[Node]:
        """This node and all its descendants, depth first."""
        yield self
        for c in self._children:
            yield from c.walk()

    # -- orientation -----------------------------------------------------------------------------
    def look_at(self, target: Any, *, up: Any = (0.0, 1.0, 0.0), forward: str | Any = "+z") -> Node:
        """Turn the node so that its ``forward`` axis points at ``target`` (a point in world
        coordinates) with its up axis as near ``up`` as it can; returns the node.

        ``forward`` is the model's front: ``"+z"`` (glTF's convention, the default), ``"-z"``
        (a camera's), any ``"+x"``... or a vector. The node's parents are taken into account.

        Raises:
            SceneError: the target is the node's own position, or straight along ``up``.
        """
        target_w = _vec3(target, f"look_at target of {self._label()}").astype(np.float64)
        parent = self._parent.world_matrix().astype(np.float64) if self._parent is not None else np.eye(4)
        eye_w = parent @ np.append(self._position.astype(np.float64), 1.0)
        direction = target_w - eye_w[:3]
        if float(np.linalg.norm(direction)) < 1e-9:
            raise SceneError(f"{self._label()} cannot look at {target_w.tolist()}: it is the node's own position")
        # Into the parent's frame: rotations there are relative to it.
        inv = np.linalg.inv(parent[:3, :3])
        up_p = inv @ transforms.axis(up, "up")
        self.rotation = transforms.quat_look_rotation(inv @ direction, up_p, forward)
        return self

    # -- matrices --------------------------------------------------------------------------------
    def local_matrix(self) -> np.ndarray:
        """``(4, 4) float32`` parent-from-local."""
        return transforms.compose(self._position, self._rotation, self._scale)

    def world_matrix(self) -> np.ndarray:
        """``(4, 4) float32`` world-from-local, following the parents."""
        m = self.local_matrix()
        p = self._parent
        while p is not None:
            m = p.local_matrix() @ m
            p = p._parent
        return m

    def _label(self) -> str:
        name = getattr(self, "name", None)
        return f"node {name!r}" if name else "node"

    def __repr__(self) -> str:
        mesh = f", mesh={self.mesh!r}" if self.mesh is not None else ""
        return f"Node({self.name!r}, position={self._position.tolist()}{mesh})"
