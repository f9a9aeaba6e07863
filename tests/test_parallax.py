"""Parallax: a plate with depth drawn as a displaced surface once the camera moves."""

from __future__ import annotations

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.plate.projection import plate_from_direction
from hybridscene.plate.relief import back_layer, relief_mesh, sky_filled
from hybridscene.scene.view import uses_parallax

W, H = 160, 120
FOV = 60.0
HEIGHT = 2.0
F = (H / 2) / np.tan(np.radians(FOV) / 2)  # focal length in pixels
RED, BLUE, SKY = (220, 30, 30), (30, 60, 220), (150, 190, 240)


def layered_plate():
    """Sky above the horizon (row 60), a red 'wall' 10 m out in columns 60..99 below it, a blue
    'far land' 1000 m out everywhere else below it."""
    image = np.empty((H, W, 3), np.uint8)
    depth = np.full((H, W), np.inf, np.float32)
    image[:] = SKY
    image[60:] = BLUE
    depth[60:] = 1000.0
    image[60:, 60:100] = RED
    depth[60:, 60:100] = 10.0
    cam = hs.PlateCamera(fov_y=FOV, height=HEIGHT, horizon=0.5)
    return hs.Plate(image=image, depth=depth, camera=cam, source="array")


def red_columns(frame, row=90):
    return np.flatnonzero((frame[row, :, 0] > 150) & (frame[row, :, 2] < 100))


def test_relief_mesh_follows_the_depth_and_never_spans_a_discontinuity():
    plate = layered_plate()
    verts, tris = relief_mesh(plate, max_columns=40)  # coarse cells of 4 px, per-pixel at edges
    k = plate_from_direction(plate)
    q = (verts - np.array([0.0, HEIGHT, 0.0])) @ k.T
    w = q[:, 2]  # depth along the plate camera's axis
    assert tris.dtype == np.uint32 and tris.max() < len(verts) and len(tris) > 0
    u, v = q[:, 0] / np.where(w > 0, w, 1), q[:, 1] / np.where(w > 0, w, 1)
    used = np.zeros(len(verts), bool)
    used[tris.reshape(-1)] = True
    assert np.all(w[used] > 0)
    inside = used & (u > -1e-6) & (u < 1 + 1e-6) & (v < 1 + 1e-6)
    # Beyond the image's edges, a skirt half the image wide (the edge stretched) ...
    outside = used & ~inside
    assert outside.any() and np.all((u[outside] > -0.5 - 1e-6) & (u[outside] < 1.5 + 1e-6) & (v[outside] < 1.5 + 1e-6))
    # ... and nothing reaches into the sky beyond one 4-pixel cell (the shader trims to the pixel).
    assert np.all(v[used] > (60 - 4) / H - 1e-6)
    depths = np.round(w, 3)
    assert set(depths[inside].tolist()) == {10.0, 1000.0}
    # The wall keeps its silhouette to the pixel (its edges may reach half-way to the next
    # pixel centre, flattened onto it) ...
    col = u * W
    wall = inside & (depths == 10.0)
    assert col[wall].min() >= 59.5 - 1e-3 and col[wall].max() <= 100.5 + 1e-3
    assert not np.any(inside & (depths == 1000.0) & (col > 60.5) & (col < 99.5))
    # ... and no triangle joins the wall to the land behind it (no stretched "rubber sheet").
    in_image = inside[tris].all(axis=1)
    tri_depths = depths[tris[in_image]]
    assert np.all(tri_depths.min(axis=1) == tri_depths.max(axis=1))


def test_back_layer_continues_the_far_land_under_the_wall():
    plate = layered_plate()
    image, depth, verts, tris = back_layer(plate)
    assert len(tris) > 0 and image.shape == plate.image.shape
    # Next to both edges of the wall (16 px bands), the back layer shows the far land.
    np.testing.assert_array_equal(depth[90, 60:76], 1000.0)
    np.testing.assert_array_equal(depth[90, 84:100], 1000.0)
    assert np.all(image[90, 60:76] == BLUE) and np.all(image[90, 84:100] == BLUE)
    # Elsewhere it is the plate.
    np.testing.assert_array_equal(image[:, :58], plate.image[:, :58])
    np.testing.assert_array_equal(depth[:, 102:], plate.depth[:, 102:])


