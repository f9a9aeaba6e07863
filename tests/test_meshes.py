"""Primitives, materials (texture, vertex colours, Blinn-Phong, unlit, transparency) and mesh files."""

import numpy as np
import pytest
import trimesh
from PIL import Image

import hybridscene as hs
from conftest import PLATE_RGB, flat_scene, linear_to_srgb8, srgb_to_linear

pytestmark = pytest.mark.gl
SIZE = (160, 120)


def render(ctx, scene):
    with hs.FrameRenderer(ctx, SIZE) as r:
        return r.render_frame(scene, 0.0).astype(int)


@pytest.mark.parametrize("name", ["plane", "cylinder", "cone"])
def test_new_primitives_are_closed_and_outward(name):
    g = getattr(hs.Geometry, name)()
    p = g.positions[g.indices]
    face_n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    assert (np.einsum("ij,ij->i", face_n, p.mean(axis=1)) >= -1e-9).all()
    assert g.uvs.shape == (g.vertex_count, 2)


def test_cylinder_and_cone_render_where_expected(ctx):
    scene = flat_scene()
    scene.add(hs.Mesh.cylinder(0.5, 2.0, color="#ffffff", shading="unlit"), position=(-1, 0, 0))
    scene.add(hs.Mesh.cone(0.5, 1.0, color="#00ff00", shading="unlit"), position=(1, 0, 0))
    frame = render(ctx, scene)
    assert frame[60, 55].tolist() == [255, 255, 255] and frame[60, 105].tolist() == [0, 255, 0]
    assert frame[60, 80].tolist() == list(PLATE_RGB)


def test_a_mirrored_node_is_drawn_outside_in_not_inside_out(ctx):
    """A negative scale turns the triangles' winding around (glTF: the node's determinant decides
    the front faces): a cube mirrored in x draws exactly like the unmirrored cube, lit faces
    outward, and a cube mirrored twice (x and z) too."""
    frames = []
    for scale in ((1.0, 1.0, 1.0), (-1.0, 1.0, 1.0), (-1.0, 1.0, -1.0)):
        scene = flat_scene()
        scene.add(hs.Mesh.cube(1.0, color="#ff2010"), position=(0.0, 0.3, 0.0), scale=scale,
                  rotation=hs.quat_from_euler(x=25, y=30))
        frames.append(render(ctx, scene))
    assert (frames[0] != PLATE_RGB).any(axis=-1).sum() > 500
    assert np.array_equal(frames[1], frames[0]) and np.array_equal(frames[2], frames[0])


