"""Seeded randomisation (hybridscene.scene.randomize): ground points on a plate's depth, yaw, scale,
choices and mesh files. Unit tier: no GL, no model; a small procedural plate has exact depth."""

import subprocess
import sys

import numpy as np
import pytest
import trimesh

from hybridscene.errors import SceneError
from hybridscene.plate import Plate, PlateCamera
from hybridscene.plate.procedural import procedural_plate
from hybridscene.plate.projection import plate_from_direction, unproject
from hybridscene.scene.camera import OrthographicCamera, PerspectiveCamera
from hybridscene.scene.node import Node
from hybridscene.scene.randomize import Randomizer
from hybridscene.transforms import quat_from_euler

SIZE = (128, 72)


@pytest.fixture(scope="module")
def plate():
    return procedural_plate(size=SIZE, seed=3)


def project(plate, point):
    """World point -> (x, y) image coordinates in pixels and view depth, through the plate's own
    camera (level at (0, height, 0), looking down -Z), with the library's projection."""
    rel = np.asarray(point, float) - [0.0, plate.camera.height, 0.0]
    uvw = plate_from_direction(plate) @ rel
    w, h = plate.size
    return uvw[0] / uvw[2] * w, uvw[1] / uvw[2] * h, -rel[2]


def local_slope(plate, r, c):
    """Worst slope in degrees (normal against +Y) of the four triangles around pixel (r, c),
    from the plate's depth unprojected with the library's `unproject`."""
    rs = np.array([r, r, r - 1, r, r + 1])
    cs = np.array([c, c + 1, c, c - 1, c])
    p, *nb = unproject(plate, cs + 0.5, rs + 0.5, plate.depth[rs, cs].astype(float))
    worst = 0.0
    for a, b in zip(nb, nb[1:] + nb[:1]):
        n = np.cross(a - p, b - p)
        n *= np.sign(n @ ([0.0, plate.camera.height, 0.0] - p))
        worst = max(worst, np.degrees(np.arccos(np.clip(n[1] / np.linalg.norm(n), -1, 1))))
    return worst