def test_sky_filled_continues_the_sky_behind_the_land():
    plate = layered_plate()
    image = plate.image.copy()
    image[:60, :, 1] = np.arange(W) % 200  # a sky that varies per column
    plate = hs.Plate(image=image, depth=plate.depth, camera=plate.camera)
    filled = sky_filled(plate, margin=2)
    assert filled.shape == image.shape and filled.dtype == np.uint8
    np.testing.assert_array_equal(filled[:60], image[:60])  # the sky itself is kept
    # Every land pixel takes the sky colour two rows above the silhouette, in its column.
    np.testing.assert_array_equal(filled[60:], np.broadcast_to(image[57], (60, W, 3)))


def test_auto_parallax_switches_on_when_the_camera_leaves_the_plate_camera():
    plate = layered_plate()
    cam = hs.PerspectiveCamera.from_plate(plate)
    assert not uses_parallax("auto", plate, cam)
    assert uses_parallax(True, plate, cam)
    cam.position = (0.5, HEIGHT, 0.0)
    assert uses_parallax("auto", plate, cam)
    assert not uses_parallax(False, plate, cam)
    flat = hs.Plate(image=plate.image, camera=plate.camera)  # no depth: no surface
    assert not uses_parallax(True, flat, cam)
    assert not uses_parallax(True, plate, hs.OrthographicCamera())


def test_bad_parallax_value_is_named():
    with pytest.raises(hs.SceneError, match="parallax must be 'auto', True or False, got 'yes'"):
        hs.Scene(layered_plate(), parallax="yes")
    with pytest.raises(hs.SceneError, match="got 1"):
        hs.Scene(layered_plate()).parallax = 1


@pytest.mark.gl
def test_surface_at_the_plate_camera_matches_the_flat_mapping(ctx):
    plate = hs.procedural_plate(size=(320, 180), seed=1)
    scene = hs.Scene(plate, shadows=False)
    with hs.FrameRenderer(ctx, (320, 180), samples=1) as r:
        flat = r.render_frame(scene, 0.0).astype(int)
        scene.parallax = True
        surface = r.render_frame(scene, 0.0).astype(int)
    diff = np.abs(flat - surface).max(axis=2)
    assert (diff > 2).mean() < 0.002, f"{(diff > 2).sum()} pixels differ by more than 2 levels"


@pytest.mark.gl
def test_moving_sideways_slides_the_near_wall_over_the_far_land(ctx):
    plate = layered_plate()
    scene = hs.Scene(plate, shadows=False)
    with hs.FrameRenderer(ctx, (W, H), samples=1) as r:
        rest = r.render_frame(scene, 0.0)
        assert red_columns(rest).tolist() == list(range(60, 100))
        # One metre to the right, looking parallel: the wall (10 m) moves F / 10 px left, the far
        # land (1000 m) F / 1000 px (a tenth of a pixel).
        scene.camera.position = (1.0, HEIGHT, 0.0)
        scene.camera.target = (1.0, HEIGHT, -1.0)
        moved = r.render_frame(scene, 0.0)
    shift = F / 10.0
    cols = red_columns(moved)
    assert abs(cols[0] - (60 - shift)) <= 1 and abs(cols[-1] + 1 - (100 - shift)) <= 1
    # Where the wall was, the far land shows (blue), not a smear of the wall.
    right = int(np.ceil(100 - shift)) + 1
    assert np.all(np.abs(moved[90, right:99].astype(int) - BLUE).max(axis=1) <= 2)
    # The sky does not move (it is at infinity).
    np.testing.assert_allclose(moved[:55].astype(int), rest[:55].astype(int), atol=1)


