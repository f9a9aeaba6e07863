"""Frames/s the browser preview delivers over its MJPEG stream, to one client and to two.

    python benchmarks/bench_serve.py [--seconds 5] [--sizes 1280x720,640x360] [--scene examples/glossy.py]

For each size it starts `hs.serve(scene, size=...)` on a loopback port, reads `GET /stream.mjpg`
for S seconds with one reader (then with two at once) and counts the JPEG frames each received;
"fps" is frames over the seconds read, "kb_per_frame" the mean JPEG size; "render_fps" and
"render_ms" are the render loop's own rate and time per frame (from `GET /api/state`). A reader
reads as fast as it can, so "fps" is the server's rate (render, JPEG encode, send), not a browser's.
Prints one JSON object with the machine.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from _machine import machine

import hybridscene as hs

ROOT = Path(__file__).resolve().parent.parent
SOI = b"\xff\xd8\xff"  # a JPEG's start; never inside its entropy-coded data (0xFF there is stuffed)


def read_stream(url: str, seconds: float, warmup: float, out: dict[str, Any]) -> None:
    """Read the MJPEG stream: frames and bytes after `warmup` seconds, for `seconds` seconds,
    counted from the first bytes received (the first frame compiles the shaders, which on a
    loaded machine can take longer than the warm-up)."""
    frames = nbytes = 0
    tail = b""
    with urllib.request.urlopen(url, timeout=30) as r:
        tail = r.read1(1 << 16)[-2:]  # waits for the first frame's bytes
        start = time.perf_counter()
        counting_from = start + warmup
        end = counting_from + seconds
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            chunk = r.read1(1 << 16)
            if not chunk:
                break
            data = tail + chunk
            if now >= counting_from:
                frames += data.count(SOI) - tail.count(SOI)
                nbytes += len(chunk)
            tail = data[-2:]
    out.update(frames=frames, seconds=seconds, bytes=nbytes)


def measure(server: Any, clients: int, seconds: float, warmup: float) -> dict[str, Any]:
    url = server.url.split("?")[0].rstrip("/") + "/stream.mjpg"
    if "?" in server.url:
        url += "?" + server.url.split("?", 1)[1]
    results: list[dict[str, Any]] = [{} for _ in range(clients)]
    threads = [threading.Thread(target=read_stream, args=(url, seconds, warmup, results[i])) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fps = [r["frames"] / r["seconds"] for r in results]
    frames = sum(r["frames"] for r in results)
    with urllib.request.urlopen(url.replace("/stream.mjpg", "/api/state"), timeout=10) as r:
        state = json.loads(r.read())
    return {
        "clients": clients,
        "fps": [round(f, 1) for f in fps],
        "kb_per_frame": round(sum(r["bytes"] for r in results) / max(frames, 1) / 1024, 1),
        "render_fps": round(state["fps"], 1),
        "render_ms": state.get("render_ms"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.5, help="seconds read before counting")
    parser.add_argument("--sizes", default="1280x720,640x360")
    parser.add_argument("--scene", default=str(ROOT / "examples" / "glossy.py"))
    parser.add_argument("--clients", default="1,2")
    args = parser.parse_args()
    cases = []
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        server = hs.serve(args.scene, port=0, size=(w, h), block=False)
        try:
            for n in (int(c) for c in args.clients.split(",")):
                cases.append({"size": size, **measure(server, n, args.seconds, args.warmup)})
        finally:
            server.close()
    print(json.dumps({"benchmark": "serve", "scene": Path(args.scene).name, "machine": machine(gl=True),
                      "cases": cases}, indent=2))


if __name__ == "__main__":
    main()
