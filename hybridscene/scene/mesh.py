"""Meshes: triangle geometry plus a material. Plain numpy data; the GPU copy is made and cached by
the renderer the first time a geometry is drawn."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import SceneError
from .material import SHADING, Material, Texture

__all__ = ["SHADING", "Geometry", "Material", "Mesh", "Texture"]


LOD_SEGMENTS = (8, 12, 16, 24, 32, 48, 64, 96, 128)
"""The segment counts an adaptive primitive is drawn with (`Geometry.for_screen`)."""

LOD_TOLERANCE_PX = 0.25
"""How far, in pixels, a tessellated outline may fall inside the round one."""


def segments_for(radius_px: float, tolerance_px: float | None = None) -> int:
    """The fewest segments whose polygon stays within ``tolerance_px`` (default
    `LOD_TOLERANCE_PX`) of a circle ``radius_px`` pixels in radius on screen:
    ``pi / acos(1 - tolerance / radius)`` (the sagitta of a segment)."""
    tolerance_px = LOD_TOLERANCE_PX if tolerance_px is None else float(tolerance_px)
    r = float(radius_px)
    if not math.isfinite(r):
        return 1 << 30
    if r <= tolerance_px:
        return 3
    return math.ceil(math.pi / math.acos(1.0 - tolerance_px / r))


class Geometry:
    """Indexed triangles.

    Args:
        positions: ``(N, 3) float32`` vertex positions in metres, local frame.
        normals: ``(N, 3) float32`` unit normals; computed from the faces (area-weighted) if omitted.
        indices: ``(M, 3) uint32`` counter-clockwise triangles (front faces), or ``None`` for
            consecutive triples of vertices.
        uvs: ``(N, 2) float32`` texture coordinates, ``(0, 0)`` = the image's bottom-left (the
            OBJ/glTF-after-flip convention); default 0.
        colors: ``(N, 3|4)`` vertex colours, sRGB-encoded floats in 0..1 or uint8; default white.
        uvs1: ``(N, 2) float32`` a second set of texture coordinates (glTF ``TEXCOORD_1``, for
            textures with ``texcoord=1``); default: the same as ``uvs``.
        tangents: ``(N, 4) float32`` unit tangents along +u with the bitangent's sign in ``w``
            (glTF ``TANGENT``), for normal maps; computed from ``uvs`` when omitted.
    """

    def __init__(self, positions: Any, normals: Any = None, indices: Any = None, *, uvs: Any = None, colors: Any = None,
                 uvs1: Any = None, tangents: Any = None) -> None:
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
        if not np.isfinite(nrm).all():
            raise SceneError("normals contain NaN or inf")
        uv = np.zeros((len(pos), 2), np.float32) if uvs is None else np.ascontiguousarray(uvs, dtype=np.float32)
        if uv.shape != (len(pos), 2):
            raise SceneError(f"uvs must be ({len(pos)}, 2), got shape {uv.shape}")
        uv1 = uv if uvs1 is None else np.ascontiguousarray(uvs1, dtype=np.float32)
        if uv1.shape != (len(pos), 2):
            raise SceneError(f"uvs1 must be ({len(pos)}, 2), got shape {uv1.shape}")
        tan = None
        if tangents is not None:
            tan = np.ascontiguousarray(tangents, dtype=np.float32)
            if tan.shape != (len(pos), 4) or not np.isfinite(tan).all():
                raise SceneError(f"tangents must be a finite ({len(pos)}, 4) array (xyz, handedness w), got shape {tan.shape}")
        self.has_colors = colors is not None
        col = np.ones((len(pos), 4), np.float32) if colors is None else _rgba(colors, len(pos))
        for arr in (pos, nrm, idx, uv, uv1, col, tan):
            if arr is not None:
                arr.setflags(write=False)
        self.positions, self.normals, self.indices, self.uvs, self.colors = pos, nrm, idx, uv, col
        self.uvs1 = uv1
        self._tangents = tan
        self._lod: tuple[Callable[[int], Geometry], int] | None = None  # (builder, segments) of a primitive
        self._levels: dict[int, Geometry] = {}
        self._closed: bool | None = None

    def for_screen(self, radius_px: float) -> Geometry:
        """This geometry tessellated for a size on screen: a primitive (sphere, cylinder, cone)
        seen ``radius_px`` pixels in radius gets the fewest segments (of `LOD_SEGMENTS`, at most
        its own) whose outline stays within `LOD_TOLERANCE_PX` of the round one; anything else,
        or a primitive made with ``adaptive=False``, is itself."""
        if self._lod is None:
            return self
        build, segments = self._lod
        need = segments_for(radius_px)
        level = next((n for n in LOD_SEGMENTS if n >= need), segments)
        if level >= segments:
            return self
        found = self._levels.get(level)
        if found is None:
            found = self._levels[level] = build(level)
        return found

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(min, max)`` corners of the axis-aligned bounding box, local frame."""
        if not hasattr(self, "_bounds"):
            self._bounds = (self.positions.min(axis=0), self.positions.max(axis=0))
        return self._bounds

    @property
    def closed(self) -> bool:
        """The triangles bound solids and face out of them: once vertices at the same position
        (within a millionth of the box's diagonal) are welded and triangles that collapse are
        dropped, every edge is shared by exactly two triangles running along it in opposite
        directions, and each connected shell encloses a positive volume. Whatever direction a
        closed geometry is seen from, its back faces lie behind its front faces, so a depth-only
        pass may skip them (the sun's shadow map does). Computed once, on first use."""
        if self._closed is None:
            self._closed = _closed(self.positions, self.indices)
        return self._closed

    @property
    def vertex_count(self) -> int:
        return len(self.positions)

    @property
    def triangle_count(self) -> int:
        return len(self.indices)

    @property
    def tangents(self) -> np.ndarray:
        """``(N, 4) float32`` tangents (xyz along +u, w = +-1 the bitangent's handedness): the
        given ones, else computed once from ``uvs`` (per-triangle UV gradients accumulated per
        vertex, made orthogonal to the normal); an arbitrary perpendicular where UVs are degenerate."""
        if self._tangents is None:
            self._tangents = _vertex_tangents(self.positions, self.normals, self.uvs, self.indices)
            self._tangents.setflags(write=False)
        return self._tangents

    VERTEX_FORMAT = "3f 3f 2f 4f 2f 4f"
    """Layout of `interleaved` rows: position, normal, uv, colour, uv1, tangent."""

    VERTEX_ATTRIBUTES = ("in_position", "in_normal", "in_uv", "in_color", "in_uv1", "in_tangent")
    """The shader attribute names of `VERTEX_FORMAT`'s columns."""

    def interleaved(self) -> np.ndarray:
        """``(N, 18) float32`` rows of position, normal, uv, colour, uv1, tangent, as the mesh shader reads them."""
        return np.ascontiguousarray(np.hstack([self.positions, self.normals, self.uvs, self.colors, self.uvs1, self.tangents]),
                                    dtype=np.float32)

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
        pos, nrm, idx, uv = [], [], [], []
        for i, (n, u, v) in enumerate(faces):
            corners = [n - u - v, n + u - v, n + u + v, n - u + v]
            pos.extend(c * h for c in corners)
            nrm.extend([n] * 4)
            uv.extend([(0, 0), (1, 0), (1, 1), (0, 1)])
            b = 4 * i
            idx.extend([(b, b + 1, b + 2), (b, b + 2, b + 3)])
        return cls(np.array(pos), np.array(nrm), np.array(idx), uvs=np.array(uv))

    @classmethod
    def sphere(cls, radius: float = 0.5, *, segments: int = 48, rings: int = 24, adaptive: bool = False) -> Geometry:
        """A UV sphere centred on the origin, smooth-shaded.

        ``adaptive=True``: drawn with fewer segments and rings when small on screen (see
        `for_screen`): for scenes of many small primitives on a CPU rasteriser, whose vertex
        stage runs on one thread. The outline stays within `LOD_TOLERANCE_PX` of the full one,
        but the shading, interpolated over larger triangles, changes a little (measured in
        ``docs/performance.md``), so it is off by default."""
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
        uv = np.stack([p / (2 * math.pi), 1.0 - t / math.pi], axis=-1).reshape(-1, 2)
        out = cls(pos, n, idx[area > 1e-12], uvs=uv)
        if adaptive:
            out._lod = (lambda k: cls.sphere(radius, segments=k, rings=max(2, round(rings * k / segments)),
                                             adaptive=False), segments)
        return out

    @classmethod
    def plane(cls, width: float = 1.0, depth: float = 1.0) -> Geometry:
        """A flat rectangle in the XZ plane facing +Y, centred on the origin."""
        w, d = float(width) / 2, float(depth) / 2
        pos = np.array([[-w, 0, d], [w, 0, d], [w, 0, -d], [-w, 0, -d]])
        uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])
        return cls(pos, np.tile([0.0, 1.0, 0.0], (4, 1)), [[0, 1, 2], [0, 2, 3]], uvs=uv)

    @classmethod
    def cylinder(cls, radius: float = 0.5, height: float = 1.0, *, segments: int = 48, adaptive: bool = False) -> Geometry:
        """A capped cylinder along +Y, centred on the origin (``adaptive`` as for `sphere`)."""
        return cls._lathe(float(radius), float(radius), float(height), segments, adaptive)

    @classmethod
    def cone(cls, radius: float = 0.5, height: float = 1.0, *, segments: int = 48, adaptive: bool = False) -> Geometry:
        """A cone along +Y (apex up), centred on the origin, with a base cap (``adaptive`` as
        for `sphere`)."""
        return cls._lathe(float(radius), 0.0, float(height), segments, adaptive)

    @classmethod
    def _lathe(cls, r0: float, r1: float, height: float, segments: int, adaptive: bool = False) -> Geometry:
        out = cls._lathe_mesh(r0, r1, height, segments)
        if adaptive:
            out._lod = (lambda k: cls._lathe_mesh(r0, r1, height, k), segments)
        return out

    @classmethod
    def _lathe_mesh(cls, r0: float, r1: float, height: float, segments: int) -> Geometry:
        if segments < 3:
            raise SceneError(f"segments must be >= 3, got {segments}")
        a = np.linspace(0.0, 2.0 * math.pi, segments + 1)
        cos, sin = np.cos(a), -np.sin(a)  # counter-clockwise seen from +Y
        y0, y1 = -height / 2, height / 2
        slope = (r0 - r1) / height  # outward normal tilts up for a cone
        side_n = np.stack([cos, np.full_like(cos, slope), sin], 1)
        side_n /= np.linalg.norm(side_n, axis=1, keepdims=True)
        bottom = np.stack([r0 * cos, np.full_like(cos, y0), r0 * sin], 1)
        top = np.stack([r1 * cos, np.full_like(cos, y1), r1 * sin], 1)
        pos = [bottom, top]
        nrm = [side_n, side_n]
        uv = [np.stack([a / (2 * math.pi), np.zeros_like(a)], 1), np.stack([a / (2 * math.pi), np.ones_like(a)], 1)]
        n = segments + 1
        i = np.arange(segments)
        idx = [np.stack([i, i + 1, i + n], 1), np.stack([i + 1, i + n + 1, i + n], 1)]
        base = 2 * n
        for y, r, ny in ((y0, r0, -1.0), (y1, r1, 1.0)):
            if r <= 0:
                continue
            ring = np.stack([r * cos, np.full_like(cos, y), r * sin], 1)
            pos += [ring, np.array([[0.0, y, 0.0]])]
            nrm += [np.tile([0.0, ny, 0.0], (n + 1, 1))]
            uv += [np.stack([0.5 + 0.5 * cos, 0.5 + 0.5 * sin], 1), np.array([[0.5, 0.5]])]
            center = base + n
            c = np.full(segments, center)
            tri = np.stack([c, base + i, base + i + 1], 1) if ny > 0 else np.stack([c, base + i + 1, base + i], 1)
            idx.append(tri)
            base += n + 1
        return cls(np.concatenate(pos), np.concatenate(nrm), np.concatenate(idx), uvs=np.concatenate(uv))


