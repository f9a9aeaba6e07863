"""Cylindrical and equirectangular plates: the numpy mapping and its inverse, and a camera that
pans a full turn over a 360 degree plate through the compositor, occlusion, the depth pass, the
environment and the light estimate."""

import math

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.plate.projection import plate_directions, plate_uv, unproject
from hybridscene.scene.estimate import estimate_light

W, H = 128, 64  # frames
PW, PH = 512, 64  # the 360 degree plate (the frame's fov_y, so rows map 1:1 on the centre column)


def cyl_camera(**kw):
    return hs.PlateCamera(**{**dict(fov_y=40.0, height=2.0, horizon=0.5, projection="cylindrical", fov_x=360.0), **kw})


@pytest.fixture(scope="module")
def pano():
    return hs.procedural_plate(size=(PW, PH), seed=1, fov_y=40.0, camera_height=4.0, horizon=0.5,
                               projection="cylindrical", fov_x=360)


def yawed(plate, degrees, **kw):
    cam = hs.PerspectiveCamera.from_plate(plate, **kw)
    a = math.radians(degrees)
    cam.target = cam.position + np.array([math.sin(a), 0.0, -math.cos(a)])
    return cam


def render(ctx, scene, size=(W, H)):
    with hs.FrameRenderer(ctx, size) as r:
        return r.render_frame(scene, 0.0)


# -- numpy -------------------------------------------------------------------------------------

@pytest.mark.parametrize("camera", [
    hs.PlateCamera(fov_y=50.0, height=2.0, horizon=0.4),
    cyl_camera(fov_x=200.0, horizon=0.6),
    hs.PlateCamera(fov_y=180.0, height=2.0, horizon=0.5, projection="equirectangular", fov_x=360.0),
])
def test_plate_uv_and_plate_directions_are_inverses(camera):
    plate = hs.Plate(image=np.zeros((90, 160, 3), np.uint8), camera=camera)
    rng = np.random.default_rng(0)
    u, v = rng.uniform(0.01, 0.99, 500), rng.uniform(0.01, 0.99, 500)
    d = plate_directions(plate, u, v)
    uu, vv, w = plate_uv(plate, d * rng.uniform(0.5, 3.0, (500, 1)))  # any length: same pixel
    assert np.allclose(uu, u, atol=1e-9) and np.allclose(vv, v, atol=1e-9)
    assert np.allclose(plate_uv(plate, d)[2], 1.0)  # w = 1: eye + d * depth is the pixel's point
    p = unproject(plate, u * 160, v * 90, np.full(500, 7.0))
    rel = p - [0.0, 2.0, 0.0]
    measure = {"perspective": -rel[:, 2], "cylindrical": np.hypot(rel[:, 0], rel[:, 2]),
               "equirectangular": np.linalg.norm(rel, axis=1)}[camera.projection]
    assert np.allclose(measure, 7.0)


def test_projection_conventions():
    cyl = hs.Plate(image=np.zeros((64, 512, 3), np.uint8), camera=cyl_camera())
    u, v, w = plate_uv(cyl, np.array([[0, 0, -1.0], [1.0, 0, 0], [0, 0, 1.0], [-2.0, 0.0, 0.0]]))
    assert np.allclose(u, [0.5, 0.75, 0.0, 0.25]) and np.allclose(v, 0.5) and np.allclose(w, [1, 1, 1, 2])
    # Rows are a pinhole's: tan(20 degrees) above the horizon is the top edge at every azimuth.
    top = plate_uv(cyl, np.array([[0.0, math.tan(math.radians(20)), -1.0], [3.0, 3 * math.tan(math.radians(20)), 0]]))[1]
    assert np.allclose(top, 0.0)
    eq = hs.Plate(image=np.zeros((64, 128, 3), np.uint8),
                  camera=hs.PlateCamera(fov_y=180.0, height=2.0, horizon=0.5, projection="equirectangular", fov_x=360.0))
    assert np.allclose(plate_uv(eq, np.array([[0.0, 1.0, 0.0], [0.0, -1, 1e-9]]))[1], [0.0, 1.0])


