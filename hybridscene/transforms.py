"""Matrices and rotations: the one module that imports pyrr and states the convention.

Convention (used everywhere in hybridscene)
-------------------------------------------
* World space is right-handed, metres, **+Y up**; a camera looks down its local **-Z**.
* Matrices are ``(4, 4) float32`` numpy arrays in the **mathematical** convention: column
  vectors, ``p_world = M @ p_local``, translation in the last column, composition reads right to
  left (``world_from_local = world_from_parent @ parent_from_local``).
  pyrr stores the transpose (row vectors, translation in the last row); this module converts, so
  nothing else needs to know.
* To hand a matrix to GLSL use `gl_bytes`, which writes it column-major as ``mat4`` expects.
* Rotations are unit quaternions ``(x, y, z, w) float32``; angles given by users are in degrees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pyrr import matrix44

from .errors import ConfigError, SceneError

__all__ = [
    "compose",
    "gl_bytes",
    "look_at",
    "normal_matrix",
    "orthographic",
    "perspective",
    "quat_from_axis_angle",
    "quat_from_euler",
    "quat_identity",
    "quat_multiply",
    "quat_to_matrix",
]

Vec3 = Sequence[float] | np.ndarray


def _floats(v: Vec3 | np.ndarray) -> list[float]:
    return v.tolist() if isinstance(v, np.ndarray) else [float(c) for c in v]


def quat_identity() -> np.ndarray:
    """The identity rotation ``(0, 0, 0, 1)``."""
    return np.array([0.0, 0.0, 0.0, 1.0], dtype=np.float32)


def quat_from_axis_angle(axis: Vec3, degrees: float) -> np.ndarray:
    """Rotation of ``degrees`` about ``axis`` (right-hand rule), as ``(x, y, z, w)``."""
    values = _floats(axis)
    if len(values) != 3:
        raise ConfigError(f"rotation axis must be 3 numbers (x, y, z), got {values}")
    ax, ay, az = values
    norm = math.sqrt(ax * ax + ay * ay + az * az)
    if not math.isfinite(norm) or norm == 0.0:
        raise ConfigError(f"rotation axis must be a finite non-zero vector, got {[ax, ay, az]}")
    return np.array(_axis_angle(ax / norm, ay / norm, az / norm, math.radians(degrees)), dtype=np.float32)


def _axis_angle(ax: float, ay: float, az: float, radians: float) -> tuple[float, float, float, float]:
    s = math.sin(0.5 * radians)
    return (ax * s, ay * s, az * s, math.cos(0.5 * radians))


def _hamilton(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float, float]:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation ``a`` applied after ``b`` (the Hamilton product ``a * b``)."""
    return np.array(_hamilton(_floats(a), _floats(b)), dtype=np.float32)


def quat_from_euler(x: float = 0.0, y: float = 0.0, z: float = 0.0) -> np.ndarray:
    """Rotation from Euler angles in degrees, applied about X, then Y, then Z (world axes)."""
    qx = _axis_angle(1.0, 0.0, 0.0, math.radians(x))
    qy = _axis_angle(0.0, 1.0, 0.0, math.radians(y))
    qz = _axis_angle(0.0, 0.0, 1.0, math.radians(z))
    return np.array(_hamilton(qz, _hamilton(qy, qx)), dtype=np.float32)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """``(4, 4) float32`` rotation matrix of a unit quaternion ``(x, y, z, w)``.

    Written out rather than taken from pyrr: it runs for every node every frame, and pyrr's
    argument decorator (``inspect.getfullargspec`` per call) made it 20x slower. A test checks it
    against pyrr's ``matrix44.create_from_quaternion``.
    """
    return compose((0.0, 0.0, 0.0), q, (1.0, 1.0, 1.0))


