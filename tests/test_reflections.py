"""The reflection catcher: the foreground mirrored in the plate's water, and the water masks
that say where it is (hand-made, procedural, cached)."""

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.plate.cache import PlateCache

W, H = 160, 120
GREY = (110, 120, 130)
CAMERA = hs.PlateCamera(fov_y=50.0, height=2.0, horizon=0.5)
F = (H / 2) / np.tan(np.radians(25))
Z = -10.0  # where the sphere stands


def ground_row(z, y=0.0):
    """Row where the point (0, y, z) appears for CAMERA."""
    return int(H * CAMERA.horizon + F * (CAMERA.height - y) / -z)


def ground_col(x, z):
    return int(W / 2 + F * x / -z)


def river_mask(half_width=1.5):
    """Water on the ground where |x| < half_width metres (a straight river down the view)."""
    rows = np.arange(H)[:, None] + 0.5
    cols = np.arange(W)[None, :] + 0.5
    below = rows > H / 2
    z = np.where(below, F * CAMERA.height / np.maximum(rows - H / 2, 1e-6), np.inf)
    x = (cols - W / 2) * z / F
    return (below & (np.abs(x) < half_width)).astype(np.float32)


def scene_with_sphere(reflections=None, *, water=True, color="#ff2020", **kw):
    plate = hs.Plate(image=np.full((H, W, 3), GREY, np.uint8), camera=CAMERA, water=river_mask() if water else None)
    scene = hs.Scene(plate, sun=hs.DirectionalLight(direction=(0.3, -0.6, -0.7)), shadows=False,
                     reflections=reflections, **kw)
    scene.add(hs.Mesh.sphere(0.5, color=color, shading="unlit"), position=(0.0, 0.5, Z))
    return scene


def render(ctx, scene):
    with hs.FrameRenderer(ctx, (W, H), samples=1) as r:
        return r.render_frame(scene, 0.0).astype(int)


@pytest.mark.gl
def test_a_sphere_on_the_water_is_mirrored_below_it_on_the_water_only(ctx):
    scene = scene_with_sphere()
    assert scene.reflections is not None  # on by default: the plate has water
    frame = render(ctx, scene)
    plain = render(ctx, scene_with_sphere(False))
    c = W // 2
    near, far = ground_row(Z) + 3, ground_row(Z, -0.9)
    redness = frame[..., 0] - frame[..., 2]
    assert redness[near, c] > (plain[near, c, 0] - plain[near, c, 2]) + 30, (frame[near, c], plain[near, c])
    # Fading with depth below the water: further down the mirror image is less red.
    assert redness[near, c] > redness[far, c] > plain[far, c, 0] - plain[far, c, 2]
    # Below the mirror image, and on land beside it, the plate is untouched.
    assert frame[ground_row(Z, -1.5), c].tolist() == list(GREY)
    land = river_mask() == 0
    assert (frame[land & (np.arange(H)[:, None] > H / 2)] == plain[land & (np.arange(H)[:, None] > H / 2)]).all()


