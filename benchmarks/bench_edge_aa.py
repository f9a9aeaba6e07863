"""1x MSAA plus the edge anti-aliasing pass (`hybridscene.gpu.edge_aa.EdgeAA`) against 4x MSAA:
how far its frames land from 4x, in 8-bit levels, and what each costs.

    python benchmarks/bench_edge_aa.py [--size 1280x720] [--frames 6] [--cases glossy,birds,flight,fireflies]
                                       [--no-reference]

For each case (``examples/<name>.py``'s ``build_scene(size)``, its overscan applied as
``hs.render`` applies it), frames at times spread over the first 5.5 s are rendered with
`FrameRenderer.render_frame` (composited over the plate, read back as sRGB) four ways, interleaved
frame by frame in a rotating order: ``4x`` MSAA, ``1x``, ``1x+aa`` (the pass scissored to the
foreground's rectangles: the renderer's own ``ForegroundTarget.rects`` where it has them, else
the bounding box of the 1x foreground's alpha grown by 2) and ``1x+aa depth``
(the same with the foreground's depth, so only geometric edges are filtered) and ``1x+aa4
depth`` (that with ``samples=4``: coverage counted at 4x's sample points). The pass is hooked
in from here, without changing the library: after ``scene_renderer.render`` the foreground's
colour goes through `EdgeAA.run` and the compositor gets its output instead (``with_edge_aa``);
for the depth, the single-sample target's depth renderbuffer is swapped for a texture
(``depth_texture``).

Differences (per pixel the largest over R, G, B, in levels of the 8-bit sRGB frame):

- ``edges``: pixels where the 1x and 4x frames differ, grown by one pixel (where anti-aliasing
  acts); ``all``: every pixel. ``mean``, ``p95``, ``max`` and the share within 2 levels.
- ``vs 16x``: each way against a reference with 16 samples a pixel (4x MSAA at twice the size,
  its foreground averaged 2x2 and composited at the frame's size over the 4x frame's plate and
  shadows): whether 1x+aa is as near the truth as 4x, even where it is not near 4x.

Timings: the timer (`StageTimer`) is on for every way (``ctx.finish()`` around stages, the same
for all): ``frame_ms`` (median ``render_frame``, read-back included) and per-stage medians
(``edge aa`` is the pass); ``pass_ms``: the pass alone on the last frame's foreground, 15 runs
each over the whole frame, the rectangle, and the rectangle with the depth (the preview's cost
at 1x); medians, and minimums (``(min)``, ``frame_ms_min``: the least contended run on a shared
machine). Prints one JSON object with the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _machine import machine
from _scenes import ready

import hybridscene as hs
from hybridscene.gpu.edge_aa import EdgeAA

ROOT = Path(__file__).resolve().parents[1]
CASES = ("glossy", "birds", "flight", "fireflies")
WAYS = ("4x", "1x", "1x+aa", "1x+aa depth", "1x+aa4 depth")
REPS = 15
Rect = tuple[int, int, int, int]


def build(case: str, size: tuple[int, int]) -> hs.Scene:
    return hs.load_scene_file(ROOT / "examples" / f"{case}.py", size=size).scene


def bounding(rects: list[Rect], size: tuple[int, int], grow: int) -> Rect | None:
    """The box around ``rects`` grown by ``grow`` pixels, clipped to the frame; ``None`` when empty."""
    rects = [r for r in rects if r[2] > 0 and r[3] > 0]
    if not rects:
        return None
    x0 = max(0, min(r[0] for r in rects) - grow)
    y0 = max(0, min(r[1] for r in rects) - grow)
    x1 = min(size[0], max(r[0] + r[2] for r in rects) + grow)
    y1 = min(size[1], max(r[1] + r[3] for r in rects) + grow)
    return (x0, y0, x1 - x0, y1 - y0)


def alpha_rect(alpha_top_down: np.ndarray, grow: int = 2) -> Rect | None:
    """GL-order box around the non-zero alpha of a top-down image."""
    h, w = alpha_top_down.shape
    rows, cols = np.nonzero(alpha_top_down > 0)
    if len(rows) == 0:
        return None
    return bounding([(int(cols.min()), int(h - 1 - rows.max()), int(cols.max() - cols.min() + 1),
                      int(rows.max() - rows.min() + 1))], (w, h), grow)


def depth_texture(renderer: hs.FrameRenderer) -> Any:
    """Give ``renderer``'s single-sample foreground a depth texture (it has a renderbuffer) by
    swapping its framebuffer: the change the library would make for ``EdgeAA(depth=...)``.
    Returns the texture and the framebuffer, for the caller to release."""
    fg = renderer.foreground
    ctx = renderer.gl.mgl
    tex = ctx.depth_texture(renderer.size)
    tex.compare_func = ""
    fg.draw_fbo = ctx.framebuffer(list(fg.draw_fbo.color_attachments), tex)
    return tex, fg.draw_fbo


def with_edge_aa(renderer: hs.FrameRenderer, aa: EdgeAA, rect_for: Any = None, depth: Any = None) -> None:
    """Hook ``aa`` into ``renderer`` (single-sample) from outside: the foreground's colour is
    anti-aliased after the scene renderer draws it (stage ``edge aa``), and the compositor
    takes the result. ``rect_for(target)``: the rectangle to work in, or ``None`` for all;
    ``depth``: the foreground's depth texture (`depth_texture`), or ``None``."""
    draw = renderer.scene_renderer.render
    layer = renderer._foreground_layer
    state: dict[str, Any] = {}

    def render(scene: hs.Scene, target: Any, **kwargs: Any) -> None:
        draw(scene, target, **kwargs)
        with renderer.timer.stage("edge aa"):
            rect = rect_for(target) if rect_for is not None else None
            state["color"] = aa.run(target.color, rect=rect, depth=depth) if rect != "empty" else None

    def foreground_layer() -> Any:
        out = layer()
        if out.color is None or state.get("color") is None:
            return out
        return dataclasses.replace(out, color=state["color"])

    renderer.scene_renderer.render = render  # type: ignore[method-assign]
    renderer._foreground_layer = foreground_layer  # type: ignore[method-assign]


def diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel the largest channel difference in levels."""
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1)


def dilate(mask: np.ndarray, r: int = 1) -> np.ndarray:
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


def stats(d: np.ndarray) -> dict[str, float]:
    if d.size == 0:
        return {"pixels": 0}
    return {"pixels": int(d.size), "mean": round(float(d.mean()), 2), "p95": float(np.percentile(d, 95)),
            "max": int(d.max()), "within_2": round(float((d <= 2).mean()), 4)}


def reference_frame(case_renderer: hs.FrameRenderer, big: hs.FrameRenderer, scene: hs.Scene, t: float) -> np.ndarray:
    """16 samples a pixel: ``big`` (4x MSAA, twice the size) draws the foreground, averaged 2x2
    and composited by ``case_renderer`` (4x) over its own plate and shadows."""
    big.render_frame(scene, t)
    fg = big.foreground.read_premultiplied()  # top-down
    h, w = fg.shape[0] // 2, fg.shape[1] // 2
    fg16 = fg.reshape(h, 2, w, 2, 4).mean(axis=(1, 3))
    tex = case_renderer.gl.mgl.texture((w, h), 4, np.ascontiguousarray(fg16[::-1]).astype(np.float16).tobytes(),
                                       dtype="f2")
    layer = case_renderer._foreground_layer
    try:
        case_renderer._foreground_layer = lambda: dataclasses.replace(layer(), color=tex)  # type: ignore[method-assign]
        return case_renderer.render_frame(scene, t)
    finally:
        case_renderer._foreground_layer = layer  # type: ignore[method-assign]
        tex.release()


def run_case(case: str, gl: Any, size: tuple[int, int], frames: int, reference: bool) -> dict[str, Any]:
    scene = build(case, size)
    scene.wait_for_plates()
    times = [0.25 + 5.25 * i / max(1, frames - 1) for i in range(frames)]
    ready(scene, size, max(times) + 0.1)
    # 1. Where the 1x foreground is at each time (for the rect way when the target records none).
    host_rects: dict[float, Rect | None] = {}
    with hs.FrameRenderer(gl, size, samples=1) as probe:
        for t in times:
            probe.render_frame(scene, t)
            host_rects[t] = alpha_rect(probe.foreground.read_premultiplied()[..., 3])
    now: dict[str, float] = {}

    def rect_for(target: Any) -> list[Rect] | Rect | str | None:
        drawn = getattr(target, "rects", None)
        if drawn is not None:  # where the renderer drew (with a 2-pixel margin: room for the outer edge pixels)
            return list(drawn) or "empty"
        return host_rects[now["t"]] or "empty"

    renderers = {w: hs.FrameRenderer(gl, size, samples=4 if w == "4x" else 1) for w in WAYS}
    passes = {"1x+aa": EdgeAA(gl), "1x+aa depth": EdgeAA(gl), "1x+aa4 depth": EdgeAA(gl, samples=4)}
    depth = depth_texture(renderers["1x+aa depth"])
    depth4 = depth_texture(renderers["1x+aa4 depth"])
    with_edge_aa(renderers["1x+aa"], passes["1x+aa"], rect_for)
    with_edge_aa(renderers["1x+aa depth"], passes["1x+aa depth"], rect_for, depth[0])
    with_edge_aa(renderers["1x+aa4 depth"], passes["1x+aa4 depth"], rect_for, depth4[0])
    rect_source = "ForegroundTarget.rects" if hasattr(renderers["1x"].foreground, "rects") else "1x alpha bbox"
    out: dict[str, Any] = {"samples_4x": renderers["4x"].samples, "times": [round(t, 3) for t in times],
                           "rect_source": rect_source}
    try:
        # 2. Warm-up, then the frames, each way in turn, the order rotating frame by frame.
        for r in renderers.values():
            for t in times[:2]:
                now["t"] = t
                r.render_frame(scene, t)
            r.timer.reset()
            r.timer.enabled = True
        frames_of: dict[str, list[np.ndarray]] = {w: [] for w in WAYS}
        ms: dict[str, list[float]] = {w: [] for w in WAYS}
        for i, t in enumerate(times):
            now["t"] = t
            order = WAYS[i % len(WAYS):] + WAYS[:i % len(WAYS)]
            for way in order:
                t0 = time.perf_counter()
                frames_of[way].append(renderers[way].render_frame(scene, t))
                ms[way].append((time.perf_counter() - t0) * 1000.0)
        out["frame_ms"] = {w: round(statistics.median(v), 2) for w, v in ms.items()}
        out["frame_ms_min"] = {w: round(min(v), 2) for w, v in ms.items()}
        out["stage_ms"] = {w: r.timer.medians() for w, r in renderers.items()}
        for r in renderers.values():
            r.timer.enabled = False
        out["pass_ms"] = pass_ms(renderers["1x+aa depth"], passes["1x+aa depth"], depth[0], rect_for, scene, times[-1])
        # 3. Differences from 4x.
        acc: dict[str, dict[str, list[np.ndarray]]] = {w: {"edges": [], "all": [], "vs 16x": []} for w in WAYS}
        big = hs.FrameRenderer(gl, (size[0] * 2, size[1] * 2), samples=4) if reference else None
        try:
            for i, t in enumerate(times):
                f4, f1 = frames_of["4x"][i], frames_of["1x"][i]
                edges = dilate(diff(f4, f1) > 0)
                ref = reference_frame(renderers["4x"], big, scene, t) if big is not None else None
                for way in WAYS:
                    d = diff(frames_of[way][i], f4)
                    acc[way]["edges"].append(d[edges])
                    acc[way]["all"].append(d.ravel())
                    if ref is not None:
                        acc[way]["vs 16x"].append(diff(frames_of[way][i], ref)[edges])
        finally:
            if big is not None:
                big.release()
        out["edge_pixels_per_frame"] = int(np.mean([len(e) for e in acc["1x"]["edges"]]))
        out["vs_4x"] = {w: {k: stats(np.concatenate(v)) for k, v in acc[w].items() if k != "vs 16x"}
                        for w in WAYS if w != "4x"}
        if reference:
            out["vs_16x_on_edges"] = {w: stats(np.concatenate(acc[w]["vs 16x"])) for w in WAYS}
    finally:
        for p in passes.values():
            p.release()
        for r in renderers.values():
            r.release()
        for resource in (*depth, *depth4):
            resource.release()
    return out


def pass_ms(renderer: hs.FrameRenderer, aa: EdgeAA, depth: Any, rect_for: Any, scene: hs.Scene,
            t: float) -> dict[str, Any]:
    """The pass alone on one frame's foreground, ``REPS`` times each way (median ms, with
    ``ctx.finish()``): the whole frame, the foreground's rectangles, and those with the depth."""
    ctx = renderer.gl.mgl
    renderer.render_frame(scene, t)
    src = renderer.foreground.color
    rect = rect_for(renderer.foreground)
    rect = None if rect == "empty" else rect
    rects = [] if rect is None else [rect] if isinstance(rect[0], int) else list(rect)
    covered = np.zeros(src.size[::-1], bool)
    for x, y, w, h in rects:
        covered[y:y + h, x:x + w] = True
    out: dict[str, Any] = {"rect_list": rects, "rect_share": round(float(covered.mean()), 3)}
    for name, kwargs in (("whole frame", {"rect": None}), ("rects", {"rect": rects}),
                         ("rects + depth", {"rect": rects, "depth": depth})):
        runs = []
        for _ in range(REPS):
            ctx.finish()
            t0 = time.perf_counter()
            aa.run(src, **kwargs)
            ctx.finish()
            runs.append((time.perf_counter() - t0) * 1000.0)
        out[name] = round(statistics.median(runs), 2)
        out[f"{name} (min)"] = round(min(runs), 2)  # the least contended run, on a shared machine
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720", help="frame size WxH")
    parser.add_argument("--frames", type=int, default=6, help="frames per case and way (after 2 of warm-up)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"of {','.join(CASES)}")
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="skip the 16-sample reference (4x MSAA at twice the size)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown or args.frames < 2:
        raise SystemExit(f"--cases takes {','.join(CASES)} (got {','.join(unknown)}); --frames at least 2")
    gl = hs.create_context()
    results = {}
    for case in cases:
        results[case] = run_case(case, gl, size, args.frames, args.reference)  # type: ignore[arg-type]
        r = results[case]
        print(case, r["frame_ms"], {w: r["vs_4x"][w]["edges"] for w in ("1x", "1x+aa")}, file=sys.stderr)
    gl.release()
    json.dump({"benchmark": "edge_aa", "size": args.size, "frames": args.frames,
               "note": "levels of the 8-bit sRGB frame, per pixel the largest channel difference; ms medians with "
                       "the stage timer on (ctx.finish() around stages) for every way, interleaved",
               "results": results, "machine": machine(gl=True)}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