def _rgba(colors: Any, n: int) -> np.ndarray:
    arr = np.asarray(colors)
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] not in (3, 4):
        raise SceneError(f"colors must be ({n}, 3) or ({n}, 4), got shape {arr.shape}")
    arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    if arr.shape[1] == 3:
        arr = np.hstack([arr, np.ones((n, 1), np.float32)])
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
        raise SceneError("vertex colors must be floats in 0..1 or uint8")
    return np.ascontiguousarray(arr)


def _closed(pos: np.ndarray, idx: np.ndarray) -> bool:
    """`Geometry.closed` of these positions and triangles."""
    p = pos.astype(np.float64)
    lo = p.min(axis=0)
    step = float(np.linalg.norm(p.max(axis=0) - lo)) * 1e-6
    if step <= 0.0:
        return False
    q = np.rint((p - lo) / step).astype(np.int64)  # 0 .. 1e6: 21 bits an axis
    _, weld = np.unique((q[:, 0] << 42) | (q[:, 1] << 21) | q[:, 2], return_inverse=True)
    tri = weld.reshape(-1)[idx]
    keep = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 2] != tri[:, 0])
    tri = tri[keep]
    if len(tri) < 4:
        return False
    n = int(tri.max()) + 1
    a, b = tri.reshape(-1), tri[:, [1, 2, 0]].reshape(-1)
    forward = np.sort(a * n + b)
    if (forward[1:] == forward[:-1]).any() or not np.array_equal(forward, np.sort(b * n + a)):
        return False  # an open edge, an edge of three or more faces, or two faces wound against each other
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    shells, label = connected_components(coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n)), directed=False)
    v0, v1, v2 = (p[idx[keep, k]] - lo for k in range(3))
    volume = np.bincount(label[tri[:, 0]], np.einsum("ij,ij->i", v0, np.cross(v1, v2)) / 6.0, minlength=shells)
    return bool((volume > (step * 1e3) ** 3).all())


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


