import math

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.animation import EASINGS, Track, ease


@pytest.mark.parametrize("name", sorted(EASINGS))
def test_easings_start_at_0_and_end_at_1(name):
    f = ease(name)
    assert f(0.0) == pytest.approx(0.0, abs=1e-9) or name == "step"
    assert f(1.0) == pytest.approx(1.0)


def test_easing_shapes():
    assert ease("linear")(0.25) == 0.25
    assert ease("ease-in")(0.5) == 0.25 and ease("ease-out")(0.5) == 0.75
    assert ease("ease-in-out")(0.5) == pytest.approx(0.5) and ease("ease-in-out")(0.25) < 0.25
    assert ease("step")(0.99) == 0.0
    assert ease("back-out")(0.7) > 1.0  # overshoots
    with pytest.raises(hs.SceneError, match="unknown easing 'wobbly'"):
        ease("wobbly")


def test_position_track_interpolates_with_easing_and_clamps():
    node = hs.Node("bird")
    track = Track(node, "position", [(1.0, (0, 0, 0)), (3.0, (4, 2, 0))], easing="ease-in")
    np.testing.assert_allclose(track.value_at(2.0), [1.0, 0.5, 0.0])  # halfway in time, a quarter of the way
    np.testing.assert_allclose(track.value_at(0.0), [0, 0, 0])
    np.testing.assert_allclose(track.value_at(9.0), [4, 2, 0])
    track.apply(3.0)
    np.testing.assert_allclose(node.position, [4, 2, 0])


def test_per_segment_easings_and_loops():
    m = hs.Material()
    t = Track(m, "opacity", [(0, 0.0), (1, 1.0), (2, 0.0)], easing=["linear", "step"], loop="repeat")
    assert t.value_at(0.5) == 0.5 and t.value_at(1.5) == 1.0 and t.value_at(2.5) == 0.5
    p = Track(m, "opacity", [(0, 0.0), (1, 1.0)], loop="pingpong")
    assert p.value_at(1.25) == pytest.approx(0.75) and p.value_at(2.25) == pytest.approx(0.25)


def test_rotation_slerps_along_the_shorter_arc():
    node = hs.Node()
    a = hs.quat_from_axis_angle((0, 1, 0), 10)
    b = hs.quat_from_axis_angle((0, 1, 0), 350)  # = -10 degrees: the short way passes 0
    q = Track(node, "rotation", [(0, a), (1, b)]).value_at(0.5)
    angle = 2 * math.degrees(math.acos(min(1.0, abs(float(q[3])))))
    assert angle == pytest.approx(0.0, abs=1e-4)
    mid = Track(node, "rotation", [(0, hs.quat_from_euler()), (1, hs.quat_from_axis_angle((0, 0, 1), 90))]).value_at(0.5)
    np.testing.assert_allclose(mid, hs.quat_from_axis_angle((0, 0, 1), 45), atol=1e-6)


def test_colors_blend_in_linear_light():
    mat = hs.Material(color="#ff0000")
    track = Track(mat, "color", [(0, "#ff0000"), (1, "#00ff00")])
    r, g, b = track.value_at(0.5)
    # Linear-light midpoint of 1 and 0 is 0.5, which encodes to 0.735 (not 0.5 as in sRGB).
    assert r == pytest.approx(0.7354, abs=1e-3) and g == pytest.approx(0.7354, abs=1e-3) and b == 0


def test_track_errors_name_the_problem():
    node = hs.Node("n")
    with pytest.raises(hs.SceneError, match="no attribute 'colour'"):
        Track(node, "colour", [(0, 1)])
    with pytest.raises(hs.SceneError, match="increasing"):
        Track(node, "position", [(1, (0, 0, 0)), (1, (1, 1, 1))])
    with pytest.raises(hs.SceneError, match="different shapes"):
        Track(node, "position", [(0, (0, 0, 0)), (1, (1, 1))])
    with pytest.raises(hs.SceneError, match="2 segments need 2 easings"):
        Track(node, "position", [(0, (0, 0, 0)), (1, (1, 1, 1)), (2, (0, 0, 0))], easing=["linear"])
    with pytest.raises(hs.SceneError, match="not finite"):
        Track(node, "position", [(0, (0, 0, 0)), (1, (math.nan, 1, 1))])


def test_scene_applies_tracks_before_callbacks_each_frame():
    scene = hs.Scene()
    cube = scene.add(hs.Mesh.cube(), name="cube")
    scene.animate(cube, "position", [(0, (0, 0, 0)), (2, (2, 0, 0))])
    scene.animate(scene.camera, "fov_y", [(0, 40.0), (2, 60.0)], easing="smoothstep")
    seen = []
    scene.on_frame(lambda t: seen.append(float(cube.position[0])))
    scene.update(1.0)
    assert seen == [1.0] and scene.camera.fov_y == pytest.approx(50.0)
    scene.update(0.0)  # any order: a function of time only
    assert cube.position[0] == 0.0 and scene.camera.fov_y == pytest.approx(40.0)


