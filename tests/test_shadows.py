"""The shadow catcher: shadows darken the plate under objects, and nowhere else."""

import numpy as np
import pytest

import hybridscene as hs
from conftest import linear_to_srgb8, srgb_to_linear

pytestmark = pytest.mark.gl

W, H = 160, 120
GREY = (150, 150, 150)
CAMERA = hs.PlateCamera(fov_y=50.0, height=2.0, horizon=0.5)
F = (H / 2) / np.tan(np.radians(25))


def ground_pixel(x, z):
    """(row, col) where the ground point (x, 0, z) appears for CAMERA."""
    d = -z
    return int(H * CAMERA.horizon + F * CAMERA.height / d), int(W / 2 + F * x / d)


def scene_with_cube(plate=None, **scene_kw):
    plate = plate or hs.Plate(image=np.full((H, W, 3), GREY, np.uint8), camera=CAMERA)
    scene = hs.Scene(plate, sun=hs.DirectionalLight(direction=(0, -1, 0)), **scene_kw)
    scene.add(hs.Mesh.cube(0.8, color="#ff0000"), position=(0.0, 1.2, -6.0))
    return scene


def render(ctx, scene):
    with hs.FrameRenderer(ctx, (W, H)) as r:
        return r.render_frame(scene, 0.0).astype(int)


def test_shadow_darkens_the_plate_under_the_object_and_nowhere_else(ctx):
    scene = scene_with_cube()
    assert scene.shadows is not None and scene.shadows.strength == 0.6  # on by default: the plate has a camera
    frame = render(ctx, scene)
    r, c = ground_pixel(0.0, -6.0)
    expected = linear_to_srgb8(srgb_to_linear(GREY[0] / 255) * (1 - 0.6))
    assert np.abs(frame[r, c] - expected).max() <= 2, (frame[r, c], expected)
    # The shadow is a patch of about the cube's footprint; outside it the plate is untouched.
    greyish = (np.abs(frame[..., 0] - frame[..., 1]) < 6) & (np.abs(frame[..., 1] - frame[..., 2]) < 6)
    dark = greyish & (frame[..., 0] < GREY[0])
    red = ~greyish  # the cube, including its anti-aliased edge
    rr, cc = ground_pixel(0.0, -6.4)  # far edge of the footprint
    assert dark[r, c] and dark[rr + 1, c]
    untouched = ~dark & ~red
    assert (frame[untouched] == GREY).all()
    ys, xs = np.nonzero(dark)
    r_near, _ = ground_pixel(0.0, -5.6)
    assert ys.max() <= r_near + 3 and ys.min() >= rr - 3  # within the footprint (+ soft edge)
    assert abs(xs.mean() - c) < 2


def test_shadow_edges_are_soft(ctx):
    frame = render(ctx, scene_with_cube(shadows=hs.ShadowCatcher(softness=0.3)))
    r, c = ground_pixel(0.0, -6.0)
    row = frame[r, :, 0]
    levels = set(row[(row < GREY[0]) & (row > row.min() + 2)].tolist())
    assert len(levels) >= 2  # intermediate values between lit and fully shadowed


def test_no_shadows_when_turned_off_or_unknown_ground(ctx):
    frame = render(ctx, scene_with_cube(shadows=False))
    r, c = ground_pixel(0.0, -6.0)
    assert frame[r, c].tolist() == list(GREY)
    no_camera = hs.Plate(image=np.full((H, W, 3), GREY, np.uint8))
    assert hs.Scene(no_camera).shadows is None


