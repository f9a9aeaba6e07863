"""The figure of docs/passes.md: one frame of an example and its render passes, side by side.

    python docs/make_passes_figure.py [--scene examples/flight.py] [--time 2.0] [-o docs/images/passes.png]
"""

from __future__ import annotations

import argparse
import colorsys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import hybridscene as hs
from hybridscene.compose.frame import FrameRenderer
from hybridscene.compose.passes import srgb8, straight_srgba8
from hybridscene.scenefile import load_scene_file

ROOT = Path(__file__).resolve().parents[1]
SIZE = (480, 270)


def depth_image(depth: np.ndarray) -> np.ndarray:
    """Near = bright, far = dark, on a log scale; empty = black."""
    out = np.zeros(depth.shape + (3,), np.uint8)
    finite = np.isfinite(depth)
    if finite.any():
        logd = np.log(depth[finite])
        lo, hi = logd.min(), logd.max()
        v = 1.0 - (logd - lo) / max(hi - lo, 1e-6)
        out[finite] = (np.stack([v, v * 0.85, v * 0.6], -1) * 235 + 20).astype(np.uint8)
    return out


def ids_image(ids: np.ndarray) -> np.ndarray:
    palette = np.array([[0, 0, 0]] + [[int(c * 255) for c in colorsys.hsv_to_rgb((i * 0.618) % 1, 0.65, 0.95)]
                                       for i in range(1, 256)], np.uint8)
    return palette[ids % 256]


def flow_image(flow: np.ndarray) -> np.ndarray:
    """Middlebury-style: hue = direction, saturation = speed."""
    mag = np.hypot(flow[..., 0], flow[..., 1])
    ang = (np.arctan2(-flow[..., 1], flow[..., 0]) / (2 * np.pi)) % 1.0
    s = np.clip(mag / max(np.percentile(mag, 99), 1e-3), 0, 1)
    h, w = mag.shape
    rgb = np.array([colorsys.hsv_to_rgb(a, b, 1.0) for a, b in zip(ang.ravel(), s.ravel())]).reshape(h, w, 3)
    return (rgb * 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scene", default=str(ROOT / "examples" / "flight.py"))
    ap.add_argument("--time", type=float, default=2.0)
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "images" / "passes.png"))
    args = ap.parse_args()
    scene = load_scene_file(args.scene, size=SIZE).scene
    with hs.create_context() as gl, FrameRenderer(gl, SIZE) as r:
        r.render_passes(scene, args.time - 1 / 30, passes="ids")  # ids numbered in order of appearance
        fp = r.render_passes(scene, args.time, passes="all", dt=1 / 30)
    p = fp.passes
    fg = straight_srgba8(p["foreground"])
    checker = ((np.indices(fg.shape[:2]).sum(0) // 12) % 2 * 40 + 90).astype(np.uint8)[..., None]
    a = fg[..., 3:4] / 255.0
    fg_on_grey = (fg[..., :3] * a + checker * (1 - a)).astype(np.uint8)
    normals = ((p["normals"] * 0.5 + 0.5) * 255).astype(np.uint8) * (p["ids"] > 0)[..., None]
    tiles = [("composite", fp.frame), ("plate", srgb8(p["plate"])), ("foreground (on grey)", fg_on_grey)]
    if "plate_depth" in p:
        tiles.append(("plate_depth", depth_image(p["plate_depth"])))
    tiles += [("depth", depth_image(p["depth"])), ("ids", ids_image(p["ids"])), ("normals", normals),
              ("flow (hue: direction)", flow_image(p["flow"]))]
    if "shadow" in p:
        tiles.append(("shadow", srgb8(np.repeat(p["shadow"][..., None], 3, -1))))
    cols, w, h, pad = 4, SIZE[0], SIZE[1], 6
    rows = (len(tiles) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + pad + 18) + pad), (24, 24, 28))
    draw = ImageDraw.Draw(sheet)
    for k, (name, img) in enumerate(tiles):
        x, y = pad + (k % cols) * (w + pad), pad + (k // cols) * (h + pad + 18)
        sheet.paste(Image.fromarray(np.ascontiguousarray(img)), (x, y + 18))
        draw.text((x + 2, y + 3), name, fill=(230, 230, 230))
    sheet.save(args.output, optimize=True)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