def one_line_error(fn, *text):
    with pytest.raises(SceneError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    for t in text:
        assert t in message, message
    return message


# -- ground points -------------------------------------------------------------------------------

def test_ground_points_lie_on_visible_level_ground_where_the_plate_shows_them(plate):
    rnd = Randomizer(7)
    w, h = plate.size
    disparity = 1.0 / plate.depth.astype(float)
    for _ in range(40):
        point = rnd.ground_point(plate)
        assert point.shape == (3,) and np.isfinite(point).all()
        x, y, z = project(plate, point)
        c, r = int(x), int(y)
        assert 0.05 * w <= x <= 0.95 * w and 0.05 * h <= y <= 0.95 * h  # the margin
        assert np.isfinite(plate.depth[r, c]), "landed on sky"
        # The plate's depth at the point's image position (interpolated in inverse depth, exact on
        # a plane) is the point's depth: the point is the surface the plate shows there.
        fx, fy = x - 0.5, y - 0.5
        c0, r0 = int(np.floor(fx)), int(np.floor(fy))
        tx, ty = fx - c0, fy - r0
        d = disparity[r0:r0 + 2, c0:c0 + 2]
        interp = (d[0, 0] * (1 - tx) + d[0, 1] * tx) * (1 - ty) + (d[1, 0] * (1 - tx) + d[1, 1] * tx) * ty
        assert 1.0 / interp == pytest.approx(z, rel=0.01)
        # The pixel's own depth is the point's depth within the depth change across a pixel.
        step = max(abs(plate.depth[r + 1, c] - plate.depth[r, c]), abs(plate.depth[r, c] - plate.depth[r - 1, c]))
        assert abs(plate.depth[r, c] - z) <= step + 0.01 * z
        # Level there, by the plate's own geometry, and on the painted ground (y = 0).
        assert local_slope(plate, r, c) <= 25.0
        assert abs(point[1]) <= 1e-3 * z


def test_max_slope_is_measured_on_the_plate_geometry(plate):
    rnd = Randomizer(1)
    for _ in range(20):
        x, y, _ = project(plate, rnd.ground_point(plate, max_slope=5.0))
        assert local_slope(plate, int(y), int(x)) <= 5.0


def test_same_seed_same_points_and_other_seeds_differ(plate):
    a = [Randomizer(5).ground_point(plate) for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    r1, r2 = Randomizer(5), Randomizer(5)
    seq1 = np.array([r1.ground_point(plate) for _ in range(5)])
    seq2 = np.array([r2.ground_point(plate) for _ in range(5)])
    np.testing.assert_array_equal(seq1, seq2)
    others = np.array([Randomizer(s).ground_point(plate) for s in (6, 7, 8)])
    assert not any(np.array_equal(o, seq1[0]) for o in others)


def test_same_seed_same_draws_in_another_process(plate):
    code = (
        "from hybridscene.plate.procedural import procedural_plate\n"
        "from hybridscene.scene.node import Node\n"
        "from hybridscene.scene.randomize import Randomizer\n"
        "r = Randomizer(11); p = procedural_plate(size=(128, 72), seed=3); n = Node()\n"
        "print(repr(r.ground_point(p).tolist()), repr(r.yaw(n)), repr(r.scale(n)), repr(r.choice(list(range(100)))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    r, n = Randomizer(11), Node()
    assert out == f"{r.ground_point(plate).tolist()!r} {r.yaw(n)!r} {r.scale(n)!r} {r.choice(list(range(100)))!r}"


def test_distance_is_respected(plate):
    rnd = Randomizer(2)
    eye = np.array([0.0, plate.camera.height, 0.0])
    dists = [np.linalg.norm(rnd.ground_point(plate, distance=(12.0, 20.0)) - eye) for _ in range(30)]
    assert min(dists) >= 12.0 and max(dists) <= 20.0
    assert max(dists) - min(dists) > 2.0  # spread over the band, not one spot


def test_the_plates_own_camera_is_the_default_and_can_be_given(plate):
    default = Randomizer(4).ground_point(plate)
    np.testing.assert_allclose(Randomizer(4).ground_point(plate, camera=plate.camera), default, rtol=1e-6, atol=1e-6)
    cam = PerspectiveCamera.from_plate(plate)
    np.testing.assert_allclose(Randomizer(4).ground_point(plate, camera=cam), default, rtol=1e-5, atol=1e-5)
    one_line_error(lambda: Randomizer(4).ground_point(plate, camera=OrthographicCamera()), "PerspectiveCamera")


def test_a_plate_without_depth_is_refused():
    flat = Plate.solid((90, 120, 160), SIZE)
    one_line_error(lambda: Randomizer(0).ground_point(flat),
                   "has no depth; use a plate with depth (procedural", "depth_model=")


def test_no_qualifying_pixel_names_the_cause_and_the_fix(plate):
    wall = Plate(image=np.zeros((72, 128, 3), np.uint8), depth=np.full((72, 128), 10.0, np.float32),
                 camera=PlateCamera(fov_y=50.0, height=1.6, horizon=0.5))  # a wall facing the camera
    one_line_error(lambda: Randomizer(0).ground_point(wall),
                   "no ground pixel within 25° of level", "raise max_slope or widen distance")
    one_line_error(lambda: Randomizer(0).ground_point(plate, distance=(50_000.0, 60_000.0)),
                   "no ground pixel within 25° of level at 50000-60000 m", "raise max_slope or widen distance")


@pytest.mark.parametrize("options", [dict(max_slope=95), dict(max_slope=-1), dict(margin=0.5), dict(margin=-0.1),
                                     dict(distance=(10, 5)), dict(distance=(-1, 5)), dict(distance=5)])
def test_bad_options_are_one_line_errors(plate, options):
    one_line_error(lambda: Randomizer(0).ground_point(plate, **options), next(iter(options)))


def test_place_on_ground_moves_the_node_there_also_under_a_parent(plate):
    node = Node("box")
    point = Randomizer(3).place_on_ground(node, plate, max_slope=10)
    np.testing.assert_array_equal(point, Randomizer(3).ground_point(plate, max_slope=10))
    np.testing.assert_allclose(node.position, point, rtol=1e-6)
    parent = Node("group", position=(5, 1, -2), rotation=quat_from_euler(y=30), scale=2.0)
    child = parent.add(Node("child"))
    point = Randomizer(3).place_on_ground(child, plate)
    np.testing.assert_allclose(child.world_matrix()[:3, 3], point, rtol=1e-4, atol=1e-3)


# -- transforms, choices, meshes -----------------------------------------------------------------

@pytest.mark.parametrize("seed", [-1, 1.5, True, "3", None])
def test_bad_seed(seed):
    one_line_error(lambda: Randomizer(seed), "seed must be a non-negative integer")


def test_rng_is_pcg64_of_the_seed():
    assert Randomizer(9).rng.random() == np.random.Generator(np.random.PCG64(9)).random()


def test_yaw_turns_about_world_up_only():
    rnd = Randomizer(0)
    for _ in range(10):
        node = Node()
        angle = rnd.yaw(node, (10.0, 80.0))
        assert 10.0 <= angle < 80.0
        m = node.world_matrix()[:3, :3]
        x = m @ [1.0, 0.0, 0.0]
        assert abs(x[1]) < 1e-6  # +x stays horizontal
        np.testing.assert_allclose(m @ [0.0, 1.0, 0.0], [0, 1, 0], atol=1e-6)  # up stays up
        assert np.degrees(np.arctan2(-x[2], x[0])) == pytest.approx(angle, abs=1e-3)  # right-hand about +y


def test_yaw_keeps_a_models_up_fix_and_uses_world_up_under_a_rotated_parent():
    fixed = Node(rotation=quat_from_euler(x=-90))  # a Z-up model stood up
    up_before = fixed.world_matrix()[:3, :3] @ [0.0, 0.0, 1.0]
    Randomizer(1).yaw(fixed)
    np.testing.assert_allclose(fixed.world_matrix()[:3, :3] @ [0.0, 0.0, 1.0], up_before, atol=1e-6)
    parent = Node(rotation=quat_from_euler(x=40, z=20))
    child = parent.add(Node())
    before = child.world_matrix()[:3, :3] @ [0.0, 1.0, 0.0]
    Randomizer(1).yaw(child)
    rot = child.world_matrix()[:3, :3] @ np.linalg.inv(parent.world_matrix()[:3, :3])
    np.testing.assert_allclose(rot @ [0.0, 1.0, 0.0], [0, 1, 0], atol=1e-5)  # the turn is about world up
    assert not np.allclose(child.world_matrix()[:3, :3] @ [1.0, 0.0, 0.0], parent.world_matrix()[:3, :3] @ [1, 0, 0])
    assert before.shape == (3,)


def test_scale_multiplies_by_a_factor_in_range():
    node = Node(scale=2.0)
    f = Randomizer(0).scale(node, (0.5, 0.6))
    assert isinstance(f, float) and 0.5 <= f < 0.6
    np.testing.assert_allclose(node.scale, [2 * f] * 3, rtol=1e-6)
    node = Node()
    f = Randomizer(0).scale(node, uniform=False)
    assert f.shape == (3,) and ((0.8 <= f) & (f < 1.2)).all() and len(set(f.tolist())) == 3
    np.testing.assert_allclose(node.scale, f, rtol=1e-6)
    one_line_error(lambda: Randomizer(0).scale(Node(), (0.0, 1.0)), "scale range must be positive")
    one_line_error(lambda: Randomizer(0).scale(Node(), (2.0, 1.0)), "scale range")


def test_choice_uniform_and_color():
    picks = [Randomizer(s).choice(["a", "b", "c"]) for s in range(30)]
    assert set(picks) == {"a", "b", "c"}
    assert picks == [Randomizer(s).choice(("a", "b", "c")) for s in range(30)]
    one_line_error(lambda: Randomizer(0).choice([]), "non-empty")
    one_line_error(lambda: Randomizer(0).choice({"a", "b"}), "sorted(items)")
    v = Randomizer(0).uniform(2.0, 3.0)
    assert 2.0 <= v < 3.0 and v == Randomizer(0).uniform(2.0, 3.0)
    rgb = Randomizer(0).color(hue=(100, 140), saturation=(1, 1), value=(1, 1))
    assert len(rgb) == 3 and rgb[1] == 1.0 and all(0.0 <= c <= 1.0 for c in rgb)


@pytest.fixture
def mesh_files(tmp_path):
    box, ball = tmp_path / "box.obj", tmp_path / "ball.ply"
    trimesh.creation.box().export(box)
    trimesh.creation.icosphere(subdivisions=1).export(ball)
    return [str(box), str(ball)]


def test_mesh_picks_a_file_by_seed_and_loads_it(mesh_files):
    names = [Randomizer(s).mesh(mesh_files).name for s in range(12)]
    assert set(names) == {"box", "ball"}
    assert names == [Randomizer(s).mesh(mesh_files).name for s in range(12)]
    node = Randomizer(0).mesh(mesh_files, name="thing", position=(1, 0, 0))
    assert node.name == "thing" and node.position.tolist() == [1, 0, 0]
    assert node.children and node.children[0].mesh.geometry.triangle_count in (12, 80)


def test_mesh_errors_name_the_file(tmp_path, mesh_files):
    missing = str(tmp_path / "nope.glb")
    one_line_error(lambda: Randomizer(0).mesh([missing]), "nope.glb")
    (tmp_path / "bad.stl").write_text("not a mesh")
    one_line_error(lambda: Randomizer(0).mesh([str(tmp_path / "bad.stl")]), "bad.stl")
    one_line_error(lambda: Randomizer(0).mesh([]), "non-empty")
    one_line_error(lambda: Randomizer(0).mesh(mesh_files[0]), "wrap it in a list")
