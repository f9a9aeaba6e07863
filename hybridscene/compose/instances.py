"""Object instances for labels: which drawn nodes make one labelled object, and stable numbers
for nodes (the ``ids`` pass) and instances (``track_id``) over a whole render.

An *instance* is a node with a ``category`` together with its descendants that have none of
their own (an aircraft built from parts under one node is one instance). A drawn node with no
categorised ancestor is its own instance, its category being its name without a trailing
number (``"bird_12"`` -> ``"bird"``; an unnamed node is ``"object"``).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from ..scene import Node, Scene

__all__ = ["Instance", "Registry", "box_corners", "default_category", "instances_of"]

_TRAILING_NUMBER = re.compile(r"[\s_\-.#]*\d+$")


def default_category(name: str | None) -> str:
    """The category of an uncategorised node called ``name``."""
    return _TRAILING_NUMBER.sub("", name or "").strip() or "object"


def box_corners(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``(8, 4) float64`` homogeneous corners of the axis-aligned box ``lo``..``hi``."""
    return np.array([[x, y, z, 1.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


def _drawn(node: Node) -> bool:
    return node.mesh is not None or node.sprite is not None or node.particles is not None


@dataclasses.dataclass
class Instance:
    """One instance in one frame: its root node and the drawn nodes that belong to it."""

    root: Node
    root_world: np.ndarray
    category: str
    members: list[tuple[Node, np.ndarray]]
    """The drawn nodes of the instance with their world matrices."""

    def bbox_local(self) -> np.ndarray | None:
        """``(2, 3)`` min/max of its meshes' bounding boxes in the root's frame; ``None``
        without meshes."""
        to_root = np.linalg.inv(self.root_world.astype(np.float64))
        corners = []
        for node, world in self.members:
            if node.mesh is None:
                continue
            lo, hi = node.mesh.geometry.bounds
            corners.append(box_corners(lo, hi) @ (to_root @ world.astype(np.float64)).T)
        if not corners:
            return None
        pts = np.concatenate(corners)[:, :3]
        return np.stack([pts.min(0), pts.max(0)])


def instances_of(scene: Scene) -> list[Instance]:
    """The instances among the scene's visible, drawn nodes, in scene-graph order."""
    out: dict[int, Instance] = {}
    for node, world in scene.visible_nodes():
        if not _drawn(node):
            continue
        root = node
        while root is not None and root.category is None:
            root = root.parent
        if root is None:  # no categorised ancestor: its own instance
            root, category = node, default_category(node.name)
        else:
            category = root.category  # type: ignore[assignment]
        inst = out.get(id(root))
        if inst is None:
            root_world = world if root is node else root.world_matrix()
            inst = out[id(root)] = Instance(root, np.asarray(root_world), category, [])
        inst.members.append((node, world))
    return list(out.values())


class Registry:
    """Numbers that stay the same over a render: node ids (``ids`` pass, from 1) and instance
    track ids (from 1), in scene-graph order (`register`), then in order of first appearance. Holds the nodes so a number is never
    reused by a new object at the same address."""

    def __init__(self) -> None:
        self._nodes: dict[int, tuple[Node, int]] = {}
        self._tracks: dict[int, tuple[Node, int]] = {}
        self.names: dict[int, str] = {}
        """Node id -> node name (``node-<id>`` when unnamed)."""

    def node_id(self, node: Node) -> int:
        entry = self._nodes.get(id(node))
        if entry is None:
            entry = self._nodes[id(node)] = (node, len(self._nodes) + 1)
            self.names[entry[1]] = node.name or f"node-{entry[1]}"
        return entry[1]

    def track_id(self, root: Node) -> int:
        entry = self._tracks.get(id(root))
        if entry is None:
            entry = self._tracks[id(root)] = (root, len(self._tracks) + 1)
        return entry[1]

    def register(self, scene: Scene) -> None:
        """Number every drawn node of ``scene`` (hidden ones too) and its instance, in scene-graph
        order, before the first frame: the numbers then depend on the scene, not on which frames
        were rendered, so a shard that starts at frame 1200 numbers the nodes as a whole render
        does. Nodes added later (by a callback) get the next numbers when first drawn."""
        for node in scene.root.walk():
            if not _drawn(node):
                continue
            self.node_id(node)
            root: Node | None = node
            while root is not None and root.category is None:
                root = root.parent
            self.track_id(node if root is None else root)
