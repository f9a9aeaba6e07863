import numpy as np
import pytest
from PIL import Image

import hybridscene as hs


def test_plate_validates_and_freezes_arrays():
    img = np.zeros((4, 6, 3), np.uint8)
    plate = hs.Plate(image=img)
    assert plate.size == (6, 4) and not plate.image.flags.writeable
    with pytest.raises(hs.PlateError, match=r"\(H, W, 3\) uint8"):
        hs.Plate(image=np.zeros((4, 6), np.uint8))
    with pytest.raises(hs.PlateError, match="depth has shape"):
        hs.Plate(image=img, depth=np.ones((3, 6)))
    with pytest.raises(hs.PlateError, match="positive"):
        hs.Plate(image=img, depth=np.zeros((4, 6)))


@pytest.mark.parametrize("ext, lossless", [(".png", True), (".jpg", False), (".webp", False)])
def test_load_plate_from_image_files(tmp_path, ext, lossless):
    rng = np.random.default_rng(0)
    img = np.repeat(np.repeat(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), 8, 0), 8, 1)
    path = tmp_path / f"plate{ext}"
    Image.fromarray(img).save(path, quality=95) if not lossless else Image.fromarray(img).save(path)
    plate = hs.load_plate(path)
    assert plate.size == (64, 48) and plate.source == "file" and plate.meta["path"] == str(path.resolve())
    err = np.abs(plate.image.astype(int) - img.astype(int))
    assert err.max() == 0 if lossless else err.mean() < 8


def test_load_plate_drops_alpha_and_reads_depth(tmp_path):
    Image.new("RGBA", (10, 5), (10, 20, 30, 0)).save(tmp_path / "a.png")
    depth = np.full((5, 10), 12.5, np.float32)
    np.save(tmp_path / "d.npy", depth)
    plate = hs.load_plate(tmp_path / "a.png", depth=tmp_path / "d.npy")
    assert plate.image[0, 0].tolist() == [10, 20, 30]
    np.testing.assert_array_equal(plate.depth, depth)
    mm = np.zeros((5, 10), np.uint16)
    mm[:, 5:] = 2500
    Image.fromarray(mm).save(tmp_path / "d.png")
    plate = hs.load_plate(tmp_path / "a.png", depth=tmp_path / "d.png")
    assert np.isinf(plate.depth[0, 0]) and plate.depth[0, 9] == pytest.approx(2.5)


def test_load_plate_errors_name_the_file(tmp_path):
    with pytest.raises(hs.PlateError, match=r"'.*missing.png' does not exist"):
        hs.load_plate(tmp_path / "missing.png")
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(hs.PlateError, match=r"notes.png' is not a readable image.*\.png, \.jpg"):
        hs.load_plate(bad)
    with pytest.raises(hs.PlateError, match="is a folder"):
        hs.load_plate(tmp_path)


def test_procedural_plate_metadata_and_determinism():
    a = hs.procedural_plate(size=(96, 54), seed=4)
    b = hs.procedural_plate(size=(96, 54), seed=4)
    c = hs.procedural_plate(size=(96, 54), seed=5)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.depth, b.depth)
    assert not np.array_equal(a.image, c.image)
    assert a.source == "procedural:mountains" and a.seed == 4 and a.prompt
    assert a.camera == hs.PlateCamera(fov_y=50.0, height=4.0, horizon=0.45)
    assert a.depth.shape == (54, 96) and np.isinf(a.depth[0]).all()
    assert {"variant", "sun_direction", "sun_color", "sky_color"} <= set(a.meta)


def test_procedural_plate_rejects_bad_arguments():
    with pytest.raises(hs.ConfigError, match="unknown procedural style 'desert'"):
        hs.procedural_plate("desert")
    with pytest.raises(hs.ConfigError, match="size must be two positive integers"):
        hs.procedural_plate(size=(0, 10))
    with pytest.raises(hs.ConfigError, match="horizon"):
        hs.procedural_plate(size=(16, 16), horizon=1.5)


