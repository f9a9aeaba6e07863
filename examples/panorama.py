"""A full turn on the meadow in the golden hour: the camera pans once all the way round a 360
degree plate (a cylindrical panorama whose ends meet behind the camera) while a gold ball circles
it a few metres away, casting a long shadow on the plate's ground and mirroring the panorama,
which is also the light it is lit by. The last frame is the first: the film loops.

    hybridscene render examples/panorama.py -o panorama.mp4
    hybridscene render examples/panorama.py --model stabilityai/sd-turbo -o panorama.mp4

With a model the plate is painted as a seamless panorama (``wrap=True``, see docs/ai-plates.md).
"""

import math

import hybridscene as hs

DURATION = 12.0
FPS = 30
FOV_Y = 50.0


def panorama(size, seed, model, prompt):
    """A 360 degree plate about as sharp as the frame: as many pixels per degree."""
    if model is not None:
        return hs.background_plate(size, seed=seed, model=model, prompt=prompt, wrap=True)
    w, h = size
    fov_x = 2 * math.degrees(math.atan(math.tan(math.radians(FOV_Y) / 2) * w / h))
    scale = min(1.0, 4096 / (w * 360 / fov_x))  # at most 4096 pixels round
    return hs.procedural_plate(size=(round(w * 360 / fov_x * scale / 8) * 8, round(h * scale / 8) * 8),
                               seed=seed, fov_y=FOV_Y, camera_height=3.0, horizon=0.36,
                               projection="cylindrical", fov_x=360)


def build_scene(size=(1280, 720), seed=6, model=None, prompt="A meadow in the golden hour, mountains all around"):
    # seed 6 paints the golden-hour palette: a low sun, a long shadow across the meadow
    scene = hs.Scene(panorama(size, seed, model, prompt),
                     shadows=hs.ShadowCatcher(strength=0.65, softness=0.25))
    ball = scene.add(hs.Mesh.sphere(0.55, color="#f2c15a", metallic=1.0, roughness=0.18), name="ball")
    cam = scene.camera  # at the panorama's centre, level

    @scene.on_frame
    def turn(t):
        yaw = 2 * math.pi * t / DURATION  # one full turn, to the right
        cam.target = (math.sin(yaw), cam.position[1], -math.cos(yaw))
        # The ball runs ahead of the camera, swinging across the view and bouncing.
        a = yaw + math.radians(14) * math.sin(2 * yaw) + math.radians(6)
        r = 6.5 + 1.0 * math.sin(3 * yaw)
        ball.position = (r * math.sin(a), 0.55 + 1.2 * abs(math.sin(3 * yaw)), -r * math.cos(a))

    return scene


if __name__ == "__main__":
    import sys

    from hybridscene.cli import main

    main(["render", __file__, *sys.argv[1:]])
