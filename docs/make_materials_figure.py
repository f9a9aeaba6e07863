"""The figures of docs/foreground.md's "Materials" section: spheres of increasing roughness, dielectric
and metal, lit by a procedural plate (its sun and its environment), and the tone curves side by side.

    python docs/make_materials_figure.py [-o docs/images]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import hybridscene as hs

ROOT = Path(__file__).resolve().parents[1]
SIZE = (960, 400)


def spheres_scene(plate: hs.Plate, tonemap: str = "agx") -> hs.Scene:
    """Two rows of spheres in front of the camera: dielectric (top) and gold (bottom), roughness 0 to 1."""
    scene = hs.Scene(plate, tonemap=tonemap, shadows=hs.ShadowCatcher(strength=0.5, softness=0.25))
    for i, roughness in enumerate(np.linspace(0.0, 1.0, 6)):
        x = -3.75 + 1.5 * i
        scene.add(hs.Mesh.sphere(0.6, color="#e8e8e8", roughness=float(roughness)), position=(x, 2.05, -9.0))
        scene.add(hs.Mesh.sphere(0.6, color="#f2c15a", metallic=1.0, roughness=float(roughness)), position=(x, 0.6, -9.0))
    return scene


def tonemap_scene(plate: hs.Plate, tonemap: str) -> hs.Scene:
    scene = hs.Scene(plate, tonemap=tonemap, shadows=hs.ShadowCatcher(strength=0.5, softness=0.25))
    for x, kw in ((-1.8, dict(color="white", shading="lambert")), (0.0, dict(color="#e04020", roughness=0.35)),
                  (1.8, dict(color="white", metallic=1.0, roughness=0.05))):
        scene.add(hs.Mesh.sphere(0.75, **kw), position=(x, 0.75, -11.0))
    return scene


def label(img: np.ndarray, text: str) -> Image.Image:
    im = Image.fromarray(img)
    ImageDraw.Draw(im).text((8, 6), text, fill=(255, 255, 255))
    return im


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "images"))
    args = ap.parse_args()
    out = Path(args.output)
    plate = hs.procedural_plate("mountains", size=SIZE, seed=5)
    with hs.create_context() as gl, hs.FrameRenderer(gl, SIZE) as r:
        frame = r.render_frame(spheres_scene(plate), 0.0)
        im = label(frame, "roughness 0 -> 1: dielectric (top), gold metal (bottom); tonemap='agx'")
        im.save(out / "materials.png", optimize=True)
        tiles = []
        for curve in hs.TONEMAPS:
            tile = r.render_frame(tonemap_scene(plate, curve), 0.0)[190:340, 280:680]
            tiles.append(label(np.ascontiguousarray(tile), f"tonemap={curve!r}"))
    w, h = tiles[0].size
    sheet = Image.new("RGB", (2 * w + 6, 2 * h + 6), (24, 24, 28))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % 2) * (w + 6), (k // 2) * (h + 6)))
    sheet.save(out / "tonemaps.png", optimize=True)
    print(f"wrote {out / 'materials.png'} and {out / 'tonemaps.png'}")


if __name__ == "__main__":
    main()
