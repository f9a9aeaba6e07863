import numpy as np
import pytest

import hybridscene as hs
from hybridscene import transforms as T


def test_axis_angle_follows_right_hand_rule():
    ry = T.quat_to_matrix(T.quat_from_axis_angle((0, 1, 0), 90))
    np.testing.assert_allclose(ry @ [1, 0, 0, 0], [0, 0, -1, 0], atol=1e-6)
    rx = T.quat_to_matrix(T.quat_from_axis_angle((1, 0, 0), 90))
    np.testing.assert_allclose(rx @ [0, 1, 0, 0], [0, 0, 1, 0], atol=1e-6)


def test_quat_multiply_applies_right_operand_first():
    qx = T.quat_from_axis_angle((1, 0, 0), 90)
    qy = T.quat_from_axis_angle((0, 1, 0), 90)
    both = T.quat_to_matrix(T.quat_multiply(qy, qx))
    np.testing.assert_allclose(both, T.quat_to_matrix(qy) @ T.quat_to_matrix(qx), atol=1e-6)
    np.testing.assert_allclose(both @ [0, 1, 0, 0], [1, 0, 0, 0], atol=1e-6)


def test_euler_order_is_x_then_y_then_z():
    q = T.quat_from_euler(x=90, y=90)
    np.testing.assert_allclose(T.quat_to_matrix(q) @ [0, 1, 0, 0], [1, 0, 0, 0], atol=1e-6)


def test_compose_is_translate_rotate_scale():
    m = T.compose((1, 2, 3), T.quat_from_axis_angle((0, 1, 0), 90), (2, 2, 2))
    np.testing.assert_allclose(m @ [1, 0, 0, 1], [1, 2, 1, 1], atol=1e-5)
    assert m.dtype == np.float32 and m.shape == (4, 4)


def test_look_at_puts_target_on_negative_z():
    v = T.look_at((3, 4, 5), (0, 0, 0))
    p = v @ [0, 0, 0, 1]
    np.testing.assert_allclose(p[:3], [0, 0, -np.sqrt(50)], atol=1e-5)
    with pytest.raises(hs.SceneError, match="same point"):
        T.look_at((1, 1, 1), (1, 1, 1))
    with pytest.raises(hs.SceneError, match="up vector"):
        T.look_at((0, 5, 0), (0, 0, 0))


def test_perspective_and_lens_shift():
    p = T.perspective(90, 2.0, 0.1, 100)
    c = p @ [2, 1, -1, 1]  # at depth 1 with fov 90 and aspect 2: the top-right corner
    np.testing.assert_allclose(c[:2] / c[3], [1, 1], atol=1e-6)
    shifted = T.perspective(90, 1.0, 0.1, 100, shift=(0.0, 0.3))
    c = shifted @ [0, 0, -7, 1]  # the optical axis lands at the shift
    np.testing.assert_allclose(c[:2] / c[3], [0, 0.3], atol=1e-6)


def test_gl_bytes_is_column_major():
    m = np.arange(16, dtype=np.float32).reshape(4, 4)
    floats = np.frombuffer(T.gl_bytes(m), np.float32)
    np.testing.assert_array_equal(floats[:4], m[:, 0])


def test_normal_matrix_keeps_normals_perpendicular_under_nonuniform_scale():
    m = T.compose((0, 0, 0), T.quat_from_euler(z=30), (1, 4, 1))
    n = T.normal_matrix(m) @ np.array([0.0, 1.0, 0.0])
    tangent = m[:3, :3] @ np.array([1.0, 0.0, 0.0])
    assert abs(float(n @ tangent)) < 1e-5


def test_quat_to_matrix_matches_pyrr_for_random_rotations():
    from pyrr import matrix44

    rng = np.random.default_rng(7)
    for q in rng.normal(size=(50, 4)):
        q = q / np.linalg.norm(q)
        expected = matrix44.create_from_quaternion(q.astype(np.float64))
        np.testing.assert_allclose(T.quat_to_matrix(q), expected, atol=1e-6)
        m = T.quat_to_matrix(q)[:3, :3]
        np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-5)  # a rotation: orthonormal
        assert np.linalg.det(m) > 0


def test_quaternion_helpers_match_pyrr():
    from pyrr import quaternion

    rng = np.random.default_rng(3)
    for axis, deg in zip(rng.normal(size=(30, 3)), rng.uniform(-720, 720, 30)):
        unit = axis / np.linalg.norm(axis)
        np.testing.assert_allclose(T.quat_from_axis_angle(axis, deg),
                                   quaternion.create_from_axis_rotation(unit, np.radians(deg)), atol=1e-6)
    for a, b in zip(rng.normal(size=(30, 4)), rng.normal(size=(30, 4))):
        np.testing.assert_allclose(T.quat_multiply(a, b), quaternion.cross(a, b), rtol=1e-5, atol=1e-5)
    for x, y, z in rng.uniform(-180, 180, (30, 3)):
        expected = quaternion.cross(quaternion.create_from_axis_rotation([0.0, 0.0, 1.0], np.radians(z)),
                                    quaternion.cross(quaternion.create_from_axis_rotation([0.0, 1.0, 0.0], np.radians(y)),
                                                     quaternion.create_from_axis_rotation([1.0, 0.0, 0.0], np.radians(x))))
        np.testing.assert_allclose(T.quat_from_euler(x, y, z), expected, atol=1e-6)