@pytest.mark.gl
def test_occlusion_follows_the_displaced_surface(ctx):
    plate = layered_plate()
    scene = hs.Scene(plate, shadows=False)
    # A green cube 20 m out, behind the wall at the plate camera (wall: columns 60..99).
    scene.add(hs.Mesh.cube(1.0, color="#00ff00", shading="unlit"), position=(0.0, HEIGHT - 0.5, -20.0))
    with hs.FrameRenderer(ctx, (W, H), samples=1) as r:
        rest = r.render_frame(scene, 0.0)
        assert not np.any((rest[..., 1] > 200) & (rest[..., 0] < 80))  # hidden behind the wall
        assert not r.scene_renderer._projected  # the plate's depth map, through the base programs
        # Step 6 m left: the wall (10 m) slides right by F * 6 / 10 px, the cube (20 m) by half
        # that, so the cube comes out past the wall's left edge, in front of the far land.
        scene.camera.position = (-6.0, HEIGHT, 0.0)
        scene.camera.target = (-6.0, HEIGHT, -1.0)
        moved = r.render_frame(scene, 0.0)
        # ... now the relief's depth on screen, read by a compiled-in variant (no branch to both)
        assert {key[1] for key in r.scene_renderer._projected} == {"screen"}
        layers = r.render_layers(scene, 0.0)
    green = (moved[..., 1] > 200) & (moved[..., 0] < 80)
    assert green.sum() > 20
    cols = np.flatnonzero(green.any(axis=0))
    wall_left = 60 + F * 6 / 10
    assert cols.max() < wall_left + 1  # still cut off by the wall's edge
    # The layers carry the displaced surface's depth: the wall at 10 m, the land farther, sky inf.
    assert layers.plate_depth is not None
    row = 100
    wall = layers.plate_depth[row, int(wall_left) + 3: int(wall_left) + 20]
    np.testing.assert_allclose(wall, 10.0, rtol=1e-3)
    assert np.isinf(layers.plate_depth[5]).all()


@pytest.mark.gl
def test_crossfade_between_two_displaced_plates_mixes_in_linear_light(ctx):
    a = layered_plate()
    image = a.image.copy()
    image[60:, 60:100] = (30, 200, 30)  # the wall turns green on the second plate
    b = hs.Plate(image=image, depth=a.depth, camera=a.camera)
    scene = hs.Scene(a, shadows=False)
    scene.camera.position = (1.0, HEIGHT, 0.0)
    scene.camera.target = (1.0, HEIGHT, -1.0)
    with hs.FrameRenderer(ctx, (W, H), samples=1) as r:
        r.render_frame(scene, 0.0)
        scene.set_plate(b, crossfade=1.0)
        r.render_frame(scene, 0.5)  # the fade starts with the first frame after set_plate
        mid = r.render_frame(scene, 1.0)
        end = r.render_frame(scene, 1.6)
    col = int(80 - F / 10)  # the wall's middle after the move
    lin = ((np.array([RED, (30, 200, 30)]) / 255.0 + 0.055) / 1.055) ** 2.4
    want = np.round(255 * (1.055 * (lin.mean(axis=0)) ** (1 / 2.4) - 0.055))
    np.testing.assert_allclose(mid[90, col].astype(int), want, atol=2)
    np.testing.assert_array_equal(end[90, col], (30, 200, 30))


@pytest.mark.gl
def test_surface_is_prepared_in_the_background_while_the_camera_is_at_rest(ctx, monkeypatch):
    """The meshes (hundreds of ms for a large plate) are computed on a worker thread from the
    first frame at rest, so the frame where the camera starts to move only uploads them."""
    import threading

    from hybridscene.plate import relief_cache

    computed_on = []
    real = relief_cache.relief_geometry

    def recording(plate, **options):  # max_columns, tolerance
        computed_on.append(threading.current_thread().name)
        return real(plate, **options)

    monkeypatch.setattr(relief_cache, "relief_geometry", recording)
    plate = layered_plate()
    scene = hs.Scene(plate, shadows=False)
    with hs.FrameRenderer(ctx, (W, H), samples=1) as r:
        r.render_frame(scene, 0.0)  # at the plate's camera: drawn flat, surface not used yet
        future = r.parallax._geometry[1][plate]
        future.result(timeout=30)
        assert computed_on == ["hybridscene-parallax_0"]
        scene.camera.position = (1.0, HEIGHT, 0.0)
        scene.camera.target = (1.0, HEIGHT, -1.0)
        moved = r.render_frame(scene, 0.0)
        assert computed_on == ["hybridscene-parallax_0"]  # reused, not computed again
    assert len(red_columns(moved)) > 0 and red_columns(moved)[0] < 60 - 1  # the wall slid left
    flat = hs.Scene(plate, shadows=False, parallax=False)
    with hs.FrameRenderer(ctx, (W, H), samples=1) as r:
        r.render_frame(flat, 0.0)
        assert plate not in r.parallax._geometry.get(1, {})  # parallax off: nothing prepared