def compose(position: Vec3, rotation: np.ndarray, scale: Vec3) -> np.ndarray:
    """``parent_from_local`` = translate @ rotate @ scale, ``(4, 4) float32``.

    Built in one step from Python floats: this runs for every node every frame.
    """
    x, y, z, w = _floats(rotation)
    sx, sy, sz = _floats(scale)
    px, py, pz = _floats(position)
    xx, yy, zz = 2.0 * x * x, 2.0 * y * y, 2.0 * z * z
    xy, xz, yz = 2.0 * x * y, 2.0 * x * z, 2.0 * y * z
    wx, wy, wz = 2.0 * w * x, 2.0 * w * y, 2.0 * w * z
    return np.array(
        [
            [(1.0 - yy - zz) * sx, (xy - wz) * sy, (xz + wy) * sz, px],
            [(xy + wz) * sx, (1.0 - xx - zz) * sy, (yz - wx) * sz, py],
            [(xz - wy) * sx, (yz + wx) * sy, (1.0 - xx - yy) * sz, pz],
            [0.0, 0.0, 0.0, 1.0],
        ],
        dtype=np.float32,
    )


_AXES = {"+x": (1.0, 0.0, 0.0), "-x": (-1.0, 0.0, 0.0), "+y": (0.0, 1.0, 0.0), "-y": (0.0, -1.0, 0.0),
         "+z": (0.0, 0.0, 1.0), "-z": (0.0, 0.0, -1.0)}


def axis(value: str | Vec3, what: str = "forward") -> np.ndarray:
    """A unit axis from ``"+x"``, ``"-z"``, ... or a vector."""
    if isinstance(value, str):
        try:
            return np.array(_AXES[value.lower()], np.float64)
        except KeyError:
            raise ConfigError(f"{what} {value!r} is not an axis; use one of {', '.join(_AXES)} or a vector") from None
    v = np.asarray(_floats(value), np.float64)
    n = float(np.linalg.norm(v)) if v.shape == (3,) else 0.0
    if not math.isfinite(n) or n == 0.0:
        raise ConfigError(f"{what} must be a finite non-zero vector (x, y, z) or an axis name, got {value!r}")
    return v / n


def _basis(forward: np.ndarray, up: np.ndarray) -> np.ndarray | None:
    """Columns (right, up, forward) of a right-handed frame whose third axis is ``forward``
    (unit) and whose second is as near ``up`` as possible; ``None`` when they are parallel."""
    right = np.cross(up, forward)
    n = float(np.linalg.norm(right))
    if n < 1e-9:
        return None
    right /= n
    return np.stack([right, np.cross(forward, right), forward], axis=1)