def test_the_360_plate_joins_at_its_edges(pano):
    img = pano.image.astype(int)
    seam = np.abs(img[:, 0] - img[:, -1]).mean()
    neighbours = np.abs(img[:, 1:] - img[:, :-1]).mean(axis=(0, 2))
    assert seam <= np.percentile(neighbours, 90)
    assert pano.camera.full_turn and pano.camera.projection == "cylindrical"
    sky = ~np.isfinite(pano.depth)
    assert (sky[:, 0] == sky[:, -1]).mean() > 0.95  # the ridges' silhouette continues
    with pytest.raises(hs.ConfigError, match="cylindrical"):
        hs.procedural_plate(size=(64, 32), fov_x=90)


# -- on the GPU --------------------------------------------------------------------------------

@pytest.mark.gl
def test_a_full_turn_returns_to_the_first_frame_exactly(ctx, pano):
    first = render(ctx, hs.Scene(pano, camera=yawed(pano, 0.0)))
    again = render(ctx, hs.Scene(pano, camera=yawed(pano, 360.0)))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, render(ctx, hs.Scene(pano, camera=yawed(pano, 3.0))))


@pytest.mark.gl
def test_a_quarter_turn_pans_a_quarter_of_the_plate(ctx, pano):
    frame = render(ctx, hs.Scene(pano, camera=yawed(pano, 90.0))).astype(float)
    centre = frame[:, W // 2 - 1:W // 2 + 1].mean(axis=1)  # the frame's centre line: azimuth 90
    want = pano.image[:, 3 * PW // 4 - 1:3 * PW // 4 + 1].astype(float).mean(axis=1)  # u = 0.75
    other = pano.image[:, PW // 2 - 1:PW // 2 + 1].astype(float).mean(axis=1)
    assert np.abs(centre - want).mean() < 3.0
    assert np.abs(centre - other).mean() > 10.0


@pytest.mark.gl
def test_the_seam_is_filtered_like_any_other_column(ctx, pano):
    # A minified plate (trilinear filtering): the seam straight behind the camera looks like the
    # middle of the same plate rolled by half a turn, seen straight ahead.
    wide = hs.procedural_plate(size=(1024, 64), seed=1, fov_y=40.0, horizon=0.5, projection="cylindrical", fov_x=360)
    rolled = hs.Plate(image=np.roll(wide.image, 512, axis=1), camera=wide.camera)
    size = (48, 64)
    pixel = math.degrees(math.atan(math.tan(math.radians(20)) * 2 / size[1]))  # one pixel at the centre
    for shift in (0.0, pixel):  # the seam between two 2x2 pixel quads, then inside one
        behind = render(ctx, hs.Scene(wide, camera=yawed(wide, 180.0 + shift)), size).astype(int)
        ahead = render(ctx, hs.Scene(rolled, camera=yawed(rolled, shift)), size).astype(int)
        assert np.abs(behind - ahead).max() <= 2


@pytest.mark.gl
def test_occlusion_and_the_depth_pass_follow_the_cylinder(ctx, pano):
    yaw = 90.0
    cam = yawed(pano, yaw)
    # The depth pass: each pixel's plate depth through the projection (numpy), nearest texel.
    with hs.FrameRenderer(ctx, (W, H)) as r:
        passes = r.render_passes(hs.Scene(pano, camera=cam), 0.0, passes=("plate_depth",)).passes
    got = passes["plate_depth"]
    proj = cam.projection_matrix(W / H).astype(np.float64)
    xs = ((np.arange(W) + 0.5) / W * 2 - 1 + proj[0, 2]) / proj[0, 0]
    ys = (1 - (np.arange(H) + 0.5) / H * 2 + proj[1, 2]) / proj[1, 1]
    view = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], -1.0), -1)
    u, v, w = plate_uv(pano, view @ cam.view_matrix()[:3, :3].astype(np.float64))
    want = pano.depth[np.clip((v * PH).astype(int), 0, PH - 1), (u * PW).astype(int) % PW] / w
    same = np.isclose(got, want, rtol=1e-3) | (np.isinf(got) & np.isinf(want))
    assert same.mean() > 0.98
    assert np.isfinite(got).any() and np.isinf(got).any()
    # A red cube at half and at twice the ridge's depth, on the ray of a pixel inside a ridge.
    rows, cols = np.nonzero(np.isfinite(got[: H // 2 - 2]) & (got[: H // 2 - 2] < 3000))
    pick = np.argsort(np.abs(cols - W // 2) + np.abs(rows - H // 2))[0]
    r0, c0 = int(rows[pick]), int(cols[pick])
    d0 = float(got[r0, c0])
    ray = view[r0, c0] @ cam.view_matrix()[:3, :3].astype(np.float64)
    for factor, visible in ((0.5, True), (2.0, False)):
        scene = hs.Scene(pano, camera=cam, ambient=hs.AmbientLight(intensity=0.0))
        d = d0 * factor
        scene.add(hs.Mesh.cube(0.04 * d, color=(1.0, 0.0, 0.0), shading="unlit"), position=cam.position + ray * d)
        frame = render(ctx, scene).astype(int)
        red = (frame[..., 0] > 200) & (frame[..., 1] < 60) & (frame[..., 2] < 60)
        assert red[r0, c0] == visible and (red.sum() > 0) == visible


@pytest.mark.gl
def test_the_environment_of_a_360_plate_is_the_plate_all_round(ctx):
    from hybridscene.colors import linear_to_srgb
    from hybridscene.gpu.environment import EnvironmentRenderer

    # A smooth plate whose colour says its azimuth (red ahead, none behind; green to the right).
    phi = ((np.arange(PW) + 0.5) / PW - 0.5) * 2 * math.pi
    rows = (np.arange(PH) + 0.5) / PH
    lin = np.zeros((PH, PW, 3))
    lin[..., 0] = 0.5 + 0.45 * np.cos(phi)[None, :]
    lin[..., 1] = 0.5 + 0.45 * np.sin(phi)[None, :]
    lin[..., 2] = 0.2 + 0.6 * rows[:, None]
    image = np.round(linear_to_srgb(lin) * 255).astype(np.uint8)
    plate = hs.Plate(image=image, camera=cyl_camera())
    renderer = EnvironmentRenderer(ctx, size=(256, 128), levels=2, samples=8)
    try:
        env = renderer.from_plate(plate)
    finally:
        renderer.release()
    for az in (0.0, 90.0, 180.0, -135.0):  # behind the camera too: the plate, not a mirror image
        for v in (0.3, 0.5, 0.7):
            d = plate_directions(plate, 0.5 + az / 360.0, v)
            a = math.radians(az)
            want = (0.5 + 0.45 * math.cos(a), 0.5 + 0.45 * math.sin(a), 0.2 + 0.6 * v)
            assert np.allclose(env.radiance(d / np.linalg.norm(d)), want, atol=0.02), (az, v)


def test_light_estimation_finds_the_painted_sun_round_the_turn():
    plate = hs.procedural_plate(size=(512, 128), seed=0, fov_y=60.0, horizon=0.6, projection="cylindrical",
                                fov_x=360)  # seed 0: a morning sun, low enough to be in the picture
    want = np.asarray(plate.meta["sun_direction"])
    bare = hs.Plate(image=plate.image, camera=plate.camera)  # no metadata: estimated from the pixels
    got = np.asarray(estimate_light(bare)["sun_direction"])
    azimuth = lambda d: math.degrees(math.atan2(d[0], -d[2]))  # noqa: E731
    off = (azimuth(got) - azimuth(want) + 180.0) % 360.0 - 180.0
    assert abs(off) < 8.0
    assert got[1] < 0  # the light travels down


def test_perspective_camera_from_a_360_plate_and_no_relief(pano):
    cam = hs.PerspectiveCamera.from_plate(pano)
    assert cam.fov_y == pytest.approx(40.0)
    assert np.allclose(cam.position, (0.0, 4.0, 0.0)) and np.allclose(cam.target, (0.0, 4.0, -1.0))
    from hybridscene.scene.view import uses_parallax

    moved = hs.PerspectiveCamera.from_plate(pano, position=(1.0, 4.0, 0.0), target=(1.0, 4.0, -1.0))
    assert not uses_parallax("auto", pano, moved) and not uses_parallax(True, pano, moved)
    eq = hs.Plate(image=np.zeros((32, 64, 3), np.uint8),
                  camera=hs.PlateCamera(fov_y=180.0, height=1.5, horizon=0.5, projection="equirectangular", fov_x=360.0))
    assert hs.PerspectiveCamera.from_plate(eq).fov_y == pytest.approx(60.0)


@pytest.mark.gl
def test_the_reflection_catcher_mirrors_in_a_360_plates_water(ctx):
    cam = cyl_camera(fov_y=50.0)
    u = (np.arange(PW) + 0.5) / PW
    water = np.zeros((PH, PW), np.float32)
    water[PH // 2:, np.abs(u - 0.75) < 0.04] = 1.0  # a pond round azimuth 90 degrees, dry elsewhere
    plate = hs.Plate(image=np.full((PH, PW, 3), 120, np.uint8), camera=cam, water=water)
    size = (160, 120)

    def frame(azimuth, reflections, moved=False):
        scene = hs.Scene(plate, shadows=False, reflections=reflections, camera=yawed(plate, azimuth))
        if moved:  # a camera off the plate's centre: the water moves with the ground
            scene.camera.position = scene.camera.position + np.array([0.3, 0.4, 0.0])
            scene.camera.target = scene.camera.target + np.array([0.3, 0.4, 0.0])
        a = math.radians(azimuth)
        scene.add(hs.Mesh.sphere(0.5, color="#ff2020", shading="unlit"), position=(10 * math.sin(a), 0.5, -10 * math.cos(a)))
        return render(ctx, scene, size).astype(int)

    for moved in (False, True):
        wet, plain = frame(90.0, None, moved), frame(90.0, False, moved)
        foot = int(np.nonzero(plain[:, 80, 0] - plain[:, 80, 2] > 100)[0].max())  # the sphere's lowest row
        below = slice(foot + 2, foot + 7)
        red = wet[below, 78:82, 0] - wet[below, 78:82, 2]
        assert (red > plain[below, 78:82, 0] - plain[below, 78:82, 2] + 30).all(), moved
    assert np.array_equal(frame(-90.0, None), frame(-90.0, False))  # on dry ground: no mirror image


@pytest.mark.gl
def test_the_shadow_catcher_darkens_a_360_plates_ground_where_the_plate_shows_it(ctx):
    # Flat ground all round, and a wall 5 m out at azimuths 80..100 degrees (below the horizon).
    cam = cyl_camera()
    f = (PH / 2) / math.tan(math.radians(20))
    rows = np.arange(PH)[:, None] + 0.5
    depth = np.where(rows > PH / 2, f * cam.height / np.maximum(rows - PH / 2, 1e-6), np.inf) * np.ones((1, PW))
    azimuth = ((np.arange(PW) + 0.5) / PW - 0.5) * 360
    depth[:, np.abs(azimuth - 90) < 10] = np.where(rows > PH / 2 - 2, 5.0, np.inf)
    plate = hs.Plate(image=np.full((PH, PW, 3), 120, np.uint8), camera=cam, depth=depth.astype(np.float32))

    def shadow(az):
        a = math.radians(az)
        scene = hs.Scene(plate, camera=yawed(plate, az), sun=hs.DirectionalLight(direction=(0.0, -1.0, 0.0)),
                         shadows=hs.ShadowCatcher(strength=0.8, softness=0.05, contact=0.0))
        scene.add(hs.Mesh.cube(1.0, color=(1.0, 0.0, 0.0), shading="unlit"),
                  position=(12 * math.sin(a), 1.5, -12 * math.cos(a)))  # 12 m out, 1 m above the ground
        with hs.FrameRenderer(ctx, (W, H)) as r:
            return r.render_passes(scene, 0.0, passes=("shadow",)).passes["shadow"]

    row = int(H / 2 + f * cam.height / 12.0)  # the ground under the cube, 12 m out, 2 m below the eye
    open_ground = shadow(-90.0)
    assert open_ground[row, W // 2 - 2:W // 2 + 2].max() < 0.5
    assert open_ground[:, :W // 4].min() == 1.0 and open_ground[: H // 2].min() == 1.0  # lit beside it, above
    assert shadow(90.0).min() == 1.0  # the wall in front hides the ground there, and its shadow




@pytest.mark.gl
@pytest.mark.parametrize("to_360", [True, False])
def test_a_cross_fade_between_a_perspective_and_a_360_plate(ctx, pano, to_360):
    flat = hs.procedural_plate(size=(W, H), seed=2, fov_y=40.0, camera_height=4.0, horizon=0.5)
    first, second = (flat, pano) if to_360 else (pano, flat)
    scene = hs.Scene(first, camera=yawed(pano, 0.0))
    with hs.FrameRenderer(ctx, (W, H)) as r:
        before = r.render_frame(scene, 0.0).astype(float)
        scene.set_plate(second, crossfade=2.0)
        r.render_frame(scene, 0.0)  # the fade starts at this frame's time
        middle = r.render_frame(scene, 1.0).astype(float)
        after = r.render_frame(scene, 3.0).astype(float)
    alone = render(ctx, hs.Scene(second, camera=yawed(pano, 0.0))).astype(float)
    assert np.abs(after - alone).max() <= 1
    assert np.abs(middle - before).mean() > 3 and np.abs(middle - alone).mean() > 3
    between = np.abs(middle - before) + np.abs(middle - alone)
    assert (between <= np.abs(before - alone) + 2).mean() > 0.99  # every pixel between the two plates


@pytest.mark.gl
def test_an_equirectangular_plate_is_seen_along_each_pixels_ray(ctx):
    from hybridscene.colors import linear_to_srgb, srgb_to_linear

    # A smooth sphere of colour: red says the azimuth, green the elevation.
    ew, eh = 256, 128
    az = ((np.arange(ew) + 0.5) / ew - 0.5) * 2 * math.pi
    el = (0.5 - (np.arange(eh) + 0.5) / eh) * math.pi
    lin = np.zeros((eh, ew, 3))
    lin[..., 0] = 0.5 + 0.4 * np.sin(az)[None, :]
    lin[..., 1] = 0.5 + 0.4 * np.sin(el)[:, None]
    lin[..., 2] = 0.3
    camera = hs.PlateCamera(fov_y=180.0, height=1.5, horizon=0.5, projection="equirectangular", fov_x=360.0)
    plate = hs.Plate(image=np.round(linear_to_srgb(lin) * 255).astype(np.uint8), camera=camera)
    cam = hs.PerspectiveCamera.from_plate(plate)
    for yaw, pitch in ((0.0, 0.0), (120.0, 30.0), (-100.0, -50.0)):
        a, p = math.radians(yaw), math.radians(pitch)
        cam.target = cam.position + np.array([math.cos(p) * math.sin(a), math.sin(p), -math.cos(p) * math.cos(a)])
        frame = render(ctx, hs.Scene(plate, camera=cam), size=(64, 64))
        centre = srgb_to_linear(frame[31:33, 31:33].reshape(-1, 3).mean(0) / 255.0)
        assert np.allclose(centre[:2], (0.5 + 0.4 * math.sin(a), 0.5 + 0.4 * math.sin(p)), atol=0.02), (yaw, pitch)


def test_placing_objects_on_a_360_plates_ground_says_it_is_not_supported(pano):
    with pytest.raises(hs.SceneError, match="cylindrical plate's ground is not supported"):
        hs.Randomizer(seed=0).ground_point(pano)