def test_the_plate_in_front_of_the_ground_keeps_its_light(ctx):
    # A plate whose depth says the left half is a wall 3 m away: the ground point 6 m away is
    # behind it there, so the shadow (cast across the whole width) shows only on the right half.
    depth = np.full((H, W), np.inf, np.float32)
    rows = np.arange(H)[:, None] + 0.5
    ground = np.where(rows > H / 2, F * CAMERA.height / np.maximum(rows - H / 2, 1e-6), np.inf)
    depth[:] = ground
    depth[:, : W // 2] = np.minimum(depth[:, : W // 2], 3.0)
    plate = hs.Plate(image=np.full((H, W, 3), GREY, np.uint8), depth=depth, camera=CAMERA)
    scene = hs.Scene(plate, sun=hs.DirectionalLight(direction=(0, -1, 0)))
    scene.add(hs.Mesh.cube(1.0, color="#ff0000"), position=(0.0, 1.2, -6.0), scale=(8.0, 0.1, 1.0))
    frame = render(ctx, scene)
    r, _ = ground_pixel(0.0, -6.0)
    assert (frame[r, W // 2 + 5 : W - 20] < GREY[0] - 20).all()
    assert (frame[r, 20 : W // 2 - 5] == GREY).all()


def test_shadow_catcher_validates():
    with pytest.raises(hs.SceneError, match="strength must be in 0..1"):
        hs.ShadowCatcher(strength=1.5)
    with pytest.raises(hs.SceneError, match="softness must be >= 0 metres"):
        hs.ShadowCatcher(softness=-1)
    with pytest.raises(hs.SceneError, match="resolution"):
        hs.ShadowCatcher(resolution=10)


def contact_scene(sun=(0, -1, 0), y=0.4, **catcher):
    plate = hs.Plate(image=np.full((H, W, 3), GREY, np.uint8), camera=CAMERA)
    scene = hs.Scene(plate, sun=hs.DirectionalLight(direction=sun), shadows=hs.ShadowCatcher(**catcher))
    scene.add(hs.Mesh.cube(0.8, color="#ff0000"), position=(0.0, y, -6.0))  # y = 0.4: resting on the ground
    return scene


def shadow_amount(ctx, scene):
    """(H, W) uint8 shadow amount on the plate (0 = lit), top row first."""
    with hs.FrameRenderer(ctx, (W, H)) as r:
        r.render_frame(scene, 0.0)
        return r.foreground.read_shadow().astype(int)


@pytest.mark.parametrize("sun", [(0, -1, 0), (0.3, 0.2, 0.93)], ids=["overhead", "below-the-horizon-behind"])
def test_contact_shadow_under_an_object_resting_on_the_ground(ctx, sun):
    beside, far = ground_pixel(0.45, -6.0), ground_pixel(1.5, -6.0)  # 5 cm and 1.1 m from the cube's side
    with_contact = shadow_amount(ctx, contact_scene(sun))
    without = shadow_amount(ctx, contact_scene(sun, contact=0.0))
    assert with_contact[beside] > without[beside] + 20
    assert with_contact[far] == 0 and without[far] == 0
    if sun[1] > 0:  # no sun shadow: only the contact shadow, around the footprint
        assert without.max() == 0
        ys, xs = np.nonzero(with_contact)
        r0, c0 = ground_pixel(-0.8, -6.0)
        r1, c1 = ground_pixel(0.8, -6.0)
        assert c0 - 2 <= xs.min() and xs.max() <= c1 + 2  # within contact_radius (+ a pixel) of the sides


def test_no_contact_shadow_under_an_object_high_above_the_ground(ctx):
    low_sun = (0.3, 0.2, 0.93)  # below the horizon: no sun shadow either
    assert shadow_amount(ctx, contact_scene(low_sun, y=2.0)).max() == 0
    # Within contact_radius of the ground, it darkens a little (less than when resting on it).
    touching = shadow_amount(ctx, contact_scene(low_sun))[ground_pixel(0.45, -6.0)]
    hovering = shadow_amount(ctx, contact_scene(low_sun, y=0.55))[ground_pixel(0.45, -6.0)]
    assert 0 < hovering < touching


def test_contact_shadow_validates():
    with pytest.raises(hs.SceneError, match="contact shadow strength must be in 0..1"):
        hs.ShadowCatcher(contact=2)
    with pytest.raises(hs.SceneError, match=r"contact shadow radius must be in \(0, 100\] metres"):
        hs.ShadowCatcher(contact_radius=0)


def test_a_cutout_material_casts_the_shadow_of_its_cutout(ctx):
    """A horizontal card 1.2 m up, its texture opaque on the left half only (alpha mode mask),
    the sun overhead: the ground under its left half is shadowed, under its right half not."""
    tex = np.full((4, 4, 4), 255, np.uint8)
    tex[:, 2:, 3] = 0
    shadows = {}
    for mode in ("mask", "opaque"):
        scene = hs.Scene(hs.Plate(image=np.full((H, W, 3), GREY, np.uint8), camera=CAMERA),
                         sun=hs.DirectionalLight(direction=(0, -1, 0)), shadows=hs.ShadowCatcher(softness=0.0, contact=0.0))
        card = hs.Mesh.plane(1.6, 1.6, color="white", shading="unlit", alpha_mode=mode, double_sided=True,
                             texture=hs.Texture(tex, filter="nearest", mipmaps=False, wrap="clamp"))
        scene.add(card, position=(0.0, 1.2, -6.0))
        with hs.FrameRenderer(ctx, (W, H)) as r:
            shadows[mode] = r.render_passes(scene, 0.0, passes="shadow").passes["shadow"]
    left, right = ground_pixel(-0.4, -6.0), ground_pixel(0.4, -6.0)
    # The pass is the light multiplier: 1 - strength (0.6) in full shadow, 1 in the light.
    assert shadows["mask"][left] == pytest.approx(0.4, abs=0.02) and shadows["mask"][right] == 1.0
    assert shadows["opaque"][left] == pytest.approx(0.4, abs=0.02) and shadows["opaque"][right] == pytest.approx(0.4, abs=0.02)


def test_closed_geometry_is_recognised():
    """`Geometry.closed`: the primitives are closed solids facing out; a card, an inside-out
    cube, a cube with a hole and a hollow box (its inner shell faces in) are not."""
    G = hs.Geometry
    for g in (G.cube(), G.sphere(), G.sphere(segments=7, rings=3), G.cylinder(), G.cone(), G.cylinder(segments=5)):
        assert g.closed
    cube = G.cube()
    assert not G.plane().closed
    assert not G(cube.positions, cube.normals, cube.indices[:, ::-1]).closed  # inside out
    assert not G(cube.positions, cube.normals, cube.indices[:-1]).closed  # a hole
    twice = np.vstack([cube.positions, cube.positions * 0.5])
    assert not G(twice, None, np.vstack([cube.indices, cube.indices[:, ::-1] + 24])).closed  # hollow
    assert G(twice, None, np.vstack([cube.indices, cube.indices + 24])).closed  # two shells, both out
    fin = np.vstack([cube.positions, [[0.5, 0.5, 0.0]], [[0.9, 0.9, 0.0]]])  # a third face on an edge
    assert not G(fin, None, np.vstack([cube.indices, [[0, 24, 25]]])).closed


def test_the_suns_map_skips_the_back_faces_of_closed_meshes_only(ctx, monkeypatch):
    """With a slanted sun: a turned, mirrored cube sunk into the ground and a sphere (closed)
    cast the same shadow with their back faces skipped as with every face drawn; a one-sided
    card facing away from the sun (open) still casts, which it would not if it were culled."""
    def shadow(closed):
        if closed is not None:
            monkeypatch.setattr(hs.Geometry, "closed", property(lambda self: closed))
        scene = hs.Scene(hs.Plate(image=np.full((H, W, 3), GREY, np.uint8), camera=CAMERA),
                         sun=hs.DirectionalLight(direction=(0.5, -1.0, 0.3)), shadows=hs.ShadowCatcher(softness=0.1))
        scene.add(hs.Mesh.cube(0.8, color="red"), position=(-0.2, 0.1, -6.0), scale=(-1.0, 1.0, 1.0),
                  rotation=hs.quat_from_euler(x=20, y=30))
        scene.add(hs.Mesh.sphere(0.4, color="white"), position=(1.2, 0.8, -7.0))
        card = hs.Mesh.plane(0.8, 0.8, color="blue")  # faces +Y: turned over, it faces the ground
        scene.add(card, position=(-1.6, 1.0, -5.0), rotation=hs.quat_from_euler(x=180))
        with hs.FrameRenderer(ctx, (W, H)) as r:
            return r.render_passes(scene, 0.0, passes="shadow").passes["shadow"]

    culled = shadow(None)
    drawn = shadow(False)  # nothing counts as closed: every face drawn
    assert np.array_equal(culled, drawn)
    under_card = ground_pixel(-1.6 + 0.5, -5.0 + 0.3)  # the sun's ray through the card meets the ground here
    assert culled[under_card] < 0.6
    assert shadow(True)[under_card] == 1.0  # the card culled as if it were closed: no shadow


def test_the_catcher_covers_each_shadow_with_a_few_fat_triangles_and_cuts_none_off(ctx, monkeypatch):
    """The catcher's polygon per mesh is a 16-sided outline around its convex hull cast on the
    ground (grown by the filter's reach): it holds every grown point, and the shadows (a sphere,
    a turned flat cylinder, a card) are those of the box-shaped polygons it replaced, within a
    level (the same shadow, interpolated over other triangles)."""
    from hybridscene.gpu import shadows

    rng = np.random.default_rng(3)
    for _ in range(50):
        pts, grow = rng.normal(size=(40, 2)) * rng.random(2) * 4, float(rng.random())
        poly = shadows._dop(pts, grow)
        grown = (pts[:, None] + grow * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])[None]).reshape(-1, 2)
        edge, rel = np.roll(poly, -1, axis=0) - poly, grown[:, None] - poly[None]
        assert poly.shape == (16, 2) and (edge[None, :, 0] * rel[..., 1] - edge[None, :, 1] * rel[..., 0] >= -1e-9).all()
    sphere, card = hs.Geometry.sphere(), hs.Geometry.plane()
    assert 8 < len(shadows._outline_points(sphere)) <= sphere.vertex_count and len(shadows._outline_points(card)) == 8

    def shadow():
        scene = hs.Scene(hs.Plate(image=np.full((H, W, 3), GREY, np.uint8), camera=CAMERA),
                         sun=hs.DirectionalLight(direction=(0.6, -1.0, 0.2)), shadows=hs.ShadowCatcher(softness=0.3))
        scene.add(hs.Mesh.sphere(0.5, color="white"), position=(-1.2, 0.9, -7.0))
        scene.add(hs.Mesh.cylinder(0.7, 0.1, color="gold"), position=(0.8, 1.2, -6.0), rotation=hs.quat_from_euler(x=50, y=30))
        scene.add(hs.Mesh.plane(0.6, 0.6, color="blue", double_sided=True), position=(0.0, 0.5, -5.0))
        with hs.FrameRenderer(ctx, (W, H)) as r:
            return r.render_passes(scene, 0.0, passes="shadow").passes["shadow"]

    tight = shadow()
    boxes = {}
    monkeypatch.setattr(shadows, "_outline_points", lambda g: boxes.setdefault(id(g), np.array(
        [[x, y, z] for x in (g.bounds[0][0], g.bounds[1][0]) for y in (g.bounds[0][1], g.bounds[1][1])
         for z in (g.bounds[0][2], g.bounds[1][2])], np.float64)))
    loose = shadow()
    assert (loose < 0.9).sum() > 300  # three shadows on the ground
    assert np.abs(tight - loose).max() <= 1.5 / 255


def test_the_suns_map_is_cleared_only_where_the_catcher_reads_it(ctx, monkeypatch):
    """The sun's map is cleared only under the catcher's parts, seen from the sun and widened by
    the filter's reach: under a quarter of the map for small casters far apart, yet every texel
    the catcher reads is one of them. A map whose every texel was left "in shadow" (depth 0)
    gives the same shadow as a fresh renderer's, with the softest and the sharpest filter, a
    contact shadow and a slanted sun; and the same as a map cleared whole."""
    from hybridscene.gpu import shadows

    def scene(softness):
        s = hs.Scene(hs.Plate(image=np.full((H, W, 3), GREY, np.uint8), camera=CAMERA),
                     sun=hs.DirectionalLight(direction=(0.6, -1.0, 0.25)), shadows=hs.ShadowCatcher(softness=softness))
        s.add(hs.Mesh.sphere(0.3, color="white"), position=(-1.6, 1.0, -7.0))
        s.add(hs.Mesh.cube(0.4, color="red"), position=(1.4, 0.2, -5.0), rotation=hs.quat_from_euler(y=30))  # resting
        s.add(hs.Mesh.plane(0.5, 0.5, color="blue", double_sided=True), position=(0.2, 1.5, -9.0))
        return s

    seen = []
    regions = shadows._map_regions
    monkeypatch.setattr(shadows, "_map_regions", lambda *a: seen.append(regions(*a)) or seen[-1])
    for softness in (0.0, 0.1, 0.6):
        with hs.FrameRenderer(ctx, (W, H)) as r:
            fresh = r.render_passes(scene(softness), 0.0, passes="shadow").passes["shadow"]
        assert (fresh > 0.2).sum() > 60  # the three shadows and the contact one
        side = scene(softness).shadows.resolution
        cleared = sum(w * h for _, _, w, h in seen[-1]) / side**2
        assert 0 < cleared < (0.25 if softness <= 0.1 else 1.0), (softness, seen[-1])
        with hs.FrameRenderer(ctx, (W, H)) as r:
            r.render_passes(scene(softness), 0.0, passes="shadow")
            sp = r.scene_renderer.shadows
            sp._shadow_fbo_obj.clear(depth=0.0)  # every texel "in shadow" ...
            sp._sun_key = None  # ... and the map drawn again: only its regions are cleared
            stale = r.render_passes(scene(softness), 0.0, passes="shadow").passes["shadow"]
        assert np.array_equal(stale, fresh), softness
    monkeypatch.setattr(shadows, "_map_regions", lambda vp, parts, side, soft: ((0, 0, side, side),))
    with hs.FrameRenderer(ctx, (W, H)) as r:
        whole = r.render_passes(scene(0.6), 0.0, passes="shadow").passes["shadow"]
    assert np.array_equal(whole, fresh)
