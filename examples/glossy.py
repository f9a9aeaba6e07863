"""A gold torus and a bouncing chrome ball over the meadow in the midday sun: physically based
materials lit by the plate itself (the ball mirrors its sky and its land), with soft shadows.

    hybridscene render examples/glossy.py -o glossy.mp4
"""

import math

import numpy as np

import hybridscene as hs

DURATION = 6.0
FPS = 30


def torus(major=1.0, minor=0.35, segments=96, sides=32):
    """A torus in the XZ plane as an indexed Geometry (smooth normals, uvs)."""
    u = np.linspace(0, 2 * math.pi, segments + 1)
    v = np.linspace(0, 2 * math.pi, sides + 1)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    centre = np.stack([np.cos(uu), np.zeros_like(uu), -np.sin(uu)], -1)
    normal = np.stack([np.cos(vv) * np.cos(uu), np.sin(vv), -np.cos(vv) * np.sin(uu)], -1)
    pos = centre * major + normal * minor
    cols = sides + 1
    i, j = np.meshgrid(np.arange(segments), np.arange(sides), indexing="ij")
    a = (i * cols + j).ravel()
    b, c = a + cols, a + 1
    d = b + 1
    idx = np.concatenate([np.stack([a, b, c], 1), np.stack([c, b, d], 1)])
    uv = np.stack([uu / (2 * math.pi), vv / (2 * math.pi)], -1)
    return hs.Geometry(pos.reshape(-1, 3), normal.reshape(-1, 3), idx, uvs=uv.reshape(-1, 2))


def build_scene(size=(1280, 720), seed=5, model=None, prompt="A green meadow by a river, mountains, midday"):
    # seed 5 paints the midday palette: a high sun, short shadows on the meadow
    scene = hs.Scene(hs.background_plate(size, seed=seed, model=model, prompt=prompt),
                     shadows=hs.ShadowCatcher(strength=0.55, softness=0.3))
    ring = scene.add(hs.Mesh(torus(), color="#f2c15a", metallic=1.0, roughness=0.25),
                     position=(0.6, 2.2, -9.0), name="ring")
    orb = scene.add(hs.Mesh.sphere(0.45, color="#eeeeee", metallic=1.0, roughness=0.04),
                    position=(-2.2, 1.0, -8.0), name="orb")

    @scene.on_frame
    def turn(t):
        ring.rotation = hs.quat_from_euler(x=65 + 15 * math.sin(0.7 * t), y=40 * t)
        ring.position = (0.6, 2.2 + 0.15 * math.sin(1.3 * t), -9.0)
        orb.position = (-2.2 + 0.3 * math.sin(0.9 * t), 0.9 + 0.35 * abs(math.sin(2.0 * t)), -8.0)

    return scene


if __name__ == "__main__":
    import sys

    from hybridscene.cli import main

    main(["render", __file__, *sys.argv[1:]])
