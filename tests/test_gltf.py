"""glTF 2.0 files: accessors, materials, textures and samplers, the node hierarchy, animations,
warnings and errors; OBJ/MTL, PLY and STL onto the same material; pixels of textured files.

Test files are written here from numpy arrays (`GltfWriter`); trimesh, an independent glTF reader,
checks that the writer's files are valid glTF. BoxTextured is the Khronos sample model.
"""

from __future__ import annotations

import base64
import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

import hybridscene as hs
from conftest import PLATE_RGB, flat_scene, srgb_to_linear
from hybridscene.errors import HybridSceneWarning
from hybridscene.scene.gltf_animation import AnimationPlayer, play

BOX = Path(__file__).parent / "data" / "khronos" / "BoxTextured.gltf"
SIZE = (160, 120)


def srgb(linear):
    """Reference sRGB encode, written independently of the library."""
    c = np.clip(np.asarray(linear, np.float64), 0, 1)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


# -- a small glTF writer ----------------------------------------------------------------------------
class GltfWriter:
    """Builds a glTF 2.0 document and one binary buffer from numpy arrays."""

    CTYPE = {np.dtype(np.int8): 5120, np.dtype(np.uint8): 5121, np.dtype(np.int16): 5122,
             np.dtype(np.uint16): 5123, np.dtype(np.uint32): 5125, np.dtype(np.float32): 5126}
    TYPE = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}

    def __init__(self):
        self.doc = {"asset": {"version": "2.0", "generator": "hybridscene tests"}}
        self.blob = bytearray()

    def add(self, key, item):
        self.doc.setdefault(key, []).append(item)
        return len(self.doc[key]) - 1

    def view(self, data, stride=None):
        self.blob.extend(b"\0" * (-len(self.blob) % 4))
        view = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)}
        if stride:
            view["byteStride"] = stride
        self.blob.extend(data)
        return self.add("bufferViews", view)

    def accessor(self, arr, *, normalized=False, minmax=False, stride=None):
        arr = np.ascontiguousarray(arr)
        cols = 1 if arr.ndim == 1 else arr.shape[1]
        data = arr.tobytes()
        if stride:  # interleave with padding bytes
            row = arr.itemsize * cols
            padded = bytearray()
            for i in range(len(arr)):
                padded += data[i * row:(i + 1) * row] + b"\xab" * (stride - row)
            data = bytes(padded)
        acc = {"bufferView": self.view(data, stride), "componentType": self.CTYPE[arr.dtype], "count": len(arr),
               "type": self.TYPE[cols]}
        if normalized:
            acc["normalized"] = True
        if minmax:
            acc["min"] = np.atleast_1d(arr.min(axis=0)).tolist()
            acc["max"] = np.atleast_1d(arr.max(axis=0)).tolist()
        return self.add("accessors", acc)

    def image(self, rgb, *, uri=None):
        png = io.BytesIO()
        Image.fromarray(np.asarray(rgb, np.uint8)).save(png, "PNG")
        if uri is not None:
            return self.add("images", {"uri": uri})
        return self.add("images", {"bufferView": self.view(png.getvalue()), "mimeType": "image/png"})

    def texture(self, image, sampler=None):
        tex = {"source": image}
        if sampler is not None:
            tex["sampler"] = self.add("samplers", sampler)
        return self.add("textures", tex)

    def primitive(self, positions, indices=None, *, normals=None, uvs=None, uvs1=None, material=None, mode=None, **attrs):
        prim = {"attributes": {"POSITION": self.accessor(np.asarray(positions, np.float32), minmax=True)}}
        if normals is not None:
            prim["attributes"]["NORMAL"] = self.accessor(np.asarray(normals, np.float32))
        for key, uv in (("TEXCOORD_0", uvs), ("TEXCOORD_1", uvs1)):
            if uv is not None:
                prim["attributes"][key] = self.accessor(np.asarray(uv, np.float32))
        for key, value in attrs.items():
            prim["attributes"][key] = value
        if indices is not None:
            prim["indices"] = self.accessor(np.asarray(indices, np.uint16).reshape(-1))
        if material is not None:
            prim["material"] = material
        if mode is not None:
            prim["mode"] = mode
        return prim

    def mesh(self, *primitives, name=None):
        mesh = {"primitives": list(primitives)}
        if name:
            mesh["name"] = name
        return self.add("meshes", mesh)

    def node(self, **info):
        return self.add("nodes", info)

    def scene(self, *roots):
        self.doc["scenes"] = [{"nodes": list(roots)}]
        self.doc["scene"] = 0

    def write(self, path, *, glb=False, external=False):
        path = Path(path)
        doc = json.loads(json.dumps(self.doc))
        blob = bytes(self.blob) + b"\0" * (-len(self.blob) % 4)
        if glb:
            doc["buffers"] = [{"byteLength": len(blob)}]
            js = json.dumps(doc).encode()
            js += b" " * (-len(js) % 4)
            body = struct.pack("<II", len(js), 0x4E4F534A) + js + struct.pack("<II", len(blob), 0x004E4942) + blob
            path.write_bytes(struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body)
        else:
            if external:
                (path.parent / (path.stem + ".bin")).write_bytes(blob)
                uri = path.stem + ".bin"
            else:
                uri = "data:application/octet-stream;base64," + base64.b64encode(blob).decode()
            doc["buffers"] = [{"byteLength": len(blob), "uri": uri}]
            path.write_text(json.dumps(doc, indent=1))
        return path