def test_a_relief_needs_depth_and_a_camera():
    plate = layered_plate()
    with pytest.raises(hs.PlateError, match=r"relief_mesh needs a plate with depth .* this plate has no depth"):
        relief_mesh(hs.Plate(image=plate.image, camera=plate.camera))
    with pytest.raises(hs.PlateError, match=r"back_layer needs .* this plate has no camera"):
        back_layer(hs.Plate(image=plate.image, depth=plate.depth))


def test_the_sky_is_filled_into_the_relief_so_the_compositor_reads_it_alone(ctx):
    """The relief's colour holds the backdrop where no triangle is drawn (alpha 1 everywhere),
    and the frame equals one composited over the backdrop, within one level (the half-float
    target)."""
    import dataclasses

    plate = layered_plate()
    scene = moved_scene(plate, behind=True)  # a mesh in the scene: the frame is composited
    with hs.FrameRenderer(ctx, (W, H), samples=1) as r:
        frame = r.render_frame(scene, 0.0)
        layer = r._plates[-1]
        assert layer.opaque and layer.relief is not None
        alpha = hs.gpu.read_pixels(layer.relief, gl_rows=True)[..., 3]
        assert np.all(alpha == 1.0)
        # The same relief drawn without the fill, composited over the backdrop.
        view = r.parallax.render(plate, r.compositor.plate_texture(plate), scene.camera, (W, H))
        assert not view.opaque and (hs.gpu.read_pixels(view.color, gl_rows=True)[..., 3] == 0).sum() > 1000  # the sky
        r.compositor.compose([dataclasses.replace(layer, relief=view.color, opaque=False)], r.output.fbo)
        plain = r.output.read()
    assert np.abs(frame.astype(int) - plain.astype(int)).max() <= 1
    assert (frame != plain).any(axis=2).mean() < 0.05


def moved_scene(plate, *, behind=False):
    """``plate`` seen from 1 m to the right and 0.5 m up; ``behind``: with a cube behind the
    camera (in the scene, never on screen)."""
    scene = hs.Scene(plate, shadows=False)
    scene.camera.position = (1.0, HEIGHT + 0.5, 0.0)
    scene.camera.target = (1.0, HEIGHT + 0.2, -1.0)
    if behind:
        scene.add(hs.Mesh.cube(0.2), position=(1.0, HEIGHT, 5.0))
    return scene


def test_a_relief_with_nothing_over_it_goes_straight_into_the_frame(ctx):
    """A scene with nothing but its plate: the relief is encoded into the frame itself, no
    layer and no compositing, and the frame is the composited one within one level (no
    half-float layer on the way) but for ties at the wall's edges; into a framebuffer of
    GL rows (a window) it is the same frame, upside down; passes still get the relief's
    depth."""
    plate = layered_plate()
    with hs.FrameRenderer(ctx, (W, H), samples=1) as r:
        composited = r.render_frame(moved_scene(plate, behind=True), 0.0)
        assert r._plates and r._relief is not None
        scene = moved_scene(plate)
        frame = r.render_frame(scene, 0.0)
        assert r._plates == [] and r._relief is None and r.composited is None  # drawn straight in
        window = ctx.mgl.framebuffer([ctx.mgl.texture((W, H), 4)])
        try:
            r.render_to(scene, window, t=0.0)
            in_window = hs.gpu.read_pixels(window, gl_rows=True)[..., :3]
        finally:
            window.release()
        passes = r.render_passes(scene, 0.0, passes=("plate", "plate_depth"))
    diff = np.abs(frame.astype(int) - composited.astype(int)).max(axis=2)
    assert (diff > 1).sum() <= 2 * H // 10, (diff > 1).sum()
    assert red_columns(frame).tolist() == red_columns(composited).tolist()  # the wall where it was
    np.testing.assert_array_equal(in_window, frame)
    np.testing.assert_array_equal(passes.frame, composited)  # the passes' frame goes through the layers
    depth = passes.passes["plate_depth"]
    assert np.isinf(depth[10]).all() and 10.0 < depth[90, red_columns(composited)[2]] < 13.0  # the wall, seen from above


