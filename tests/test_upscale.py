"""Upscaling plates: Lanczos and diffusers upscalers (tiny random-weight models), tiled with
overlap; depth upscaled without inventing depths across silhouettes."""

import json

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.errors import ConfigError, PlateError
from hybridscene.plate.spec import PlateSpec, resolve_spec
from hybridscene.plate.upscale import _tiles, upscale_depth, upscale_image, upscale_plate, upscale_water

pytestmark = pytest.mark.ai

PROMPT = "Landscape with mountains and a river"


@pytest.fixture(scope="module")
def x4(tmp_path_factory):
    from hybridscene.testing import build_tiny_sd_upscaler

    return build_tiny_sd_upscaler(tmp_path_factory.mktemp("models") / "tiny-x4")


@pytest.fixture(scope="module")
def latent_x2(tmp_path_factory):
    from hybridscene.testing import build_tiny_latent_upscaler

    return build_tiny_latent_upscaler(tmp_path_factory.mktemp("models") / "tiny-latent-x2")


@pytest.fixture(scope="module")
def low_res():
    """A 64x64 landscape (smooth areas and silhouettes, like a painted plate)."""
    return hs.procedural_plate("mountains", size=(64, 64), seed=3).image


def seam_distance(size, tile, overlap, scale):
    """(H, W) output pixels to the nearest tile edge inside the image."""
    tiles = _tiles(size, size, tile, overlap)
    edges = sorted({y for y, _, _, _ in tiles if y > 0} | {y + h for y, _, h, _ in tiles if y + h < size})
    pos = np.arange(size * scale)
    d = np.min([np.abs(pos - scale * e) for e in edges], axis=0)
    return np.minimum(d[:, None], d[None, :])


def test_x4_tiled_and_untiled_agree_away_from_seams(x4, low_res):
    whole = upscale_image(low_res, 4, str(x4), prompt=PROMPT, steps=2, tile=None)
    tiled = upscale_image(low_res, 4, str(x4), prompt=PROMPT, steps=2, tile=32, overlap=8)
    other_seed = upscale_image(low_res, 4, str(x4), prompt=PROMPT, steps=2, seed=1, tile=None)
    assert whole.shape == tiled.shape == (256, 256, 3) and whole.std() > 10
    diff = np.abs(whole.astype(float) - tiled).mean(axis=2)
    far = seam_distance(64, 32, 8, 4) >= 16  # 4 low-resolution pixels from any tile edge
    assert far.sum() > 10000
    # The noise is drawn once for the whole image: tiles differ from the untiled run only through
    # the models' image-wide normalisation, a few levels; another seed differs by ~40.
    assert diff[far].mean() < 6 and np.percentile(diff[far], 99) < 25
    assert diff[~far].mean() < 1.5 * diff[far].mean() + 1  # seams blended: no band of larger differences
    assert np.abs(whole.astype(float) - other_seed).mean() > 20


def test_tiling_bounds_what_the_models_see(x4, low_res):
    from hybridscene.plate.upscale import _pipeline

    pipe = _pipeline(str(x4), None, "cpu", "float32")
    seen = {"unet": [], "vae": []}
    hooks = [pipe.unet.register_forward_pre_hook(lambda m, a: seen["unet"].append(tuple(a[0].shape[-2:]))),
             pipe.vae.decoder.register_forward_pre_hook(lambda m, a: seen["vae"].append(tuple(a[0].shape[-2:])))]
    try:
        upscale_image(low_res, 4, str(x4), prompt=PROMPT, steps=2, tile=32, overlap=8)
        tiled = dict(seen)
        seen.update(unet=[], vae=[])
        upscale_image(low_res, 4, str(x4), prompt=PROMPT, steps=2, tile=None)
    finally:
        for h in hooks:
            h.remove()
    assert set(tiled["unet"]) == {(32, 32)} and len(tiled["unet"]) == 9 * 2  # 3x3 tiles, 2 steps each
    assert set(tiled["vae"]) == {(32, 32)} and len(tiled["vae"]) == 9  # one x4 decode per tile
    assert set(seen["unet"]) == {(64, 64)} and set(seen["vae"]) == {(64, 64)}  # untiled: the whole image


def test_latent_x2_upscaler_and_smaller_factors(latent_x2, x4, low_res):
    out = upscale_image(low_res, 2, str(latent_x2), prompt=PROMPT, steps=2, tile=32, overlap=8)
    assert out.shape == (128, 128, 3) and out.std() > 5
    # A model gives its own factor; a smaller one is its output resampled down.
    assert upscale_image(low_res[:40, :48], 3, str(x4), prompt=PROMPT, steps=1, tile=32, overlap=8).shape == (120, 144, 3)