QUAD_POS = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float32)  # facing +Z
QUAD_UV = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)  # glTF: v = 0 at the image's top
QUAD_IDX = [0, 1, 2, 0, 2, 3]
QUAD_N = np.tile([0, 0, 1], (4, 1))
TEXELS = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 0]]], np.uint8)  # 2x2, top row first


def textured_quad(tmp_path, *, texcoord=0, glb=False, external=False, name="quad"):
    """A 2x2 quad facing +Z with the 2x2 TEXELS texture (nearest, clamp), read through TEXCOORD_<texcoord>."""
    w = GltfWriter()
    if external:  # an image file beside the glTF, its name URI-encoded
        Image.fromarray(TEXELS).save(tmp_path / "the texels.png")
        image = w.image(TEXELS, uri="the%20texels.png")
    else:
        image = w.image(TEXELS)
    tex = w.texture(image, {"magFilter": 9728, "minFilter": 9728, "wrapS": 33071, "wrapT": 33071})
    mat = w.add("materials", {"pbrMetallicRoughness": {"baseColorTexture": {"index": tex, "texCoord": texcoord},
                                                       "metallicFactor": 0.0}})
    uvs, uvs1 = (QUAD_UV, None) if texcoord == 0 else (np.zeros((4, 2)), QUAD_UV)
    w.scene(w.node(name="quad", mesh=w.mesh(w.primitive(QUAD_POS, QUAD_IDX, normals=QUAD_N, uvs=uvs, uvs1=uvs1,
                                                        material=mat))))
    return w.write(tmp_path / f"{name}.{'glb' if glb else 'gltf'}", glb=glb, external=external)


def mesh_nodes(model):
    return [n for n in model.walk() if n.mesh is not None]


def render(ctx, scene, t=0.0):
    with hs.FrameRenderer(ctx, SIZE) as r:
        return r.render_frame(scene, t).astype(int)


# -- files, accessors and the writer against an independent reader ----------------------------------
@pytest.mark.parametrize("glb, external", [(False, False), (False, True), (True, False)])
def test_gltf_and_glb_give_the_same_mesh_and_trimesh_agrees(tmp_path, glb, external):
    path = textured_quad(tmp_path, glb=glb, external=external)
    ref = trimesh.load(str(path), force="mesh", process=False)  # the writer writes valid glTF
    assert np.allclose(np.asarray(ref.vertices), QUAD_POS)
    (node,) = mesh_nodes(hs.load_mesh(path))
    g = node.mesh.geometry
    assert node.name == "quad" and g.positions.tolist() == QUAD_POS.tolist() and g.indices.tolist() == [[0, 1, 2], [0, 2, 3]]
    assert g.uvs.tolist() == [[0, 0], [1, 0], [1, 1], [0, 1]]  # v flipped: (0, 0) = the image's bottom-left
    assert node.mesh.material.texture.image.tolist() == TEXELS.tolist()


def test_box_textured_sample_model(tmp_path):
    model = hs.load_mesh(BOX)
    assert isinstance(model, hs.Node) and model.name == "BoxTextured" and model.animations == {}
    (root,) = model.children
    assert root.name == "BoxTextured/node0"
    # The root's matrix turns +Y to -Z: a -90 degree rotation about X, no scale.
    assert np.allclose(root.rotation, hs.quat_from_euler(x=-90), atol=1e-6) and np.allclose(root.scale, 1)
    assert [c.name for c in root.children] == ["BoxTextured/node2", "BoxTextured/node1"]
    box = root.children[0]
    mat = box.mesh.material
    assert (mat.shading, mat.alpha_mode, mat.double_sided, mat.metallic, mat.roughness) == ("pbr", "opaque", False, 1, 1)
    assert mat.color == (1.0, 1.0, 1.0) and mat.opacity == 1.0
    tex = mat.texture
    assert tex.size == (211, 211) and tex.wrap == ("repeat", "repeat") and tex.filter == "linear" and tex.mipmaps
    assert tex.texcoord == 0
    # The file's own numbers, read here with plain numpy: uv accessor 3 at bufferView 2.
    doc = json.loads(BOX.read_text())
    blob = base64.b64decode(doc["buffers"][0]["uri"].split(",", 1)[1])
    raw_uv = np.frombuffer(blob, np.float32, 48, 576).reshape(24, 2)
    raw_pos = np.frombuffer(blob, np.float32, 72, 288).reshape(24, 3)
    g = box.mesh.geometry
    assert g.positions.tolist() == raw_pos.tolist()
    assert np.array_equal(g.uvs, np.stack([raw_uv[:, 0], 1 - raw_uv[:, 1]], 1))
    png = base64.b64decode(doc["images"][0]["uri"].split(",", 1)[1])
    assert tex.image.tolist() == np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).tolist()


