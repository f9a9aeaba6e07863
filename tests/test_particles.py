"""Particles (analytic, vectorised, instanced) and sprites."""

import numpy as np
import pytest

import hybridscene as hs
from conftest import PLATE_RGB, flat_scene

SIZE = (160, 120)


def render(ctx, scene, t=0.0, size=SIZE):
    with hs.FrameRenderer(ctx, size) as r:
        return r.render_frame(scene, t).astype(int)


def test_particle_motion_follows_the_closed_form():
    em = hs.ParticleEmitter(rate=1.0, lifetime=10.0, velocity=(1.0, 0.0, 0.0), spread=0.0, speed_jitter=0.0,
                            gravity=(0.0, -10.0, 0.0), size=(1.0, 0.0), color=(("#ffffff", 1.0), ("#000000", 0.0)))
    pos, size, color = em.state(1.0)
    assert len(pos) == 2  # born at t=0 and t=1
    np.testing.assert_allclose(pos[0], [1.0, -5.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(pos[1], [0.0, 0.0, 0.0], atol=1e-6)
    assert size[0] == pytest.approx(0.9) and color[0, 3] == pytest.approx(0.9)
    drag = hs.ParticleEmitter(rate=1.0, lifetime=10.0, velocity=(2.0, 0, 0), spread=0, speed_jitter=0, gravity=(0, 0, 0), drag=1.0)
    x = drag.state(3.0)[0][0, 0]
    assert x == pytest.approx(2.0 * (1 - np.exp(-3.0)), rel=1e-5)


def test_particles_are_a_pure_function_of_time():
    em = hs.ParticleEmitter(rate=500, lifetime=(0.5, 2.0), spread=40, seed=7)
    a = em.state(3.3)
    em.state(0.1)
    b = em.state(3.3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = hs.ParticleEmitter(rate=500, lifetime=(0.5, 2.0), spread=40, seed=8).state(3.3)
    assert not np.array_equal(a[0], c[0])
    n = len(a[0])
    assert 500 * 0.5 < n < 500 * 2.0  # about rate x mean lifetime alive


def test_spread_cone_and_emit_box():
    em = hs.ParticleEmitter(rate=2000, lifetime=1.0, velocity=(0, 1, 0), spread=10, speed_jitter=0, gravity=(0, 0, 0),
                            emit_box=(0, 0, 0))
    pos = em.state(0.999)[0]
    d = pos[np.linalg.norm(pos, axis=1) > 1e-3]
    cos = d[:, 1] / np.linalg.norm(d, axis=1)
    assert cos.min() >= np.cos(np.radians(10)) - 1e-4 and cos.max() <= 1.0 + 1e-6
    box = hs.ParticleEmitter(rate=2000, lifetime=1.0, velocity=(0, 0, 0), gravity=(0, 0, 0), emit_box=(2, 0, 1))
    p = box.state(0.5)[0]
    assert np.abs(p[:, 0]).max() <= 2 and np.abs(p[:, 2]).max() <= 1 and np.abs(p[:, 0]).max() > 1.5


@pytest.mark.gl
def test_hundred_thousand_particles_render(ctx):
    scene = flat_scene(size=(320, 180))
    em = hs.ParticleEmitter(rate=100_000, lifetime=1.0, velocity=(0, 0, 0), gravity=(0, 0, 0), size=0.02,
                            color="#ffffff", emit_box=(3, 2, 0.5))
    scene.add(em)
    assert len(em.state(1.5)[0]) == 100_000
    frame = render(ctx, scene, t=1.5, size=(320, 180))
    lit = (frame > np.array(PLATE_RGB) + 20).all(axis=2)
    assert lit.sum() > 2000


@pytest.mark.gl
def test_particles_are_depth_tested_against_meshes(ctx):
    scene = flat_scene()
    scene.add(hs.Mesh.cube(2.0, color="#00ff00", shading="unlit"), position=(0, 0, 0))
    scene.add(hs.ParticleEmitter(rate=2000, lifetime=1.0, velocity=(0, 0, 0), gravity=(0, 0, 0), size=0.5,
                                 color="#ff0000", emit_box=(0.3, 0.3, 0.0)), position=(0, 0, -3))  # behind the cube
    assert render(ctx, scene, t=0.9)[60, 80].tolist() == [0, 255, 0]


@pytest.mark.gl
def test_additive_particles_add_light_without_hiding_the_plate(ctx):
    scene = flat_scene()
    scene.add(hs.ParticleEmitter(rate=1, lifetime=100, velocity=(0, 0, 0), gravity=(0, 0, 0), size=3.0,
                                 color=(0.2, 0.2, 0.2), additive=True))
    frame = render(ctx, scene, t=0.5)
    assert (frame[60, 80] > np.array(PLATE_RGB)).all()
    lin = lambda c: np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)  # noqa: E731
    expected_lin = lin(np.array(PLATE_RGB) / 255) + lin(np.array([0.2] * 3))
    got_lin = lin(frame[60, 80] / 255)
    np.testing.assert_allclose(got_lin, expected_lin, atol=0.01)


@pytest.mark.gl
def test_sprites_billboard_fixed_and_sheet_animation(ctx):
    sheet = np.zeros((8, 16, 4), np.uint8)
    sheet[:, :8] = (255, 0, 0, 255)  # frame 0: red
    sheet[:, 8:] = (0, 0, 255, 255)  # frame 1: blue
    scene = flat_scene()
    sprite = hs.Sprite(sheet, size=(1.0, 1.0), frames=(2, 1), fps=1.0)
    node = scene.add(sprite)
    assert render(ctx, scene, t=0.5)[60, 80].tolist() == [255, 0, 0]
    assert render(ctx, scene, t=1.5)[60, 80].tolist() == [0, 0, 255]
    assert sprite.uv_rect(2.2) == (0.0, 0.0, 0.5, 1.0)
    # A fixed sprite turned edge-on disappears; a billboard would still face the camera.
    fixed = hs.Sprite(sheet, size=(1.0, 1.0), frames=(2, 1), billboard=False)
    node.sprite = fixed
    node.rotation = hs.quat_from_euler(y=90)
    assert render(ctx, scene, t=0.5)[60, 80].tolist() == list(PLATE_RGB)
    node.sprite = sprite
    assert render(ctx, scene, t=0.5)[60, 80].tolist() == [255, 0, 0]


def test_particle_and_sprite_validation():
    with pytest.raises(hs.SceneError, match="rate must be >= 0"):
        hs.ParticleEmitter(rate=-5)
    with pytest.raises(hs.SceneError, match="max_particles must be a non-negative integer, got -1"):
        hs.ParticleEmitter(max_particles=-1)
    with pytest.raises(hs.SceneError, match="lifetime must be >= 0"):
        hs.ParticleEmitter(lifetime=(-1, 2))
    with pytest.raises(hs.SceneError, match="velocity must be 3 finite numbers"):
        hs.ParticleEmitter(velocity=(0, float("nan"), 0))
    with pytest.raises(hs.SceneError, match="must be a colour or \\(start, end\\)"):
        hs.ParticleEmitter(color=[1, 2, 3, 4, 5])
    with pytest.raises(hs.SceneError, match="is not a colour"):
        hs.ParticleEmitter(color=("#fff", [1, 2]))
    with pytest.raises(hs.SceneError, match="frames must be"):
        hs.Sprite(np.zeros((4, 4, 3), np.uint8), frames=(0, 1))
    assert hs.ParticleEmitter(rate=100, lifetime=1, max_particles=10).state(5.0)[0].shape == (10, 3)


def two_cell_sheet():
    sheet = np.zeros((8, 16, 4), np.uint8)
    sheet[:, :8] = (255, 0, 0, 255)  # cell 0: red
    sheet[:, 8:] = (0, 0, 255, 255)  # cell 1: blue
    return sheet


def test_sprite_set_draws_many_sprites_from_arrays(ctx):
    scene = flat_scene()
    # Three sprites in a row at z = 0: x = -1.5, 0, 1.5 (the camera at z = 5 sees them ~29 px apart).
    sprites = hs.SpriteSet(two_cell_sheet(), 3, positions=[[-1.5, 0, 0], [0, 0, 0], [1.5, 0, 0]], sizes=(0.5, 0.5),
                           frames=(2, 1), fps=1.0, phases=[0, 1, 0])
    scene.add(sprites)
    f = 60 / np.tan(np.radians(25))  # pixels per metre at 1 m, for the 120 px high frame
    cols = [round(80 + x * f / 5) for x in (-1.5, 0, 1.5)]
    img = render(ctx, scene, t=0.5)
    assert [img[60, c].tolist() for c in cols] == [[255, 0, 0], [0, 0, 255], [255, 0, 0]]
    img = render(ctx, scene, t=1.5)  # one cell on: every sprite flips
    assert [img[60, c].tolist() for c in cols] == [[0, 0, 255], [255, 0, 0], [0, 0, 255]]
    # Arrays are changed in place: move one, hide one, tint one (linear RGB, straight alpha).
    sprites.positions[0] = (0.0, 1.0, 0.0)
    sprites.visible[2] = False
    sprites.colors[1] = (0.0, 0.0, 1.0, 0.5)
    img = render(ctx, scene, t=0.5)
    assert img[60, cols[2]].tolist() == list(PLATE_RGB)
    assert img[round(60 - f / 5), 80].tolist() == [255, 0, 0]
    blend = np.round(255 * ((0.5 * 1.0 + 0.5 * ((PLATE_RGB[2] / 255 + 0.055) / 1.055) ** 2.4) ** (1 / 2.4) * 1.055
                            - 0.055))
    assert abs(img[60, 80, 2] - blend) <= 2 and img[60, 80, 0] < PLATE_RGB[0] + 2


def test_sprite_nodes_sharing_an_image_match_a_sprite_set(ctx):
    rng = np.random.default_rng(3)
    pos = rng.uniform((-2, -1.5, -3), (2, 1.5, 1), size=(200, 3)).astype(np.float32)
    sheet = two_cell_sheet()
    sheet[2:6, 2:6, 3] = 0  # a transparent hole: the order of overlapping sprites shows
    texture = hs.Texture(sheet)
    nodes = flat_scene()
    for p in pos:
        nodes.add(hs.Sprite(texture, size=(0.4, 0.4), frames=(2, 1)), position=p)
    batched = flat_scene()
    batched.add(hs.SpriteSet(texture, 200, positions=pos, sizes=(0.4, 0.4), frames=(2, 1)))
    a, b = render(ctx, nodes), render(ctx, batched)
    assert (a != b).any(axis=2).mean() < 0.001
    assert (a != np.array(PLATE_RGB)).any(axis=2).mean() > 0.2


def test_sprite_set_validation():
    img = np.zeros((4, 4, 4), np.uint8)
    with pytest.raises(hs.SceneError, match="count must be a non-negative integer, got -3"):
        hs.SpriteSet(img, -3)
    with pytest.raises(hs.SceneError, match=r"positions must broadcast to shape \(5, 3\), got \(5, 2\)"):
        hs.SpriteSet(img, 5, positions=np.zeros((5, 2)))
    with pytest.raises(hs.SceneError, match="sizes contain NaN"):
        hs.SpriteSet(img, 2, sizes=(float("nan"), 1.0))
    s = hs.SpriteSet(img, 2)
    s.positions[1, 0] = np.nan
    with pytest.raises(hs.SceneError, match="positions contain NaN"):
        s.instances(0.0)
