"""Render passes: pass choice, flow, normals, ids and depth from the GPU, EXR files every
example writes, recomposited by oiiotool."""

import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.compose.frame import FrameRenderer
from hybridscene.compose.passes import ALL_PASSES, DEFAULT_PASSES, check_passes

pytestmark = pytest.mark.gl

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SIZE = (160, 90)


def test_check_passes_names_defaults_all_and_errors():
    assert check_passes(None) == DEFAULT_PASSES
    assert check_passes("all") == ALL_PASSES
    assert check_passes("flow, depth,depth") == ("depth", "flow")  # canonical order, no repeats
    assert check_passes(["ids"]) == ("ids",)
    with pytest.raises(hs.ConfigError) as e:
        check_passes("depth,motion")
    msg = str(e.value)
    assert "'motion'" in msg and "normals" in msg and "flow" in msg and "\n" not in msg
    with pytest.raises(hs.ConfigError, match="no pass chosen"):
        check_passes(" , ")
    with pytest.raises(hs.ConfigError, match="'bogus'"):
        check_passes("all,bogus")
    with pytest.raises(hs.ConfigError, match="got 5"):
        check_passes(5)
    assert check_passes("default,flow") == (*DEFAULT_PASSES, "flow")


def moving_box_scene(speed_x=3.0, plate=True):
    plate_img = hs.procedural_plate(size=SIZE, seed=2) if plate else None
    scene = hs.Scene(plate_img, camera=hs.PerspectiveCamera(fov_y=40, position=(0, 2, 0), target=(0, 2, -1)))
    box = scene.add(hs.Mesh.cube(1.0, color="#ff8800"), position=(0, 2, -8), name="box")
    scene.on_frame(lambda t: setattr(box, "position", (-1.0 + speed_x * t, 2.0, -8.0)))
    return scene


def test_flow_of_a_moving_object_and_a_still_camera(ctx):
    fps = 10.0
    scene = moving_box_scene(speed_x=10.0)
    with FrameRenderer(ctx, SIZE, samples=1) as r:
        fp = r.render_passes(scene, 0.2, passes="depth,ids,flow", dt=1 / fps)
    flow, ids, depth = fp.passes["flow"], fp.passes["ids"], fp.passes["depth"]
    on_box = ids == 1
    assert on_box.sum() > 100
    # The box's front face (depth ~7.5 m) moves 1 m per frame: fx * 1 / depth pixels (~16).
    fx = fp.camera.K[0, 0]
    expected = fx * 1.0 / depth[on_box]
    front = np.abs(depth[on_box] - depth[on_box].min()) < 0.05
    assert np.abs(flow[on_box][:, 0] - expected)[front].max() < 0.5
    assert np.abs(flow[on_box][:, 1]).max() < 0.5
    # The camera stands still: the plate does not move.
    assert not flow[~on_box].any()
    # The pose is restored after looking one frame ahead.
    assert np.allclose(scene.find("box").position, (-1.0 + 10.0 * 0.2, 2.0, -8.0))


def test_flow_of_the_plate_under_a_moving_camera(ctx):
    scene = moving_box_scene(speed_x=0.0)
    cam = scene.camera
    scene.on_frame(lambda t: (setattr(cam, "position", (0.5 * t, 2.0, 0.0)), setattr(cam, "target", (0.5 * t, 2.0, -1.0))))
    with FrameRenderer(ctx, SIZE, samples=1) as r:
        fp = r.render_passes(scene, 0.0, passes="plate_depth,depth,ids,flow", dt=2.0)
    flow, pd, ids, depth = fp.passes["flow"], fp.passes["plate_depth"], fp.passes["ids"], fp.passes["depth"]
    # The camera moves 1 m to the right: a plate point at depth d moves fx * 1 / d to the left.
    fx = fp.camera.K[0, 0]
    ground = (ids == 0) & np.isfinite(pd)
    assert ground.sum() > 1000
    assert np.abs(flow[ground][:, 0] + fx * 1.0 / pd[ground]).max() < 0.5
    sky = (ids == 0) & np.isinf(pd)
    assert sky.any() and np.abs(flow[sky]).max() < 1e-3  # infinitely far: no parallax
    # The box stands still in the world, so it too moves left in the image (~16 px).
    box = ids == 1
    assert np.abs(flow[box][:, 0] + fx * 1.0 / depth[box]).max() < 0.5


def test_a_plate_without_a_camera_stays_put_under_a_moving_camera(ctx):
    """A plate with no known camera (a picture loaded from a file) is fitted to the frame and
    does not move when the camera does: its flow is zero; the objects' is not."""
    import dataclasses

    scene = moving_box_scene(speed_x=0.0)
    scene.plate = dataclasses.replace(scene.plate, camera=None)
    cam = scene.camera
    scene.on_frame(lambda t: (setattr(cam, "position", (0.5 * t, 2.0, 0.0)), setattr(cam, "target", (0.5 * t, 2.0, -1.0))))
    with FrameRenderer(ctx, SIZE, samples=1) as r:
        fp = r.render_passes(scene, 0.0, passes="ids,flow", dt=2.0)
    flow, ids = fp.passes["flow"], fp.passes["ids"]
    assert not flow[ids == 0].any()
    assert np.median(flow[ids == 1][:, 0]) < -5


