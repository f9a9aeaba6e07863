import math

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.colors import parse_color


def test_node_rejects_nan_and_names_the_node():
    with pytest.raises(hs.SceneError, match=r"position of node 'bird'.*NaN"):
        hs.Node("bird", position=(0.0, float("nan"), 0.0))
    node = hs.Node("rock")
    with pytest.raises(hs.SceneError, match="rock"):
        node.scale = (1, 2)
    with pytest.raises(hs.SceneError, match="quat_from_euler"):
        node.rotation = (0, 0, 1)


def test_parent_transforms_compose():
    parent = hs.Node(position=(10, 0, 0), rotation=hs.quat_from_axis_angle((0, 1, 0), 90))
    child = parent.add(hs.Node(position=(1, 0, 0)))
    # The child's origin: rotate (1,0,0) by 90 degrees about Y -> (0,0,-1), then move by (10,0,0).
    np.testing.assert_allclose(child.world_matrix() @ [0, 0, 0, 1], [10, 0, -1, 1], atol=1e-5)
    grandchild = child.add(hs.Node(scale=2.0, position=(0, 1, 0)))
    # (0,1,0) scaled by 2 is (0,2,0), plus its offset (0,1,0), in the child frame at (10,0,-1).
    np.testing.assert_allclose(grandchild.world_matrix() @ [0, 1, 0, 1], [10, 3, -1, 1], atol=1e-5)


def test_reparenting_and_cycles():
    a, b = hs.Node("a"), hs.Node("b")
    a.add(b)
    with pytest.raises(hs.SceneError, match="cycle"):
        b.add(a)
    c = hs.Node("c")
    c.add(b)
    assert b.parent is c and a.children == ()


def test_scene_add_find_and_hidden_subtrees():
    scene = hs.Scene(hs.Plate.solid((0, 0, 0), (8, 8)))
    group = scene.add(hs.Node("group"))
    cube = scene.add(hs.Mesh.cube(), parent=group, name="cube", position=(1, 2, 3))
    assert scene.find("cube") is cube
    with pytest.raises(hs.SceneError, match=r"no node named 'ghost'.*\['cube', 'group'\]"):
        scene.find("ghost")
    assert [n.name for n, _ in scene.visible_nodes() if n.mesh is not None] == ["cube"]
    group.visible = False
    assert [n for n, _ in scene.visible_nodes() if n.mesh is not None] == []


def test_on_frame_callbacks_receive_time():
    scene = hs.Scene()
    seen = []
    scene.on_frame(seen.append)
    scene.update(0.5)
    assert seen == [0.5]
    with pytest.raises(hs.SceneError):
        scene.on_frame(42)


@pytest.mark.parametrize("geometry", [hs.Geometry.cube(2.0), hs.Geometry.sphere(1.0, segments=12, rings=6)])
def test_primitives_wind_counter_clockwise_outward(geometry):
    p = geometry.positions[geometry.indices]
    face_n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    centroid = p.mean(axis=1)
    assert (np.einsum("ij,ij->i", face_n, centroid) > 0).all(), "a face winds inward"
    assert np.allclose(np.linalg.norm(geometry.normals, axis=1), 1.0, atol=1e-5)


def test_geometry_validation_and_computed_normals():
    tri = hs.Geometry([[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_allclose(tri.normals, [[0, 0, 1]] * 3, atol=1e-6)
    with pytest.raises(hs.SceneError, match="indices"):
        hs.Geometry([[0, 0, 0], [1, 0, 0], [0, 1, 0]], indices=[[0, 1, 5]])
    with pytest.raises(hs.SceneError, match="NaN"):
        hs.Geometry([[0, 0, math.nan], [1, 0, 0], [0, 1, 0]])


def test_colors_and_material_validation():
    assert parse_color("#ff8000") == (1.0, 128 / 255, 0.0)
    assert parse_color((255, 0, 0)) == (1.0, 0.0, 0.0)
    assert parse_color((1.0, 0.5, 0.0)) == (1.0, 0.5, 0.0)
    with pytest.raises(hs.ConfigError, match="'#zzz' is not a colour"):
        parse_color("#zzz")
    with pytest.raises(hs.ConfigError, match="0..1"):
        hs.Material(color=(1.5, 0.0, 0.0))
    with pytest.raises(hs.SceneError, match="opacity"):
        hs.Material(opacity=2)


def test_camera_from_plate_matches_painting_camera():
    plate = hs.procedural_plate(size=(64, 36), seed=1, horizon=0.4, camera_height=3.0, fov_y=40.0)
    cam = hs.PerspectiveCamera.from_plate(plate)
    assert cam.fov_y == 40.0 and cam.position.tolist() == [0.0, 3.0, 0.0]
    # A far point at eye height projects onto the horizon row (40 % from the top).
    clip = cam.projection_matrix(64 / 36) @ cam.view_matrix() @ np.array([0.0, 3.0, -1e4, 1.0])
    ndc_y = clip[1] / clip[3]
    assert (1 - ndc_y) / 2 == pytest.approx(0.4, abs=1e-4)
    with pytest.raises(hs.SceneError, match="fov_y"):
        hs.PerspectiveCamera(fov_y=0)


def test_colours_are_validated_when_changed_later():
    mat = hs.Material(color="#ff0000")
    mat.color = "navy"
    assert mat.color_rgb == (0.0, 0.0, 128 / 255)
    with pytest.raises(hs.ConfigError, match="material color 'blurple' is not a colour"):
        mat.color = "blurple"
    sun = hs.DirectionalLight()
    sun.color = (255, 128, 0)
    assert sun.rgb["color"] == (1.0, 128 / 255, 0.0)
    with pytest.raises(hs.ConfigError, match="ambient color"):
        hs.AmbientLight(color=(2, 2))
