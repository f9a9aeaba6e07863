"""The :class:`Scene`: a plate, a camera, lights and a tree of nodes, plus per-frame callbacks.
Plain data; nothing here touches OpenGL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..colors import Color, parse_color
from ..errors import SceneError
from ..plate import Plate
from .camera import PerspectiveCamera
from .light import AmbientLight, DirectionalLight
from .mesh import Mesh
from .node import Node

__all__ = ["FrameCallback", "Scene"]

FrameCallback = Callable[[float], None]
"""Called as ``callback(t)`` with the scene time in seconds before each frame is drawn."""


class Scene:
    """Everything one frame needs.

    Args:
        plate: the background; ``None`` shows ``background`` instead.
        camera: defaults to :meth:`PerspectiveCamera.from_plate` of the plate.
        sun: defaults to the plate's sun when it has one (procedural plates do).
        ambient: defaults to an ambient light tinted like the plate's sky.
        background: sRGB colour behind everything when there is no plate.
    """

    def __init__(
        self,
        plate: Plate | None = None,
        *,
        camera: PerspectiveCamera | None = None,
        sun: DirectionalLight | None = None,
        ambient: AmbientLight | None = None,
        background: Color = (0.0, 0.0, 0.0),
    ) -> None:
        if plate is not None and not isinstance(plate, Plate):
            raise SceneError(f"plate must be a hybridscene.Plate, got {type(plate).__name__}")
        self.plate = plate
        if camera is None:
            camera = PerspectiveCamera.from_plate(plate) if plate is not None else PerspectiveCamera()
        self.camera = camera
        self.sun = sun if sun is not None else (DirectionalLight.from_plate(plate) if plate else DirectionalLight())
        self.ambient = ambient if ambient is not None else (AmbientLight.from_plate(plate) if plate else AmbientLight())
        self.background = parse_color(background, "background")
        self.root = Node("root")
        self._callbacks: list[FrameCallback] = []

    # -- building ------------------------------------------------------------------------------
    def add(self, item: Node | Mesh, *, parent: Node | None = None, **node_kwargs: Any) -> Node:
        """Add a node, or wrap a mesh in a new node (``node_kwargs`` go to :class:`Node`).

        Returns the node, to animate it: ``cube = scene.add(Mesh.cube(), position=(0, 1, -5))``.
        """
        if isinstance(item, Mesh):
            node = Node(mesh=item, **node_kwargs)
        elif isinstance(item, Node):
            if node_kwargs:
                raise SceneError("node keywords (position=, ...) only apply when adding a Mesh")
            node = item
        else:
            raise SceneError(f"Scene.add takes a Node or a Mesh, got {type(item).__name__}")
        (parent or self.root).add(node)
        return node

    def find(self, name: str) -> Node:
        """The node called ``name``."""
        for node in self.root.walk():
            if node.name == name:
                return node
        names = sorted(n.name for n in self.root.walk() if n.name and n is not self.root)
        raise SceneError(f"no node named {name!r} in the scene; names: {names}")

    def on_frame(self, callback: FrameCallback) -> FrameCallback:
        """Register ``callback(t)`` to run before every frame; usable as a decorator."""
        if not callable(callback):
            raise SceneError(f"on_frame needs a callable taking the time, got {callback!r}")
        self._callbacks.append(callback)
        return callback

    # -- per frame -----------------------------------------------------------------------------
    def update(self, t: float) -> None:
        """Run the frame callbacks for scene time ``t`` seconds."""
        for cb in self._callbacks:
            cb(t)

    def drawables(self) -> Iterator[tuple[Node, np.ndarray]]:
        """Visible mesh nodes with their ``(4, 4)`` world matrices (hidden subtrees skipped)."""

        def visit(node: Node, parent_world: np.ndarray) -> Iterator[tuple[Node, np.ndarray]]:
            if not node.visible:
                return
            world = parent_world @ node.local_matrix()
            if node.mesh is not None:
                yield node, world
            for child in node.children:
                yield from visit(child, world)

        yield from visit(self.root, np.eye(4, dtype=np.float32))

    def __repr__(self) -> str:
        n = sum(1 for _ in self.root.walk()) - 1
        return f"Scene(plate={self.plate!r}, nodes={n})"