def test_normals_depth_ids_and_only_chosen_passes(ctx):
    scene = hs.Scene(None, camera=hs.PerspectiveCamera(fov_y=40, position=(0, 0, 0), target=(0, 0, -1)))
    scene.add(hs.Mesh.cube(2.0), position=(0, 0, -6), name="facing")
    with FrameRenderer(ctx, SIZE, samples=1) as r:
        fp = r.render_passes(scene, 0.0, passes=["normals", "depth"])
        assert set(fp.passes) == {"normals", "depth"}
        centre = fp.passes["normals"][SIZE[1] // 2, SIZE[0] // 2]
        assert np.allclose(centre, (0, 0, 1), atol=1e-2)  # the face looks at the camera (+z in camera space)
        assert fp.passes["depth"][SIZE[1] // 2, SIZE[0] // 2] == pytest.approx(5.0, abs=0.01)
        assert not fp.passes["normals"][0, 0].any() and np.isinf(fp.passes["depth"][0, 0])
        fp = r.render_passes(scene, 0.0, passes="composite")
        assert set(fp.passes) == {"composite"} and fp.passes["composite"].dtype == np.float32
        # The linear composite is the displayed frame before sRGB encoding.
        from hybridscene.compose.passes import srgb8

        assert np.abs(srgb8(fp.passes["composite"]).astype(int) - fp.frame).max() <= 1


def _example_scene(path: Path, size):
    """The scene an example renders: a scene file's build_scene(), or the scene a script passes
    to hs.render / hs.frames (caught by running the script with those replaced)."""
    text = path.read_text()
    if "def build_scene" in text:
        from hybridscene.scenefile import load_scene_file

        return load_scene_file(path, size=size).scene
    caught = []

    def catch(scene, *a, **k):
        caught.append(scene)
        raise SystemExit(0)

    old_argv, old_render, old_frames = sys.argv, hs.render, hs.frames
    sys.argv = [str(path), "-o", "x.mp4", "--frames", "2", "--size", f"{size[0]}x{size[1]}"]
    hs.render = hs.frames = catch
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit:
        pass
    finally:
        sys.argv, hs.render, hs.frames = old_argv, old_render, old_frames
    assert caught, f"{path.name} rendered no scene"
    return caught[0]


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_exr_recomposites_with_oiiotool(script, tmp_path, ctx):
    oiio = pytest.importorskip("OpenImageIO")
    pytest.importorskip("OpenEXR")
    from test_exr import oiio_recomposite

    scene = _example_scene(EXAMPLES / script, (128, 72))
    hs.render(scene, tmp_path / "f.png", frames=1, fps=10, start=1.0, size=(128, 72), layers=tmp_path / "L",
              passes="all", layer_format="exr", ctx=ctx)
    exr = tmp_path / "L" / "00000.exr"
    spec = oiio.ImageInput.open(str(exr)).spec()
    for ch in ("R", "G", "B", "A", "plate.R", "foreground.A", "depth.Z", "normals.Z", "flow.X", "flow.Y", "ids.id"):
        assert ch in spec.channelnames
    oiio_recomposite(exr, tmp_path / "re.exr")
    re_img = oiio.ImageBuf(str(tmp_path / "re.exr")).get_pixels(oiio.FLOAT)[..., :3]
    buf = oiio.ImageBuf(str(exr))
    comp = buf.get_pixels(oiio.FLOAT)[..., [spec.channelindex(c) for c in "RGB"]]
    tol = 2e-3 * np.maximum(1.0, np.abs(comp))  # half float
    assert (np.abs(re_img - comp) <= tol).all(), np.abs(re_img - comp).max()
    if script == "fireflies.py":  # additive glows: light with zero alpha survives in the foreground
        fg = buf.get_pixels(oiio.FLOAT)[..., [spec.channelindex(f"foreground.{c}") for c in "RGBA"]]
        assert ((fg[..., 3] == 0) & (fg[..., :3].sum(-1) > 0.01)).sum() > 20


def test_png_layers_write_only_chosen_passes_and_float_extras(tmp_path, ctx):
    scene = moving_box_scene()
    hs.render(scene, tmp_path / "f.png", frames=1, fps=10, size=SIZE, layers=tmp_path / "L",
              passes="composite,ids,normals,flow", ctx=ctx)
    names = sorted(p.name for p in (tmp_path / "L").iterdir())
    assert names == ["00000.composite.png", "00000.flow.npy", "00000.ids.png", "00000.normals.npy", "ids.json", "manifest.json"]
    assert json.loads((tmp_path / "L" / "ids.json").read_text()) == {"1": "box"}
    flow = np.load(tmp_path / "L" / "00000.flow.npy")
    assert flow.shape == (SIZE[1], SIZE[0], 2) and flow.dtype == np.float32
    with pytest.raises(hs.ConfigError, match="layers"):
        hs.render(scene, tmp_path / "g.png", frames=1, passes="depth", ctx=ctx)


def test_cli_pass_options_fail_in_one_line(tmp_path):
    scene = tmp_path / "s.py"
    scene.write_text("import hybridscene as hs\ndef build_scene(size=(64, 36)):\n    return hs.Scene(None)\n")
    cases = [(["--passes", "depth"], "add --layers DIR"), (["--layers", "L", "--passes", "depth,wings"], "'wings'"),
             (["--layer-format", "exr"], "add --layers DIR"), (["--layers", "L", "--labels", "L/x"], "nested")]
    for extra, expected in cases:
        r = subprocess.run([sys.executable, "-m", "hybridscene", "render", str(scene), "-o", "o.png", *extra],
                           capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert r.returncode != 0 and expected in r.stderr, (extra, r.stderr)
        assert "Traceback" not in r.stderr
