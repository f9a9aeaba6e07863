"""Cameras: where the foreground is seen from. Plain data; matrices come from
`hybridscene.transforms`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import transforms
from .._validate import check_finite
from ..errors import SceneError
from .node import _vec3

if TYPE_CHECKING:
    from ..plate import Plate

__all__ = ["OrthographicCamera", "PerspectiveCamera"]


class _LookAtCamera:
    """What every camera shares: where it is, where it looks, and its clip range (validated on
    every set, so animation tracks cannot feed it a NaN)."""

    def _place(self, position: Any, target: Any, up: Any, near: float, far: float) -> None:
        self.position = position
        self.target = target
        self.up = _vec3(up, "camera up")
        self.near = check_finite(near, "camera near", positive=True)
        self.far = check_finite(far, "camera far", positive=True)
        if self.far <= self.near:
            raise SceneError(f"camera far ({far}) must be greater than near ({near})")

    @property
    def position(self) -> np.ndarray:
        """``(3,) float32`` eye position in metres, world frame."""
        return self._position

    @position.setter
    def position(self, value: Any) -> None:
        self._position = _vec3(value, "camera position")

    @property
    def target(self) -> np.ndarray:
        """``(3,) float32`` the point looked at."""
        return self._target

    @target.setter
    def target(self, value: Any) -> None:
        self._target = _vec3(value, "camera target")

    def view_matrix(self) -> np.ndarray:
        """``(4, 4) float32`` view-from-world."""
        # Asked for several times a frame (plates, relief, meshes, shadows): the last one is kept.
        key = (self._position.tobytes(), self._target.tobytes(), np.asarray(self.up, np.float64).tobytes())
        cached = getattr(self, "_view", None)
        if cached is not None and cached[0] == key:
            return cached[1].copy()
        try:
            view = transforms.look_at(self._position, self._target, self.up)
        except ValueError as exc:
            raise SceneError(str(exc)) from None
        self._view = (key, view)
        return view.copy()


class PerspectiveCamera(_LookAtCamera):
    """A pinhole camera with an optional lens shift.

    Args:
        fov_y: vertical field of view in degrees.
        position: ``(3,)`` eye position in metres, world frame.
        target: ``(3,)`` point looked at.
        up: world direction that appears up.
        near: near clip distance in metres (``0 < near < far``).
        far: far clip distance in metres.
        shift: ``(x, y)`` lens shift in half-image units; a level camera with ``shift=(0, s)``
            sees its horizon at ``s`` in normalised device coordinates.
        zoom: magnification of the whole image about its centre (1 = none), on top of
            ``fov_y`` and ``shift``: the frame shows the middle ``1 / zoom`` of what it would.
            A scene's ``overscan="zoom"`` sets it so that a moving camera never sees past its
            plate.
    """

    def __init__(
        self,
        *,
        fov_y: float = 50.0,
        position: Any = (0.0, 1.5, 6.0),
        target: Any = (0.0, 1.0, 0.0),
        up: Any = (0.0, 1.0, 0.0),
        near: float = 0.1,
        far: float = 20000.0,
        shift: tuple[float, float] = (0.0, 0.0),
        zoom: float = 1.0,
    ) -> None:
        self.fov_y = fov_y
        self.zoom = zoom
        self._place(position, target, up, near, far)
        self.shift = (check_finite(shift[0], "camera shift x"), check_finite(shift[1], "camera shift y"))

    @classmethod
    def from_plate(cls, plate: Plate, **overrides: Any) -> PerspectiveCamera:
        """The camera a plate was painted with (level, at the plate's camera height, looking down
        -Z, horizon where the plate has it), so foreground objects stand on the plate's ground.
        Plates without a known camera get a level camera at 1.6 m with the horizon centred. A
        cylindrical or equirectangular plate gets a level pinhole camera at its centre, looking
        down -Z (azimuth 0, the plate's middle column): the plate's ``fov_y`` for a cylindrical
        plate (its rows are a pinhole's), 60 degrees for an equirectangular one, the horizon at
        the same fraction of the frame's height as of the plate's."""
        cam = plate.camera
        if cam is None:
            kwargs: dict[str, Any] = dict(fov_y=50.0, position=(0, 1.6, 0), target=(0, 1.6, -1))
        elif cam.projection != "perspective":
            fov_y = cam.fov_y if cam.projection == "cylindrical" else 60.0
            kwargs = dict(fov_y=fov_y, position=(0.0, cam.height, 0.0), target=(0.0, cam.height, -1.0),
                          shift=(0.0, cam.lens_shift))
        else:
            kwargs = dict(
                fov_y=cam.fov_y,
                position=(0.0, cam.height, 0.0),
                target=(0.0, cam.height, -1.0),
                shift=(0.0, cam.lens_shift),
            )
        kwargs.update(overrides)
        return cls(**kwargs)

    @property
    def fov_y(self) -> float:
        return self._fov_y

    @fov_y.setter
    def fov_y(self, value: float) -> None:
        v = check_finite(value, "camera fov_y")
        if not 1.0 <= v <= 179.0:
            raise SceneError(f"camera fov_y must be between 1 and 179 degrees, got {value!r}")
        self._fov_y = v

    @property
    def zoom(self) -> float:
        """Magnification about the image centre (1 = none); see the class docs."""
        return self._zoom

    @zoom.setter
    def zoom(self, value: float) -> None:
        v = check_finite(value, "camera zoom", positive=True)
        if not 0.01 <= v <= 100.0:
            raise SceneError(f"camera zoom must be between 0.01 and 100 (1 = none), got {value!r}")
        self._zoom = v

    def projection_matrix(self, aspect: float) -> np.ndarray:
        """``(4, 4) float32`` clip-from-view for a target of ``aspect`` = width / height."""
        m = transforms.perspective(self._fov_y, aspect, self.near, self.far, self.shift)
        if self._zoom != 1.0:
            m[:2, :3] *= np.float32(self._zoom)  # scales NDC x, y about the centre
        return m

    def __repr__(self) -> str:
        return (
            f"PerspectiveCamera(fov_y={self._fov_y}, position={self._position.tolist()}, "
            f"target={self._target.tolist()})"
        )


class OrthographicCamera(_LookAtCamera):
    """A parallel-projection camera (technical views, 2D-style scenes, maps).

    Args:
        height: the height of the view in metres (the width follows the frame's aspect).
        position: ``(3,)`` eye position in metres, world frame.
        target: ``(3,)`` point looked at.
        up: world direction that appears up.
        near: near clip distance in metres.
        far: far clip distance in metres.

    A plate's depth belongs to the perspective camera it was painted with, so with an
    orthographic camera the plate is a flat backdrop: no occlusion by its depth.
    """

    def __init__(
        self,
        *,
        height: float = 10.0,
        position: Any = (0.0, 5.0, 20.0),
        target: Any = (0.0, 0.0, 0.0),
        up: Any = (0.0, 1.0, 0.0),
        near: float = 0.1,
        far: float = 1000.0,
    ) -> None:
        self.height = height
        self._place(position, target, up, near, far)

    @property
    def height(self) -> float:
        """Height of the view in metres."""
        return self._height

    @height.setter
    def height(self, value: float) -> None:
        self._height = check_finite(value, "camera height", positive=True)

    def projection_matrix(self, aspect: float) -> np.ndarray:
        """``(4, 4) float32`` clip-from-view for a target of ``aspect`` = width / height."""
        h = self.height / 2.0
        return transforms.orthographic(-h * aspect, h * aspect, -h, h, self.near, self.far)

    def __repr__(self) -> str:
        return f"OrthographicCamera(height={self.height}, position={self.position.tolist()}, target={self.target.tolist()})"


def look_at_basis(camera: Any) -> tuple[np.ndarray, np.ndarray]:
    """Eye ``(3,)`` and world-from-view rotation ``(3, 3)`` (columns: right, up, backward) of a
    camera's ``position``, ``target`` and ``up``, in float64: the basis `transforms.look_at`
    builds, without its per-call overhead (for numpy work over many poses)."""
    eye = np.asarray(camera.position, np.float64)
    forward = np.asarray(camera.target, np.float64) - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(camera.up, np.float64))
    right /= np.linalg.norm(right)
    return eye, np.stack([right, np.cross(right, forward), -forward], 1)
