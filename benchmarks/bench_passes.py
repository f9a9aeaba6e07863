"""Render passes: what choosing fewer passes saves, PNG against EXR, and a dataset item's cost.

    python benchmarks/bench_passes.py [--scene examples/glossy.py] [--frames 12] [--size 1280x720]
                                      [--dataset-items 2]

Figures per configuration: frames/s of `FrameRenderer.render_passes` alone (rendered and read
back into numpy, no files) for ``composite``, the default passes and ``all``; frames/s of
`hs.render` into a sink that discards the frames (so
encoding a video does not hide the passes' cost) with ``layers=`` written as PNG or EXR, for
``--passes composite``, the default passes and ``all``, and the bytes each frame's files take;
the same render without layers as the baseline; then seconds per item of
``make_dataset`` (labels and the depth/ids/normals/flow passes) on the same scene file.
Prints one JSON object with the machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine

import hybridscene as hs
from hybridscene.scenefile import load_scene_file

ROOT = Path(__file__).resolve().parents[1]


class NullSink:
    """Takes frames and keeps nothing (the `Sink` protocol)."""

    def write(self, frame) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scene", default=str(ROOT / "examples" / "glossy.py"))
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--dataset-items", type=int, default=2, help="0 to skip the dataset figure")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    scene = load_scene_file(args.scene, size=size).scene
    results: dict[str, dict] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench_passes_"))
    try:
        with hs.create_context() as gl:
            hs.render(scene, NullSink(), frames=2, fps=30, size=size, ctx=gl)  # warm up: programs, plate upload
            t0 = time.perf_counter()
            hs.render(scene, NullSink(), frames=args.frames, fps=30, size=size, ctx=gl)
            results["no layers"] = {"fps": round(args.frames / (time.perf_counter() - t0), 2)}
            # Rendering and reading back alone (no files): what each choice costs the GPU side.
            from hybridscene.compose.frame import FrameRenderer

            with FrameRenderer(gl, size) as renderer:
                renderer.render_passes(scene, 0.0, passes="all")
                for passes in ("composite", "default", "all"):
                    t0 = time.perf_counter()
                    for i in range(args.frames):
                        renderer.render_passes(scene, i / 30, passes=passes, dt=1 / 30)
                    results[f"in memory {passes}"] = {"fps": round(args.frames / (time.perf_counter() - t0), 2)}
            for fmt in ("png", "exr"):
                for passes in ("composite", "default", "all"):
                    out = tmp / f"{fmt}-{passes}"
                    t0 = time.perf_counter()
                    hs.render(scene, NullSink(), frames=args.frames, fps=30, size=size, ctx=gl, layers=out,
                              passes=passes, layer_format=fmt)
                    seconds = time.perf_counter() - t0
                    results[f"{fmt} {passes}"] = {"fps": round(args.frames / seconds, 2),
                                                  "bytes_per_frame": folder_bytes(out) // args.frames}
                    shutil.rmtree(out)
        if args.dataset_items > 0:
            from hybridscene.export.dataset import make_dataset

            out = tmp / "dataset"
            t0 = time.perf_counter()
            make_dataset(args.scene, out, count=args.dataset_items, frames=args.frames, size=size)
            seconds = time.perf_counter() - t0
            results["dataset"] = {"items": args.dataset_items, "frames_per_item": args.frames,
                                  "seconds_per_item": round(seconds / args.dataset_items, 2),
                                  "bytes_per_item": folder_bytes(out) // args.dataset_items}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    json.dump({"benchmark": "passes", "scene": Path(args.scene).name, "size": args.size, "frames": args.frames,
               "results": results, "machine": machine(gl=True)}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
