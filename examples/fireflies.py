"""Fireflies over the river at dusk: additive particles drifting above the water, hidden where
the bank and the forest are in front of them.

    hybridscene render examples/fireflies.py -o fireflies.mp4
    python examples/fireflies.py -o fireflies.gif --seconds 4 --size 640x360
    hybridscene render examples/fireflies.py --model stabilityai/sd-turbo --prompt "a lake at dusk, forest"
"""

import hybridscene as hs

DURATION = 8.0
FPS = 30


def build_scene(size=(1280, 720), seed=3, model=None, prompt="A river at dusk between forested hills"):
    # seed 3 paints the dusk palette of the procedural plate
    scene = hs.Scene(hs.background_plate(size, seed=seed, model=model, prompt=prompt), shadows=False)
    glow = dict(velocity=(0.0, 0.15, 0.0), spread=180.0, speed_jitter=0.8, gravity=(0.0, 0.0, 0.0), drag=0.2,
                additive=True)
    # A wide cloud of slow, long-lived fireflies, blinking as they fade in and out.
    scene.add(hs.ParticleEmitter(rate=60, lifetime=(3.0, 6.0), size=(0.22, 0.04),
                                 color=(("#fff3a0", 0.9), ("#b8ff60", 0.0)), emit_box=(9.0, 1.2, 8.0),
                                 seed=1, start=-6.0, **glow), position=(0.0, 1.4, -16.0))
    # A few brighter ones near the camera.
    scene.add(hs.ParticleEmitter(rate=6, lifetime=(2.0, 4.0), size=(0.14, 0.03),
                                 color=(("#ffffd0", 1.0), ("#ffe070", 0.0)), emit_box=(3.0, 0.6, 1.5),
                                 seed=2, start=-4.0, **glow), position=(0.5, 1.6, -7.0))
    return scene


if __name__ == "__main__":
    import sys

    from hybridscene.cli import main

    main(["render", __file__, *sys.argv[1:]])