def quat_from_matrix(m: np.ndarray) -> np.ndarray:
    """The unit quaternion ``(x, y, z, w)`` of a ``(3, 3)`` rotation matrix."""
    m = np.asarray(m, np.float64)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = 2.0 * math.sqrt(tr + 1.0)
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s)
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = (0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s)
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = ((m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s)
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = ((m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s)
    out = np.array(q, np.float64)
    out /= np.linalg.norm(out)
    return (out if out[3] >= 0 else -out).astype(np.float32)


def quat_look_rotation(direction: Vec3, up: Vec3 = (0.0, 1.0, 0.0), forward: str | Vec3 = "+z") -> np.ndarray:
    """The rotation that turns the object's ``forward`` axis (``"+z"``: glTF's front) to
    ``direction`` and keeps its up axis as near ``up`` as it can.

    Raises:
        SceneError: ``direction`` is zero, or parallel to ``up`` (say another ``up``).
    """
    d = np.asarray(_floats(direction), np.float64)
    n = float(np.linalg.norm(d))
    if not math.isfinite(n) or n == 0.0:
        raise SceneError(f"cannot face a zero or non-finite direction {d.tolist()}; give a target away from the object")
    up_a = axis(up, "up")
    f = axis(forward, "forward")
    world = _basis(d / n, up_a)
    if world is None:
        raise SceneError(f"the direction {np.round(d / n, 4).tolist()} is along up {up_a.tolist()}; pass another up, "
                         "e.g. up=(0, 0, -1)")
    # The object's own frame with `forward` as its third axis (its up: +y, else +z for a y forward).
    local = _basis(f, np.array((0.0, 1.0, 0.0))) if abs(f[1]) < 0.999 else _basis(f, np.array((0.0, 0.0, 1.0)))
    assert local is not None
    return quat_from_matrix(world @ local.T)


def look_at(eye: Vec3, target: Vec3, up: Vec3 = (0.0, 1.0, 0.0)) -> np.ndarray:
    """``view_from_world`` for a camera at ``eye`` looking at ``target``, ``(4, 4) float32``."""
    eye_a = np.asarray(eye, np.float64)
    target_a = np.asarray(target, np.float64)
    forward = target_a - eye_a
    if np.linalg.norm(forward) == 0.0:
        raise SceneError(f"camera position and target are the same point {eye_a.tolist()}; move one")
    side = _cross(tuple(forward.tolist()), tuple(float(v) for v in up))  # type: ignore[arg-type]
    if math.sqrt(side[0] ** 2 + side[1] ** 2 + side[2] ** 2) < 1e-9:
        raise SceneError(
            f"camera looks along its up vector {list(up)}; pass another up, e.g. (0, 0, -1)"
        )
    return matrix44.create_look_at(eye_a, target_a, np.asarray(up, np.float64)).T.astype(np.float32)


def perspective(
    fov_y: float, aspect: float, near: float, far: float, shift: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """``clip_from_view`` for an OpenGL perspective projection, ``(4, 4) float32``.

    ``fov_y`` in degrees; ``shift`` moves the image centre like a tilt-shift lens, in units of
    half the image (``shift=(0, 0.1)`` moves the principal point up by 5 % of the height), so a
    level camera can put the horizon above or below the middle of the frame.
    """
    m = matrix44.create_perspective_projection(fov_y, aspect, near, far).T.astype(np.float32)
    m[0, 2] = -float(shift[0])
    m[1, 2] = -float(shift[1])
    return m


def orthographic(left: float, right: float, bottom: float, top: float, near: float, far: float) -> np.ndarray:
    """``clip_from_view`` for an OpenGL orthographic projection, ``(4, 4) float32``."""
    return matrix44.create_orthogonal_projection(left, right, bottom, top, near, far).T.astype(np.float32)


def normal_matrix(model: np.ndarray) -> np.ndarray:
    """``(3, 3) float32`` for transforming normals: the inverse-transpose of the upper 3x3 up to
    a positive factor (shaders normalise), computed as its cofactor matrix so that it exists for
    every matrix: a node scaled to zero on an axis (a keyframe passing through 0) still gets
    normals, and one scaled to zero on every axis gets zero normals (it draws nothing)."""
    # In Python floats (float64, the very products and differences np.cross takes): numpy's
    # per-call overhead on 3-vectors was most of this function's time, called per node per frame.
    (a0, b0, c0), (a1, b1, c1), (a2, b2, c2) = model[:3, :3].tolist()  # columns: (a*, b*, c*)
    x = _cross((b0, b1, b2), (c0, c1, c2))
    y = _cross((c0, c1, c2), (a0, a1, a2))
    z = _cross((a0, a1, a2), (b0, b1, b2))  # det(m) * inv(m).T has the columns x, y, z
    det = a0 * x[0] + a1 * x[1] + a2 * x[2]
    sign = -1.0 if det < 0 else 1.0
    return np.array([[x[i] * sign, y[i] * sign, z[i] * sign] for i in range(3)], np.float32)


def mirrors(model: np.ndarray) -> bool:
    """Whether ``model`` turns space inside out (its upper 3x3 has a negative determinant: an
    odd number of negative scale factors), which turns its triangles' winding around (glTF
    2.0, 3.7.4: such a node's front faces wind clockwise)."""
    (a0, b0, c0), (a1, b1, c1), (a2, b2, c2) = model[:3, :3].tolist()
    return a0 * (b1 * c2 - b2 * c1) - b0 * (a1 * c2 - a2 * c1) + c0 * (a1 * b2 - a2 * b1) < 0.0


def _cross(a: tuple[float, float, float], b: tuple[float, float, float]) -> tuple[float, float, float]:
    """``np.cross(a, b)`` of two 3-vectors of Python floats, in the same operations."""
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def gl_bytes(m: np.ndarray) -> bytes:
    """A matrix as the bytes a GLSL ``mat3``/``mat4`` uniform expects (column-major float32)."""
    return np.ascontiguousarray(np.asarray(m, np.float32).T).tobytes()
