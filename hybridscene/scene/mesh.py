"""Meshes: triangle geometry plus a material. Plain numpy data; the GPU copy is made and cached by
the renderer the first time a geometry is drawn."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ..colors import Color, ColorFields
from ..errors import SceneError

__all__ = ["Geometry", "Material", "Mesh"]


class Geometry:
    """Indexed triangles.

    Args:
        positions: ``(N, 3) float32`` vertex positions in metres, local frame.
        normals: ``(N, 3) float32`` unit normals; computed from the faces (area-weighted) if omitted.
        indices: ``(M, 3) uint32`` counter-clockwise triangles (front faces), or ``None`` for
            consecutive triples of vertices.
    """

    def __init__(self, positions: Any, normals: Any = None, indices: Any = None) -> None:
        pos = np.ascontiguousarray(positions, dtype=np.float32)
        if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) == 0:
            raise SceneError(f"positions must be a non-empty (N, 3) array, got shape {pos.shape}")
        if not np.isfinite(pos).all():
            raise SceneError("positions contain NaN or inf")
        if indices is None:
            if len(pos) % 3:
                raise SceneError(f"{len(pos)} positions without indices is not a whole number of triangles")
            idx = np.arange(len(pos), dtype=np.uint32).reshape(-1, 3)
        else:
            idx = np.ascontiguousarray(indices, dtype=np.int64).reshape(-1, 3)
            if idx.size == 0 or idx.min() < 0 or idx.max() >= len(pos):
                raise SceneError(f"indices must be (M, 3) in 0..{len(pos) - 1}")
            idx = idx.astype(np.uint32)
        nrm = _vertex_normals(pos, idx) if normals is None else np.ascontiguousarray(normals, dtype=np.float32)
        if nrm.shape != pos.shape:
            raise SceneError(f"normals have shape {nrm.shape} but positions {pos.shape}")
        for arr in (pos, nrm, idx):
            arr.setflags(write=False)
        self.positions, self.normals, self.indices = pos, nrm, idx

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(min, max)`` corners of the axis-aligned bounding box, local frame."""
        if not hasattr(self, "_bounds"):
            self._bounds = (self.positions.min(axis=0), self.positions.max(axis=0))
        return self._bounds

    @property
    def vertex_count(self) -> int:
        return len(self.positions)

    @property
    def triangle_count(self) -> int:
        return len(self.indices)

    def interleaved(self) -> np.ndarray:
        """``(N, 6) float32`` rows of position then normal, as the mesh shader reads them."""
        return np.ascontiguousarray(np.hstack([self.positions, self.normals]), dtype=np.float32)

    # -- primitives -----------------------------------------------------------------------------
    @classmethod
    def cube(cls, size: float = 1.0) -> Geometry:
        """An axis-aligned cube of edge ``size`` centred on the origin, flat-shaded (24 vertices)."""
        h = float(size) / 2.0
        faces = []  # (normal, tangent u, tangent v) with u x v = normal, so quads wind CCW
        for axis in range(3):
            for sign in (1.0, -1.0):
                n = np.zeros(3)
                n[axis] = sign
                u = np.zeros(3)
                u[(axis + 1) % 3] = 1.0
                v = np.cross(n, u)
                faces.append((n, u, v))
        pos, nrm, idx = [], [], []
        for i, (n, u, v) in enumerate(faces):
            corners = [n - u - v, n + u - v, n + u + v, n - u + v]
            pos.extend(c * h for c in corners)
            nrm.extend([n] * 4)
            b = 4 * i
            idx.extend([(b, b + 1, b + 2), (b, b + 2, b + 3)])
        return cls(np.array(pos), np.array(nrm), np.array(idx))

    @classmethod
    def sphere(cls, radius: float = 0.5, *, segments: int = 48, rings: int = 24) -> Geometry:
        """A UV sphere centred on the origin, smooth-shaded."""
        if segments < 3 or rings < 2:
            raise SceneError(f"a sphere needs segments >= 3 and rings >= 2, got {segments}, {rings}")
        theta = np.linspace(0.0, math.pi, rings + 1)  # from +Y down to -Y
        phi = np.linspace(0.0, 2.0 * math.pi, segments + 1)
        t, p = np.meshgrid(theta, phi, indexing="ij")
        n = np.stack([np.sin(t) * np.cos(p), np.cos(t), -np.sin(t) * np.sin(p)], axis=-1).reshape(-1, 3)
        cols = segments + 1
        r, c = np.meshgrid(np.arange(rings), np.arange(segments), indexing="ij")
        a = (r * cols + c).ravel()
        b, d = a + cols, a + 1
        e = b + 1
        idx = np.concatenate([np.stack([a, b, d], 1), np.stack([d, b, e], 1)])
        # Drop the degenerate triangles at the poles.
        pos = n * float(radius)
        area = np.linalg.norm(np.cross(pos[idx[:, 1]] - pos[idx[:, 0]], pos[idx[:, 2]] - pos[idx[:, 0]]), axis=1)
        return cls(pos, n, idx[area > 1e-12])


