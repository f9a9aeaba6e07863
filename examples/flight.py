"""A camera flight along the paper's "Landscape with mountains and a river": the camera glides up
the valley and climbs, so the meadow, the forest ridge and the far peaks slide past each other
(the plate is drawn as a surface displaced by its depth). Hot-air balloons hang over the valley,
one behind the forest ridge, and seeds drift past the lens.

    hybridscene render examples/flight.py -o flight.mp4
    hybridscene render examples/flight.py --model stabilityai/sd-turbo -o flight.mp4

An AI plate needs depth for the parallax (see docs/ai-plates.md); without it the flight still
pans across the plate, which then stays a backdrop at infinity.
"""

import hybridscene as hs

DURATION = 10.0
FPS = 30


def balloon(scene, name, colour, position, rise):
    """A hot-air balloon (envelope, skirt and basket) rising ``rise`` metres over the film."""
    # One labelled instance (--labels): the node with a category, with its parts.
    body = scene.add(hs.Node(name=name, position=position, category="balloon"))
    look = dict(shading="blinn-phong", specular=0.25, shininess=24)
    scene.add(hs.Mesh.sphere(5.0, color=colour, **look), parent=body, position=(0, 9.0, 0), scale=(1, 1.15, 1))
    scene.add(hs.Mesh.cone(3.4, 4.0, color=colour, **look), parent=body, position=(0, 3.6, 0),
              rotation=hs.quat_from_euler(x=180))
    scene.add(hs.Mesh.cube(1.4, color="#6b4a2f"), parent=body, position=(0, 0.7, 0))
    x, y, z = position
    scene.animate(body, "position", [(0.0, (x, y, z)), (DURATION, (x + 2.0, y + rise, z))], easing="sine-in-out")
    return body


def build_scene(size=(1280, 720), seed=0, model=None, prompt="Landscape with mountains and a river"):
    # seed 0 paints the morning palette; a plate wider than the frame leaves room to pan.
    wide = (int(size[0] * 1.4) // 8 * 8, size[1])
    scene = hs.Scene(hs.background_plate(wide, seed=seed, model=model, prompt=prompt), shadows=False)
    # The flight: up the valley and up, looking a little down and across as it goes.
    cam = scene.camera
    scene.animate(cam, "position", [(0.0, (0.0, 4.0, 0.0)), (DURATION, (-2.0, 6.0, -12.0))], easing="sine-in-out")
    scene.animate(cam, "target", [(0.0, (-8.0, 4.0, -100.0)), (DURATION, (9.0, 4.5, -110.0))],
                  easing="sine-in-out")
    balloon(scene, "balloon-red", "#c8402f", (-28.0, 14.0, -110.0), 8.0)
    balloon(scene, "balloon-gold", "#e0a526", (24.0, 22.0, -170.0), 6.0)
    # The third one starts hidden behind the forest ridge (220 m out) and rises above it.
    balloon(scene, "balloon-blue", "#3a6fb8", (80.0, -9.0, -320.0), 20.0)
    # Seeds drifting on the wind close to the lens: the strongest parallax in the shot.
    scene.add(hs.ParticleEmitter(rate=40, lifetime=(3.0, 5.0), velocity=(1.2, 0.25, 0.3), spread=35.0,
                                 speed_jitter=0.5, gravity=(0.0, -0.05, 0.0), drag=0.1, size=(0.06, 0.03),
                                 color=(("#fff8e8", 0.95), ("#ffffff", 0.0)), emit_box=(8.0, 4.0, 14.0),
                                 seed=3, start=-5.0), position=(-3.0, 5.0, -12.0), name="seeds")
    return scene


if __name__ == "__main__":
    import sys

    from hybridscene.cli import main

    main(["render", __file__, *sys.argv[1:]])