def _vertex_tangents(pos: np.ndarray, nrm: np.ndarray, uv: np.ndarray, idx: np.ndarray) -> np.ndarray:
    p = pos.astype(np.float64)
    t = uv.astype(np.float64)
    i0, i1, i2 = idx[:, 0], idx[:, 1], idx[:, 2]
    e1, e2 = p[i1] - p[i0], p[i2] - p[i0]
    d1, d2 = t[i1] - t[i0], t[i2] - t[i0]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    ok = np.abs(det) > 1e-12
    r = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)[:, None]
    sdir = (e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * r  # d position / d u
    tdir = (e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) * r  # d position / d v
    flat = idx.reshape(-1)  # every corner of every triangle, with its triangle's gradients
    n_vert = len(p)
    tan1 = np.stack([np.bincount(flat, np.repeat(sdir[:, c], 3), minlength=n_vert) for c in range(3)], 1)
    tan2 = np.stack([np.bincount(flat, np.repeat(tdir[:, c], 3), minlength=n_vert) for c in range(3)], 1)
    n = nrm.astype(np.float64)
    tang = tan1 - n * np.sum(n * tan1, axis=1, keepdims=True)  # Gram-Schmidt
    length = np.linalg.norm(tang, axis=1, keepdims=True)
    bad = length[:, 0] < 1e-12
    if bad.any():  # no usable UVs: any unit vector perpendicular to the normal
        a = np.where(np.abs(n[bad, 0:1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
        fallback = np.cross(n[bad], a)
        tang[bad] = fallback
        length[bad] = np.linalg.norm(fallback, axis=1, keepdims=True)
    tang /= np.maximum(length, 1e-12)
    w = np.where(np.sum(np.cross(n, tang) * tan2, axis=1) < 0.0, -1.0, 1.0)
    return np.ascontiguousarray(np.hstack([tang, w[:, None]]), dtype=np.float32)


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
    def sphere(cls, radius: float = 0.5, *, segments: int = 48, rings: int = 24, adaptive: bool = False,
               **material_kwargs: Any) -> Mesh:
        """A sphere mesh, e.g. ``Mesh.sphere(0.5, color="gold")`` (``adaptive``: see
        `Geometry.for_screen`)."""
        return cls(Geometry.sphere(radius, segments=segments, rings=rings, adaptive=adaptive), **material_kwargs)

    @classmethod
    def plane(cls, width: float = 1.0, depth: float = 1.0, **material_kwargs: Any) -> Mesh:
        """A flat rectangle facing +Y."""
        return cls(Geometry.plane(width, depth), **material_kwargs)

    @classmethod
    def cylinder(cls, radius: float = 0.5, height: float = 1.0, *, segments: int = 48, adaptive: bool = False,
                 **material_kwargs: Any) -> Mesh:
        """A capped cylinder along +Y."""
        return cls(Geometry.cylinder(radius, height, segments=segments, adaptive=adaptive), **material_kwargs)

    @classmethod
    def cone(cls, radius: float = 0.5, height: float = 1.0, *, segments: int = 48, adaptive: bool = False,
             **material_kwargs: Any) -> Mesh:
        """A cone along +Y, apex up."""
        return cls(Geometry.cone(radius, height, segments=segments, adaptive=adaptive), **material_kwargs)

    def __repr__(self) -> str:
        return f"Mesh({self.geometry.triangle_count} triangles, color={self.material.color!r})"