def _vertex_normals(pos: np.ndarray, idx: np.ndarray) -> np.ndarray:
    a, b, c = (pos[idx[:, k]].astype(np.float64) for k in range(3))
    face = np.cross(b - a, c - a)  # area-weighted
    out = np.zeros((len(pos), 3))
    for k in range(3):
        np.add.at(out, idx[:, k], face)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    out = np.divide(out, norm, out=np.zeros_like(out), where=norm > 0)
    out[norm[:, 0] == 0] = (0.0, 1.0, 0.0)
    return out.astype(np.float32)


@dataclasses.dataclass(eq=False)
class Material(ColorFields):
    """How a surface reflects light (Lambert diffuse).

    Colours are sRGB-encoded (see :mod:`hybridscene.colors`); lighting happens in linear light.
    """

    color: Color = (0.8, 0.8, 0.8)
    """Base (albedo) colour."""
    opacity: float = 1.0
    """0 = invisible, 1 = opaque; composited premultiplied."""
    emissive: Color = (0.0, 0.0, 0.0)
    """Light the surface gives off regardless of lights."""

    _color_fields = ("color", "emissive")
    _color_label = "material"

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "opacity":
            v = float(value)
            if not 0.0 <= v <= 1.0:
                raise SceneError(f"material opacity must be in 0..1, got {value!r}")
            value = v
        super().__setattr__(name, value)

    @property
    def color_rgb(self) -> tuple[float, float, float]:
        """Base colour as sRGB floats in 0..1."""
        return self.rgb["color"]

    @property
    def emissive_rgb(self) -> tuple[float, float, float]:
        """Emissive colour as sRGB floats in 0..1."""
        return self.rgb["emissive"]


class Mesh:
    """Geometry drawn with a material. Share one geometry between many meshes freely."""

    def __init__(self, geometry: Geometry, material: Material | None = None, **material_kwargs: Any) -> None:
        if not isinstance(geometry, Geometry):
            raise SceneError(f"Mesh needs a Geometry, got {type(geometry).__name__}")
        if material is not None and material_kwargs:
            raise SceneError("pass either material= or material keywords (color=, ...), not both")
        self.geometry = geometry
        self.material = material if material is not None else Material(**material_kwargs)

    @classmethod
    def cube(cls, size: float = 1.0, **material_kwargs: Any) -> Mesh:
        """A cube mesh, e.g. ``Mesh.cube(1.0, color="#e04020")``."""
        return cls(Geometry.cube(size), **material_kwargs)

    @classmethod
    def sphere(cls, radius: float = 0.5, *, segments: int = 48, rings: int = 24, **material_kwargs: Any) -> Mesh:
        """A sphere mesh, e.g. ``Mesh.sphere(0.5, color="gold")``."""
        return cls(Geometry.sphere(radius, segments=segments, rings=rings), **material_kwargs)

    def __repr__(self) -> str:
        return f"Mesh({self.geometry.triangle_count} triangles, color={self.material.color!r})"
