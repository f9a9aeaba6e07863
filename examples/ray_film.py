"""The flight over the valley (examples/flight.py), rendered by Ray workers: each builds the scene
from the file with its own GL context and draws chunks of frames; this process writes them in
order. The film is identical to `hybridscene render examples/flight.py`.

    python examples/ray_film.py -o flight.mp4                  # a local Ray on this machine's cores
    python examples/ray_film.py -o flight.mp4 --address auto   # the cluster this machine is part of
    python examples/ray_film.py -o frames/ --workers 8 --chunk 16

Needs `pip install "hybridscene[ray]"`. On a cluster, every node needs hybridscene and the scene
file at the same path (or see docs/scale.md for shipping it with a runtime_env).
"""

import argparse
from pathlib import Path

import hybridscene as hs

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("-o", "--output", default="flight.mp4", help=".mp4, .gif or DIR/")
parser.add_argument("--frames", type=int, default=300)
parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
parser.add_argument("--address", default=None, help="a Ray cluster (auto, ray://head:10001); default: a local Ray")
parser.add_argument("--workers", type=int, default=None, help="render workers [default: one per CPU]")
parser.add_argument("--chunk", type=int, default=8, help="frames per task")
args = parser.parse_args()
width, height = (int(v) for v in args.size.split("x"))

# A recipe, not a Scene: every worker builds the same scene from the file and these arguments.
film = hs.SceneSource(Path(__file__).with_name("flight.py"), options={"size": (width, height)})
executor = hs.RayExecutor(address=args.address, workers=args.workers, chunk=args.chunk)
result = hs.render(film, args.output, frames=args.frames, size=(width, height), ray=executor, progress=True)
print(f"wrote {result.path}: {result.frames} frames in {result.seconds:.1f} s on Ray")
