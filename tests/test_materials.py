"""Physically based materials: metallic-roughness lit by the environment, textures and their
samplers, normal maps, alpha modes, exposure and tone curves (pixels)."""

import numpy as np
import pytest

import hybridscene as hs
from conftest import PLATE_RGB, linear_to_srgb8, srgb_to_linear
from hybridscene.colors import linear_to_srgb, tonemap
from hybridscene.scene.environment import Environment

pytestmark = pytest.mark.gl
SIZE = (96, 72)
CENTER = (36, 48)  # (row, column)


def render(ctx, scene, size=SIZE):
    with hs.FrameRenderer(ctx, size) as r:
        return r.render_frame(scene, 0.0).astype(int)


def scene_of(*, env=None, sun=0.0, sun_dir=(0.0, 0.0, -1.0), tonemap="none", exposure=0.0, plate=None):
    """Camera at z=5 looking at the origin over a solid plate; sun along ``sun_dir``."""
    return hs.Scene(
        plate if plate is not None else hs.Plate.solid(PLATE_RGB, SIZE),
        camera=hs.PerspectiveCamera(fov_y=40.0, position=(0, 0, 5), target=(0, 0, 0)),
        sun=hs.DirectionalLight(direction=sun_dir, color=(1.0, 1.0, 1.0), intensity=sun),
        environment=env if env is not None else Environment.uniform((0.0, 0.0, 0.0)),
        tonemap=tonemap, exposure=exposure, shadows=False,
    )


def grey(linear):
    """The sRGB-encoded colour of a grey of ``linear`` radiance."""
    return tuple(float(v) for v in linear_to_srgb(np.full(3, linear)))


def sphere_pixels(frame, radius_px):
    rows, cols = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    inside = (rows - CENTER[0]) ** 2 + (cols - CENTER[1]) ** 2 < radius_px**2
    return frame[inside], rows[inside] - CENTER[0]


def two_tone_environment(top=(0.1, 0.2, 0.9), bottom=(0.1, 0.7, 0.1)):
    """Blue above the horizon, green below (linear radiance), as an equirect."""
    img = np.zeros((64, 128, 3), np.float32)
    img[:32] = top
    img[32:] = bottom
    return Environment.from_equirect(img)


# -- the white furnace --------------------------------------------------------------------------
def test_white_furnace_diffuse_sphere_is_uniform_at_the_environment_value(ctx):
    scene = scene_of(env=Environment.uniform(grey(0.5)))
    scene.add(hs.Mesh.sphere(1.0, segments=64, rings=32, color="white", shading="lambert"))
    px, _ = sphere_pixels(render(ctx, scene), 17)
    expected = linear_to_srgb8(0.5)  # albedo 1 x irradiance / pi = 0.5 everywhere
    assert np.abs(px - expected).max() <= 1


def test_white_furnace_pbr_dielectric_conserves_energy_and_rough_metal_loses_the_split_sum_amount(ctx):
    scene = scene_of(env=Environment.uniform(grey(0.5)))
    scene.add(hs.Mesh.sphere(1.0, segments=64, rings=32, color="white", roughness=0.5))
    px, _ = sphere_pixels(render(ctx, scene), 17)
    lin = srgb_to_linear(px / 255.0)
    # A white dielectric: what the specular lobe takes the diffuse does not: exactly 0.5.
    assert np.abs(lin - 0.5).max() < 0.5 * 0.03

    scene = scene_of(env=Environment.uniform(grey(0.5)))
    scene.add(hs.Mesh.sphere(1.0, segments=64, rings=32, color="white", metallic=1.0, roughness=1.0))
    px, _ = sphere_pixels(render(ctx, scene), 17)
    lin = srgb_to_linear(px / 255.0)[:, 0]
    # Single-scattering GGX loses energy at roughness 1 (no multiple scattering): the split-sum
    # table's scale + bias at N.V = 1 (the sphere's centre) is the fraction kept, 0.307 by a
    # Monte-Carlo integral of the same BRDF (height-correlated Smith): a loss of about 69 %.
    from hybridscene.gpu.environment import EnvironmentRenderer

    with EnvironmentRenderer(ctx) as env:
        table = env.brdf_table()
    kept = float(table[-1, -1].sum())
    assert kept == pytest.approx(0.307, abs=0.015)
    centre = srgb_to_linear(render(ctx, scene)[CENTER][0] / 255.0)
    assert centre == pytest.approx(0.5 * kept, rel=0.05)
    assert lin.max() < 0.5 * 0.6  # darker than the furnace everywhere (0.41 kept at grazing angles)