def test_accessor_kinds_stride_normalized_sparse_strips_and_fans(tmp_path):
    w = GltfWriter()
    pos = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 2, 0]], np.float32)
    # Interleaved positions (stride 16), normalised ubyte colours, sparse override of a uv.
    p_acc = w.accessor(pos, stride=16, minmax=True)
    colors = np.array([[255, 0, 0, 255], [0, 255, 0, 128], [0, 0, 255, 255], [128, 128, 128, 255], [0, 0, 0, 0]], np.uint8)
    c_acc = w.accessor(colors, normalized=True)
    uv_acc = w.accessor(np.zeros((5, 2), np.float32))
    w.doc["accessors"][uv_acc]["sparse"] = {
        "count": 1, "indices": {"bufferView": w.view(np.array([3], np.uint8).tobytes()), "componentType": 5121},
        "values": {"bufferView": w.view(np.array([0.25, 0.75], np.float32).tobytes())}}
    attrs = {"COLOR_0": c_acc, "TEXCOORD_0": uv_acc}
    strip = {"attributes": {"POSITION": p_acc, **attrs}, "mode": 5}
    fan = {"attributes": {"POSITION": p_acc}, "indices": w.accessor(np.array([0, 1, 3, 2], np.uint32)), "mode": 6}
    points = {"attributes": {"POSITION": p_acc}, "mode": 0}
    w.scene(w.node(mesh=w.mesh(strip, fan, points)))
    path = w.write(tmp_path / "kinds.gltf")
    with pytest.warns(HybridSceneWarning, match=r"kinds.gltf.*primitive 2 draws points.*skipped"):
        model = hs.load_mesh(path)
    (parent,) = model.children
    assert parent.name == "kinds/node0" and [c.name for c in parent.children] == ["kinds/node0/0", "kinds/node0/1"]
    strip_g, fan_g = (c.mesh.geometry for c in parent.children)
    # Strip: no normals in the file, so flat normals on unwelded triangles; every triangle CCW (+Z).
    p = strip_g.positions[strip_g.indices]
    assert strip_g.triangle_count == 3 and (np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])[:, 2] > 0).all()
    assert np.allclose(strip_g.normals, [0, 0, 1])
    assert p[1].tolist() == [[1, 0, 0], [1, 1, 0], [0, 1, 0]]  # glTF: {v1, v3, v2} for the odd triangle
    # COLOR_0 is linear: encoded to sRGB; alpha stays linear.
    rgba = strip_g.colors[np.flatnonzero((strip_g.positions == [1, 1, 0]).all(1))[0]]
    assert np.allclose(rgba, [*srgb([128 / 255] * 3), 1.0], atol=1e-6)
    assert np.allclose(strip_g.colors[1], [0, 1, 0, 128 / 255], atol=1e-6)
    uv3 = strip_g.uvs[np.flatnonzero((strip_g.positions == [1, 1, 0]).all(1))[0]]
    assert np.allclose(uv3, [0.25, 0.25])  # the sparse value, v flipped
    assert fan_g.positions[fan_g.indices].tolist() == pos[[[1, 3, 0], [3, 2, 0]]].tolist()  # {v_i+1, v_i+2, v_0}


