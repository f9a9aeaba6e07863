import pytest

import hybridscene as hs
from hybridscene.gpu.programs import load_program, shader_dir, shader_source

pytestmark = pytest.mark.gl


def test_bundled_shaders_come_from_the_source_tree_or_package():
    d = shader_dir()
    assert (d / "mesh.glsl").is_file() and (d / "include" / "colour.glsl").is_file()


def test_programs_compile_and_are_cached_per_context(ctx):
    a = load_program(ctx, "mesh")
    assert load_program(ctx, "mesh") is a
    assert "u_view_proj" in a and "in_normal" in a


def test_includes_are_expanded_with_line_mapping():
    source, files = shader_source("composite")
    assert "vec3 linear_to_srgb" in source
    assert [f.name for f in files] == ["composite.glsl", "colour.glsl", "fullscreen_vertex.glsl"]
    assert "#line 1 1" in source


BROKEN = """#version 330 core
#include "include/colour.glsl"
#if defined VERTEX_SHADER
void main() { gl_Position = vec4(0.0); }
#elif defined FRAGMENT_SHADER
out vec4 f;
void main() {
    f = vec4(no_such_variable, 1.0);
}
#endif
"""


def test_broken_shader_error_names_the_file_and_line(ctx, tmp_path):
    path = tmp_path / "broken.glsl"
    path.write_text(BROKEN)
    with pytest.raises(hs.ShaderError) as info:
        load_program(ctx, "broken", search_paths=[tmp_path])
    message = str(info.value)
    assert f"{path}:8" in message and "no_such_variable" in message


def test_error_inside_an_include_names_the_include(ctx, tmp_path):
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "bad.glsl").write_text("// first line\nfloat oops() { return undefined_fn(); }\n")
    (tmp_path / "user.glsl").write_text(BROKEN.replace("include/colour.glsl", "include/bad.glsl"))
    with pytest.raises(hs.ShaderError) as info:
        load_program(ctx, "user", search_paths=[tmp_path])
    assert f"{tmp_path / 'include' / 'bad.glsl'}:2" in str(info.value)


def test_missing_shader_and_missing_vertex_stage(ctx, tmp_path):
    with pytest.raises(hs.ShaderError, match="'nothing.glsl' not found"):
        load_program(ctx, "nothing", search_paths=[tmp_path])
    (tmp_path / "fragonly.glsl").write_text("#version 330 core\n#if defined FRAGMENT_SHADER\n#endif\n")
    with pytest.raises(hs.ShaderError, match="VERTEX_SHADER"):
        load_program(ctx, "fragonly", search_paths=[tmp_path])


def test_context_errors_say_what_to_install(monkeypatch):
    import moderngl

    def fail(**kwargs):
        raise Exception("libEGL.so.1: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(moderngl, "create_standalone_context", fail)
    with pytest.raises(hs.GPUError, match=r"no EGL library found.*apt-get install libegl1 libgl1-mesa-dri"):
        hs.create_context()


def test_unknown_backend_from_the_environment_is_named(monkeypatch):
    monkeypatch.setenv("HYBRIDSCENE_GL_BACKEND", "nonsense")
    with pytest.raises(hs.GPUError, match="unknown OpenGL backend 'nonsense'.*HYBRIDSCENE_GL_BACKEND"):
        hs.create_context()
