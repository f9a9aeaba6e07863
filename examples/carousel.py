"""The `hybridscene demo` scene as a script: eight shapes circling a golden sphere above a river.

    python examples/carousel.py -o carousel.mp4 --seconds 6
"""

import argparse

import hybridscene as hs
from hybridscene.demo import build_demo_scene

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("-o", "--output", default="carousel.mp4", help=".mp4, .gif, .png or DIR/")
parser.add_argument("--seconds", type=float, default=6.0)
parser.add_argument("--frames", type=int, help="number of frames (overrides --seconds)")
parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
parser.add_argument("--seed", type=int, default=1, help="plate seed: palette, ridges, river")
args = parser.parse_args()
width, height = (int(v) for v in args.size.split("x"))

scene = build_demo_scene((width, height), seed=args.seed)
seconds = None if args.frames else args.seconds
result = hs.render(scene, args.output, frames=args.frames, seconds=seconds, progress=True)
print(f"wrote {result.path}: {result.frames} frames in {result.seconds:.1f} s")