# -- materials, textures, samplers ------------------------------------------------------------------
def material_file(tmp_path, *, missing_texture=False):
    w = GltfWriter()
    img = w.image(np.full((2, 2, 3), 200, np.uint8))
    nearest = w.texture(img, {"magFilter": 9728, "minFilter": 9728, "wrapS": 33071, "wrapT": 33648})
    plain = w.texture(img)
    mr = w.texture(w.image(np.full((2, 2, 3), (0, 128, 255), np.uint8)))
    mats = [
        {"name": "full", "pbrMetallicRoughness": {
            "baseColorFactor": [0.5, 0.25, 1.0, 0.6], "metallicFactor": 0.3, "roughnessFactor": 0.7,
            "baseColorTexture": {"index": nearest}, "metallicRoughnessTexture": {"index": mr}},
         "normalTexture": {"index": plain, "texCoord": 1, "scale": 0.5},
         "occlusionTexture": {"index": plain, "strength": 0.25},
         "emissiveFactor": [2.0, 1.0, 0.0], "emissiveTexture": {"index": plain},
         "extensions": {"KHR_materials_emissive_strength": {"emissiveStrength": 3.0}},
         "alphaMode": "MASK", "alphaCutoff": 0.3, "doubleSided": True},
        {"name": "glass", "alphaMode": "BLEND", "pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 0.5]}},
        {"name": "flat", "extensions": {"KHR_materials_unlit": {}}},
    ]
    if missing_texture:
        w.doc["images"].append({"uri": "textures/gone.png"})
        mats[1]["pbrMetallicRoughness"]["baseColorTexture"] = {"index": w.texture(len(w.doc["images"]) - 1)}
    ids = [w.add("materials", m) for m in mats]
    prims = [w.primitive(QUAD_POS, QUAD_IDX, normals=QUAD_N, uvs=QUAD_UV, uvs1=QUAD_UV[:, ::-1], material=m) for m in ids]
    prims.append(w.primitive(QUAD_POS, QUAD_IDX, normals=QUAD_N))  # no material
    w.scene(w.node(name="m", mesh=w.mesh(*prims)))
    return w.write(tmp_path / "materials.gltf")


def test_materials_factors_textures_and_samplers(tmp_path):
    model = hs.load_mesh(material_file(tmp_path))
    full, glass, flat, default = (n.mesh.material for n in model.children[0].children)
    assert full.color == pytest.approx(tuple(srgb([0.5, 0.25, 1.0]))) and full.opacity == pytest.approx(0.6)
    assert (full.metallic, full.roughness) == pytest.approx((0.3, 0.7))
    # Emissive factor 2 is colour (1, 0.5, 0) linear times 2, times the extension's 3.
    assert full.emissive == pytest.approx(tuple(srgb([1.0, 0.5, 0.0]))) and full.emissive_strength == pytest.approx(6.0)
    assert (full.alpha_mode, full.alpha_cutoff, full.double_sided) == ("mask", pytest.approx(0.3), True)
    assert (full.normal_scale, full.occlusion_strength) == (0.5, 0.25)
    t = full.texture
    assert (t.wrap, t.filter, t.mipmaps, t.texcoord) == (("clamp", "mirror"), "nearest", False, 0)
    n = full.normal_texture
    assert (n.wrap, n.filter, n.mipmaps, n.texcoord) == (("repeat", "repeat"), "linear", True, 1)
    assert full.occlusion_texture.texcoord == 0 and full.emissive_texture is not None
    assert full.metallic_roughness_texture.image[0, 0].tolist() == [0, 128, 255]
    assert (glass.alpha_mode, glass.opacity, glass.double_sided, glass.transparent) == ("blend", 0.5, False, True)
    # glTF's defaults for a material without factors: metallic 1, roughness 1, opaque, one-sided.
    assert (flat.shading, flat.metallic, flat.roughness, flat.alpha_mode) == ("unlit", 1.0, 1.0, "opaque")
    # No material: the library's one default.
    ref = hs.Material()
    assert [getattr(default, f) for f in ("shading", "color", "metallic", "roughness", "alpha_mode")] == \
        [getattr(ref, f) for f in ("shading", "color", "metallic", "roughness", "alpha_mode")]


def test_tangents_from_the_file_or_computed_for_normal_maps(tmp_path):
    model = hs.load_mesh(material_file(tmp_path))
    g = model.children[0].children[0].mesh.geometry  # normal map on TEXCOORD_1 (u and v swapped)
    assert g._tangents is not None  # computed at load time, from the normal map's own uvs
    t = g.tangents
    assert np.allclose(np.linalg.norm(t[:, :3], axis=1), 1) and np.allclose(np.einsum("ij,ij->i", t[:, :3], g.normals), 0)
    # uvs1 = (v, u) of glTF's uvs: +u of the normal map runs down the quad (-Y), and after the v
    # flip +v runs along -X, so the bitangent cross(n, t) * w = -X: w = +1... checked numerically:
    bitangent = np.cross(g.normals, t[:, :3]) * t[:, 3:4]
    assert np.allclose(t[:, :3], [0, -1, 0], atol=1e-6) and np.allclose(bitangent, [-1, 0, 0], atol=1e-6)
    w = GltfWriter()
    tangents = np.tile(np.array([[0, 1, 0, -1]], np.float32), (4, 1))
    w.scene(w.node(mesh=w.mesh(w.primitive(QUAD_POS, QUAD_IDX, normals=QUAD_N, TANGENT=w.accessor(tangents)))))
    (node,) = mesh_nodes(hs.load_mesh(w.write(tmp_path / "tangents.gltf")))
    assert node.mesh.geometry.tangents.tolist() == tangents.tolist()


def test_a_texture_that_cannot_be_used_warns_with_file_and_texture(tmp_path):
    path = material_file(tmp_path, missing_texture=True)
    with pytest.warns(HybridSceneWarning, match=r"materials.gltf: texture 3 \(image 2, 'textures/gone.png'\) used as the "
                                                 r"base colour texture of material 1 \('glass'\) cannot be used: .*gone.png"):
        model = hs.load_mesh(path)
    glass = model.children[0].children[1].mesh.material
    assert glass.texture is None and glass.alpha_mode == "blend" and glass.opacity == 0.5  # the rest kept
    w = GltfWriter()
    w.doc["images"] = [{"uri": "data:image/ktx2;base64,AAAA", "name": "compressed"}]
    tex = w.texture(0)
    mat = w.add("materials", {"pbrMetallicRoughness": {"baseColorTexture": {"index": tex}},
                              "emissiveTexture": {"index": tex, "texCoord": 2}})
    w.scene(w.node(mesh=w.mesh(w.primitive(QUAD_POS, QUAD_IDX, material=mat))))
    with pytest.warns(HybridSceneWarning) as record:
        hs.load_mesh(w.write(tmp_path / "ktx.gltf"))
    messages = sorted(str(r.message) for r in record)
    assert len(messages) == 2 and all("ktx.gltf: texture 0 (image 0, 'compressed')" in m for m in messages)
    assert "image/ktx2" in messages[0] and "TEXCOORD_2" in messages[1]


@pytest.mark.parametrize("break_it, message", [
    (lambda p: p.write_text("{not json"), "neither glTF JSON nor GLB"),
    (lambda p: p.write_bytes(b"glTF\x02\x00\x00\x00\xff\x00\x00\x00"), "truncated GLB"),
    (lambda p: p.write_text(json.dumps({"asset": {"version": "1.0"}})), r"glTF 1.0; only glTF 2.x"),
    (lambda p: p.write_text(json.dumps({"asset": {"version": "2.0"}, "extensionsRequired": ["KHR_draco_mesh_compression"]})),
     "requires the extension KHR_draco_mesh_compression"),
    (lambda p: p.write_text(json.dumps({"asset": {"version": "2.0"}, "buffers": [{"uri": "gone.bin", "byteLength": 4}],
                                        "bufferViews": [{"buffer": 0, "byteLength": 4}],
                                        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3"}],
                                        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
                                        "nodes": [{"mesh": 0}]})), "buffer 0 file .*gone.bin"),
    (lambda p: p.write_text(json.dumps({"asset": {"version": "2.0"}, "nodes": [{"mesh": 3}]})), r"meshes\[3\]"),
    (lambda p: p.write_text(json.dumps({"asset": {"version": "2.0"}, "nodes": [{}]})), "contains no triangles"),
])
def test_malformed_files_are_one_line_naming_the_file(tmp_path, break_it, message):
    path = tmp_path / "bad.gltf"
    break_it(path)
    with pytest.raises(hs.SceneError, match=rf"bad.gltf.*{message}") as info:
        hs.load_mesh(path)
    assert "\n" not in str(info.value) and info.value.__cause__ is None


def test_accessor_past_its_buffer_is_an_error(tmp_path):
    w = GltfWriter()
    w.scene(w.node(mesh=w.mesh(w.primitive(QUAD_POS, QUAD_IDX))))
    w.doc["accessors"][0]["count"] = 400
    with pytest.raises(hs.SceneError, match=r"short.gltf.*accessor 0 .* runs past bufferView"):
        hs.load_mesh(w.write(tmp_path / "short.gltf"))


# -- hierarchy and transforms -------------------------------------------------------------------------
def test_node_hierarchy_transforms_and_names(tmp_path):
    w = GltfWriter()
    prim = w.primitive(QUAD_POS, QUAD_IDX, normals=QUAD_N)
    mesh = w.mesh(prim)
    q = hs.quat_from_euler(y=30).astype(np.float64)
    trs = {"translation": [1.0, 2.0, 3.0], "rotation": q.tolist(), "scale": [2.0, 2.0, 0.5]}
    m = hs.transforms.compose(trs["translation"], q, trs["scale"]).astype(np.float64)
    child = w.node(name="child", mesh=mesh, **trs)
    leaf = w.node(mesh=mesh, matrix=m.T.reshape(-1).tolist())  # column-major
    root = w.node(name="root", children=[child, leaf], translation=[0.0, -1.0, 0.0])
    w.scene(root)
    model = hs.load_mesh(w.write(tmp_path / "tree.gltf"), name="tree", position=(5, 0, 0))
    assert model.name == "tree" and model.position.tolist() == [5, 0, 0]
    (r,) = model.children
    c, leaf_node = r.children
    assert (r.name, c.name, leaf_node.name) == ("root", "child", "tree/node1")
    assert c.position.tolist() == [1, 2, 3] and c.scale.tolist() == [2, 2, 0.5]
    assert np.allclose(leaf_node.local_matrix(), m, atol=1e-6)  # the matrix, decomposed and composed again
    assert np.allclose(leaf_node.world_matrix(), hs.transforms.compose((5, -1, 0), np.array([0, 0, 0, 1.0]), (1, 1, 1)) @ m, atol=1e-5)
    assert c.mesh is not None and leaf_node.mesh is not None and c.mesh.geometry.triangle_count == 2
    # One glTF mesh used by two nodes: one geometry and material, two Mesh objects.
    assert c.mesh is not leaf_node.mesh and c.mesh.geometry is leaf_node.mesh.geometry


# -- animation --------------------------------------------------------------------------------------------
T_KEYS = np.array([0.0, 1.0, 2.5], np.float32)
T_VALUES = np.array([[0, 0, 0], [1, 2, 3], [-1, 0.5, 0.25]], np.float32)
# CUBICSPLINE: (in-tangent, value, out-tangent) per key.
C_VALUES = np.array([[0, 0, 0], [0, 0, 0], [2, 0, 0],
                     [1, 1, 0], [1, 1, 1], [0, -1, 0],
                     [0, 0, 3], [2, 0, 0], [0, 0, 0]], np.float32)
R_VALUES = np.array([hs.quat_from_euler(y=0), hs.quat_from_euler(y=90)], np.float32)


def animated_file(tmp_path):
    w = GltfWriter()
    mesh = w.mesh(w.primitive(QUAD_POS, QUAD_IDX, normals=QUAD_N))
    nodes = [w.node(name=n, mesh=mesh) for n in ("stepper", "linear", "cubic")]
    w.scene(*nodes)
    t_in = w.accessor(T_KEYS)
    samplers = [{"input": t_in, "output": w.accessor(T_VALUES), "interpolation": "STEP"},
                {"input": t_in, "output": w.accessor(T_VALUES)},  # LINEAR by default
                {"input": t_in, "output": w.accessor(C_VALUES), "interpolation": "CUBICSPLINE"},
                {"input": w.accessor(np.array([0.0, 2.0], np.float32)), "output": w.accessor(R_VALUES)},
                {"input": w.accessor(np.array([0.5, 1.5], np.float32)),
                 "output": w.accessor(np.array([[1, 1, 1], [3, 3, 3]], np.float32)), "interpolation": "STEP"}]
    channels = [{"sampler": 0, "target": {"node": 0, "path": "translation"}},
                {"sampler": 1, "target": {"node": 1, "path": "translation"}},
                {"sampler": 2, "target": {"node": 2, "path": "translation"}},
                {"sampler": 3, "target": {"node": 1, "path": "rotation"}},
                {"sampler": 4, "target": {"node": 0, "path": "scale"}},
                {"sampler": 1, "target": {"node": 0, "path": "weights"}}]
    w.add("animations", {"name": "Walk", "samplers": samplers, "channels": channels})
    w.add("animations", {"samplers": [{"input": w.accessor(np.array([0.0, 4.0], np.float32)),
                                       "output": w.accessor(np.array([[0, 0, 0], [0, 4, 0]], np.float32))}],
                         "channels": [{"sampler": 0, "target": {"node": 2, "path": "translation"}}]})
    return w.write(tmp_path / "walker.glb", glb=True)


def load_walker(tmp_path):
    with pytest.warns(HybridSceneWarning, match="walker.glb: animation 0 .'Walk'. channel 5 animates morph target weights"):
        return hs.load_mesh(animated_file(tmp_path))


def test_animation_names_channels_and_duration(tmp_path):
    model = load_walker(tmp_path)
    assert list(model.animations) == ["Walk", "animation1"]
    walk = model.animations["Walk"]
    assert walk.duration == 2.5 and len(walk.channels) == 5  # weights skipped
    assert [n.name for n in walk.nodes] == ["stepper", "linear", "cubic"]
    scene = flat_scene()
    scene.add(model)
    with pytest.raises(hs.SceneError, match=r"no animation 'Run'; its animations: 'Walk', 'animation1'$"):
        model.play(scene, "Run")


def test_animation_at_keyframe_times_is_the_files_value(tmp_path):
    model = load_walker(tmp_path)
    stepper, linear, cubic = model.children
    scene = flat_scene()
    scene.add(model)
    play(scene, model, "Walk", loop=False)
    for k, t in enumerate(T_KEYS):
        scene.update(float(t))
        for node, values in ((stepper, T_VALUES), (linear, T_VALUES), (cubic, C_VALUES[1::3])):
            assert node.position.tolist() == values[k].tolist(), (node.name, t)
    scene.update(0.0)
    assert np.allclose(linear.rotation, R_VALUES[0]) and stepper.scale.tolist() == [1, 1, 1]
    scene.update(2.0)
    assert np.allclose(linear.rotation, R_VALUES[1], atol=1e-7)


def test_animation_between_keys_step_linear_cubic_slerp(tmp_path):
    model = load_walker(tmp_path)
    stepper, linear, cubic = model.children
    walk = model.animations["Walk"]
    t = 1.75  # u = 0.5 between keys 1 (t=1) and 2 (t=2.5)
    walk.apply(t)
    assert stepper.position.tolist() == T_VALUES[1].tolist()  # STEP holds the earlier key
    assert np.allclose(linear.position, (T_VALUES[1] + T_VALUES[2]) / 2)
    u, dt = 0.5, 1.5
    p0, m0 = C_VALUES[4].astype(float), C_VALUES[5].astype(float)  # value and out-tangent of key 1
    p1, a1 = C_VALUES[7].astype(float), C_VALUES[6].astype(float)  # value and in-tangent of key 2
    hermite = ((2 * u**3 - 3 * u**2 + 1) * p0 + (u**3 - 2 * u**2 + u) * dt * m0
               + (-2 * u**3 + 3 * u**2) * p1 + (u**3 - u**2) * dt * a1)
    assert np.allclose(cubic.position, hermite, atol=1e-6)
    walk.apply(1.0)  # rotation: halfway between 0 and 90 degrees about Y is 45 (slerp)
    assert np.allclose(linear.rotation, hs.quat_from_euler(y=45), atol=1e-6)
    walk.apply(0.25)  # before the scale channel's first key: held
    assert stepper.scale.tolist() == [1, 1, 1]
    walk.apply(1.49)
    assert stepper.scale.tolist() == [1, 1, 1]
    walk.apply(1.5)
    assert stepper.scale.tolist() == [3, 3, 3]


def test_players_loop_hold_speed_and_start(tmp_path):
    model = load_walker(tmp_path)
    stepper, linear, cubic = model.children
    walk = model.animations["Walk"]
    looping = AnimationPlayer(walk, loop=True)
    holding = AnimationPlayer(walk, loop=False)
    assert looping.animation_time(2.5 + 1.0) == pytest.approx(1.0) and holding.animation_time(10.0) == 2.5
    late = AnimationPlayer(walk, speed=2.0, start=3.0)
    assert late.animation_time(1.0) == 0.0 and late.animation_time(3.5) == 1.0 and late.duration == 1.25
    scene = flat_scene()
    scene.add(model)
    model.play(scene, "Walk", loop=True)
    scene.update(2.5 + 1.0)
    assert linear.position.tolist() == T_VALUES[1].tolist()
    scene.update(1.0)  # poses are functions of time: going back gives the same pose
    assert linear.position.tolist() == T_VALUES[1].tolist()
    with pytest.raises(hs.SceneError, match="speed must be a finite number > 0"):
        AnimationPlayer(walk, speed=0)


# -- other formats onto the same material ----------------------------------------------------------------
OBJ = """mtllib quad.mtl
v -1 -1 0
v 1 -1 0
v 1 1 0
v -1 1 0
vt 0 0
vt 1 0
vt 1 1
vt 0 1
usemtl painted
f 1/1 2/2 3/3
usemtl metal
f 1/1 3/3 4/4
"""
MTL = """newmtl painted
Kd 0.2 0.4 0.6
d 0.5
Ns 198
Ke 0.1 0.2 0.3
map_Kd -s 1 1 1 wood.png
newmtl metal
Kd 0.9 0.9 0.9
Tr 0.25
Ns 10
Pr 0.2
Pm 1
map_Kd missing.png
norm -bm 0.7 normals.png
"""


def test_obj_mtl_maps_onto_the_material(tmp_path):
    (tmp_path / "quad.obj").write_text(OBJ)
    (tmp_path / "quad.mtl").write_text(MTL)
    Image.new("RGB", (4, 4), (150, 100, 50)).save(tmp_path / "wood.png")
    Image.new("RGB", (4, 4), (128, 128, 255)).save(tmp_path / "normals.png")
    with pytest.warns(HybridSceneWarning, match=r"quad.obj: texture 'missing.png' \(map_kd of material 'metal' of "
                                                 r".*quad.mtl\) cannot be used: .*missing.png' does not exist"):
        model = hs.load_mesh(tmp_path / "quad.obj")
    mats = {n.mesh.material.color: n.mesh.material for n in model.children}
    painted, metal = mats[(0.2, 0.4, 0.6)], mats[(0.9, 0.9, 0.9)]
    assert (painted.shading, painted.opacity, painted.emissive) == ("pbr", 0.5, (0.1, 0.2, 0.3))
    assert painted.roughness == pytest.approx(0.1) and painted.metallic == 0.0  # sqrt(2 / (198 + 2))
    assert painted.texture.image[0, 0].tolist() == [150, 100, 50]
    assert metal.opacity == 0.75 and (metal.roughness, metal.metallic) == pytest.approx((0.2, 1.0))  # Pr wins over Ns
    assert metal.texture is None and metal.normal_texture is not None and metal.normal_scale == pytest.approx(0.7)


@pytest.mark.parametrize("ext", ["stl", "ply", "obj"])
def test_files_without_materials_get_the_default_material(tmp_path, ext):
    box = trimesh.creation.box(extents=(1, 1, 1))
    path = tmp_path / f"box.{ext}"
    if ext == "obj":  # texture coordinates but no MTL (trimesh would make up a 0.4 grey material)
        path.write_text(OBJ.replace("mtllib quad.mtl\n", "").replace("usemtl painted\n", "").replace("usemtl metal\n", ""))
    else:
        path.write_bytes(box.export(file_type=ext))
    model = hs.load_mesh(path)
    mat, ref = model.children[0].mesh.material, hs.Material()
    fields = ("shading", "color", "opacity", "metallic", "roughness", "alpha_mode", "double_sided", "texture")
    assert [getattr(mat, f) for f in fields] == [getattr(ref, f) for f in fields]
    assert model.animations == {}


# -- pixels ---------------------------------------------------------------------------------------------


@pytest.mark.gl
@pytest.mark.parametrize("texcoord", [0, 1])
def test_textured_quad_shows_its_texels_where_the_file_puts_them(ctx, tmp_path, texcoord):
    model = hs.load_mesh(textured_quad(tmp_path, texcoord=texcoord))
    (node,) = mesh_nodes(model)
    node.mesh.material.shading = "unlit"
    scene = flat_scene()
    scene.tonemap = "none"
    scene.add(model)
    frame = render(ctx, scene)
    # The quad spans about 51 px each side of the centre; glTF uv (0, 0) = the texture's top-left.
    quadrants = {(45, 65): TEXELS[0, 0], (45, 95): TEXELS[0, 1], (75, 65): TEXELS[1, 0], (75, 95): TEXELS[1, 1]}
    for (y, x), texel in quadrants.items():
        assert frame[y, x].tolist() == texel.tolist(), ((y, x), frame[y, x])
    assert frame[5, 5].tolist() == list(PLATE_RGB)


def _box_front_samples(texture):
    """Screen points on BoxTextured's front face (scaled 2x, camera at z=5) with the texel each
    shows, where the texture is uniform around it (so filtering does not matter)."""
    focal = (SIZE[1] / 2) / np.tan(np.radians(25.0))
    half = focal * 1.0 / 4.0  # the front face (z = 1) is 1 m from its centre to its edge, 4 m away
    out = []
    for fy in np.linspace(-0.8, 0.8, 9):
        for fx in np.linspace(-0.8, 0.8, 9):
            x, y = int(round(SIZE[0] / 2 - 0.5 + fx * half)), int(round(SIZE[1] / 2 - 0.5 + fy * half))
            # The front face is the mesh's -Y face: u runs 4 -> 3 from left to right, glTF v 1 -> 0 bottom to top.
            u, v_gltf = 0.5 - fx / 2, 0.5 + fy / 2
            r, c = int(v_gltf * 211), int(u * 211)
            patch = texture[max(r - 12, 0):r + 13, max(c - 12, 0):c + 13].reshape(-1, 3).astype(int)
            if np.ptp(patch, axis=0).max() <= 4:
                out.append(((y, x), texture[r, c].astype(int)))
    return out


@pytest.mark.gl
def test_box_textured_renders_its_texture(ctx):
    model = hs.load_mesh(BOX, scale=2.0)
    (node,) = mesh_nodes(model)
    node.mesh.material.shading = "unlit"
    scene = flat_scene()
    scene.tonemap = "none"
    scene.add(model)
    frame = render(ctx, scene)
    samples = _box_front_samples(node.mesh.material.texture.image)
    colours = {tuple(t) for _, t in samples}
    assert len(samples) >= 20 and {(108, 173, 223), (92, 135, 39)} <= colours  # sky blue and hill green, sampled
    for (y, x), texel in samples:
        assert np.abs(frame[y, x] - texel).max() <= 3, ((y, x), frame[y, x], texel)


@pytest.mark.gl
def test_box_textured_in_pbr_keeps_the_texture_pattern(ctx):
    model = hs.load_mesh(BOX, scale=2.0)
    (node,) = mesh_nodes(model)
    node.mesh.material.metallic = 0.0  # a dielectric, lit by the sun (metal would mirror the flat plate)
    scene = flat_scene()
    scene.add(model)
    frame = render(ctx, scene)
    texture = node.mesh.material.texture.image
    for (y, x), texel in _box_front_samples(texture):
        lit = srgb_to_linear(frame[y, x] / 255)
        if tuple(texel) == (108, 173, 223):  # sky: blue the strongest
            assert lit[2] > lit[1] > lit[0]
        elif tuple(texel) == (92, 135, 39):  # hills: green the strongest
            assert lit[1] > lit[0] > lit[2]


@pytest.mark.gl
def test_mask_cuts_out_and_emissive_glows(ctx, tmp_path):
    w = GltfWriter()
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = (255, 255, 255)
    rgba[..., 3] = [[50, 255], [160, 255]]  # top-left cut away (0.2 < 0.5), bottom-left kept (0.63)
    tex = w.texture(w.image(rgba), {"magFilter": 9728, "minFilter": 9728, "wrapS": 33071, "wrapT": 33071})
    cutout = w.add("materials", {"alphaMode": "MASK", "pbrMetallicRoughness": {"baseColorTexture": {"index": tex}},
                                 "extensions": {"KHR_materials_unlit": {}}})
    glow = w.add("materials", {"emissiveFactor": [1.0, 0.0, 0.0],
                               "pbrMetallicRoughness": {"baseColorFactor": [0, 0, 0, 1], "metallicFactor": 0.0}})
    left = w.node(name="cutout", translation=[-1.2, 0, 0],
                  mesh=w.mesh(w.primitive(QUAD_POS, QUAD_IDX, normals=QUAD_N, uvs=QUAD_UV, material=cutout)))
    right = w.node(name="glow", translation=[1.2, 0, 0], scale=[0.5, 0.5, 0.5],
                   mesh=w.mesh(w.primitive(QUAD_POS, QUAD_IDX, normals=QUAD_N, material=glow)))
    w.scene(left, right)
    model = hs.load_mesh(w.write(tmp_path / "mask.gltf"))
    scene = flat_scene()
    scene.tonemap = "none"
    scene.add(model)
    frame = render(ctx, scene)
    # The cutout quad covers about x 23..75, y 34..86; the glowing one x 98..124, y 47..73.
    assert frame[45, 36].tolist() == list(PLATE_RGB)  # alpha 0.2: cut away
    assert frame[75, 36].tolist() == [255, 255, 255]  # alpha 0.63: opaque, not blended
    assert frame[45, 62].tolist() == [255, 255, 255]
    r, g, b = frame[60, 111]  # the black, red-glowing quad
    assert r > 200 and g < 30 and b < 30


def test_texture_transform_is_a_warning(tmp_path):
    w = GltfWriter()
    tex = w.texture(w.image(TEXELS))
    mat = w.add("materials", {"pbrMetallicRoughness": {"baseColorTexture": {
        "index": tex, "extensions": {"KHR_texture_transform": {"scale": [2, 2]}}}}})
    w.scene(w.node(mesh=w.mesh(w.primitive(QUAD_POS, QUAD_IDX, uvs=QUAD_UV, material=mat))))
    with pytest.warns(HybridSceneWarning, match="transform.gltf: texture 0 .* KHR_texture_transform"):
        model = hs.load_mesh(w.write(tmp_path / "transform.gltf"))
    assert mesh_nodes(model)[0].mesh.material.texture is not None


@pytest.mark.gl
def test_an_animated_node_moves_in_rendered_frames(ctx, tmp_path):
    w = GltfWriter()
    white = w.add("materials", {"extensions": {"KHR_materials_unlit": {}}})
    node = w.node(name="slider", scale=[0.3, 0.3, 0.3],
                  mesh=w.mesh(w.primitive(QUAD_POS, QUAD_IDX, normals=QUAD_N, material=white)))
    w.scene(node)
    w.add("animations", {"name": "Slide", "channels": [{"sampler": 0, "target": {"node": node, "path": "translation"}}],
                         "samplers": [{"input": w.accessor(np.array([0.0, 2.0], np.float32)),
                                       "output": w.accessor(np.array([[-1.5, 0, 0], [1.5, 0, 0]], np.float32))}]})
    model = hs.load_mesh(w.write(tmp_path / "slide.glb", glb=True))
    scene = flat_scene()
    scene.tonemap = "none"
    scene.add(model)
    model.play(scene, "Slide", loop=False, start=1.0)
    # x = -1.5 m is about 39 px left of the centre; the quad is about 15 px wide.
    left, mid, right = (render(ctx, scene, t)[60, [41, 80, 119]].tolist() for t in (0.0, 2.0, 9.0))
    white_px, plate = [255, 255, 255], list(PLATE_RGB)
    assert left == [white_px, plate, plate]  # before start: the first key
    assert mid == [plate, white_px, plate]  # halfway
    assert right == [plate, plate, white_px]  # after the end: the last key holds
