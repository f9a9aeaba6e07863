"""Quickstart: a lit cube and a bouncing ball over a procedural mountain river, rendered to MP4.

    python examples/quickstart.py                 # writes quickstart.mp4 (4 s at 30 fps)
    python examples/quickstart.py -o q.gif --frames 24 --size 480x270
"""

import argparse
import math

import hybridscene as hs

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("-o", "--output", default="quickstart.mp4", help=".mp4, .gif, .png or DIR/")
parser.add_argument("--frames", type=int, help="number of frames (default: 4 seconds)")
parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
args = parser.parse_args()
width, height = (int(v) for v in args.size.split("x"))

# 1. The background plate, painted once (an AI model can paint it instead: see docs/).
plate = hs.procedural_plate("mountains", size=(width, height), seed=3)

# 2. The scene: the camera and sun default to the ones the plate was painted with.
scene = hs.Scene(plate)
cube = scene.add(hs.Mesh.cube(1.6, color="#e4572e"), position=(-1.6, 2.2, -12))
ball = scene.add(hs.Mesh.sphere(0.9, color="#f3d34a"), position=(1.8, 1.6, -12))


# 3. Animation: a function of the scene time t in seconds.
@scene.on_frame
def animate(t):
    cube.rotation = hs.quat_from_euler(x=25 * t, y=60 * t)
    ball.position = (1.8, 1.6 + 1.2 * abs(math.sin(2.5 * t)), -12)


# 4. Render frames at fixed time steps and encode them (H.264 for .mp4).
result = hs.render(scene, args.output, frames=args.frames, seconds=None if args.frames else 4.0, progress=True)
print(f"wrote {result.path}: {result.frames} frames, {result.size[0]}x{result.size[1]}")
