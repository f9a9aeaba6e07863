"""Meshes: triangle geometry plus a material. Plain numpy data; the GPU copy is made and cached by
the renderer the first time a geometry is drawn."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..colors import Color, ColorFields
from ..errors import SceneError

__all__ = ["SHADING", "Geometry", "Material", "Mesh", "Texture"]

SHADING = ("lambert", "blinn-phong", "unlit")


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
    """

    def __init__(self, positions: Any, normals: Any = None, indices: Any = None, *, uvs: Any = None, colors: Any = None) -> None:
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
        self.has_colors = colors is not None
        col = np.ones((len(pos), 4), np.float32) if colors is None else _rgba(colors, len(pos))
        for arr in (pos, nrm, idx, uv, col):
            arr.setflags(write=False)
        self.positions, self.normals, self.indices, self.uvs, self.colors = pos, nrm, idx, uv, col

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

    VERTEX_FORMAT = "3f 3f 2f 4f"
    """Layout of `interleaved` rows: position, normal, uv, colour."""

    def interleaved(self) -> np.ndarray:
        """``(N, 12) float32`` rows of position, normal, uv, colour, as the mesh shader reads them."""
        return np.ascontiguousarray(np.hstack([self.positions, self.normals, self.uvs, self.colors]), dtype=np.float32)

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
        uv = np.stack([p / (2 * math.pi), 1.0 - t / math.pi], axis=-1).reshape(-1, 2)
        return cls(pos, n, idx[area > 1e-12], uvs=uv)

    @classmethod
    def plane(cls, width: float = 1.0, depth: float = 1.0) -> Geometry:
        """A flat rectangle in the XZ plane facing +Y, centred on the origin."""
        w, d = float(width) / 2, float(depth) / 2
        pos = np.array([[-w, 0, d], [w, 0, d], [w, 0, -d], [-w, 0, -d]])
        uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])
        return cls(pos, np.tile([0.0, 1.0, 0.0], (4, 1)), [[0, 1, 2], [0, 2, 3]], uvs=uv)

    @classmethod
    def cylinder(cls, radius: float = 0.5, height: float = 1.0, *, segments: int = 48) -> Geometry:
        """A capped cylinder along +Y, centred on the origin."""
        return cls._lathe(float(radius), float(radius), float(height), segments)

    @classmethod
    def cone(cls, radius: float = 0.5, height: float = 1.0, *, segments: int = 48) -> Geometry:
        """A cone along +Y (apex up), centred on the origin, with a base cap."""
        return cls._lathe(float(radius), 0.0, float(height), segments)

    @classmethod
    def _lathe(cls, r0: float, r1: float, height: float, segments: int) -> Geometry:
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


class Texture:
    """An image for a material: ``(H, W, 3|4) uint8`` sRGB, top row first, alpha straight.

    Build one from a file path, a PIL image or an array; the GPU copy is made on first use.
    """

    def __init__(self, image: Any) -> None:
        source = None
        if isinstance(image, (str, os.PathLike)):
            source = str(image)
            image = _open_texture(Path(image))
        if not isinstance(image, np.ndarray):
            try:
                mode = "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
                image = np.asarray(image.convert(mode))
            except AttributeError:
                raise SceneError(f"a texture must be an image file, a PIL image or an array, got {type(image).__name__}") from None
        arr = np.ascontiguousarray(image)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4) or 0 in arr.shape:
            raise SceneError(f"texture array must be (H, W, 3|4) uint8, got {arr.shape} {arr.dtype}")
        arr.setflags(write=False)
        self.image = arr
        self.source = source
        self.has_alpha = arr.shape[2] == 4 and bool((arr[..., 3] < 255).any())
        """True when some pixel is not fully opaque (decided once, not per frame)."""

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])

    def __repr__(self) -> str:
        return f"Texture({self.size[0]}x{self.size[1]}{', ' + repr(self.source) if self.source else ''})"


