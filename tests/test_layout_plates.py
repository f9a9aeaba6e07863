"""Layout-conditioned AI plates (issue 16, part 1): depth ControlNets and img2img over a layout
whose depth and camera the plate then carries. Tiny random-weight models, no hub."""

import dataclasses
import json
import pickle

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.errors import ConfigError, PlateError
from hybridscene.plate.layout import Layout, control_image, depth_agreement, depth_condition, resolve_layout
from hybridscene.plate.spec import PlateSpec, resolve_spec
from hybridscene.testing import build_tiny_controlnet, build_tiny_depth_model, build_tiny_sdxl_pipeline

pytestmark = pytest.mark.ai

PROMPT = "Landscape with mountains and a river"
SIZE = (64, 48)


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_sd):
    """Tiny ControlNets: two for the tiny SD UNet (different weights), one for the tiny SDXL's."""
    root = tmp_path_factory.mktemp("layout-models")
    return {
        "sd": tiny_sd,
        "cn": build_tiny_controlnet(root / "cn"),
        "cn2": build_tiny_controlnet(root / "cn2", seed=1),
        "sdxl": build_tiny_sdxl_pipeline(root / "sdxl"),
        "cnxl": build_tiny_controlnet(root / "cnxl", sdxl=True),
    }


def spec(model, **kw):
    return PlateSpec(**{"prompt": PROMPT, "model": str(model), "size": SIZE, "steps": 2, **kw})


@pytest.fixture
def capture_cond(monkeypatch):
    """Every ``controlnet_cond`` tensor a ControlNetModel's forward receives."""
    from diffusers import ControlNetModel

    seen = []
    forward = ControlNetModel.forward

    def spy(self, *args, **kwargs):
        seen.append(kwargs["controlnet_cond"].detach().clone() if "controlnet_cond" in kwargs else args[3].detach().clone())
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(ControlNetModel, "forward", spy)
    return seen


# -- the layout -----------------------------------------------------------------------------------
def test_depth_condition_is_normalised_inverse_depth():
    # Log-scaled inverse depth: near white, each doubling of distance the same step darker, the
    # farthest surface at CONDITION_FLOOR (0.1), the sky black.
    sky = depth_condition(np.array([[1.0, 2.0], [4.0, np.inf]], np.float32))
    np.testing.assert_allclose(sky, [[1.0, 0.55], [0.1, 0.0]], atol=1e-6)
    np.testing.assert_allclose(depth_condition(np.array([[10.0, 20.0], [40.0, 40.0]])), [[1.0, 0.55], [0.1, 0.1]], atol=1e-6)
    np.testing.assert_array_equal(depth_condition(np.full((2, 2), 5.0)), np.ones((2, 2)))
    layout = resolve_layout("mountains:3", SIZE)
    grey = control_image(layout, SIZE)
    assert grey.shape == (48, 64, 3) and grey.dtype == np.uint8
    assert (grey[..., 0] == grey[..., 2]).all()
    assert grey[np.isinf(layout.depth)].max() == 0 and grey[-1].min() > grey[10].max()  # ground near, ridges far
    ridges = grey[..., 0][np.isfinite(layout.depth) & (np.arange(48)[:, None] < 0.45 * 48)]
    assert ridges.min() >= 25  # even the farthest ridge stands out from the sky (an exact inverse depth: ~1/255)


def test_layout_constructors_resize_identity_and_pickling(tmp_path):
    layout = Layout.procedural("mountains", 2, size=(96, 64))
    plate = hs.procedural_plate(size=(96, 64), seed=2)
    np.testing.assert_array_equal(layout.depth, plate.depth)
    assert layout.camera == plate.camera and layout.source == "procedural:mountains:2" and layout.size == (96, 64)
    assert not layout.image.flags.writeable and not layout.depth.flags.writeable
    # The same content has the same identity; a changed pixel of image or depth, another one.
    same = Layout(image=plate.image, depth=plate.depth, camera=plate.camera, water=plate.water)
    assert same.identity == layout.identity and same is not layout
    image = plate.image.copy()
    image[0, 0, 0] ^= 1
    depth = plate.depth.copy()
    depth[-1, 0] += 0.5
    assert Layout(image=image, depth=plate.depth, camera=plate.camera, water=plate.water).identity != layout.identity
    assert Layout(image=plate.image, depth=depth, camera=plate.camera, water=plate.water).identity != layout.identity
    # Resizing: depth by nearest sampling (only depths the layout has: no blur across silhouettes).
    small = layout.resized((48, 32))
    assert small.size == (48, 32) and set(np.unique(small.depth)) <= set(np.unique(layout.depth))
    np.testing.assert_array_equal(small.depth, layout.depth[1::2, 1::2])
    back = pickle.loads(pickle.dumps(layout))
    assert back.identity == layout.identity and not back.depth.flags.writeable
    # Files: an image and a .npy of metres (or a 16-bit PNG of millimetres).
    plate.save(str(tmp_path / "l.png"))
    np.save(tmp_path / "l.npy", plate.depth)
    loaded = Layout.from_files(tmp_path / "l.png", tmp_path / "l.npy")
    np.testing.assert_array_equal(loaded.depth, plate.depth)
    np.testing.assert_array_equal(loaded.image, plate.image)
    assert loaded.camera == hs.PlateCamera(fov_y=50.0, height=1.6, horizon=0.5) and loaded.source == "file"


