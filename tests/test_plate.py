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
