"""glTF 2.0 files (``.gltf`` with external or ``data:`` buffers and images, ``.glb``): meshes,
metallic-roughness materials, textures with their samplers, the node hierarchy and node
animations, read with numpy alone.

Conventions, stated once:

* glTF and hybridscene agree on units (metres), axes (+Y up, +Z the model's front) and
  quaternions ``(x, y, z, w)``; node transforms are taken over as they are.
* glTF texture coordinates start at the image's top-left (v down); `Geometry` uvs start at its
  bottom-left, so every ``TEXCOORD_n`` is read as ``(u, 1 - v)``. Tangents keep their ``w``: in
  both conventions the bitangent ``cross(normal, tangent) * w`` points up the image.
* glTF colour factors and ``COLOR_0`` are linear; `Material` colours and vertex colours are
  sRGB-encoded, so they are encoded on the way in (emissive factors above 1, and
  ``KHR_materials_emissive_strength``, go into ``Material.emissive_strength``).
* Every glTF node becomes one [`Node`][hybridscene.Node] (named by the file or
  ``"<stem>/node<i>"``) so animations can drive it; a mesh of several primitives hangs one child
  node per primitive (``"<node>/<k>"``) under it.

Anything malformed or unsupported is one `SceneError` line naming the file; a texture that cannot
be used is a `MeshFileWarning` naming the file and the texture, and the material keeps the rest.
"""

from __future__ import annotations

import base64
import io
import json
import math
import struct
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .. import transforms
from ..colors import linear_to_srgb
from ..errors import MeshFileWarning, SceneError
from .gltf_animation import Animation, read_animations
from .material import Material, Texture
from .mesh import Geometry, Mesh
from .node import Node

__all__ = ["MeshFileWarning", "read_gltf"]


class _Bad(Exception):
    """A malformed or unsupported file; the message is completed with the file's name."""


_COMPONENTS = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_WRAP = {10497: "repeat", 33071: "clamp", 33648: "mirror"}
_NEAREST, _LINEAR = 9728, 9729
_MODES = {0: "points", 1: "lines", 2: "line loop", 3: "line strip"}
# KHR_mesh_quantization: integer attributes, normalised or not; the accessor reader takes them all.
_SUPPORTED_EXTENSIONS = {"KHR_materials_emissive_strength", "KHR_materials_unlit", "KHR_mesh_quantization", "EXT_texture_webp"}
_GLB_MAGIC, _JSON_CHUNK, _BIN_CHUNK = 0x46546C67, 0x4E4F534A, 0x004E4942


def read_gltf(path: Path, group: Node) -> dict[str, Animation]:
    """Read a ``.gltf``/``.glb`` file into ``group``: the roots of the file's default scene become
    its children, one `Node` per glTF node. Returns the animations by name, in file order
    (unnamed ones ``"animation<i>"``). [`load_mesh`][hybridscene.load_mesh] calls this.

    Raises:
        SceneError: the file is malformed, needs an unsupported extension, or has no triangles.
    """
    try:
        return _Reader(path).build(group)
    except SceneError as exc:
        msg = str(exc)
        raise SceneError(msg if path.name in msg else f"glTF file {str(path)!r}: {msg}") from None
    except _Bad as exc:
        raise SceneError(f"glTF file {str(path)!r}: {exc}") from None
    except OSError as exc:
        raise SceneError(f"cannot read mesh file {str(path)!r}: {exc.strerror or exc}") from None
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, struct.error, OverflowError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise SceneError(f"glTF file {str(path)!r} is malformed ({what})") from None