def test_bad_layouts_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="no depth") as e:
        Layout.from_plate(hs.Plate.solid((1, 2, 3), (32, 32)))
    assert "\n" not in str(e.value)
    flat = hs.Plate(image=np.zeros((8, 8, 3), np.uint8), depth=np.full((8, 8), 5.0, np.float32))
    with pytest.raises(ConfigError, match="no camera"):
        Layout.from_plate(flat)
    assert Layout.from_plate(flat, camera=hs.PlateCamera(fov_y=40.0, height=2.0, horizon=0.5)).camera.fov_y == 40.0
    with pytest.raises(ConfigError, match=r"the layout is 96x64 but the plate is 64x64"):
        resolve_layout(Layout.procedural(size=(96, 64)), (64, 64))
    with pytest.raises(ConfigError, match="unknown layout 'hills'"):
        resolve_layout("hills", SIZE)
    with pytest.raises(ConfigError, match="seed after ':'"):
        resolve_layout("mountains:x", SIZE)
    hs.Plate.solid((1, 2, 3), (32, 24)).save(str(tmp_path / "i.png"))
    np.save(tmp_path / "d.npy", np.ones((10, 10), np.float32))
    with pytest.raises(ConfigError, match="is 10x10 but the image .* is 32x24"):
        Layout.from_files(tmp_path / "i.png", tmp_path / "d.npy")
    with pytest.raises(PlateError, match="does not exist"):
        Layout.from_files(tmp_path / "i.png", tmp_path / "missing.npy")


def test_bad_layout_specs_fail_before_any_model_loads(models, tmp_path):
    sd = models["sd"]
    cases = [
        (dict(layout="mountains", controlnet=str(tmp_path / "nowhere")), "ControlNet folder .* does not exist"),
        (dict(layout="mountains", controlnet=str(sd / "unet")), "not a ControlNet"),
        (dict(layout="mountains", controlnet=str(models["cnxl"])), "another model family"),
        (dict(layout="mountains", strength=0.2), "leaves no denoising step"),
        (dict(layout=Layout.procedural(size=(96, 96))), "the layout is 96x96 but the plate is 64x48"),
    ]
    (tmp_path / "d.npy").write_bytes(b"")
    for kw, message in cases:
        with pytest.raises(ConfigError, match=message) as e:
            resolve_spec(spec(sd, **kw))
        assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="brings its own depth"):
        resolve_spec(spec(sd, layout="mountains", depth_image=str(tmp_path / "d.npy")))
    with pytest.raises(PlateError, match="'org/no-controlnet' .* is not in the Hugging Face cache"):  # HF_HUB_OFFLINE
        resolve_spec(spec(sd, layout="mountains", controlnet="org/no-controlnet"))
    # A ControlNet folder without its weights: one line when it is loaded.
    (tmp_path / "cn-config-only").mkdir()
    (tmp_path / "cn-config-only" / "config.json").write_text((models["cn"] / "config.json").read_text())
    with pytest.raises(PlateError, match="cannot load ControlNet .*cn-config-only") as e:
        hs.generate_plate(spec(sd, layout="mountains", controlnet=str(tmp_path / "cn-config-only")), cache=False)
    assert "\n" not in str(e.value)


