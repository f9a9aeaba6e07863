"""The demo scene: a carousel of lit shapes floating over a procedural mountain river.

Used by ``hybridscene demo`` and ``examples/carousel.py``; it is also a compact example of the
API: a plate, a camera matched to it, a group node, and a per-frame callback.
"""

from __future__ import annotations

import math

from .plate import Plate, procedural_plate
from .scene import Mesh, Node, Scene
from .transforms import quat_from_axis_angle, quat_from_euler, quat_multiply

__all__ = ["build_demo_scene"]

PALETTE = ("#ef476f", "#ffd166", "#06d6a0", "#4cc9f0", "#f78c6b", "#f1faee", "#b5179e", "#90be6d")


def build_demo_scene(size: tuple[int, int] = (1280, 720), *, seed: int = 1, plate: Plate | None = None) -> Scene:
    """A scene of eight shapes circling a golden sphere above the river.

    Args:
        size: plate size ``(width, height)``; render at the same size for a 1:1 plate.
        seed: procedural plate seed (palette, ridges, river).
        plate: use this plate instead of painting one.
    """
    plate = plate if plate is not None else procedural_plate("mountains", size=size, seed=seed)
    scene = Scene(plate)

    # 1. A group node that turns the whole carousel; its children orbit with it.
    carousel = scene.add(Node("carousel", position=(0.0, 2.9, -13.0)))
    scene.add(Mesh.sphere(1.0, color="#ffc93c", metallic=1.0, roughness=0.28), parent=carousel, name="sun-sphere")

    # 2. Eight shapes on a ring, alternating cubes and spheres.
    shapes: list[Node] = []
    for i, color in enumerate(PALETTE):
        angle = 2.0 * math.pi * i / len(PALETTE)
        # Matte painted cubes and glossy plastic spheres (physically based, lit by the plate).
        mesh = Mesh.cube(0.85, color=color, roughness=0.6) if i % 2 == 0 else Mesh.sphere(0.5, color=color, roughness=0.15)
        node = scene.add(
            mesh,
            parent=carousel,
            name=f"shape-{i}",
            position=(3.4 * math.cos(angle), 0.0, 3.4 * math.sin(angle)),
        )
        shapes.append(node)

    tilt = quat_from_euler(x=12.0)

    # 3. Animation: a function of time only, so any frame can be rendered on its own.
    @scene.on_frame
    def animate(t: float) -> None:
        carousel.rotation = quat_multiply(tilt, quat_from_axis_angle((0.0, 1.0, 0.0), 30.0 * t))
        carousel.position = (0.0, 2.9 + 0.25 * math.sin(0.8 * t), -13.0)
        for i, node in enumerate(shapes):
            phase = i * 0.7
            x, _, z = node.position
            node.position = (x, 0.6 * math.sin(1.6 * t + phase), z)
            node.rotation = quat_from_euler(x=70.0 * t + 40 * i, y=110.0 * t + 25 * i)

    scene.update(0.0)
    return scene