# -- reading --------------------------------------------------------------------------------------
class _Reader:
    """One file: its JSON, buffers and the objects made from them (each made once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = str(path)
        data = path.read_bytes()
        self.bin: bytes | None = None
        if data[:4] == b"glTF":
            self.doc = self._glb(data)
        else:
            try:
                self.doc = json.loads(data.decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise _Bad(f"is neither glTF JSON nor GLB ({exc})") from None
        if not isinstance(self.doc, dict) or not isinstance(self.doc.get("asset"), dict):
            raise _Bad("has no 'asset' object; is it a glTF file?")
        version = str(self.doc["asset"].get("version", ""))
        if not version.startswith("2."):
            raise _Bad(f"is glTF {version or '(no version)'}; only glTF 2.x is supported (convert 1.0 files with "
                       "gltf-pipeline or Blender)")
        missing = sorted(set(self.doc.get("extensionsRequired", [])) - _SUPPORTED_EXTENSIONS)
        if missing:
            raise _Bad(f"requires the extension{'s' if len(missing) > 1 else ''} {', '.join(missing)}, which "
                       f"hybridscene does not read (supported: {', '.join(sorted(_SUPPORTED_EXTENSIONS))}); "
                       "re-export the file without it (e.g. no Draco compression)")
        self._buffers: dict[int, bytes] = {}
        self._accessors: dict[int, np.ndarray] = {}
        self._images: dict[int, np.ndarray | str] = {}
        self._textures: dict[tuple[int, int], Texture | None] = {}
        self._materials: dict[int, Material] = {}
        self._meshes: dict[int, list[Mesh]] = {}
        self._warned: set[Any] = set()

    def _glb(self, data: bytes) -> dict:
        if len(data) < 20:
            raise _Bad("is a truncated GLB (shorter than its header)")
        magic, version, length = struct.unpack_from("<III", data, 0)
        if magic != _GLB_MAGIC or version != 2:
            raise _Bad(f"is a GLB of version {version}; only version 2 is supported")
        if length > len(data):
            raise _Bad(f"is a truncated GLB ({len(data)} bytes, header says {length})")
        doc = None
        offset = 12
        while offset + 8 <= length:
            size, kind = struct.unpack_from("<II", data, offset)
            chunk = data[offset + 8: offset + 8 + size]
            if len(chunk) != size:
                raise _Bad("is a truncated GLB (a chunk runs past the end)")
            if kind == _JSON_CHUNK and doc is None:
                try:
                    doc = json.loads(chunk.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise _Bad(f"has a GLB JSON chunk that is not JSON ({exc})") from None
            elif kind == _BIN_CHUNK and self.bin is None:
                self.bin = chunk
            offset += 8 + size + (-size % 4)
        if doc is None:
            raise _Bad("is a GLB without a JSON chunk")
        return doc

    def _list(self, key: str) -> list:
        value = self.doc.get(key, [])
        if not isinstance(value, list):
            raise _Bad(f"'{key}' must be a list")
        return value

    def _item(self, key: str, index: Any) -> dict:
        items = self._list(key)
        if not isinstance(index, int) or not 0 <= index < len(items) or not isinstance(items[index], dict):
            raise _Bad(f"refers to {key}[{index}], but it has {len(items)} {key}")
        return items[index]

    def warn(self, key: Any, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"{self.label}: {message}", MeshFileWarning, stacklevel=4)

    # -- bytes ----------------------------------------------------------------------------------
    def _uri_bytes(self, uri: str, what: str) -> bytes:
        if uri.startswith("data:"):
            head, _, payload = uri.partition(",")
            if not head.endswith(";base64"):
                return urllib.parse.unquote_to_bytes(payload)
            try:
                return base64.b64decode(payload, validate=False)
            except ValueError as exc:
                raise _Bad(f"{what} has a data: URI that is not base64 ({exc})") from None
        if "://" in uri:
            raise _Bad(f"{what} points at {uri!r}; only files beside the glTF and data: URIs are read (no downloads)")
        file = self.path.parent / urllib.parse.unquote(uri)
        try:
            return file.read_bytes()
        except OSError as exc:
            raise _Bad(f"{what} file {str(file)!r} cannot be read ({exc.strerror or exc})") from None

    def buffer(self, index: int) -> bytes:
        if index not in self._buffers:
            info = self._item("buffers", index)
            if "uri" in info:
                data = self._uri_bytes(info["uri"], f"buffer {index}")
            elif index == 0 and self.bin is not None:
                data = self.bin
            else:
                raise _Bad(f"buffer {index} has no uri and there is no GLB binary chunk")
            if len(data) < int(info.get("byteLength", 0)):
                raise _Bad(f"buffer {index} has {len(data)} bytes, fewer than its byteLength {info['byteLength']}")
            self._buffers[index] = data
        return self._buffers[index]

    def view(self, index: int) -> tuple[bytes, int, int, int | None]:
        """``(buffer bytes, offset, length, stride)`` of a bufferView."""
        info = self._item("bufferViews", index)
        data = self.buffer(info["buffer"])
        offset, length = int(info.get("byteOffset", 0)), int(info["byteLength"])
        if offset < 0 or offset + length > len(data):
            raise _Bad(f"bufferView {index} (bytes {offset}..{offset + length}) runs past its buffer ({len(data)} bytes)")
        stride = info.get("byteStride")
        return data, offset, length, int(stride) if stride else None

    def accessor(self, index: int) -> np.ndarray:
        """``(count, components)`` (or ``(count,)`` for scalars) as stored, normalised ints as float32."""
        if index not in self._accessors:
            arr = self._read_accessor(index)
            arr.setflags(write=False)
            self._accessors[index] = arr
        return self._accessors[index]

    def _read_accessor(self, index: int) -> np.ndarray:
        info = self._item("accessors", index)
        ctype, kind, count = info["componentType"], info["type"], int(info["count"])
        if ctype not in _COMPONENTS or kind not in _WIDTH:
            raise _Bad(f"accessor {index} has componentType {ctype} / type {kind!r}, which glTF 2.0 does not define")
        width = _WIDTH[kind]
        if kind.startswith("MAT") and np.dtype(_COMPONENTS[ctype]).itemsize < 4:
            raise _Bad(f"accessor {index}: byte and short matrices (column padding) are not supported")
        what = f"accessor {index} ({count} x {kind})"
        if "bufferView" in info:
            arr = self._read(info["bufferView"], info.get("byteOffset", 0), ctype, count, width, what, strided=True)
        else:
            arr = np.zeros((count, width), _COMPONENTS[ctype])
        sparse = info.get("sparse")
        if sparse:
            n, ids, vals = int(sparse["count"]), sparse["indices"], sparse["values"]
            idx = self._read(ids["bufferView"], ids.get("byteOffset", 0), ids["componentType"], n, 1, f"sparse {what}")
            if n and idx.max() >= count:
                raise _Bad(f"{what} has sparse indices past its count")
            arr[idx[:, 0].astype(np.int64)] = self._read(vals["bufferView"], vals.get("byteOffset", 0), ctype, n, width,
                                                         f"sparse {what}")
        if info.get("normalized") and ctype != 5126:
            arr = np.maximum(arr.astype(np.float32) / float(np.iinfo(arr.dtype).max), -1.0).astype(np.float32)
        return arr[:, 0] if width == 1 else arr

    def _read(self, view: int, offset: int, ctype: int, count: int, width: int, what: str, strided: bool = False
              ) -> np.ndarray:
        """``(count, width)`` elements from a bufferView (with its byteStride if ``strided``), a native copy."""
        if ctype not in _COMPONENTS:
            raise _Bad(f"{what} has componentType {ctype}, which glTF 2.0 does not define")
        data, view_offset, length, stride = self.view(view)
        dtype = np.dtype(_COMPONENTS[ctype]).newbyteorder("<")
        elem = dtype.itemsize * width
        stride = (stride if strided else None) or elem
        offset = int(offset)
        if offset < 0 or (count and offset + stride * (count - 1) + elem > length):
            raise _Bad(f"{what} runs past bufferView {view} ({length} bytes)")
        arr = np.ndarray((count, width), dtype, buffer=data, offset=view_offset + offset, strides=(stride, dtype.itemsize))
        return arr.astype(dtype.newbyteorder("="))

    # -- images and textures ---------------------------------------------------------------------
    def _image(self, index: int) -> np.ndarray | str:
        """The decoded image, or why it cannot be used."""
        if index not in self._images:
            try:
                self._images[index] = self._decode_image(index)
            except _Bad as exc:
                self._images[index] = str(exc)
        return self._images[index]

    def _decode_image(self, index: int) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        info = self._item("images", index)
        mime = info.get("mimeType")
        if "uri" in info:
            uri = info["uri"]
            if uri.startswith("data:"):
                mime = mime or uri[5:].split(";")[0].split(",")[0]
            file = self.path.parent / urllib.parse.unquote(uri) if not uri.startswith("data:") else None
            if file is not None and not file.is_file():
                raise _Bad(f"its image file {str(file)!r} does not exist")
            data = self._uri_bytes(uri, f"image {index}")
        elif "bufferView" in info:
            buf, offset, length, _ = self.view(info["bufferView"])
            data = buf[offset: offset + length]
        else:
            raise _Bad("its image has neither a uri nor a bufferView")
        if mime in ("image/ktx2", "image/vnd-ms.dds"):
            raise _Bad(f"its image is {mime}, which hybridscene does not decode (use PNG, JPEG or WebP)")
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                mode = "RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB"
                return np.asarray(img.convert(mode))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise _Bad(f"its image ({mime or 'unknown type'}) cannot be decoded ({exc}); use PNG, JPEG or WebP") from None

    def texture(self, info: Any, slot: str, material: str) -> Texture | None:
        """The `Texture` of a textureInfo, or ``None`` with a warning naming the file and texture."""
        if not isinstance(info, dict) or "index" not in info:
            raise _Bad(f"{material} has a {slot} without an 'index'")
        index, texcoord = info["index"], int(info.get("texCoord", 0))
        tex = self._item("textures", index)
        label = f"texture {index}"
        ext = tex.get("extensions", {})
        source = ext.get("EXT_texture_webp", {}).get("source", tex.get("source"))
        if source is not None:
            img_info = self._item("images", source)
            what = img_info.get("name") or (img_info["uri"] if "uri" in img_info and not img_info["uri"].startswith("data:")
                                            else None)
            label += f" (image {source}{', ' + repr(what) if what else ''})"
        elif tex.get("name"):
            label += f" ({tex['name']!r})"
        if "KHR_texture_transform" in info.get("extensions", {}):
            self.warn(("transform", index), f"{label} used as the {slot} of {material} has a KHR_texture_transform, "
                                            "which is not supported; it is drawn without the transform")
        problem = None
        if texcoord not in (0, 1):
            problem = f"it reads TEXCOORD_{texcoord}; only TEXCOORD_0 and TEXCOORD_1 are supported"
        elif source is None:
            others = ", ".join(sorted(ext)) or "none"
            problem = f"it has no PNG/JPEG/WebP source (extensions: {others})"
        if problem is None:
            key = (index, texcoord)
            if key not in self._textures:
                image = self._image(source)
                if isinstance(image, str):
                    problem = image
                else:
                    self._textures[key] = self._make_texture(image, tex.get("sampler"), texcoord)
            if key in self._textures:
                return self._textures[key]
        self.warn((index, texcoord, problem), f"{label} used as the {slot} of {material} cannot be used: {problem}; "
                                              "the material keeps its other settings")
        return None

    def _make_texture(self, image: np.ndarray, sampler_index: int | None, texcoord: int) -> Texture:
        sampler = self._item("samplers", sampler_index) if sampler_index is not None else {}
        wrap = (_WRAP.get(sampler.get("wrapS", 10497), "repeat"), _WRAP.get(sampler.get("wrapT", 10497), "repeat"))
        mag, minf = sampler.get("magFilter"), sampler.get("minFilter")
        return Texture(image, wrap=wrap, filter="nearest" if mag == _NEAREST else "linear",
                       mipmaps=minf not in (_NEAREST, _LINEAR), texcoord=texcoord)

    # -- materials ----------------------------------------------------------------------------------
    def material(self, index: int | None) -> Material:
        if index is None:
            return Material()  # the library's one default (glTF's default material is the same idea)
        if index not in self._materials:
            self._materials[index] = self._make_material(index)
        return self._materials[index]

    def _make_material(self, index: int) -> Material:
        info = self._item("materials", index)
        label = f"material {index}" + (f" ({info['name']!r})" if info.get("name") else "")
        pbr = info.get("pbrMetallicRoughness", {})
        ext = info.get("extensions", {})
        base = [float(v) for v in pbr.get("baseColorFactor", (1.0, 1.0, 1.0, 1.0))]
        emissive = np.array([float(v) for v in info.get("emissiveFactor", (0.0, 0.0, 0.0))])
        strength = float(ext.get("KHR_materials_emissive_strength", {}).get("emissiveStrength", 1.0))
        peak = float(emissive.max())
        if peak > 1.0:  # keep the colour in 0..1, the rest in the strength
            emissive, strength = emissive / peak, strength * peak
        mode = str(info.get("alphaMode", "OPAQUE")).lower()
        if mode not in ("opaque", "mask", "blend"):
            raise _Bad(f"{label} has alphaMode {info.get('alphaMode')!r}; glTF allows OPAQUE, MASK and BLEND")
        mat = Material(
            color=_srgb(base[:3]),
            opacity=min(max(base[3], 0.0), 1.0),
            shading="unlit" if "KHR_materials_unlit" in ext else "pbr",
            metallic=min(max(float(pbr.get("metallicFactor", 1.0)), 0.0), 1.0),
            roughness=min(max(float(pbr.get("roughnessFactor", 1.0)), 0.0), 1.0),
            emissive=_srgb(emissive),
            emissive_strength=strength,
            alpha_mode=mode,
            alpha_cutoff=min(max(float(info.get("alphaCutoff", 0.5)), 0.0), 1.0),
            double_sided=bool(info.get("doubleSided", False)),
        )
        slots = [("texture", pbr.get("baseColorTexture"), "base colour texture"),
                 ("metallic_roughness_texture", pbr.get("metallicRoughnessTexture"), "metallic-roughness texture"),
                 ("normal_texture", info.get("normalTexture"), "normal texture"),
                 ("occlusion_texture", info.get("occlusionTexture"), "occlusion texture"),
                 ("emissive_texture", info.get("emissiveTexture"), "emissive texture")]
        for field, tex_info, slot in slots:
            if tex_info is not None:
                setattr(mat, field, self.texture(tex_info, slot, label))
        if mat.normal_texture is not None:
            mat.normal_scale = float(info["normalTexture"].get("scale", 1.0))
        if mat.occlusion_texture is not None:
            mat.occlusion_strength = min(max(float(info["occlusionTexture"].get("strength", 1.0)), 0.0), 1.0)
        return mat

    # -- meshes -----------------------------------------------------------------------------------
    def primitives(self, mesh_index: int) -> list[Mesh]:
        """One `Mesh` per drawable primitive; nodes that use the same glTF mesh share its
        geometries and materials (each node gets its own `Mesh` objects)."""
        if mesh_index not in self._meshes:
            info = self._item("meshes", mesh_index)
            out = []
            for k, prim in enumerate(info.get("primitives", [])):
                where = f"mesh {mesh_index}" + (f" ({info['name']!r})" if info.get("name") else "") + f" primitive {k}"
                mesh = self._primitive(prim, where)
                if mesh is not None:
                    out.append(mesh)
            self._meshes[mesh_index] = out
        return [Mesh(m.geometry, m.material) for m in self._meshes[mesh_index]]

    def _primitive(self, prim: dict, where: str) -> Mesh | None:
        mode = int(prim.get("mode", 4))
        if mode in _MODES:
            self.warn(("mode", where), f"{where} draws {_MODES[mode]}, which hybridscene does not draw; skipped")
            return None
        if mode not in (4, 5, 6):
            raise _Bad(f"{where} has mode {mode}; glTF defines 0..6")
        attrs = prim.get("attributes", {})
        if "POSITION" not in attrs:
            raise _Bad(f"{where} has no POSITION attribute")
        pos = self.accessor(attrs["POSITION"]).astype(np.float32)
        n = len(pos)
        if pos.ndim != 2 or pos.shape[1] != 3:
            raise _Bad(f"{where}: POSITION must be VEC3")
        if not np.isfinite(pos).all():
            raise _Bad(f"{where} has NaN or inf vertex positions")
        idx = self.accessor(prim["indices"]).astype(np.int64) if "indices" in prim else np.arange(n, dtype=np.int64)
        if idx.ndim != 1:
            raise _Bad(f"{where}: indices must be SCALAR")
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise _Bad(f"{where} has indices past its {n} vertices")
        tris = _triangles(idx, mode)
        if len(tris) == 0:
            return None

        def attr(key: str, widths: tuple[int, ...]) -> np.ndarray | None:
            if key not in attrs:
                return None
            arr = self.accessor(attrs[key])
            if arr.ndim != 2 or arr.shape[1] not in widths or len(arr) != n:
                raise _Bad(f"{where}: {key} must be {n} x VEC{'/'.join(map(str, widths))}, got shape {arr.shape}")
            return arr.astype(np.float32)

        normals, tangents = attr("NORMAL", (3,)), attr("TANGENT", (4,))
        uvs = [attr(f"TEXCOORD_{i}", (2,)) for i in (0, 1)]
        uvs = [None if uv is None else np.stack([uv[:, 0], 1.0 - uv[:, 1]], axis=1) for uv in uvs]
        colors = attr("COLOR_0", (3, 4))
        if colors is not None:
            colors = np.clip(colors, 0.0, 1.0)
            colors[:, :3] = linear_to_srgb(colors[:, :3])
        if normals is not None:
            length = np.linalg.norm(normals, axis=1, keepdims=True)
            normals = np.where(length > 1e-12, normals / np.maximum(length, 1e-12), (0.0, 1.0, 0.0)).astype(np.float32)
        if tangents is not None:
            tangents[:, 3] = np.where(tangents[:, 3] < 0, -1.0, 1.0)
        if normals is None:  # glTF: flat normals; give each triangle its own three vertices
            flat = tris.reshape(-1)
            pos, tris = pos[flat], np.arange(len(flat)).reshape(-1, 3)
            uvs = [None if uv is None else uv[flat] for uv in uvs]
            colors = None if colors is None else colors[flat]
            tangents = None if tangents is None else tangents[flat]
            p = pos.reshape(-1, 3, 3).astype(np.float64)
            face = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
            length = np.linalg.norm(face, axis=1, keepdims=True)
            face = np.where(length > 0, face / np.maximum(length, 1e-30), (0.0, 1.0, 0.0))
            normals = np.repeat(face, 3, axis=0).astype(np.float32)
        material = self.material(prim.get("material"))
        try:
            geometry = Geometry(pos, normals, tris, uvs=uvs[0], uvs1=uvs[1], colors=colors, tangents=tangents)
        except SceneError as exc:
            raise _Bad(f"{where}: {exc}") from None
        if tangents is None and material.normal_texture is not None and material.normal_texture.texcoord == 1:
            # Tangents follow the normal map's own texture coordinates (Geometry computes them from
            # uvs, on first use, otherwise).
            from .mesh import _vertex_tangents

            geometry._tangents = _vertex_tangents(geometry.positions, geometry.normals, geometry.uvs1, geometry.indices)
            geometry._tangents.setflags(write=False)
        return Mesh(geometry, material)

    # -- nodes ------------------------------------------------------------------------------------
    def build(self, model: Node) -> dict[str, Animation]:
        nodes = self._list("nodes")
        made: list[Node | None] = [None] * len(nodes)
        parent_of: dict[int, int] = {}
        for i, info in enumerate(nodes):
            for c in info.get("children", []):
                self._item("nodes", c)
                if c in parent_of or c == i:
                    raise _Bad(f"node {c} has more than one parent (or is its own child)")
                parent_of[c] = i
        scenes = self._list("scenes")
        if scenes:
            scene_index = self.doc.get("scene", 0)
            roots = list(self._item("scenes", scene_index).get("nodes", []))
        else:
            roots = [i for i in range(len(nodes)) if i not in parent_of]
        for r in roots:
            if r in parent_of:
                raise _Bad(f"scene lists node {r} as a root, but it is node {parent_of[r]}'s child")
        triangles = 0
        stack = [(r, model) for r in reversed(roots)]
        seen: set[int] = set()
        while stack:
            i, parent = stack.pop()
            if i in seen:
                raise _Bad(f"node {i} appears twice in the scene (a cycle?)")
            seen.add(i)
            node, count = self._node(i)
            triangles += count
            made[i] = parent.add(node)
            stack.extend((c, node) for c in reversed(nodes[i].get("children", [])))
        if triangles == 0:
            raise _Bad("contains no triangles")
        return read_animations(self._list("animations"), made, self.accessor, self.warn)

    def _node(self, i: int) -> tuple[Node, int]:
        info = self._item("nodes", i)
        name = info.get("name") or f"{self.path.stem}/node{i}"
        node = Node(str(name))
        if "matrix" in info:
            node.position, node.rotation, node.scale = _decompose(info["matrix"], i)
        else:
            node.position = info.get("translation", (0.0, 0.0, 0.0))
            node.rotation = info.get("rotation", (0.0, 0.0, 0.0, 1.0))
            node.scale = info.get("scale", (1.0, 1.0, 1.0))
        if "skin" in info:
            self.warn(("skin", i), f"node {i} ({name!r}) is skinned; skinning is not supported, so it is drawn in its "
                                   "bind pose")
        count = 0
        if "mesh" in info:
            meshes = self.primitives(info["mesh"])
            count = sum(m.geometry.triangle_count for m in meshes)
            if len(meshes) == 1:
                node.mesh = meshes[0]
            else:
                for k, mesh in enumerate(meshes):
                    node.add(Node(f"{name}/{k}", mesh=mesh))
        return node, count


def _srgb(linear: Any) -> tuple[float, float, float]:
    lin = np.clip(np.asarray(linear, np.float64), 0.0, 1.0)
    rgb = np.where(lin >= 1.0, 1.0, np.clip(linear_to_srgb(lin), 0.0, 1.0))  # exactly 1 stays 1
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def _triangles(idx: np.ndarray, mode: int) -> np.ndarray:
    """``(M, 3)`` triangles of a primitive's index list (mode 4 triangles, 5 strip, 6 fan)."""
    if mode == 4:
        return idx[: len(idx) - len(idx) % 3].reshape(-1, 3)
    m = len(idx) - 2
    if m <= 0:
        return np.zeros((0, 3), np.int64)
    i = np.arange(m)
    if mode == 5:  # glTF: {v_i, v_(i+1+i%2), v_(i+2-i%2)}, so every triangle keeps the winding
        return np.stack([idx[i], idx[i + 1 + i % 2], idx[i + 2 - i % 2]], axis=1)
    return np.stack([idx[i + 1], idx[i + 2], np.full(m, idx[0])], axis=1)  # fan: {v_(i+1), v_(i+2), v_0}


def _decompose(matrix: Any, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Translation, rotation and scale of a column-major glTF node matrix (glTF forbids skew)."""
    m = np.asarray(matrix, np.float64)
    if m.shape != (16,) or not np.isfinite(m).all():
        raise _Bad(f"node {index} has a matrix that is not 16 finite numbers")
    m = m.reshape(4, 4).T  # stored column by column
    basis = m[:3, :3]
    scale = np.linalg.norm(basis, axis=0)
    if (scale < 1e-12).any():
        raise _Bad(f"node {index} has a matrix with a zero scale; it cannot be drawn")
    if np.linalg.det(basis) < 0:  # a mirror: put it in the x scale
        scale[0] = -scale[0]
    rot = basis / scale
    q = transforms.quat_from_matrix(rot)
    if not math.isclose(float(np.abs(rot.T @ rot - np.eye(3)).max()), 0.0, abs_tol=1e-3):
        raise _Bad(f"node {index} has a matrix with shear, which glTF does not allow")
    return m[:3, 3], q, scale