# -- orientation: look_at and facing along the path ---------------------------------------------


def _front(node: hs.Node, forward=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Where the node's front axis points in the world."""
    return node.world_matrix()[:3, :3].astype(np.float64) @ np.asarray(forward, np.float64)


def test_look_at_turns_the_front_axis_to_the_target_and_keeps_up():
    node = hs.Node(position=(1.0, 2.0, 3.0))
    assert node.look_at((4.0, 2.0, -1.0)) is node
    np.testing.assert_allclose(_front(node), np.array([3.0, 0.0, -4.0]) / 5.0, atol=1e-6)
    np.testing.assert_allclose(node.world_matrix()[:3, 1], [0.0, 1.0, 0.0], atol=1e-6)  # still upright
    node.look_at((1.0, 2.0, -9.0), forward="-z")  # a camera-like front
    np.testing.assert_allclose(_front(node, (0, 0, -1)), [0.0, 0.0, -1.0], atol=1e-6)
    node.look_at((1.0, 7.0, 3.0), up=(0.0, 0.0, -1.0), forward="+x")  # straight up, with another up
    np.testing.assert_allclose(_front(node, (1, 0, 0)), [0.0, 1.0, 0.0], atol=1e-6)


def test_look_at_takes_the_parents_into_account():
    parent = hs.Node(position=(5.0, 0.0, 0.0), rotation=hs.quat_from_euler(y=90), scale=2.0)
    child = hs.Node(position=(0.0, 0.0, 1.0))
    parent.add(child)
    target = np.array([0.0, 3.0, -20.0])
    child.look_at(target)
    eye = child.world_matrix()[:3, 3].astype(np.float64)
    want = (target - eye) / np.linalg.norm(target - eye)
    got = _front(child)
    np.testing.assert_allclose(got / np.linalg.norm(got), want, atol=1e-5)


def test_look_at_errors_are_one_line():
    node = hs.Node("plane", position=(0, 1, 0))
    with pytest.raises(hs.SceneError, match=r"node 'plane' cannot look at \[0.0, 1.0, 0.0\]: it is the node's own position"):
        node.look_at((0, 1, 0))
    with pytest.raises(hs.SceneError, match=r"is along up .* pass another up"):
        node.look_at((0, 9, 0))
    with pytest.raises(hs.ConfigError, match=r"forward 'sideways' is not an axis"):
        node.look_at((0, 0, -5), forward="sideways")


def test_a_track_can_face_along_its_path_and_depends_on_the_time_only():
    scene = hs.Scene(None)
    plane = scene.add(hs.Mesh.cube(1.0), name="plane")
    track = scene.animate(plane, "position", [(0, (0, 0, 0)), (2, (10, 0, 0)), (4, (10, 0, -10))], orient="path",
                          easing="ease-in-out")
    track.apply(1.0)
    np.testing.assert_allclose(_front(plane), [1.0, 0.0, 0.0], atol=1e-6)  # flying along +x
    track.apply(3.0)
    np.testing.assert_allclose(_front(plane), [0.0, 0.0, -1.0], atol=1e-6)  # then along -z
    at_3 = plane.rotation.copy()
    for t in (0.5, 2.0, 3.7, 0.0):  # any history
        track.apply(t)
    track.apply(3.0)
    np.testing.assert_array_equal(plane.rotation, at_3)
    track.apply(0.0)  # at rest at the first key (ease-in): the first segment's direction
    np.testing.assert_allclose(_front(plane), [1.0, 0.0, 0.0], atol=1e-4)
    with pytest.raises(hs.SceneError, match="orient='path' turns a node along its path"):
        scene.animate(plane.mesh.material, "color", [(0, "#ff0000"), (1, "#00ff00")], orient="path")
    with pytest.raises(hs.SceneError, match="orient must be 'path' or None"):
        scene.animate(plane, "position", [(0, (0, 0, 0)), (1, (1, 0, 0))], orient="velocity")


@pytest.mark.gl
def test_a_long_body_facing_its_path_is_seen_side_on(ctx):
    """A rod 4 m long along its front axis crosses the frame from left to right: facing along the
    path it is seen side-on (wide); left unturned it points at the camera (a small square)."""
    def width(orient):
        scene = hs.Scene(None, shadows=False)
        rod = scene.add(hs.Mesh.cube(1.0, color="#ffffff", shading="unlit"), scale=(0.3, 0.3, 4.0))
        scene.animate(rod, "position", [(0, (-6, 0, -12)), (1, (6, 0, -12))], orient=orient)
        frame = next(iter(hs.frames(scene, frames=range(15, 16), fps=30, size=(160, 90), ctx=ctx)))
        cols = np.flatnonzero((frame.astype(int).sum(axis=2) > 600).any(axis=0))
        return int(cols[-1] - cols[0] + 1) if cols.size else 0

    side_on, head_on = width("path"), width(None)
    assert head_on > 0 and side_on > 3 * head_on, (side_on, head_on)