@pytest.mark.gl
def test_the_mirror_image_shows_only_where_the_mask_says_water(ctx):
    # The sphere stands on land (x = 3 m, beside the river): no reflection anywhere.
    on_land, plain = scene_with_sphere(), scene_with_sphere(False)
    for scene in (on_land, plain):
        scene.root.children[0].position = (3.0, 0.5, Z)
    assert (render(ctx, on_land) == render(ctx, plain)).all()
    # A mask of the catcher's own (the plate knows no water) puts it back.
    mask = np.zeros((H, W), np.float32)
    mask[H // 2:, :] = 1.0
    own = scene_with_sphere(hs.ReflectionCatcher(mask=mask), water=False)
    own.root.children[0].position = (3.0, 0.5, Z)
    frame = render(ctx, own)
    r, c = ground_row(Z) + 3, ground_col(3.0, Z)
    assert frame[r, c, 0] - frame[r, c, 2] > 30


@pytest.mark.gl
def test_the_plate_in_front_of_the_water_hides_the_mirror_image(ctx):
    # Water all over the ground, but the plate's depth says the left half is a wall 3 m away:
    # the mirror image of a wide slab standing on the water 10 m away shows on the right only.
    rows = np.arange(H)[:, None] + 0.5
    depth = np.broadcast_to(np.where(rows > H / 2, F * CAMERA.height / np.maximum(rows - H / 2, 1e-6), np.inf),
                            (H, W)).astype(np.float32)
    depth[:, : W // 2] = np.minimum(depth[:, : W // 2], 3.0)
    water = np.broadcast_to((rows > H / 2).astype(np.float32), (H, W))
    plate = hs.Plate(image=np.full((H, W, 3), GREY, np.uint8), depth=depth, camera=CAMERA, water=water)
    scene = hs.Scene(plate, shadows=False)
    scene.add(hs.Mesh.cube(1.0, color="#ff2020", shading="unlit"), position=(0.0, 0.5, Z), scale=(12.0, 1.0, 0.2))
    frame = render(ctx, scene)
    r = ground_row(Z) + 3
    redness = frame[r, :, 0] - frame[r, :, 2]
    assert (redness[W // 2 + 5 : W - 10] > 30).all()
    assert (frame[r, 10 : W // 2 - 5] == GREY).all()


def test_the_water_mask_is_looked_up_where_the_ray_meets_the_water():
    from hybridscene.gpu.reflection import water_mapping
    from hybridscene.scene.view import plate_mapping

    plate = hs.Plate(image=np.zeros((H, W, 3), np.uint8), camera=CAMERA)
    at_rest = hs.PerspectiveCamera.from_plate(plate)
    assert np.allclose(water_mapping(plate, at_rest, (W, H), 0.0), plate_mapping(plate, at_rest, (W, H)), atol=1e-6)
    # A camera that moved: the ground point it sees maps to the plate pixel showing that point.
    moved = hs.PerspectiveCamera(fov_y=50.0, position=(1.0, 3.0, 2.0), target=(0.0, 0.0, -8.0))
    point = np.array([0.5, 0.0, -7.0, 1.0])
    clip = moved.projection_matrix(W / H) @ moved.view_matrix() @ point
    q = water_mapping(plate, moved, (W, H), 0.0) @ np.array([clip[0] / clip[3], clip[1] / clip[3], 1.0])
    assert q[2] > 0
    row, col = q[1] / q[2] * H, q[0] / q[2] * W
    assert abs(row - (H / 2 + F * CAMERA.height / 7.0)) < 1e-3 and abs(col - (W / 2 + F * 0.5 / 7.0)) < 1e-3


@pytest.mark.gl
def test_a_sphere_in_the_river_of_a_procedural_plate_is_mirrored(ctx):
    plate = hs.procedural_plate(size=(W, H), seed=1)
    cam = plate.camera
    f = (H / 2) / np.tan(np.radians(cam.fov_y) / 2)
    # A ground point in the middle of the river, 12..30 m away, with water around and below it.
    wet = plate.water > 0.99
    rows = [r for r in range(H) if 12.0 <= f * cam.height / (r + 0.5 - cam.horizon * H) <= 30.0]
    r, c = max(((r, c) for r in rows for c in range(4, W - 4) if wet[r : r + 8, c - 2 : c + 3].all()),
               key=lambda rc: wet[rc[0], :].sum())
    z = f * cam.height / (r + 0.5 - cam.horizon * H)
    x = (c + 0.5 - W / 2) * z / f
    scenes = [hs.Scene(plate, reflections=on, shadows=False) for on in (None, False)]
    for scene in scenes:
        scene.add(hs.Mesh.sphere(0.8, color="#ff0000", shading="unlit"), position=(x, 0.8, -z))
    mirrored, plain = (render(ctx, s) for s in scenes)
    below = r + 3  # just under the waterline, over the water
    assert mirrored[below, c, 0] - plain[below, c, 0] > 20
    assert (mirrored[: int(cam.horizon * H)] == plain[: int(cam.horizon * H)]).all()  # the sky: untouched


@pytest.mark.gl
def test_without_reflections_the_plate_is_exactly_the_plate(ctx):
    scene = scene_with_sphere(False)
    assert scene.reflections is None
    frame = render(ctx, scene)
    r, c = ground_row(Z) + 3, W // 2
    assert frame[r, c].tolist() == list(GREY)
    # No mesh: nothing to mirror, the frame is the plate.
    empty = hs.Scene(hs.Plate(image=np.full((H, W, 3), GREY, np.uint8), camera=CAMERA, water=river_mask()),
                     shadows=False)
    assert (render(ctx, empty) == GREY).all()


@pytest.mark.gl
def test_every_output_shows_the_reflection(ctx):
    scene = scene_with_sphere()
    r, c = ground_row(Z) + 3, W // 2
    with hs.FrameRenderer(ctx, (W, H), samples=1) as fr:
        frame = fr.render_frame(scene, 0.0).astype(int)
        layers = fr.render_layers(scene, 0.0)
        passes = fr.render_passes(scene, 0.0, passes=("composite", "plate"))
    assert layers.composite[r, c].tolist() == frame[r, c].tolist()
    assert layers.plate[r, c, 0] - layers.plate[r, c, 2] > 30  # the plate layer carries it, under the shadows
    assert np.allclose(passes.passes["composite"][r, c], passes.passes["plate"][r, c], atol=1e-3)


def test_plate_water_mask_is_validated_and_read_only():
    image = np.zeros((4, 6, 3), np.uint8)
    plate = hs.Plate(image=image, water=np.ones((4, 6), bool))
    assert plate.water.dtype == np.float32 and not plate.water.flags.writeable
    assert "water" in repr(plate)
    with pytest.raises(hs.PlateError, match=r"water mask has shape \(4, 5\)"):
        hs.Plate(image=image, water=np.ones((4, 5), np.float32))
    with pytest.raises(hs.PlateError, match="water mask values must be in 0..1"):
        hs.Plate(image=image, water=np.full((4, 6), 2.0))
    assert hs.Plate(image=image).water is None


def test_a_procedural_plate_knows_where_its_river_is():
    plate = hs.procedural_plate(size=(160, 90), seed=1)
    water = plate.water
    assert water is not None and water.shape == (90, 160) and not water.flags.writeable
    wet = water > 0.5
    rows = np.arange(90)[:, None]
    land = (water == 0) & (rows > 0.45 * 90 + 2) & (plate.depth < 1000)
    assert wet.sum() > 200 and land.sum() > 200
    assert not wet[: int(0.45 * 90)].any()  # never above the horizon
    # Water pixels look like water: bluer than the meadow.
    img = plate.image.astype(float)
    share = img[..., 2] / img.sum(axis=2).clip(1)
    assert share[wet].mean() > share[land].mean() + 0.07
    assert hs.Scene(plate).reflections is not None  # a scene mirrors in it by default


def test_the_water_mask_survives_the_plate_cache(tmp_path):
    cache = PlateCache(tmp_path)
    mask = np.zeros((8, 12), np.float32)
    mask[5:, 3:9] = 0.75
    plate = hs.Plate(image=np.full((8, 12, 3), 9, np.uint8), water=mask, source="diffusers")
    key = "0" * 32
    cache.put(key, plate, inputs={}, timings={})
    back = cache.get(key)
    assert back is not None and np.array_equal(back.water, mask)
    # An entry from before water masks (no water.npy) reads as a plate without one.
    cache.put("1" * 32, hs.Plate(image=plate.image, source="diffusers"), inputs={}, timings={})
    assert cache.get("1" * 32).water is None
    good, removed = cache.verify()
    assert set(good) == {"0" * 32, "1" * 32} and removed == []


def test_reflection_catcher_validates():
    with pytest.raises(hs.SceneError, match="reflection strength must be in 0..1"):
        hs.ReflectionCatcher(strength=2)
    with pytest.raises(hs.SceneError, match="reflection falloff must be >= 0 metres"):
        hs.ReflectionCatcher(falloff=-1)
    with pytest.raises(hs.SceneError, match="reflection mask must be an"):
        hs.ReflectionCatcher(mask=np.zeros((2, 2, 3)))
    with pytest.raises(hs.SceneError, match="reflections must be a ReflectionCatcher"):
        hs.Scene(reflections="yes")


@pytest.mark.gl
def test_the_mirror_image_is_lit_by_the_mirrored_environment(ctx):
    """A diffuse white sphere under a blue sky over green ground: its top is blue-lit, its
    underside green-lit; the mirror image near the waterline shows the underside, so it is
    greener than the image of the top further down (which is the sphere's top, mirrored)."""
    from hybridscene.scene.environment import Environment

    img = np.zeros((32, 64, 3), np.float32)
    img[:16] = (0.05, 0.1, 0.9)
    img[16:] = (0.1, 0.8, 0.05)
    scene = scene_with_sphere(hs.ReflectionCatcher(strength=1.0, falloff=0.0), color="white",
                              environment=Environment.from_equirect(img), tonemap="none")
    node = scene.root.children[0]
    node.mesh.material.shading = "lambert"
    scene.sun.intensity = 0.0
    frame = render(ctx, scene)
    c = W // 2
    top = frame[ground_row(Z, 0.9), c]              # the real sphere's top: blue-lit
    image_near = frame[ground_row(Z) + 2, c]        # the mirror image of its underside
    assert top[2] > top[1] + 40
    assert image_near[1] > image_near[2] + 40, (top, image_near)


@pytest.mark.gl
def test_an_object_far_above_the_water_is_not_drawn_mirrored(ctx):
    """Its image would be faded below 1 % (exp(-depth / falloff)): the pass skips it."""
    scene = scene_with_sphere(hs.ReflectionCatcher(falloff=1.0))
    with hs.FrameRenderer(ctx, (W, H), samples=1) as r:
        assert r.reflection.render(scene, (W, H)) is not None  # standing on the water
        scene.root.children[0].position = (0.0, 5.2, Z)         # 4.7 m up: its image is under 1 %
        assert r.reflection.render(scene, (W, H)) is None


@pytest.mark.gl
def test_one_sided_faces_are_mirrored_front_side_out(ctx):
    """A one-sided card standing on the water, facing the camera: its mirror image faces the
    camera too, so it shows (culled as a back face, it would vanish); a mirrored node (a negative
    scale) likewise. Drawn from the back, the card and its image both vanish."""
    def frame(rotation, scale=(1.0, 1.0, 1.0)):
        plate = hs.Plate(image=np.full((H, W, 3), GREY, np.uint8), camera=CAMERA, water=river_mask())
        scene = hs.Scene(plate, shadows=False)
        scene.add(hs.Mesh.plane(1.0, 1.0, color="#ff2020", shading="unlit", double_sided=False),
                  position=(0.0, 0.6, Z), rotation=hs.quat_from_euler(x=rotation), scale=scale)
        return render(ctx, scene)

    c, near = W // 2, ground_row(Z) + 3
    above = ground_row(Z, 0.6)
    for scale in ((1.0, 1.0, 1.0), (-1.0, 1.0, 1.0)):
        facing = frame(90, scale)
        assert facing[above, c, 0] - facing[above, c, 2] > 100, facing[above, c]  # the card itself
        assert facing[near, c, 0] - facing[near, c, 2] > 30, facing[near, c]  # and its mirror image
        away = frame(-90, scale)
        assert away[above, c].tolist() == list(GREY) and away[near, c].tolist() == list(GREY)