def _open_texture(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise SceneError(f"texture file {str(path)!r} does not exist; check the path")
    try:
        with Image.open(path) as img:
            img.load()
            mode = "RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB"
            return np.asarray(img.convert(mode))
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise SceneError(f"texture file {str(path)!r} is not an image ({exc}); use PNG, JPEG or WebP") from None


@dataclasses.dataclass(eq=False)
class Material(ColorFields):
    """How a surface looks.

    Colours are sRGB-encoded (see `hybridscene.colors`); lighting happens in linear light.
    The base colour is ``color * texture * vertex colour``; alpha is
    ``opacity * texture alpha * vertex alpha``, composited premultiplied. Transparent meshes are
    drawn after opaque ones, sorted back to front.
    """

    color: Color = (0.8, 0.8, 0.8)
    """Base (albedo) colour."""
    opacity: float = 1.0
    """0 = invisible, 1 = opaque."""
    emissive: Color = (0.0, 0.0, 0.0)
    """Light the surface gives off regardless of lights."""
    shading: str = "lambert"
    """``"lambert"`` (diffuse), ``"blinn-phong"`` (diffuse + specular highlight) or ``"unlit"``."""
    specular: float = 0.5
    """Strength of the Blinn-Phong highlight (0..1)."""
    shininess: float = 32.0
    """Blinn-Phong exponent: higher is a smaller, sharper highlight."""
    texture: Texture | Any = None
    """A [`Texture`][hybridscene.Texture], or an image path / PIL image / array (converted on set)."""
    vertex_colors: bool = True
    """Multiply by the geometry's vertex colours when it has them."""

    _color_fields = ("color", "emissive")
    _color_label = "material"

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "opacity":
            v = float(value)
            if not 0.0 <= v <= 1.0:
                raise SceneError(f"material opacity must be in 0..1, got {value!r}")
            value = v
        elif name == "shading" and value not in SHADING:
            raise SceneError(f"unknown shading {value!r}; choose one of {', '.join(SHADING)}")
        elif name in ("specular", "shininess"):
            v = float(value)
            if not (0.0 <= v <= 1.0 if name == "specular" else 1.0 <= v <= 4096.0):
                limits = "0..1" if name == "specular" else "1..4096"
                raise SceneError(f"material {name} must be in {limits}, got {value!r}")
            value = v
        elif name == "texture" and value is not None and not isinstance(value, Texture):
            value = Texture(value)
        super().__setattr__(name, value)

    @property
    def color_rgb(self) -> tuple[float, float, float]:
        """Base colour as sRGB floats in 0..1."""
        return self.rgb["color"]

    @property
    def emissive_rgb(self) -> tuple[float, float, float]:
        """Emissive colour as sRGB floats in 0..1."""
        return self.rgb["emissive"]

    @property
    def transparent(self) -> bool:
        """Drawn in the sorted, back-to-front pass."""
        return self.opacity < 1.0 or (self.texture is not None and self.texture.has_alpha)


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

    @classmethod
    def plane(cls, width: float = 1.0, depth: float = 1.0, **material_kwargs: Any) -> Mesh:
        """A flat rectangle facing +Y."""
        return cls(Geometry.plane(width, depth), **material_kwargs)

    @classmethod
    def cylinder(cls, radius: float = 0.5, height: float = 1.0, *, segments: int = 48, **material_kwargs: Any) -> Mesh:
        """A capped cylinder along +Y."""
        return cls(Geometry.cylinder(radius, height, segments=segments), **material_kwargs)

    @classmethod
    def cone(cls, radius: float = 0.5, height: float = 1.0, *, segments: int = 48, **material_kwargs: Any) -> Mesh:
        """A cone along +Y, apex up."""
        return cls(Geometry.cone(radius, height, segments=segments), **material_kwargs)

    def __repr__(self) -> str:
        return f"Mesh({self.geometry.triangle_count} triangles, color={self.material.color!r})"
