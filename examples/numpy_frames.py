"""Frames as numpy arrays: render a few frames of a scene and lay them out as a contact sheet.

`hs.frames()` yields (H, W, 3) uint8 sRGB arrays, ready for numpy, Pillow, OpenCV or a dataset.

    python examples/numpy_frames.py -o sheet.png
"""

import argparse

import numpy as np
from PIL import Image

import hybridscene as hs

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("-o", "--output", default="contact_sheet.png")
parser.add_argument("--frames", type=int, default=8)
parser.add_argument("--size", default="320x180", help="WIDTHxHEIGHT of each frame")
args = parser.parse_args()
width, height = (int(v) for v in args.size.split("x"))

scene = hs.Scene(hs.procedural_plate(size=(width, height), seed=11))
spinner = scene.add(hs.Mesh.cube(2.0, color="#7bdff2"), position=(0, 3.0, -14))
scene.on_frame(lambda t: setattr(spinner, "rotation", hs.quat_from_euler(x=30, y=45 * t)))

frames = list(hs.frames(scene, frames=args.frames, fps=4))
columns = min(4, len(frames))
rows = -(-len(frames) // columns)
sheet = np.zeros((rows * height, columns * width, 3), np.uint8)
for i, frame in enumerate(frames):
    r, c = divmod(i, columns)
    sheet[r * height : (r + 1) * height, c * width : (c + 1) * width] = frame
Image.fromarray(sheet).save(args.output)
print(f"wrote {args.output}: {len(frames)} frames, mean brightness {sheet.mean():.1f}")
