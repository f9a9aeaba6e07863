"""Layers for compositors: files per frame, and they recompose into the composite."""

import json

import numpy as np
import pytest
from PIL import Image

import hybridscene as hs

pytestmark = pytest.mark.gl


def lin(c):
    c = np.asarray(c, np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def enc(x):
    x = np.clip(x, 0, 1)
    return np.round(np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055) * 255)


def layered_scene():
    plate = hs.procedural_plate(size=(192, 108), seed=1)
    scene = hs.Scene(plate)
    scene.add(hs.Mesh.cube(1.6, color="#e4572e"), position=(-1.5, 2.0, -10), rotation=hs.quat_from_euler(y=30), name="cube")
    scene.add(hs.Mesh.sphere(0.8, color="#3a86ff", opacity=0.6), position=(1.5, 1.5, -9), name="glass")
    scene.add(hs.ParticleEmitter(rate=200, lifetime=2, velocity=(0, 0.5, 0), gravity=(0, 0, 0), size=0.1,
                                 color="#ffffff", emit_box=(1, 0.3, 0.3)), position=(0, 3.5, -12), name="sparks")
    return scene


@pytest.mark.parametrize("moved", [False, True], ids=["plate-camera", "parallax"])
def test_layer_files_and_recomposition(tmp_path, ctx, moved):
    out = tmp_path / "layers"
    scene = layered_scene()
    if moved:  # the camera leaves the plate's camera: the plate is drawn as a displaced surface
        scene.camera.position = (0.6, 3.0, -1.0)
        scene.camera.target = (0.0, 2.5, -20.0)
    hs.render(scene, tmp_path / "c.mp4", frames=2, fps=10, layers=out, ctx=ctx)
    names = sorted(p.name for p in out.iterdir())
    for i in range(2):
        for suffix in ("plate.png", "plate_depth.npy", "foreground.png", "depth.npy", "ids.png", "shadow.png", "composite.png"):
            assert f"{i:05d}.{suffix}" in names
    ids_names = json.loads((out / "ids.json").read_text())
    assert set(ids_names.values()) == {"cube", "glass", "sparks"}

    plate = np.asarray(Image.open(out / "00001.plate.png"))
    fg = np.asarray(Image.open(out / "00001.foreground.png"))
    shadow = np.asarray(Image.open(out / "00001.shadow.png"))
    comp = np.asarray(Image.open(out / "00001.composite.png")).astype(int)
    ids = np.asarray(Image.open(out / "00001.ids.png"))
    depth = np.load(out / "00001.depth.npy")
    plate_depth = np.load(out / "00001.plate_depth.npy")
    assert fg.shape == (108, 192, 4) and ids.dtype == np.uint16 and depth.dtype == np.float32

    # Recompose as a compositor does: linearise, premultiply the straight foreground, plate x shadow, over.
    a = fg[..., 3:4] / 255.0
    recomposed = enc(lin(fg[..., :3]) * a + lin(plate) * (shadow[..., None] / 255.0) * (1 - a))
    err = np.abs(recomposed - comp)
    assert err.max() <= 2 and err.mean() < 0.3

    # Ids and depth agree with what is where; the plate's depth is the procedural plate's.
    cube_id = next(int(k) for k, v in ids_names.items() if v == "cube")
    ys, xs = np.nonzero(ids == cube_id)
    assert len(ys) > 50 and np.isfinite(depth[ys, xs]).all()
    assert 8.0 < float(np.median(depth[ys, xs])) < 12.0
    assert np.isinf(depth[ids == 0]).all()
    assert (fg[ids == 0][:, 3] == 0).mean() > 0.99  # empty where no object
    assert np.isinf(plate_depth[0]).all() and np.isfinite(plate_depth[-1]).all()
    # The shadow layer darkens only somewhere below the objects.
    assert shadow.min() < 200 and (shadow == 255).mean() > 0.8


def test_layers_cli_and_no_shadow_file_without_shadows(tmp_path):
    import subprocess
    import sys

    scene_file = tmp_path / "s.py"
    scene_file.write_text(
        "import hybridscene as hs\n"
        "def build_scene(size=(64, 36)):\n"
        "    s = hs.Scene(hs.Plate.solid((10, 20, 30), size))\n"
        "    s.add(hs.Mesh.cube(1.0, color='#ffffff'), position=(0, 0, -4))\n"
        "    return s\n"
    )
    r = subprocess.run([sys.executable, "-m", "hybridscene", "render", str(scene_file), "-o", str(tmp_path / "o.gif"),
                        "--frames", "1", "--size", "64x36", "--layers", str(tmp_path / "L"), "-q"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "L").iterdir())
    assert "00000.shadow.png" not in names and "00000.plate_depth.npy" not in names
    assert "00000.foreground.png" in names and "00000.ids.png" in names