# -- keys -----------------------------------------------------------------------------------------
def test_key_covers_layout_content_controlnets_scales_and_strength(models):
    sd, cn = models["sd"], str(models["cn"])
    plain = resolve_spec(spec(sd))
    assert not {"layout", "control", "controlnet", "control_scale", "strength"} & set(plain.inputs)
    base = resolve_spec(spec(sd, layout="mountains:1", controlnet=cn))
    assert base.inputs["layout"] == resolve_layout("mountains:1", SIZE).identity
    assert base.inputs["controlnet"] == list(base.controlnet_identities) and base.inputs["controlnet"][0].startswith("model:local:")
    assert base.layout.size == SIZE and base.inputs["control"] == "depth" and base.inputs["control_scale"] == 1.0
    layout = Layout.procedural(seed=1, size=SIZE)
    assert resolve_spec(spec(sd, layout=layout, controlnet=cn)).key == base.key  # same content, same key
    depth = layout.depth.copy()
    depth[-1, -1] *= 1.01
    keys = {
        base.key,
        resolve_spec(spec(sd, layout="mountains:2", controlnet=cn)).key,
        resolve_spec(spec(sd, layout=dataclasses.replace(layout, depth=depth), controlnet=cn)).key,
        resolve_spec(spec(sd, layout="mountains:1", controlnet=str(models["cn2"]))).key,
        resolve_spec(spec(sd, layout="mountains:1", controlnet=(cn, str(models["cn2"])))).key,
        resolve_spec(spec(sd, layout="mountains:1", controlnet=cn, control_scale=0.5)).key,
        resolve_spec(spec(sd, layout="mountains:1", strength=0.5)).key,
        resolve_spec(spec(sd, layout="mountains:1", strength=0.6)).key,
        resolve_spec(spec(sd, layout="mountains:1")).key,  # default strength 0.75
        resolve_spec(spec(sd, layout="mountains:1", controlnet=cn, strength=0.5)).key,  # ControlNet img2img
    }
    assert len(keys) == 10
    assert resolve_spec(spec(sd, layout="mountains:1")).inputs["strength"] == 0.75


def test_named_layouts_are_painted_once_per_cache(models, isolated_cache):
    from hybridscene.plate.layout import _named

    _named.cache_clear()
    first = resolve_spec(spec(models["sd"], layout="mountains:4"), cache_dir=isolated_cache)
    entries = [json.loads(p.read_text()) for p in isolated_cache.glob("plates/*/*/plate.json")]
    assert [e["inputs"]["kind"] for e in entries] == ["procedural layout"]
    _named.cache_clear()  # a new process: the painting comes from the cache, with the same identity
    again = resolve_spec(spec(models["sd"], layout="mountains:4"), cache_dir=isolated_cache)
    assert again.key == first.key and again.layout.identity == Layout.procedural(seed=4, size=SIZE).identity
    np.testing.assert_array_equal(again.layout.depth, first.layout.depth)


# -- painting -------------------------------------------------------------------------------------
def test_controlnet_gets_exactly_the_layouts_depth_condition_and_the_plate_its_depth(models, capture_cond):
    r = hs.generate_plate(spec(models["sd"], layout="mountains:3", controlnet=str(models["cn"])), cache=False)
    layout = resolve_layout("mountains:3", SIZE)
    expected = control_image(layout, SIZE).transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    assert len(capture_cond) >= 2  # one per denoising step
    for cond in capture_cond:
        assert cond.shape == (2, 3, 48, 64)  # guidance: the unconditional and conditional halves
        for half in cond.numpy():
            np.testing.assert_allclose(half[None], expected, atol=1e-7)
    plate = r.plate
    assert plate.meta["pipeline"] == "StableDiffusionControlNetPipeline"
    np.testing.assert_array_equal(plate.depth, layout.depth)
    np.testing.assert_array_equal(plate.water, layout.water)
    assert plate.camera == layout.camera
    assert plate.meta["layout"] == {"source": "procedural:mountains:3", "identity": layout.identity, "control": "depth",
                                    "controlnet": [str(models["cn"])], "control_scale": 1.0}
    # The ControlNet steers the painting: without its residuals (scale 0) the pixels differ.
    off = hs.generate_plate(spec(models["sd"], layout="mountains:3", controlnet=str(models["cn"]), control_scale=0.0), cache=False)
    assert np.abs(off.plate.image.astype(int) - plate.image).mean() > 1


def test_several_controlnets_with_their_scales_and_the_cache(models, capture_cond):
    s = spec(models["sd"], layout="mountains:3", controlnet=(str(models["cn"]), str(models["cn2"])), control_scale=(1.0, 0.5))
    first, second = hs.generate_plate(s), hs.generate_plate(s)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert len(capture_cond) >= 4 and len(capture_cond) % 2 == 0  # both nets, every step
    layout = resolve_layout("mountains:3", SIZE)
    for plate in (first.plate, second.plate):  # the cache keeps depth, camera and the layout's record
        np.testing.assert_array_equal(plate.depth, layout.depth)
        assert plate.camera == layout.camera and plate.meta["layout"]["control_scale"] == [1.0, 0.5]
    info = json.loads((first.entry / "plate.json").read_text())
    assert info["inputs"]["control_scale"] == [1.0, 0.5] and len(info["inputs"]["controlnet"]) == 2