def test_step_edge_in_depth_keeps_only_the_two_depths_and_follows_the_image():
    depth = np.full((16, 16), 5.0, np.float32)
    depth[:, 8:] = 50.0
    depth[:4] = np.inf  # sky above
    near = upscale_depth(depth, 4)
    assert near.shape == (64, 64)
    assert set(np.unique(near[16:])) == {5.0, 50.0}  # nothing in between
    assert np.isinf(near[:16]).all() and np.isfinite(near[16:]).all()
    assert (near[20, :32] == 5.0).all() and (near[20, 32:] == 50.0).all()  # nearest: the edge at 8 * 4
    # With a guide whose edge lies 2 pixels left of the nearest split, the depth edge follows it.
    guide = np.zeros((64, 64, 3), np.uint8)
    guide[:, 30:] = 255
    low = np.zeros((16, 16, 3), np.uint8)
    low[:, 8:] = 255
    guided = upscale_depth(depth, 4, guide, guide_low=low)
    assert (guided[20, :30] == 5.0).all() and (guided[20, 30:] == 50.0).all()
    assert set(np.unique(guided[16:])) == {5.0, 50.0}


def test_smooth_depth_is_interpolated_and_water_follows():
    ramp = np.tile(np.linspace(10.0, 11.0, 8, dtype=np.float32), (8, 1))
    out = upscale_depth(ramp, 2)
    assert out.shape == (16, 16) and len(np.unique(out)) > 8  # a surface: bilinear, not blocks
    assert np.all(np.diff(out[3]) >= 0) and out.min() >= 10.0 and out.max() <= 11.0
    water = np.zeros((8, 8), np.float32)
    water[4:] = 1.0
    w = upscale_water(water, 2)
    assert w.shape == (16, 16) and w[:6].max() == 0 and w[10:].min() == 1.0 and 0 < w[8, 0] < 1


def test_upscale_plate_upscales_image_depth_and_water():
    plate = hs.procedural_plate("mountains", size=(48, 32), seed=1)
    assert plate.depth is not None and plate.water is not None
    big = upscale_plate(plate, 2.5)
    assert big.size == (120, 80) and big.depth.shape == (80, 120) and big.water.shape == (80, 120)
    assert big.meta["upscale"] == 2.5 and big.meta["upscaled_from"] == [48, 32] and big.camera == plate.camera
    assert np.isinf(big.depth[0]).all() == np.isinf(plate.depth[0]).all()
    finite = plate.depth[np.isfinite(plate.depth)]
    assert big.depth[np.isfinite(big.depth)].min() >= finite.min() and big.depth[np.isfinite(big.depth)].max() <= finite.max()


