"""Mesh files: glTF 2.0 (``.gltf``/``.glb``, read by `hybridscene.scene.gltf`, with materials,
hierarchy and animations) and, through trimesh, OBJ (with its MTL and textures), PLY, STL and
whatever else trimesh reads.

Every file maps onto the one [`Material`][hybridscene.Material] (glTF metallic-roughness):

* glTF: its own materials (see `hybridscene.scene.gltf`).
* OBJ/MTL: ``Kd`` colour, ``map_Kd`` texture, ``d`` (or ``1 - Tr``) opacity, ``Ke``/``map_Ke``
  emissive, ``Ns`` roughness ``sqrt(2 / (Ns + 2))`` (the usual Blinn-Phong-to-GGX match),
  overridden by the PBR extension's ``Pr``, ``Pm`` metallic, ``norm`` (or a ``map_Bump`` that
  holds a normal map) normal texture with ``-bm`` as its scale.
* Files without materials (PLY, STL, an OBJ without MTL): the default ``Material()``, with the
  file's vertex or face colours.

A texture that cannot be used is a [`HybridSceneWarning`][hybridscene.HybridSceneWarning] naming the
file and the texture; the material keeps the rest.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SceneError
from .gltf import MeshFileWarning, read_gltf
from .gltf_animation import Animation, AnimationPlayer
from .mesh import Geometry, Material, Mesh, Texture
from .node import Node

__all__ = ["MeshFileWarning", "Model", "load_mesh"]

GLTF_SUFFIXES = (".gltf", ".glb")


class Model(Node):
    """A loaded mesh file: a group [`Node`][hybridscene.Node] holding the file's nodes, plus its
    animations.

    Attributes:
        source: the file it was loaded from.
        animations: ``{name: Animation}`` in file order (glTF; empty for other formats);
            unnamed animations are ``"animation0"``, ``"animation1"``, ...
    """

    def __init__(self, name: str | None = None, *, source: str | os.PathLike[str] | None = None,
                 animations: dict[str, Animation] | None = None, **node_kwargs: Any) -> None:
        super().__init__(name, **node_kwargs)
        self.source = Path(source) if source is not None else None
        self.animations: dict[str, Animation] = dict(animations or {})

    def play(self, scene: Any, name: str | None = None, *, loop: bool = True, speed: float = 1.0,
             start: float = 0.0) -> AnimationPlayer:
        """Play the animation ``name`` (default: the first) on ``scene``'s clock; see
        `hybridscene.scene.gltf_animation.play`."""
        from .gltf_animation import play

        return play(scene, self, name, loop=loop, speed=speed, start=start)


def load_mesh(path: str | os.PathLike[str], *, name: str | None = None, **node_kwargs: Any) -> Model:
    """Load a mesh file as a group node (a `Model`).

    glTF files keep their node hierarchy (one `Node` per glTF node, named as in the file) and
    their animations (``model.animations``, ``model.play(scene, "Walk")``); other formats give
    one child per mesh, named ``"<name>/<i>"``. The file's own transforms are applied; units are
    taken as metres, +Y up. Materials come from the file (see the module docs); change them
    afterwards through ``node.mesh.material``.

    Args:
        path: the file (``.glb``/``.gltf``, ``.obj`` with its ``.mtl`` and textures beside it,
            ``.ply``, ``.stl``, ...).
        name: the group's name (default: the file's stem).
        node_kwargs: ``position=``, ``rotation=``, ``scale=`` for the group.

    Raises:
        SceneError: the file is missing, unreadable, malformed or has no triangles.
    """
    path = Path(path)
    if not path.is_file():
        raise SceneError(f"mesh file {str(path)!r} does not exist; check the path")
    if path.suffix.lower() in GLTF_SUFFIXES:
        model = Model(name or path.stem, source=path, **node_kwargs)
        model.animations.update(read_gltf(path, model))
        return model
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
    mtl = _ObjMaterials(path) if path.suffix.lower() == ".obj" else None
    group = Model(name or path.stem, source=path, **node_kwargs)
    for i, tm in enumerate(meshes):
        group.add(Node(f"{group.name}/{i}", mesh=_convert(tm, path, mtl)))
    return group


def _convert(tm: Any, path: Path, mtl: _ObjMaterials | None) -> Mesh:
    vertices = np.asarray(tm.vertices, np.float32)
    faces = np.asarray(tm.faces, np.int64)
    if not np.isfinite(vertices).all():
        raise SceneError(f"mesh file {str(path)!r} has NaN or inf vertex positions")
    normals = np.asarray(tm.vertex_normals, np.float32)  # trimesh computes them when missing
    visual = tm.visual
    uvs = colors = None
    material = Material()  # the one default of files without materials
    kind = getattr(visual, "kind", None)
    source = getattr(visual, "material", None)
    if kind == "texture" or (kind is None and source is not None):
        uv = getattr(visual, "uv", None)
        if uv is not None and len(uv) == len(vertices):
            uvs = np.asarray(uv, np.float32)
        if mtl is not None:  # OBJ: only what its MTL says (trimesh invents a grey one when there is none)
            if mtl.has(getattr(source, "name", None)):
                material = mtl.material(source.name)
        else:
            _apply_trimesh_material(material, source, path)
    elif kind == "vertex":
        colors = np.asarray(visual.vertex_colors, np.uint8)
    elif kind == "face":
        # One colour per face: give each face its own three vertices (flat colours, and no
        # averaging across faces as trimesh's face-to-vertex conversion would do).
        colors = np.repeat(np.asarray(visual.face_colors, np.uint8), 3, axis=0)
        vertices, normals = vertices[faces].reshape(-1, 3), normals[faces].reshape(-1, 3)
        faces = np.arange(len(vertices)).reshape(-1, 3)
    return Mesh(Geometry(vertices, normals, faces, uvs=uvs, colors=colors), material)


def _apply_trimesh_material(material: Material, source: Any, path: Path) -> None:
    """A material trimesh made (an OBJ whose MTL we could not read, other formats)."""
    if source is None:
        return
    factor = getattr(source, "baseColorFactor", None)  # PBR
    rgba = factor if factor is not None else getattr(source, "diffuse", None)
    image = getattr(source, "baseColorTexture", None) if factor is not None else getattr(source, "image", None)
    if rgba is not None:
        rgba = np.asarray(rgba, np.float64)
        rgba = rgba / 255.0 if rgba.max() > 1.0 else rgba
        material.color = tuple(float(v) for v in np.clip(rgba[:3], 0, 1))
        if len(rgba) > 3:
            material.opacity = float(np.clip(rgba[3], 0, 1))
    for key, field in (("metallicFactor", "metallic"), ("roughnessFactor", "roughness")):
        if getattr(source, key, None) is not None:
            setattr(material, field, float(np.clip(getattr(source, key), 0, 1)))
    glossiness = getattr(source, "glossiness", None)
    if glossiness is not None and factor is None:
        material.roughness = _ns_roughness(float(glossiness))
    if image is not None:
        try:
            material.texture = Texture(image)
        except SceneError as exc:
            warnings.warn(f"{path}: the base colour texture cannot be used ({exc}); the material keeps its other "
                          "settings", MeshFileWarning, stacklevel=4)


def _ns_roughness(ns: float) -> float:
    """GGX roughness matching a Blinn-Phong exponent: ``sqrt(2 / (Ns + 2))``."""
    return float(min(max(math.sqrt(2.0 / (max(ns, 0.0) + 2.0)), 0.0), 1.0))


# -- OBJ material libraries --------------------------------------------------------------------------
_MAP_OPTIONS = {"-blendu": 1, "-blendv": 1, "-bm": 1, "-boost": 1, "-cc": 1, "-clamp": 1, "-imfchan": 1, "-mm": 2,
                "-texres": 1, "-type": 1, "-o": 3, "-s": 3, "-t": 3}


class _ObjMaterials:
    """The MTL libraries an OBJ names (``mtllib``), read for the material fields trimesh drops."""

    def __init__(self, obj: Path) -> None:
        self.obj = obj
        self.entries: dict[str, tuple[Path, dict[str, str]]] = {}
        self._made: dict[str, Material] = {}
        for lib in self._libraries():
            file = obj.parent / lib
            try:
                text = file.read_text(encoding="utf-8", errors="replace")
            except OSError:
                warnings.warn(f"{obj}: its material library {lib!r} cannot be read ({file} is missing?); its "
                              "meshes get the default material", MeshFileWarning, stacklevel=4)
                continue
            current: dict[str, str] | None = None
            for line in text.splitlines():
                parts = line.strip().split(None, 1)
                if len(parts) < 2 or parts[0].startswith("#"):
                    continue
                key, value = parts[0].lower(), parts[1].strip()
                if key == "newmtl":
                    current = {}
                    self.entries[value] = (file, current)
                elif current is not None:
                    current[key] = value

    def _libraries(self) -> list[str]:
        names: list[str] = []
        with open(self.obj, "rb") as f:
            for raw in f:
                if raw.startswith(b"mtllib"):
                    rest = raw[6:].decode("utf-8", "replace").strip()
                    if rest and rest not in names:
                        names.append(rest)
        return names

    def has(self, name: Any) -> bool:
        return isinstance(name, str) and name in self.entries

    def material(self, name: str) -> Material:
        if name not in self._made:
            self._made[name] = self._make(name)
        return self._made[name]

    def _make(self, name: str) -> Material:
        file, e = self.entries[name]
        self._folder = file.parent  # texture paths are relative to the MTL file
        mat = Material()

        def floats(key: str) -> list[float] | None:
            try:
                return [float(v) for v in e[key].split()] if key in e else None
            except ValueError:
                return None

        kd = floats("kd")
        if kd:
            mat.color = _rgb(kd)
        d, tr = floats("d"), floats("tr")
        if d:
            mat.opacity = min(max(d[0], 0.0), 1.0)
        elif tr:
            mat.opacity = min(max(1.0 - tr[0], 0.0), 1.0)
        ke = floats("ke")
        if ke:
            ke3 = np.clip(np.resize(np.asarray(ke, np.float64), 3), 0.0, None)
            if ke3.max() > 1.0:
                mat.emissive_strength, ke3 = float(ke3.max()), ke3 / ke3.max()
            mat.emissive = _rgb(ke3)
        ns = floats("ns")
        if ns:
            mat.roughness = _ns_roughness(ns[0])
        for key, field in (("pr", "roughness"), ("pm", "metallic")):
            value = floats(key)
            if value:
                setattr(mat, field, min(max(value[0], 0.0), 1.0))
        label = f"material {name!r} of {file}"
        tex, _ = self._texture(e, "map_kd", label)
        if tex is not None:
            mat.texture = tex
        tex, _ = self._texture(e, "map_ke", label)
        if tex is not None:
            mat.emissive_texture = tex
            if not ke:
                mat.emissive = (1.0, 1.0, 1.0)
        for key in ("norm", "map_bump", "bump"):
            if key not in e:
                continue
            tex, options = self._texture(e, key, label)
            if tex is None:
                break
            if key != "norm" and not _looks_like_normal_map(tex.image):
                self._warn(label, key, e[key], "it is a height (bump) map; only normal maps are supported")
                break
            mat.normal_texture = tex
            if "-bm" in options:
                try:
                    mat.normal_scale = float(options["-bm"][0])
                except (ValueError, SceneError):
                    pass
            break
        for key in ("map_pr", "map_pm", "map_d", "map_ks", "map_ns", "disp"):
            if key in e:
                self._warn(label, key, e[key], "this map is not supported (use a glTF file for metallic-roughness "
                                               "textures)")
        return mat

    def _texture(self, e: dict[str, str], key: str, label: str) -> tuple[Texture | None, dict[str, list[str]]]:
        if key not in e:
            return None, {}
        tokens = e[key].split()
        options: dict[str, list[str]] = {}
        i = 0
        while i < len(tokens) and tokens[i].lower() in _MAP_OPTIONS:
            opt, n = tokens[i].lower(), _MAP_OPTIONS[tokens[i].lower()]
            args = []
            i += 1
            while len(args) < n and i < len(tokens) - 1 and (n != 3 or _is_float(tokens[i])):
                args.append(tokens[i])
                i += 1
            options[opt] = args
        file_name = " ".join(tokens[i:])
        if not file_name:
            self._warn(label, key, e[key], "it names no file")
            return None, options
        wrap = "clamp" if options.get("-clamp", ["off"])[0].lower() == "on" else "repeat"
        file = Path(file_name.replace("\\", "/"))
        file = file if file.is_absolute() else self._folder / file
        try:
            return Texture(file, wrap=wrap), options
        except SceneError as exc:
            self._warn(label, key, file_name, str(exc))
            return None, options

    def _warn(self, label: str, key: str, texture: str, problem: str) -> None:
        warnings.warn(f"{self.obj}: texture {texture!r} ({key} of {label}) cannot be used: {problem}; the material "
                      "keeps its other settings", MeshFileWarning, stacklevel=6)


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _rgb(values: Any) -> tuple[float, float, float]:
    v = np.clip(np.resize(np.asarray(values, np.float64), 3), 0.0, 1.0)
    return (float(v[0]), float(v[1]), float(v[2]))


def _looks_like_normal_map(image: np.ndarray) -> bool:
    """A tangent-space normal map is bluish (z up) with red and green about half; a height map is grey."""
    rgb = image[..., :3].reshape(-1, 3).astype(np.float64) / 255.0
    mean = rgb.mean(axis=0)
    return bool(mean[2] > 0.6 and abs(mean[0] - 0.5) < 0.2 and abs(mean[1] - 0.5) < 0.2)