def test_controlnet_with_a_strength_is_controlnet_img2img_and_scene_files_ask_in_one_call(models, capture_cond):
    layout = resolve_layout("mountains:3", SIZE)
    r = hs.generate_plate(spec(models["sd"], layout="mountains:3", controlnet=str(models["cn"]), strength=0.5), cache=False)
    assert r.plate.meta["pipeline"] == "StableDiffusionControlNetImg2ImgPipeline"
    expected = control_image(layout, SIZE).transpose(2, 0, 1).astype(np.float32) / 255.0
    assert capture_cond and all(np.abs(c.numpy() - expected).max() < 1e-7 for c in capture_cond)
    assert r.plate.meta["layout"]["strength"] == 0.5 and r.plate.meta["layout"]["control"] == "depth"
    np.testing.assert_array_equal(r.plate.depth, layout.depth)
    # background_plate (what a scene file calls): a layout-conditioned plate at the frame's aspect.
    plate = hs.background_plate((128, 96), model=str(models["sd"]), layout="mountains:2", controlnet=str(models["cn"]), steps=2)
    np.testing.assert_array_equal(plate.depth, resolve_layout("mountains:2", plate.size).depth)
    assert plate.camera == resolve_layout("mountains:2", plate.size).camera and plate.meta["layout"]["control"] == "depth"


def test_img2img_strength_zero_is_the_layouts_colours(models):
    layout = resolve_layout("mountains:3", SIZE)
    kept = hs.generate_plate(spec(models["sd"], layout="mountains:3", strength=0.0), cache=False).plate
    np.testing.assert_array_equal(kept.image, layout.image)
    np.testing.assert_array_equal(kept.depth, layout.depth)
    assert kept.meta["pipeline"] is None and kept.meta["layout"]["strength"] == 0.0
    painted = hs.generate_plate(spec(models["sd"], layout="mountains:3", strength=0.5), cache=False).plate
    assert painted.meta["pipeline"] == "StableDiffusionImg2ImgPipeline"
    assert np.abs(painted.image.astype(int) - layout.image).mean() > 1
    np.testing.assert_array_equal(painted.depth, layout.depth)
    # Upscaled plates: the layout is resolved at the final (upscaled) size, and its depth is kept exactly.
    big = resolve_layout("mountains:3", (128, 96))
    kept = hs.generate_plate(spec(models["sd"], layout="mountains:3", strength=0.0, upscale=2), cache=False).plate
    np.testing.assert_array_equal(kept.image, big.image)
    np.testing.assert_array_equal(kept.depth, big.depth)
    painted = hs.generate_plate(spec(models["sd"], layout="mountains:3", strength=0.5, upscale=2), cache=False).plate
    assert painted.size == (128, 96) and painted.meta["upscaled_from"] == [64, 48]
    np.testing.assert_array_equal(painted.depth, big.depth)
    np.testing.assert_array_equal(painted.water, big.water)


def test_sdxl_with_a_controlnet_and_img2img(models, capture_cond):
    r = hs.generate_plate(spec(models["sdxl"], layout="mountains:3", controlnet=str(models["cnxl"])), cache=False)
    assert r.plate.meta["pipeline"] == "StableDiffusionXLControlNetPipeline" and capture_cond
    expected = control_image(resolve_layout("mountains:3", SIZE), SIZE).transpose(2, 0, 1).astype(np.float32) / 255.0
    np.testing.assert_allclose(capture_cond[0].numpy()[0], expected, atol=1e-7)
    np.testing.assert_array_equal(r.plate.depth, resolve_layout("mountains:3", SIZE).depth)
    i2i = hs.generate_plate(spec(models["sdxl"], layout="mountains:3", strength=0.5), cache=False)
    assert i2i.plate.meta["pipeline"] == "StableDiffusionXLImg2ImgPipeline"