def test_lanczos_through_generate_plate(tiny_sd):
    base = dict(prompt=PROMPT, model=str(tiny_sd), size=(32, 32), steps=2)
    plain = hs.generate_plate(PlateSpec(**base))
    up = hs.generate_plate(PlateSpec(**base, upscale=2))
    assert up.plate.size == (64, 64) and up.key != plain.key and not up.cache_hit
    from PIL import Image

    expected = np.asarray(Image.fromarray(plain.plate.image).resize((64, 64), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(up.plate.image, expected)
    info = json.loads((up.entry / "plate.json").read_text())
    assert info["inputs"]["upscale"] == 2 and info["inputs"]["upscaler"] == "lanczos"
    assert up.plate.meta["upscaled_from"] == [32, 32] and up.plate.meta["generated_size"] == [32, 32]
    assert up.plate.meta["upscaled_size"] == [64, 64] and up.plate.meta["upscale_s"] >= 0
    again = hs.generate_plate(PlateSpec(**base, upscale=2))
    assert again.cache_hit and again.plate.size == (64, 64)


def test_cache_key_covers_upscale_and_upscaler(tiny_sd, x4):
    base = dict(prompt=PROMPT, model=str(tiny_sd), size=(32, 32), steps=2)
    plain = resolve_spec(PlateSpec(**base))
    keys = {plain.key, resolve_spec(PlateSpec(**base, upscale=2)).key, resolve_spec(PlateSpec(**base, upscale=3)).key}
    model = resolve_spec(PlateSpec(**base, upscale=4, upscaler=str(x4)))
    keys.add(model.key)
    assert len(keys) == 4
    assert "upscale" not in plain.inputs and "upscaler" not in plain.inputs and plain.upscaler_identity is None
    assert resolve_spec(PlateSpec(**base, upscale=1)).key == plain.key  # x1 is no upscaling
    assert model.upscaler_identity.startswith("local:") and model.inputs["upscaler"] == model.upscaler_identity


def test_model_upscaler_through_generate_plate_with_depth(tiny_sd, x4, tmp_path):
    depth = np.full((32, 32), 20.0, np.float32)
    depth[:10] = np.inf
    np.save(tmp_path / "d.npy", depth)
    r = hs.generate_plate(PlateSpec(prompt=PROMPT, model=str(tiny_sd), size=(32, 32), steps=1, upscale=4,
                                    upscaler=str(x4), depth_image=str(tmp_path / "d.npy")), cache=False)
    assert r.plate.size == (128, 128) and r.plate.depth.shape == (128, 128)
    assert set(np.unique(r.plate.depth)) == {20.0, np.inf} and np.isinf(r.plate.depth[:38]).all()
    assert r.plate.meta["upscaler"] == str(x4) and r.plate.meta["upscale_s"] > 0


def test_refusals_are_one_line(tiny_sd, x4, latent_x2):
    base = dict(prompt=PROMPT, model=str(tiny_sd), size=(32, 32), steps=2)
    cases = [
        (ConfigError, dict(upscale=4, upscaler=str(latent_x2)), "more than upscaler"),
        (ConfigError, dict(upscale=8, upscaler=str(x4)), "x4"),
        (ConfigError, dict(upscale=2, upscaler=str(tiny_sd)), "not an upscaler"),
        (PlateError, dict(upscale=2, upscaler="/no/such/upscaler"), "does not exist"),
        (PlateError, dict(upscale=4, upscaler="someone/no-such-upscaler"), "HF_HUB_OFFLINE is set"),
        (ConfigError, dict(upscale=16, resize_to=(2048, 2048)), "16384"),
    ]
    for error, kw, words in cases:
        with pytest.raises(error) as e:
            resolve_spec(PlateSpec(**base, **kw))
        assert words in str(e.value) and "\n" not in str(e.value), kw
    with pytest.raises(ConfigError, match="factor"):
        PlateSpec(**base, upscale=0.5)
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(PlateError, match="cannot load upscaler 'someone/no-such-upscaler'"):
        upscale_image(image, 2, "someone/no-such-upscaler")
    with pytest.raises(ConfigError, match="above 1"):
        upscale_image(image, 1)
    for kw in (dict(tile=20), dict(tile=32, overlap=16)):
        with pytest.raises(ConfigError, match="tile|overlap"):
            upscale_image(image, 2, str(x4), **kw)


def test_cli_plate_writes_the_upscaled_image_and_depth(tiny_sd, tmp_path):
    depth = np.full((32, 32), 7.0, np.float32)
    np.save(tmp_path / "d.npy", depth)
    out = tmp_path / "out.png"
    from click.testing import CliRunner
    from PIL import Image

    from hybridscene.cli import main

    r = CliRunner().invoke(main, ["plate", PROMPT, "--model", str(tiny_sd), "--size", "32x32", "--steps", "2",
                                  "--depth-image", str(tmp_path / "d.npy"), "--upscale", "2", "--upscaler", "lanczos",
                                  "-o", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    with Image.open(out) as im:
        assert im.size == (64, 64)
    d = np.load(tmp_path / "out.depth.npy")
    assert d.shape == (64, 64) and (d == 7.0).all()


def test_a_full_turn_is_upscaled_round_the_circle():
    """A 360 degree plate's ends stay joined: upscaled as if its neighbours from the other end were
    beside it (the middle third of the plate tiled three times), not clamped at its edges."""
    from hybridscene.plate.upscale import _lanczos

    plate = hs.procedural_plate(size=(512, 96), seed=6, projection="cylindrical", fov_x=360, fov_y=40, horizon=0.4)
    w, h = plate.size
    ring = _lanczos(np.tile(plate.image, (1, 3, 1)), (6 * w, 2 * h))[:, 2 * w:4 * w]
    up = upscale_plate(plate, 2)
    assert up.size == (2 * w, 2 * h) and up.camera == plate.camera and up.depth.shape == (2 * h, 2 * w)
    np.testing.assert_array_equal(up.image, ring)
    clamped = upscale_plate(hs.Plate(image=plate.image), 2).image.astype(int) - ring  # what it would be without
    assert np.abs(clamped[:, :3]).max() > 2 and np.abs(clamped[:, 8:-8]).max() == 0
    big = _lanczos(np.tile(plate.image, (1, 3, 1)), (6 * w, 2 * h))
    depth_ring = upscale_depth(np.tile(plate.depth, (1, 3)), 2, big, guide_low=np.tile(plate.image, (1, 3, 1)))
    np.testing.assert_array_equal(up.depth, depth_ring[:, 2 * w:4 * w])  # the depth too, across the seam


def test_limits_are_checked_before_painting_and_devices_before_loading(x4, low_res):
    from hybridscene.plate.upscale import check_upscale

    assert check_upscale(4, (4096, 1024)) == (16384, 4096)
    with pytest.raises(ConfigError, match="more than 16384 pixels a side"):  # the columns a full turn borrows count
        check_upscale(4, (4096, 1024), full_turn=True)
    with pytest.raises(ConfigError, match="sees no CUDA GPU"):
        upscale_image(low_res, 4, str(x4), device="cuda")