def test_plate_save_is_atomic_and_checks_the_extension(tmp_path):
    plate = hs.Plate.solid((1, 2, 3), (4, 4))
    plate.save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as img:
        assert img.getpixel((0, 0)) == (1, 2, 3)
    with pytest.raises(hs.PlateError, match="use .png"):
        plate.save(tmp_path / "p.xyz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]


# -- the sun's convention in stored metadata ------------------------------------------------------
def test_cached_plates_from_before_the_sun_convention_are_read_in_todays(tmp_path):
    """plate.json written before META_VERSION 2 held sun_direction toward the sun: flipped on read."""
    import json

    from hybridscene.plate.cache import PlateCache
    from hybridscene.plate.plate import META_VERSION

    plate = hs.procedural_plate(size=(32, 18), seed=2)
    store = PlateCache(tmp_path / "cache")
    key = "0" * 32
    entry = store.put(key, plate, inputs={}, timings={})
    info = json.loads((entry / "plate.json").read_text())
    assert info["plate"]["meta_version"] == META_VERSION == 2
    assert store.get(key).meta["sun_direction"] == plate.meta["sun_direction"]
    # The same entry as an older hybridscene wrote it: no version, the sun the other way.
    del info["plate"]["meta_version"]
    info["plate"]["meta"]["sun_direction"] = [-v for v in plate.meta["sun_direction"]]
    (entry / "plate.json").write_text(json.dumps(info))
    old = store.get(key)
    np.testing.assert_allclose(old.meta["sun_direction"], plate.meta["sun_direction"])
    np.testing.assert_allclose(hs.DirectionalLight.from_plate(old).direction,
                               hs.DirectionalLight.from_plate(plate).direction, atol=1e-6)
    # A version from a newer hybridscene is not guessed at: the entry is generated again.
    info["plate"]["meta_version"] = META_VERSION + 1
    (entry / "plate.json").write_text(json.dumps(info))
    assert store.get(key) is None and not entry.exists()


def test_upgrade_meta_flips_only_old_suns():
    from hybridscene.plate.plate import upgrade_meta

    old = {"sun_direction": [0.0, 0.6, -0.8], "variant": "midday"}
    assert upgrade_meta(old, None) == {"sun_direction": [-0.0, -0.6, 0.8], "variant": "midday"}
    assert upgrade_meta(old, 1) == upgrade_meta(old, None) and old["sun_direction"] == [0.0, 0.6, -0.8]
    assert upgrade_meta(old, 2) == old
    assert upgrade_meta({"model": "m"}, None) == {"model": "m"}
    with pytest.raises(hs.PlateError, match="plate metadata version 3 is not one this hybridscene reads"):
        upgrade_meta(old, 3)


# -- background_plate: fov_y and plate defaults ---------------------------------------------------
def test_background_plate_passes_fov_y_to_the_procedural_painter():
    plate = hs.background_plate((64, 36), seed=3, fov_y=70.0)
    same = hs.procedural_plate(size=(64, 36), seed=3, fov_y=70.0)
    assert plate.camera == same.camera and plate.camera.fov_y == 70.0
    np.testing.assert_array_equal(plate.image, same.image)
    assert hs.background_plate((64, 36), seed=3).camera.fov_y == 50.0  # the painter's default
    assert hs.Scene(plate).camera.fov_y == 70.0
    with pytest.raises(hs.ConfigError, match="fov_y"):
        hs.background_plate((64, 36), fov_y=0.0)
    with pytest.raises(hs.ConfigError, match="fov_y must be between 1 and 179 degrees, got 200.0"):
        hs.background_plate((64, 36), model="not/checked-before-fov", fov_y=200.0)


@pytest.mark.ai
def test_background_plate_gives_an_ai_plate_the_camera_of_fov_y(tiny_sd):
    from hybridscene.plate.generate import DEFAULT_CAMERA_HEIGHT

    plate = hs.background_plate((64, 36), model=str(tiny_sd), steps=2, fov_y=35.0)
    assert plate.source == "diffusers"
    assert plate.camera == hs.PlateCamera(fov_y=35.0, height=DEFAULT_CAMERA_HEIGHT, horizon=0.5)
    cam = hs.Scene(plate).camera
    assert cam.fov_y == 35.0
    np.testing.assert_allclose(cam.position, [0.0, DEFAULT_CAMERA_HEIGHT, 0.0], atol=1e-6)
    plain = hs.background_plate((64, 36), model=str(tiny_sd), steps=2)  # a cache hit: fov_y is no input
    assert plain.camera is None and plain.meta["cache_key"] == plate.meta["cache_key"]
    np.testing.assert_array_equal(plain.image, plate.image)


@pytest.mark.ai
def test_plate_defaults_reach_the_ai_plate_and_explicit_arguments_win(tiny_sd):
    from hybridscene.plate.generate import current_plate_defaults, plate_defaults

    steps = []
    with plate_defaults(steps=2, guidance=1.0, negative_prompt="fog") as outer:
        with plate_defaults(scheduler="euler", callback=lambda step, total: steps.append((step, total))) as inner:
            assert current_plate_defaults() is inner
            a = hs.background_plate((64, 36), model=str(tiny_sd))
        b = hs.background_plate((64, 36), model=str(tiny_sd), steps=3)
        hs.background_plate((64, 36))  # procedural: takes none of them
    assert current_plate_defaults() is None
    assert (a.meta["steps"], a.meta["guidance"], a.meta["negative_prompt"]) == (2, 1.0, "fog")
    assert a.meta["scheduler"] == "EulerDiscreteScheduler" and steps[-1] == (2, 2)
    assert (b.meta["steps"], b.meta["guidance"]) == (3, 1.0) and b.meta["scheduler"] != "EulerDiscreteScheduler"
    assert (inner.used, outer.used) == (1, 2)
    assert outer.options == {"steps": 2, "guidance": 1.0, "negative_prompt": "fog"}
