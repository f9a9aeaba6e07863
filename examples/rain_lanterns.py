"""Rain at dusk over the river, with lanterns on poles along the bank blinking like signals.

    hybridscene render examples/rain_lanterns.py -o rain.mp4
"""

import math

import hybridscene as hs

DURATION = 6.0
FPS = 30


def build_scene(size=(1280, 720), seed=7, model=None, prompt="A river town at dusk in the rain"):
    # seed 7 paints the dusk palette
    scene = hs.Scene(hs.background_plate(size, seed=seed, model=model, prompt=prompt),
                     shadows=hs.ShadowCatcher(strength=0.4, softness=0.2))
    lights = []
    for i, (x, z) in enumerate([(-4.5, -10), (-4.0, -16), (-3.6, -23), (4.2, -11), (3.8, -18)]):
        scene.add(hs.Mesh.cylinder(0.06, 3.0, color="#2b2b30"), position=(x, 1.5, z))
        lamp = scene.add(hs.Mesh.sphere(0.22, color="#222222", emissive="#000000"), position=(x, 3.1, z),
                         name=f"lamp-{i}")
        lights.append(lamp)
        # A soft halo of additive particles around each lamp.
        scene.add(hs.ParticleEmitter(rate=30, lifetime=1.0, velocity=(0, 0, 0), gravity=(0, 0, 0), size=(1.4, 2.0),
                                     color=(("#ffb347", 0.6), ("#ff8c00", 0.0)), additive=True, seed=i),
                  position=(x, 3.1, z))
    palette = ["#ff3b30", "#ffcc00", "#34c759"]

    @scene.on_frame
    def blink(t):
        for i, lamp in enumerate(lights):
            on = palette[int(t * 1.5 + i) % 3]
            level = 0.55 + 0.45 * (math.sin(6.0 * t + i) > -0.6)
            lamp.mesh.material.emissive = on if level > 0.6 else "#402010"

    # Rain: thin, fast, slightly slanted drops over the whole view.
    scene.add(hs.ParticleEmitter(rate=12000, lifetime=0.9, velocity=(-1.5, -14.0, 0.0), spread=3, gravity=(0, -9.8, 0),
                                 size=0.03, aspect=14.0, color=("#cfd8ea", 0.5), emit_box=(14.0, 0.5, 14.0), seed=11,
                                 start=-1.0), position=(0.0, 12.0, -16.0))
    return scene


if __name__ == "__main__":
    import sys

    from hybridscene.cli import main

    main(["render", __file__, *sys.argv[1:]])