def test_a_depth_model_is_a_check_not_the_depth(models, tmp_path):
    depth_model = build_tiny_depth_model(tmp_path / "depth")
    r = hs.generate_plate(spec(models["sd"], layout="mountains:3", strength=0.5, depth_model=str(depth_model)), cache=False)
    layout = resolve_layout("mountains:3", SIZE)
    np.testing.assert_array_equal(r.plate.depth, layout.depth)
    check = r.plate.meta["layout"]["depth_check"]
    assert check["model"] == str(depth_model) and -1.0 <= check["spearman"] <= 1.0
    assert depth_agreement(layout.depth * 3.0, layout.depth) == pytest.approx(1.0)  # scale does not matter
    assert depth_agreement(1.0 / np.where(np.isinf(layout.depth), 1e9, layout.depth), layout.depth) < 0


# -- occlusion ------------------------------------------------------------------------------------
def _ridge_pixel(plate, margin=3):
    w, h = plate.size
    ok = (plate.depth < 2000) & (np.arange(h)[:, None] < plate.camera.horizon * h - 1)
    inside = ok.copy()
    for dy in range(-margin, margin + 1):
        for dx in range(-margin, margin + 1):
            inside &= np.roll(np.roll(ok, dy, axis=0), dx, axis=1)
    candidates = np.argwhere(inside[margin:-margin, margin:-margin]) + margin
    assert len(candidates), "no ridge area large enough in this plate"
    r, c = candidates[len(candidates) // 2]
    return int(r), int(c), float(plate.depth[r, c])


def _to_world(plate, r, c, d):
    w, h = plate.size
    cam = plate.camera
    f = (h / 2) / np.tan(np.radians(cam.fov_y) / 2)
    return ((c + 0.5 - w / 2) * d / f, cam.height - (r + 0.5 - cam.horizon * h) * d / f, -d)


@pytest.mark.gl
def test_a_cube_behind_the_ridge_is_hidden_on_the_ai_plate_as_on_the_procedural_one(models, ctx):
    # Painted at 80x48 and resized to the frame (160x96): the layout is resolved at that final size.
    ai = hs.generate_plate(spec(models["sd"], size=(80, 48), resize_to=(160, 96), layout="mountains:1",
                                controlnet=str(models["cn"])), cache=False).plate
    procedural = hs.procedural_plate(size=(160, 96), seed=1)
    np.testing.assert_array_equal(ai.depth, procedural.depth)
    r, c, d0 = _ridge_pixel(procedural)
    alphas = {}
    for factor in (0.5, 2.0):
        for name, plate in (("ai", ai), ("procedural", procedural)):
            scene = hs.Scene(plate)
            scene.add(hs.Mesh.cube(0.06 * d0 * factor, color=(1.0, 0.0, 0.0), shading="unlit"),
                      position=_to_world(plate, r, c, d0 * factor))
            with hs.FrameRenderer(ctx, (160, 96)) as renderer:
                alphas[name, factor] = renderer.render_layers(scene, 0.0).foreground[..., 3]
        np.testing.assert_array_equal(alphas["ai", factor], alphas["procedural", factor])
    assert alphas["ai", 0.5][r, c] == 255 and alphas["ai", 2.0].max() == 0  # in front shows, behind hides


# -- the command line -----------------------------------------------------------------------------
def test_cli_plate_with_a_controlnet_and_a_layout(models, tmp_path, isolated_cache):
    from click.testing import CliRunner

    from hybridscene.cli import main

    out = tmp_path / "out.png"
    args = ["plate", PROMPT, "--model", str(models["sd"]), "--controlnet", str(models["cn"]), "--layout", "mountains:3",
            "--size", "64x48", "--steps", "2", "-o", str(out), "--json"]
    r = CliRunner().invoke(main, args, env={"HYBRIDSCENE_CACHE": str(isolated_cache)})
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(np.load(tmp_path / "out.depth.npy"), resolve_layout("mountains:3", SIZE).depth)
    # A layout from files, img2img at strength 0: the file's colours come back.
    layout = Layout.procedural(seed=5, size=SIZE)
    hs.Plate(image=layout.image).save(str(tmp_path / "l.png"))
    np.save(tmp_path / "l.npy", layout.depth)
    args = ["plate", PROMPT, "--model", str(models["sd"]), "--layout-image", str(tmp_path / "l.png"), "--layout-depth",
            str(tmp_path / "l.npy"), "--strength", "0", "--size", "64x48", "-o", str(tmp_path / "k.png")]
    r = CliRunner().invoke(main, args, env={"HYBRIDSCENE_CACHE": str(isolated_cache)})
    assert r.exit_code == 0, r.output
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "k.png")), layout.image)
    np.testing.assert_array_equal(np.load(tmp_path / "k.depth.npy"), layout.depth)
