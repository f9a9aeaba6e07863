"""Birds crossing the mountain valley: flapping sprites on keyframed paths; one flies behind the
forest ridge and disappears behind it for a moment.

    hybridscene render examples/birds.py -o birds.mp4
"""

import numpy as np

import hybridscene as hs

DURATION = 8.0
FPS = 30


def bird_sheet(size=64):
    """A two-frame sprite sheet of a dark bird silhouette: wings up, wings down."""
    sheet = np.zeros((size, 2 * size, 4), np.uint8)
    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    for frame, lift in enumerate((0.22, -0.12)):
        wing = np.abs(y + lift * (np.abs(x) * 2) ** 1.3 - 0.02) < 0.035 + 0.05 * (0.5 - np.abs(x))
        body = (x / 0.09) ** 2 + ((y - 0.02) / 0.05) ** 2 < 1
        mask = (wing & (np.abs(x) < 0.46)) | body
        sheet[:, frame * size:(frame + 1) * size][mask] = (30, 28, 36, 255)
    return sheet


def build_scene(size=(1280, 720), seed=1, model=None, prompt="Landscape with mountains and a river"):
    scene = hs.Scene(hs.background_plate(size, seed=seed, model=model, prompt=prompt), shadows=False)
    sheet = bird_sheet()
    rng = np.random.default_rng(seed)
    flock = [  # (start, end, wingspan in metres): herons crossing the sky 22-30 m away
        ((-20, 11.0, -26), (16, 12.5, -27), 2.0),
        ((-23, 10.2, -23), (13, 11.4, -23), 1.8),
        ((-27, 12.2, -30), (11, 13.6, -29), 2.2),
        ((-30, 11.1, -27), (8, 12.2, -26), 1.9),
    ]
    for i, (a, b, span) in enumerate(flock):
        node = scene.add(hs.Sprite(sheet, size=(span, span / 2), frames=(2, 1), fps=5 + 3 * rng.random()),
                         name=f"bird-{i}")
        scene.animate(node, "position", [(0.0, a), (DURATION, b)])
    # A big bird far out dives behind the forest ridge (about 200 m away) and comes out again.
    diver = scene.add(hs.Sprite(sheet, size=(9.0, 4.5), frames=(2, 1), fps=4), name="diver")
    scene.animate(diver, "position", [(0.0, (60, 45, -330)), (4.0, (0, -2, -330)), (8.0, (-70, 40, -330))],
                  easing=["sine-in-out", "sine-in-out"])
    return scene


if __name__ == "__main__":
    import sys

    from hybridscene.cli import main

    main(["render", __file__, *sys.argv[1:]])
