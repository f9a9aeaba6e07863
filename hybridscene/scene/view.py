"""How the scene's camera sees the plate: the exact homography of a camera that turns and
zooms where the plate was painted from, and when the plate must be drawn with parallax instead.
Numpy only (no GL): the compositor and the occlusion test upload the results."""

from __future__ import annotations

import numpy as np

from ..plate import Plate
from ..plate.projection import cover_rect, plate_from_direction, plate_lens
from .camera import OrthographicCamera, PerspectiveCamera

__all__ = ["MOVE_TOLERANCE", "mapping_lens", "plate_mapping", "uses_parallax"]

Camera = PerspectiveCamera | OrthographicCamera

MOVE_TOLERANCE = 1e-3
"""Metres the camera may stand off the plate's camera before ``parallax="auto"`` draws the
plate as a relief (below it, the exact homography is used)."""


def plate_mapping(plate: Plate, camera: Camera, size: tuple[int, int]) -> np.ndarray:
    """``(3, 3) float32`` homography from a frame pixel's NDC ``(x, y, 1)`` to the plate's image
    coordinates ``(u w, v w, w)`` (``u, v`` in 0..1, ``v = 0`` at the image's top).

    When the plate knows its camera and the scene's camera is a perspective one, each pixel
    looks along its own view ray into the plate: turning the camera pans across the plate and
    narrowing its field of view zooms in, exactly (a rotating camera sees a homography of the
    plate whatever its depth). ``w`` is then the ratio of the plate's depth axis to the view
    ray's: a plate depth ``d`` lies at view depth ``d / w``. Otherwise (no plate camera, or an
    orthographic camera) the plate is fit like CSS ``object-fit: cover`` and ``w = 1``.

    A cylindrical or equirectangular plate is no homography: for those (seen by a perspective
    camera) the matrix gives the world direction of the pixel's ray (view depth 1 per unit), and
    the shaders map it through the plate's projection (`mapping_lens`,
    ``shaders/include/plate_projection.glsl``; `hybridscene.plate.projection.plate_uv` in numpy),
    which gives the same ``(u w, v w, w)``.
    """
    cam = getattr(plate, "camera", None)
    if cam is None or not isinstance(camera, PerspectiveCamera):
        sx, sy, ox, oy = cover_rect(plate.size, size)
        return np.array([[sx / 2, 0, ox + sx / 2], [0, -sy / 2, oy + sy / 2], [0, 0, 1]], np.float32)
    w, h = size
    proj = camera.projection_matrix(w / h).astype(np.float64)
    # NDC -> view direction with z = -1 (undoes the projection's scale and lens shift).
    a = np.array([[1 / proj[0, 0], 0, proj[0, 2] / proj[0, 0]],
                  [0, 1 / proj[1, 1], proj[1, 2] / proj[1, 1]],
                  [0, 0, -1.0]])
    rot = camera.view_matrix()[:3, :3].astype(np.float64).T  # world-from-view rotation
    if cam.projection != "perspective":
        return (rot @ a).astype(np.float32)
    return (plate_from_direction(plate) @ rot @ a).astype(np.float32)


def mapping_lens(plate: Plate | None, camera: Camera) -> tuple[int, tuple[float, float, float]]:
    """How the shaders turn `plate_mapping`'s result into plate coordinates: ``(projection,
    lens)`` as `hybridscene.plate.projection.plate_lens` gives them for a cylindrical or
    equirectangular plate seen by a perspective camera, ``(0, (0, 0, 0))`` (the mapping is a
    homography already) otherwise."""
    if plate is None or plate.camera is None or not isinstance(camera, PerspectiveCamera):
        return 0, (0.0, 0.0, 0.0)
    return plate_lens(plate)


def uses_parallax(parallax: bool | str, plate: Plate | None, camera: Camera) -> bool:
    """Whether ``plate`` is drawn as a relief (a surface displaced by its depth) for ``camera``.

    ``parallax``: ``"auto"`` (when the camera has moved off the plate's camera), ``True``
    (always, when possible) or ``False`` (never: the plate is a backdrop at infinity).
    Possible needs a plate with depth and a known perspective camera (cylindrical and
    equirectangular plates are always drawn at infinity, through their projection: a camera
    that moves off their centre sees no parallax), and a perspective scene camera.
    """
    if parallax is False or plate is None or plate.depth is None or plate.camera is None:
        return False
    if plate.camera.projection != "perspective":
        return False
    if not isinstance(camera, PerspectiveCamera):
        return False
    if parallax is True:
        return True
    eye = np.array([0.0, plate.camera.height, 0.0])
    return float(np.linalg.norm(np.asarray(camera.position, np.float64) - eye)) > MOVE_TOLERANCE
