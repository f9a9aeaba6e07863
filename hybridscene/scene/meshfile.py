"""Mesh files through trimesh: OBJ (with MTL and textures), glTF/GLB, PLY, STL, and whatever
else trimesh reads. Normals are computed when the file has none."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SceneError
from .mesh import Geometry, Material, Mesh, Texture
from .node import Node

__all__ = ["load_mesh"]


def load_mesh(path: str | os.PathLike[str], *, name: str | None = None, **node_kwargs: Any) -> Node:
    """Load a mesh file as a group [`Node`][hybridscene.Node] with one child per mesh in the file.

    The file's own transforms are applied; units are taken as metres. Materials come from the
    file (base colour, texture with alpha, vertex colours, emissive); change them afterwards
    through ``node.children[i].mesh.material``.

    Args:
        path: the file (``.obj`` with its ``.mtl`` and textures beside it, ``.glb``/``.gltf``,
            ``.ply``, ``.stl``, ...).
        name: the group's name (default: the file's stem).
        node_kwargs: ``position=``, ``rotation=``, ``scale=`` for the group.

    Raises:
        SceneError: the file is missing, unreadable, malformed or has no triangles.
    """
    path = Path(path)
    if not path.is_file():
        raise SceneError(f"mesh file {str(path)!r} does not exist; check the path")
    try:
        import trimesh
    except ImportError:  # pragma: no cover - a core dependency
        raise SceneError("loading mesh files needs trimesh: pip install trimesh") from None
    try:
        loaded = trimesh.load(str(path), force="scene", process=False)
        parts = loaded.dump(concatenate=False) if hasattr(loaded, "dump") else [loaded]
    except Exception as exc:
        raise SceneError(f"cannot read mesh file {str(path)!r}: {type(exc).__name__}: {exc}") from None
    meshes = [m for m in parts if isinstance(m, trimesh.Trimesh) and len(m.faces) > 0]
    if not meshes:
        raise SceneError(f"mesh file {str(path)!r} contains no triangles")
    group = Node(name or path.stem, **node_kwargs)
    for i, tm in enumerate(meshes):
        group.add(Node(f"{group.name}/{i}", mesh=_convert(tm, path)))
    return group


def _convert(tm: Any, path: Path) -> Mesh:
    vertices = np.asarray(tm.vertices, np.float32)
    faces = np.asarray(tm.faces, np.int64)
    if not np.isfinite(vertices).all():
        raise SceneError(f"mesh file {str(path)!r} has NaN or inf vertex positions")
    normals = np.asarray(tm.vertex_normals, np.float32)  # trimesh computes them when missing
    visual = tm.visual
    uvs = colors = None
    material = Material()
    kind = getattr(visual, "kind", None)
    if kind == "texture":
        uv = getattr(visual, "uv", None)
        if uv is not None and len(uv) == len(vertices):
            uvs = np.asarray(uv, np.float32)
        _apply_material(material, getattr(visual, "material", None), path)
    elif kind == "vertex":
        colors = np.asarray(visual.vertex_colors, np.uint8)
    elif kind == "face":
        # One colour per face: give each face its own three vertices (flat colours, and no
        # averaging across faces as trimesh's face-to-vertex conversion would do).
        colors = np.repeat(np.asarray(visual.face_colors, np.uint8), 3, axis=0)
        vertices, normals = vertices[faces].reshape(-1, 3), normals[faces].reshape(-1, 3)
        faces = np.arange(len(vertices)).reshape(-1, 3)
    return Mesh(Geometry(vertices, normals, faces, uvs=uvs, colors=colors), material)


def _apply_material(material: Material, source: Any, path: Path) -> None:
    if source is None:
        return
    rgba = None
    image = None
    factor = getattr(source, "baseColorFactor", None)  # glTF PBR
    if factor is not None:
        rgba = np.asarray(factor, np.float64)
        image = getattr(source, "baseColorTexture", None)
        emissive = getattr(source, "emissiveFactor", None)
        if emissive is not None:
            material.emissive = tuple(float(v) for v in np.clip(np.asarray(emissive, np.float64)[:3], 0, 1))
    else:  # OBJ/MTL "simple" material
        diffuse = getattr(source, "diffuse", None)
        if diffuse is not None:
            rgba = np.asarray(diffuse, np.float64)
        image = getattr(source, "image", None)
        glossiness = getattr(source, "glossiness", None)
        if glossiness:
            material.shading = "blinn-phong"
            material.shininess = float(min(max(glossiness, 1.0), 4096.0))
    if rgba is not None:
        rgba = rgba / 255.0 if rgba.max() > 1.0 else rgba
        material.color = tuple(float(v) for v in np.clip(rgba[:3], 0, 1))
        if len(rgba) > 3:
            material.opacity = float(np.clip(rgba[3], 0, 1))
    if image is not None:
        try:
            material.texture = Texture(image)
        except SceneError as exc:
            raise SceneError(f"texture of {str(path)!r}: {exc}") from None