def test_texture_multiplies_the_base_color_and_rows_are_not_flipped(ctx, tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    img[:4] = (255, 0, 0)  # top half red
    img[4:] = (0, 0, 255)  # bottom half blue
    Image.fromarray(img).save(tmp_path / "t.png")
    scene = flat_scene()
    quad = hs.Mesh(hs.Geometry.plane(2, 2), texture=tmp_path / "t.png", shading="unlit", color="#ffffff")
    scene.add(quad, rotation=hs.quat_from_euler(x=90))  # face the camera (+Z); uv v=1 at the top
    frame = render(ctx, scene)
    assert frame[45, 80].tolist() == [255, 0, 0] and frame[75, 80].tolist() == [0, 0, 255]


def test_texture_alpha_is_transparency(ctx):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = 128
    scene = flat_scene()
    quad = hs.Mesh(hs.Geometry.plane(2, 2), texture=rgba, shading="unlit")
    assert quad.material.transparent
    scene.add(quad, rotation=hs.quat_from_euler(x=90))
    frame = render(ctx, scene)
    a = 128 / 255
    expected = linear_to_srgb8(a * srgb_to_linear(0.8) + (1 - a) * srgb_to_linear(np.array(PLATE_RGB) / 255))
    assert np.abs(frame[60, 80] - expected).max() <= 1


def test_vertex_colors(ctx):
    g = hs.Geometry([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], indices=[[0, 1, 2], [0, 2, 3]],
                    colors=np.array([[255, 0, 0]] * 4, np.uint8))
    scene = flat_scene()
    scene.add(hs.Mesh(g, color="#ffffff", shading="unlit"))
    assert render(ctx, scene)[60, 80].tolist() == [255, 0, 0]
    # Vertex colours multiply the base colour in linear light; a material with vertex_colors=False,
    # or geometry without colours, draws its base colour alone (each its own program variant).
    grey = hs.Geometry(g.positions, indices=g.indices, colors=np.full((4, 3), 128, np.uint8))
    plain = hs.Geometry(g.positions, indices=g.indices)
    expected = linear_to_srgb8(srgb_to_linear(128 / 255) * srgb_to_linear(200 / 255))
    for geometry, vertex_colors, want in ((grey, True, expected), (grey, False, 200), (plain, True, 200)):
        scene = flat_scene()
        scene.add(hs.Mesh(geometry, color="#c8c8c8", shading="unlit", vertex_colors=vertex_colors))
        assert np.abs(render(ctx, scene)[60, 80] - want).max() <= 1, (vertex_colors, want)


def test_blinn_phong_adds_a_highlight_lambert_does_not(ctx):
    values = {}
    for shading in ("lambert", "blinn-phong"):
        scene = flat_scene(sun_dir=(0.0, 0.0, -1.0))
        scene.add(hs.Mesh.sphere(1.0, color=(0.3, 0.3, 0.3), shading=shading, specular=1.0, shininess=64))
        values[shading] = render(ctx, scene)[60, 80]
    assert values["blinn-phong"][0] > values["lambert"][0] + 40


def test_transparent_objects_are_sorted_back_to_front(ctx):
    for order in (1, -1):
        scene = flat_scene()
        items = [((0, 0, 1), "#ff0000"), ((0, 0, -1), "#0000ff")]  # red in front of blue
        for pos, color in items[::order]:
            scene.add(hs.Mesh.cube(1.0, color=color, opacity=0.5, shading="unlit"), position=pos)
        frame = render(ctx, scene)
        # over(red, over(blue, plate)) in linear light, whatever the order they were added in; each
        # cube is two-sided (blended) without depth writes, so its back shows through its front.
        plate = srgb_to_linear(np.array(PLATE_RGB) / 255)
        behind = 0.5 * np.array([0, 0, 1.0]) + 0.5 * (0.5 * np.array([0, 0, 1.0]) + 0.5 * plate)
        expected = linear_to_srgb8(0.5 * np.array([1.0, 0, 0]) + 0.5 * (0.5 * np.array([1.0, 0, 0]) + 0.5 * behind))
        assert np.abs(frame[60, 80] - expected).max() <= 1


def test_material_validation():
    with pytest.raises(hs.SceneError, match="unknown shading 'toon'"):
        hs.Material(shading="toon")
    with pytest.raises(hs.SceneError, match="specular must be in 0..1"):
        hs.Material(specular=2)
    with pytest.raises(hs.SceneError, match="texture file '.*missing.png' does not exist"):
        hs.Material(texture="missing.png")


def test_texture_that_is_not_an_image_names_the_file(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    with pytest.raises(hs.SceneError, match="notes.png' is not an image"):
        hs.Texture(bad)


# -- files ----------------------------------------------------------------------------------------
OBJ = """mtllib quad.mtl
v -1 -1 0
v 1 -1 0
v 1 1 0
v -1 1 0
vt 0 0
vt 1 0
vt 1 1
vt 0 1
usemtl tex
f 1/1 2/2 3/3
f 1/1 3/3 4/4
"""
MTL = """newmtl tex
Kd 1.0 1.0 1.0
map_Kd green.png
"""


def test_obj_with_mtl_and_texture(ctx, tmp_path):
    (tmp_path / "quad.obj").write_text(OBJ)
    (tmp_path / "quad.mtl").write_text(MTL)
    Image.new("RGB", (4, 4), (0, 200, 0)).save(tmp_path / "green.png")
    group = hs.load_mesh(tmp_path / "quad.obj", position=(0, 0, 0))
    (child,) = group.children
    mat = child.mesh.material
    assert mat.texture is not None and mat.texture.size == (4, 4)
    mat.shading = "unlit"
    scene = flat_scene()
    scene.add(group)
    assert render(ctx, scene)[60, 80].tolist() == [0, 200, 0]


@pytest.mark.parametrize("ext", ["ply", "stl", "glb"])
def test_ply_stl_glb_load_with_normals_and_colors(ctx, tmp_path, ext):
    box = trimesh.creation.box(extents=(1, 1, 1))
    if ext != "stl":
        box.visual.face_colors = [255, 0, 0, 255]
    path = tmp_path / f"box.{ext}"
    path.write_bytes(box.export(file_type=ext))
    group = hs.load_mesh(path)
    mesh = group.children[0].mesh
    geometry = mesh.geometry
    assert geometry.triangle_count == 12
    assert np.allclose(np.linalg.norm(geometry.normals, axis=1), 1, atol=1e-4)
    # No material in the file: the default one (pbr, 0.8 grey); the colours are the file's.
    assert (mesh.material.shading, mesh.material.color) == ("pbr", (0.8, 0.8, 0.8))
    assert geometry.has_colors == (ext != "stl")
    mesh.material.shading = "unlit"  # the loader's colours, whatever the lighting
    scene = flat_scene()
    scene.tonemap = "none"
    scene.add(group)
    frame = render(ctx, scene)
    if ext == "stl":
        assert np.abs(frame[60, 80] - round(0.8 * 255)).max() <= 1
    else:
        assert frame[60, 80].tolist() == [204, 0, 0]  # red vertex colours times the 0.8 grey


@pytest.mark.parametrize(
    "content, message",
    [(None, "does not exist"), ("", "contains no triangles|cannot read"), ("v 1 2\nf 1 2 9\n", "contains no triangles|cannot read")],
)
def test_bad_mesh_files_are_named(tmp_path, content, message):
    path = tmp_path / "thing.obj"
    if content is not None:
        path.write_text(content)
    with pytest.raises(hs.SceneError, match=rf"thing.obj'.*({message})|({message}).*thing.obj"):
        hs.load_mesh(path)