def test_a_coarse_relief_draws_frames_below_full_size_with_far_fewer_triangles(ctx):
    """``lod`` 2 (the preview's frames at 0.6 of full size and below): the relief is built from
    the plate reduced twice on each side, with a fraction of the triangles, and draws the same
    picture at half size but for its depth edges, followed to two plate pixels; the renderer
    draws full detail until the coarse relief is computed, then switches to it."""
    import concurrent.futures

    from hybridscene.plate.relief import coarse_plate, relief_geometry

    plate = layered_plate()
    assert coarse_plate(plate, 3) is plate  # 3 divides neither side: full detail
    mountains = hs.background_plate((320, 180), seed=1)
    half = coarse_plate(mountains, 2)
    assert half.size == (160, 90) and half.camera == mountains.camera
    np.testing.assert_array_equal(half.depth, mountains.depth.reshape(90, 2, 160, 2).min(axis=(1, 3)))  # the nearest
    mean = mountains.image.reshape(90, 2, 160, 2, 3).mean(axis=(1, 3))
    assert np.abs(half.image - mean).max() <= 0.5 and np.isinf(half.depth).any()
    full, coarse = relief_geometry(mountains), relief_geometry(mountains, lod=2)
    count = lambda g: len(g.indices) + len(g.back_indices)  # noqa: E731
    assert count(coarse) < 0.45 * count(full), (count(coarse), count(full))
    np.testing.assert_array_equal(coarse.backdrop, full.backdrop)
    scene = moved_scene(plate, behind=True)  # (the layered path, whose occlusion depth the relief also writes)
    frames = {}
    for lod in (1, 2):
        with hs.FrameRenderer(ctx, (W // 2, H // 2), samples=1) as r:
            r.parallax.lod = lod
            r.parallax.prefetch(plate).result(timeout=30)
            frames[lod] = r.render_frame(scene, 0.0)
            assert r.parallax._meshes[plate][0] == lod
            if lod == 2:  # a renderer switching to lod 2 keeps drawing until the coarse relief is there
                for mesh in r.parallax._meshes.pop(plate)[1]:
                    mesh.release()
                r.parallax.prefetch(plate, 1).result(timeout=30)
                r.parallax._geometry[2][plate] = pending = concurrent.futures.Future()  # still computing
                np.testing.assert_array_equal(r.render_frame(scene, 0.0), frames[1])  # full detail meanwhile
                assert r.parallax._meshes[plate][0] == 1
                pending.set_result(relief_geometry(plate, lod=2))
                np.testing.assert_array_equal(r.render_frame(scene, 0.0), frames[2])
                assert r.parallax._meshes[plate][0] == 2
    wall = [red_columns(frames[lod], row=45).tolist() for lod in (1, 2)]
    assert len(wall[0]) > 5 and abs(len(wall[0]) - len(wall[1])) <= 1 and abs(wall[0][0] - wall[1][0]) <= 1
    diff = np.abs(frames[1].astype(int) - frames[2].astype(int)).max(axis=2)
    assert (diff > 2).mean() < 0.03, (diff > 2).mean()


def test_the_back_layer_draws_only_what_the_camera_can_uncover(ctx):
    """Each back-layer triangle knows how far the camera must move before it can show past its
    depth edge (`BackReveal`); a camera that moves a little draws a fraction of them, and the
    frame is the one with all of them drawn, wherever the camera goes."""
    import concurrent.futures
    import dataclasses
    import weakref

    from hybridscene.plate.relief import relief_geometry
    from hybridscene.plate.reveal import BackReveal

    plate = layered_plate()
    geo = relief_geometry(plate)
    reveal = geo.back_reveal
    assert isinstance(reveal, BackReveal) and len(reveal.keys) == len(geo.back_indices)
    land = geo.back_land
    for group in (reveal.keys[:land], reveal.keys[land:]):
        assert np.all(np.diff(group) >= 0)  # each group sorted: a frame draws a prefix of each
    assert reveal.near == pytest.approx(10.0) and reveal.reach(np.zeros(3)) == 0.0
    assert np.isinf(reveal.reach(np.array([0.0, 0.0, -3.0])))  # past a quarter of the way to the wall: all
    small, large = (reveal.counts(land, np.array([dx, 0.0, 0.0])) for dx in (0.05, 1.0))
    assert 0 < sum(small) < sum(large) and sum(small) < 0.6 * len(reveal.keys), (small, large, len(reveal.keys))
    everything = dataclasses.replace(geo, back_reveal=None)
    frames = {}
    for name, g in (("all", everything), ("reveal", geo)):
        with hs.FrameRenderer(ctx, (W, H), samples=1) as r:
            done = concurrent.futures.Future()
            done.set_result(g)
            r.parallax._geometry[1] = weakref.WeakKeyDictionary({plate: done})
            for move in ((0.05, 0.0, 0.0), (0.4, 0.1, 0.0), (-1.0, 0.3, 0.0), (0.3, 0.0, -1.0), (0.5, 0.2, -2.4),
                         (1.5, 0.5, 2.0)):
                scene = hs.Scene(plate, shadows=False)
                scene.camera.position = (move[0], HEIGHT + move[1], move[2])
                scene.camera.target = (move[0], HEIGHT + move[1], move[2] - 100.0)
                frames[name, move] = r.render_frame(scene, 0.0)
    for (name, move), frame in frames.items():
        if name == "reveal":
            np.testing.assert_array_equal(frame, frames["all", move], err_msg=str(move))
    uncovered = frames["all", (0.4, 0.1, 0.0)]
    assert (np.abs(uncovered[90].astype(int) - BLUE).max(axis=1) < 8).sum() > 0  # the far land behind the wall shows


def test_culling_the_back_layer_opens_no_hole_on_random_plates(ctx):
    """Random plates of near boxes over far land, random camera moves and turns up to 0.3 of the
    way to the nearest edge: the frame with the back layer culled is the full back layer's
    (within 3 levels: back triangles that tie in depth may draw in another order). With the
    bound's margin cut to a twentieth, the same cases do open holes: the check can fail."""
    import concurrent.futures
    import dataclasses
    import weakref

    from hybridscene.plate.relief import relief_geometry
    from hybridscene.plate.reveal import BackReveal

    rng = np.random.default_rng(7)
    w, h = 200, 120
    yy, xx = np.mgrid[0:h, 0:w]
    cases = []
    for _ in range(8):
        image = np.empty((h, w, 3), np.uint8)
        depth = np.full((h, w), np.inf, np.float32)
        image[:] = SKY
        horizon = int(rng.integers(40, 70))
        image[horizon:] = BLUE
        depth[horizon:] = rng.uniform(200, 2000)
        for _ in range(int(rng.integers(1, 5))):
            x0, x1 = sorted(rng.integers(0, w, 2))
            box = (xx >= x0) & (xx < x1 + 5) & (yy >= int(rng.integers(horizon - 30, h - 10)))
            d = rng.uniform(4, 150)
            box &= depth > d
            depth[box], image[box] = d, rng.integers(0, 255, 3)
        image = np.clip(image.astype(int) + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)
        camera = hs.PlateCamera(fov_y=float(rng.uniform(40, 70)), height=float(rng.uniform(1, 5)), horizon=0.5)
        plate = hs.Plate(image=image, depth=depth, camera=camera)
        geo = relief_geometry(plate)
        moves = []
        for _ in range(4):
            t = rng.normal(size=3)
            t *= rng.uniform(0.01, 0.3) * geo.back_reveal.near / np.linalg.norm(t)
            moves.append((t, rng.normal(size=3) * 0.1 + (0.0, 0.0, -1.0)))
        cases.append((plate, geo, moves))

    def worst(safety):
        holes = 0
        old = BackReveal.SAFETY
        BackReveal.SAFETY = safety
        try:
            for plate, geo, moves in cases:
                renderers = []
                for g in (dataclasses.replace(geo, back_reveal=None), geo):
                    r = hs.FrameRenderer(ctx, (w, h), samples=1)
                    done = concurrent.futures.Future()
                    done.set_result(g)
                    r.parallax._geometry[1] = weakref.WeakKeyDictionary({plate: done})
                    renderers.append(r)
                for t, look in moves:
                    scene = hs.Scene(plate, shadows=False)
                    eye = (t[0], plate.camera.height + t[1], t[2])
                    scene.camera.position = eye
                    scene.camera.target = (eye[0] + look[0], eye[1] + look[1], eye[2] + 100.0 * look[2])
                    full, culled = (r.render_frame(scene, 0.0).astype(int) for r in renderers)
                    holes += int((np.abs(full - culled).max(axis=2) > 3).sum())
                for r in renderers:
                    r.release()
        finally:
            BackReveal.SAFETY = old
        return holes

    assert worst(BackReveal.SAFETY) == 0
    assert worst(BackReveal.SAFETY / 20) > 0