# -- metals reflect, rough surfaces do not ------------------------------------------------------
def test_chrome_reflects_the_environment_and_a_rough_metal_does_not(ctx):
    env = two_tone_environment()
    scene = scene_of(env=env)
    scene.add(hs.Mesh.sphere(1.0, segments=64, rings=32, color="white", metallic=1.0, roughness=0.0))
    frame = render(ctx, scene)
    top, bottom = frame[CENTER[0] - 12, CENTER[1]], frame[CENTER[0] + 12, CENTER[1]]
    assert top[2] > top[1] + 60 and bottom[1] > bottom[2] + 60  # sky blue above, land green below
    # Stripes around the horizon: a mirror shows them, a rough metal blurs them away.
    img = np.zeros((64, 128, 3), np.float32)
    img[:, :] = (0.05, 0.05, 0.05)
    img[:, (np.arange(128) // 8) % 2 == 0] = (0.8, 0.8, 0.8)
    from hybridscene.gpu.environment import EnvironmentRenderer

    with EnvironmentRenderer(ctx) as builder:
        stripes = builder.from_equirect(img)
    spread = {}
    for roughness in (0.0, 1.0):
        scene = scene_of(env=stripes)
        scene.add(hs.Mesh.sphere(1.0, segments=64, rings=32, color="white", metallic=1.0, roughness=roughness))
        row = render(ctx, scene)[CENTER[0], CENTER[1] - 14:CENTER[1] + 15, 0]
        spread[roughness] = int(row.max() - row.min())
    assert spread[0.0] > 120 and spread[1.0] < 25


def test_a_chrome_ball_over_a_procedural_plate_shows_its_sky_above_and_its_land_below(ctx):
    plate = hs.procedural_plate("mountains", size=(160, 90), seed=3)
    cam = hs.PerspectiveCamera.from_plate(plate)
    scene = hs.Scene(plate, sun=hs.DirectionalLight(intensity=0.0), tonemap="none", shadows=False)
    fwd = np.asarray(cam.target, float) - np.asarray(cam.position, float)
    centre = np.asarray(cam.position, float) + 6.0 * fwd / np.linalg.norm(fwd)
    ball = scene.add(hs.Mesh.sphere(0.6, segments=64, rings=32, color="white", metallic=1.0, roughness=0.0), position=centre)
    with hs.FrameRenderer(ctx, plate.size) as r:
        frame = r.render_frame(scene, 0.0).astype(float)
        scene.root.remove(ball)
        empty = r.render_frame(scene, 0.0).astype(float)
    changed = np.abs(frame - empty).sum(axis=2) > 0
    rows, cols = np.nonzero(changed)
    r0, r1 = rows.min(), rows.max()
    mid = (r0 + r1) / 2
    upper = frame[changed & (np.arange(90)[:, None] < mid - 2)].mean(axis=0)
    lower = frame[changed & (np.arange(90)[:, None] > mid + 2)].mean(axis=0)
    image = plate.image.astype(float)
    horizon = int(round(plate.camera.horizon * 90))
    sky = image[: horizon - 5].reshape(-1, 3).mean(axis=0)
    land = image[horizon + 8:].reshape(-1, 3).mean(axis=0)
    assert np.linalg.norm(upper - sky) < np.linalg.norm(upper - land)
    assert np.linalg.norm(lower - land) < np.linalg.norm(lower - sky)
    assert upper.mean() > lower.mean() + 20  # the bright sky above, the darker land below


# -- textures -----------------------------------------------------------------------------------
def quad(material, *, uvs=None, uvs1=None):
    g = hs.Geometry([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], [[0, 0, 1]] * 4, [[0, 1, 2], [0, 2, 3]],
                    uvs=uvs if uvs is not None else [[0, 0], [1, 0], [1, 1], [0, 1]], uvs1=uvs1)
    return hs.Mesh(g, material)


def columns(frame, row=CENTER[0]):
    """The colours across the quad (it spans columns 28..68 at this size)."""
    return frame[row, 30:67:3]


@pytest.mark.parametrize("wrap, expected", [
    ("repeat", ["R", "G", "R", "G"]), ("mirror", ["R", "G", "G", "R"]), ("clamp", ["R", "G", "G", "G"]),
])
def test_texture_wrap_modes(ctx, wrap, expected):
    img = np.zeros((1, 2, 3), np.uint8)
    img[0, 0], img[0, 1] = (255, 0, 0), (0, 255, 0)
    tex = hs.Texture(img, wrap=wrap, filter="nearest", mipmaps=False)
    scene = scene_of()
    scene.add(quad(hs.Material(color="white", shading="unlit", texture=tex), uvs=[[0, 0], [2, 0], [2, 1], [0, 1]]))
    frame = render(ctx, scene)
    quarter = [frame[CENTER[0], c] for c in (33, 43, 53, 63)]  # the middle of each quarter of the quad
    names = ["R" if p[0] > 200 and p[1] < 50 else "G" if p[1] > 200 and p[0] < 50 else "?" for p in quarter]
    assert names == expected


def test_nearest_filter_is_sharp_and_linear_blends(ctx):
    img = np.zeros((1, 2, 3), np.uint8)
    img[0, 0], img[0, 1] = (255, 255, 255), (0, 0, 0)
    results = {}
    for filt in ("nearest", "linear"):
        scene = scene_of()
        scene.add(quad(hs.Material(color="white", shading="unlit",
                                   texture=hs.Texture(img, filter=filt, wrap="clamp", mipmaps=False))))
        results[filt] = columns(render(ctx, scene))[:, 0]
    assert set(results["nearest"].tolist()) <= {0, 255}
    assert ((results["linear"] > 10) & (results["linear"] < 245)).sum() >= 4


def test_texcoord_1_reads_the_second_uv_set(ctx):
    img = np.zeros((1, 2, 3), np.uint8)
    img[0, 0], img[0, 1] = (255, 0, 0), (0, 0, 255)
    left_only = [[0.1, 0.5]] * 4  # every vertex at the red texel
    for texcoord, expected in ((0, (0, 0, 255)), (1, (255, 0, 0))):
        tex = hs.Texture(img, filter="nearest", mipmaps=False, texcoord=texcoord, wrap="clamp")
        scene = scene_of()
        scene.add(quad(hs.Material(color="white", shading="unlit", texture=tex),
                       uvs=[[0.9, 0.5]] * 4, uvs1=left_only))
        assert render(ctx, scene)[CENTER].tolist() == list(expected)


def test_a_normal_map_tilts_the_shading_toward_where_it_points(ctx):
    """A quad facing the camera, the sun coming from the right: a normal map leaning right is
    brighter, one leaning left darker, a flat one the same as none."""
    sun = (-0.6, 0.0, -0.8)  # travels left and into the screen: light from the right
    values = {}
    for name, rgb in (("none", None), ("flat", (128, 128, 255)), ("right", (218, 128, 218)), ("left", (38, 128, 218))):
        mat = hs.Material(color="white", shading="lambert")
        if rgb is not None:
            mat.normal_texture = np.full((4, 4, 3), rgb, np.uint8)
        scene = scene_of(sun=1.0, sun_dir=sun)
        scene.add(quad(mat))
        values[name] = render(ctx, scene)[CENTER][0]
    expected = linear_to_srgb8(0.8)  # N.L of the plain quad
    assert abs(values["none"] - expected) <= 1 and abs(values["flat"] - values["none"]) <= 2
    assert values["right"] > values["none"] + 15 and values["left"] < values["none"] - 40


def test_emissive_texture_and_strength_and_occlusion_of_the_environment(ctx):
    scene = scene_of()
    emit = np.zeros((1, 2, 3), np.uint8)
    emit[0, 0] = (255, 0, 0)
    mat = hs.Material(color="black", emissive=grey(0.25), emissive_strength=2.0,
                      emissive_texture=hs.Texture(emit, filter="nearest", wrap="clamp", mipmaps=False))
    scene.add(quad(mat))
    frame = render(ctx, scene)
    assert np.abs(frame[CENTER[0], 33] - linear_to_srgb8([0.5, 0.0, 0.0])).max() <= 1
    assert frame[CENTER[0], 63].tolist() == [0, 0, 0]

    lit = {}
    for occlusion in (None, 0):
        scene = scene_of(env=Environment.uniform(grey(0.5)))
        mat = hs.Material(color="white", shading="lambert")
        if occlusion is not None:
            mat.occlusion_texture = np.full((2, 2, 3), 64, np.uint8)  # occlusion 0.25
            mat.occlusion_strength = 1.0
        scene.add(quad(mat))
        lit[occlusion] = srgb_to_linear(render(ctx, scene)[CENTER][0] / 255.0)
    assert lit[None] == pytest.approx(0.5, abs=0.01)
    assert lit[0] == pytest.approx(0.5 * 64 / 255, abs=0.01)


# -- alpha modes and sides ----------------------------------------------------------------------
def test_mask_cutouts_are_binary_and_blend_blends(ctx):
    ramp = np.zeros((1, 16, 4), np.uint8)
    ramp[..., :3] = 255
    ramp[0, :, 3] = np.linspace(0, 255, 16).astype(np.uint8)
    for mode in ("mask", "blend"):
        scene = scene_of()
        mat = hs.Material(color="white", shading="unlit", alpha_mode=mode, alpha_cutoff=0.5,
                          texture=hs.Texture(ramp, filter="nearest", wrap="clamp", mipmaps=False))
        scene.add(quad(mat))
        row = render(ctx, scene)[CENTER[0], 30:67, 0]
        if mode == "mask":
            assert set(row.tolist()) == {PLATE_RGB[0], 255}
            cut = np.argmax(row == 255)
            assert (row[cut:] == 255).all() and (row[:cut] == PLATE_RGB[0]).all()
            assert 14 <= cut <= 22  # alpha 0.5 is half way
        else:
            assert len(set(row.tolist())) >= 10  # graded
            assert (np.diff(row) >= 0).all()


def test_opaque_ignores_alpha_in_the_frame_and_in_the_passes(ctx):
    """alpha_mode "opaque" (glTF OPAQUE): neither the opacity nor the texture's alpha lets the
    plate through, and the object covers its pixels in the ids pass; "auto" with the same
    material blends."""
    from hybridscene.compose.frame import FrameRenderer

    ramp = np.zeros((1, 16, 4), np.uint8)
    ramp[..., :3] = 255
    ramp[0, :, 3] = np.linspace(0, 255, 16).astype(np.uint8)
    rows = {}
    for mode in ("opaque", "auto"):
        scene = scene_of()
        mat = hs.Material(color="white", shading="unlit", alpha_mode=mode, opacity=0.4,
                          texture=hs.Texture(ramp, filter="nearest", wrap="clamp", mipmaps=False))
        scene.add(quad(mat))
        rows[mode] = render(ctx, scene)[CENTER[0], 30:67, 0]
        with FrameRenderer(ctx, SIZE, samples=1) as r:
            ids = r.render_passes(scene, 0.0, passes="ids").passes["ids"]
        covered = ids[CENTER[0], 30:67] == 1
        assert covered.all() if mode == "opaque" else not covered[0]  # alpha 0 at the ramp's start
    assert (rows["opaque"] == 255).all(), rows["opaque"]
    assert rows["auto"][0] == PLATE_RGB[0] and rows["auto"].max() < 255  # blended: 0 .. 0.4 coverage


def test_blended_meshes_are_sorted_back_to_front(ctx):
    for order in (1, -1):
        scene = scene_of()
        items = [((0, 0, 1), "#ff0000"), ((0, 0, -1), "#0000ff")]  # red in front of blue
        for pos, color in items[::order]:
            scene.add(hs.Mesh.cube(1.0, color=color, opacity=0.5, shading="unlit", alpha_mode="blend"), position=pos)
        frame = render(ctx, scene)
        plate = srgb_to_linear(np.array(PLATE_RGB) / 255)
        layer = lambda colour, under: 0.5 * np.array(colour) + 0.5 * under  # noqa: E731
        # Blended cubes are two-sided without depth writes: each shows its back through its front.
        behind = layer([0, 0, 1.0], layer([0, 0, 1.0], plate))
        expected = linear_to_srgb8(layer([1.0, 0, 0], layer([1.0, 0, 0], behind)))
        assert np.abs(frame[CENTER] - expected).max() <= 1


def test_double_sided_shows_back_faces(ctx):
    shown = {}
    for double in (False, True):
        scene = scene_of()
        q = quad(hs.Material(color="white", shading="unlit", double_sided=double))
        scene.add(q, rotation=hs.quat_from_euler(y=180))  # its back toward the camera
        shown[double] = render(ctx, scene)[CENTER].tolist()
    assert shown[False] == list(PLATE_RGB) and shown[True] == [255, 255, 255]


# -- exposure and tone curves -------------------------------------------------------------------
def test_tonemap_none_is_the_clipped_lambert_of_before_and_exposure_doubles(ctx):
    for exposure, scale in ((0.0, 1.0), (1.0, 2.0)):
        scene = scene_of(sun=0.3, exposure=exposure, env=Environment.uniform(grey(0.1)))
        scene.add(hs.Mesh.cube(1.0, color=(0.8, 0.5, 0.3), shading="lambert"))
        albedo = srgb_to_linear(np.array([0.8, 0.5, 0.3]))
        expected = linear_to_srgb8(np.clip(albedo * (0.3 + 0.1) * scale, 0, 1))
        assert np.abs(render(ctx, scene)[CENTER] - expected).max() <= 1


@pytest.mark.parametrize("curve", ["agx", "aces", "neutral"])
def test_tone_curves_match_their_numpy_twin(ctx, curve):
    for sun in (0.5, 3.0):
        scene = scene_of(sun=sun, tonemap=curve)
        scene.add(hs.Mesh.cube(1.0, color=(0.9, 0.6, 0.2), shading="lambert"))
        expected = linear_to_srgb8(tonemap(srgb_to_linear(np.array([0.9, 0.6, 0.2])) * sun, curve))
        assert np.abs(render(ctx, scene)[CENTER] - expected).max() <= 2


def test_a_white_sphere_under_the_default_sun_keeps_its_shading_with_the_default_curve(ctx):
    plate = hs.procedural_plate("mountains", size=(160, 90), seed=3)
    for curve in ("agx", "none"):
        scene = hs.Scene(plate, sun=hs.DirectionalLight(direction=(-0.3, -0.6, -0.75), intensity=3.75), shadows=False,
                         **({} if curve == "agx" else {"tonemap": "none"}))
        assert scene.tonemap == curve
        cam = hs.PerspectiveCamera.from_plate(plate)
        fwd = np.asarray(cam.target, float) - np.asarray(cam.position, float)
        scene.add(hs.Mesh.sphere(0.7, color="white", shading="lambert"),
                  position=np.asarray(cam.position, float) + 5.0 * fwd / np.linalg.norm(fwd))
        with hs.FrameRenderer(ctx, plate.size) as r:
            frame = r.render_frame(scene, 0.0).astype(int)
            scene.root.remove(scene.root.children[0])
            empty = r.render_frame(scene, 0.0).astype(int)
        on = np.abs(frame - empty).sum(axis=2) > 0
        clipped = (frame[on] == 255).all(axis=1).mean()
        if curve == "agx":
            assert clipped == 0.0
            lum = frame[on].mean(axis=1)
            assert lum.max() - np.percentile(lum, 50) > 12  # a gradient across the lit side
        else:
            assert clipped > 0.2  # the flat white area tone mapping removes


def test_scene_options_are_validated():
    with pytest.raises(hs.SceneError, match="unknown tonemap 'filmic'; choose one of agx, aces, neutral, none"):
        hs.Scene(tonemap="filmic")
    with pytest.raises(hs.SceneError, match="exposure must be a number of stops"):
        hs.Scene(exposure="bright")
    with pytest.raises(hs.SceneError, match="environment must be one of"):
        hs.Scene(environment="studio")
    with pytest.raises(hs.SceneError, match="material roughness must be in 0..1, got 2"):
        hs.Material(roughness=2)
    with pytest.raises(hs.SceneError, match="unknown alpha_mode 'cutout'"):
        hs.Material(alpha_mode="cutout")
    with pytest.raises(hs.SceneError, match="texture wrap must be one of repeat, clamp, mirror"):
        hs.Texture(np.zeros((2, 2, 3), np.uint8), wrap="tile")
    with pytest.raises(hs.SceneError, match="tangents must be a finite"):
        hs.Geometry([[0, 0, 0], [1, 0, 0], [0, 1, 0]], tangents=np.zeros((3, 3)))


def test_tangents_follow_the_uvs():
    g = hs.Geometry([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 0, 1]] * 3, uvs=[[0, 0], [1, 0], [0, 1]])
    assert np.allclose(g.tangents, [[1, 0, 0, 1]] * 3)
    flipped = hs.Geometry([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 0, 1]] * 3, uvs=[[0, 0], [1, 0], [0, -1]])
    assert np.allclose(flipped.tangents[:, 3], -1.0)
    assert g.interleaved().shape == (3, 18)


def test_a_normal_map_seen_from_behind_turns_over_with_its_face(ctx):
    """A double-sided quad turned away from the camera: its back face shows the front's
    perturbed normal turned over (Khronos's convention), so a map leaning toward the tangent's +u
    leans, seen from behind, toward the camera's right, where the sun comes from."""
    sun = (-0.6, 0.0, -0.8)
    values = {}
    for name, rgb in (("none", None), ("right", (218, 128, 218))):
        mat = hs.Material(color="white", shading="lambert", double_sided=True)
        if rgb is not None:
            mat.normal_texture = np.full((4, 4, 3), rgb, np.uint8)
        scene = scene_of(sun=1.0, sun_dir=sun)
        scene.add(quad(mat), rotation=hs.quat_from_euler(y=180))
        values[name] = render(ctx, scene)[CENTER][0]
    assert abs(values["none"] - linear_to_srgb8(0.8)) <= 1
    assert values["right"] > values["none"] + 15
