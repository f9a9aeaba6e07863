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
    assert [f.name for f in files] == ["composite.glsl", "colour.glsl", "plate_projection.glsl", "fullscreen_vertex.glsl"]
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


# -- which GL device: NVIDIA's EGL, not llvmpipe, when a GPU is present ------------------------------
_NVIDIA = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.95.05  Tue Sep 23 09:54:44 UTC 2025"


class _FakeGPUContext:
    """What moderngl would return for an EGL device backed by an NVIDIA GPU."""

    def __init__(self) -> None:
        self.info = {"GL_VENDOR": "NVIDIA Corporation", "GL_RENDERER": "NVIDIA H100 80GB HBM3/PCIe/SSE2",
                     "GL_VERSION": "4.6.0 NVIDIA 580.95.05", "GL_MAX_TEXTURE_SIZE": 32768}
        self.version_code, self.max_samples, self.released = 460, 32, False

    def release(self) -> None:
        self.released = True


def _record_devices(monkeypatch, gpu_at: int | None = None) -> list:
    import moderngl

    real = moderngl.create_standalone_context
    asked: list = []

    def create(**kwargs):
        asked.append(kwargs.get("device_index"))
        if gpu_at is not None and kwargs.get("device_index") == gpu_at:
            return _FakeGPUContext()
        return real(**kwargs)

    monkeypatch.setattr(moderngl, "create_standalone_context", create)
    return asked


def test_software_gl_next_to_an_nvidia_gpu_warns_loudly(monkeypatch):
    from hybridscene.gpu import context

    monkeypatch.setattr(context, "nvidia_driver", lambda: _NVIDIA)
    asked = _record_devices(monkeypatch)
    with pytest.warns(hs.SoftwareRendererWarning) as caught:
        ctx = hs.create_context()
    ctx.release()
    text = str(caught[0].message)
    assert "llvmpipe" in text and "NVIDIA driver 580.95.05" in text
    assert "libEGL_nvidia.so.0" in text and "HYBRIDSCENE_REQUIRE_GPU=1" in text and "HYBRIDSCENE_GL_DEVICE" in text
    # device 0 (the default) first, then the next EGL device, which does not exist here
    assert asked == [None, 1]


def test_a_hardware_egl_device_is_preferred_to_llvmpipe(monkeypatch, recwarn):
    from hybridscene.gpu import context

    monkeypatch.setattr(context, "nvidia_driver", lambda: _NVIDIA)
    asked = _record_devices(monkeypatch, gpu_at=1)
    ctx = hs.create_context()
    assert isinstance(ctx, hs.GLContext) and ctx.owned
    assert isinstance(ctx.mgl, _FakeGPUContext) and not ctx.mgl.released
    assert asked == [None, 1]
    assert not [w for w in recwarn if issubclass(w.category, hs.HybridSceneWarning)]


def test_require_gpu_turns_the_fallback_into_an_error(monkeypatch):
    from hybridscene.gpu import context

    monkeypatch.setenv("HYBRIDSCENE_REQUIRE_GPU", "1")
    with pytest.raises(hs.GPUError, match=r"CPU rasteriser \(llvmpipe.*HYBRIDSCENE_REQUIRE_GPU is set"):
        hs.create_context()
    monkeypatch.setattr(context, "nvidia_driver", lambda: _NVIDIA)
    with pytest.raises(hs.GPUError, match=r"although an NVIDIA GPU is present \(NVIDIA driver 580\.95\.05\)"):
        hs.create_context()


def test_no_gpu_no_warning_and_gl_info_says_software(recwarn):
    ctx = hs.create_context()
    try:
        from hybridscene.gpu.context import gl_info

        assert gl_info(ctx)["software"] is ("llvmpipe" in ctx.info["GL_RENDERER"])
    finally:
        ctx.release()
    assert not [w for w in recwarn if issubclass(w.category, hs.HybridSceneWarning)]


def test_gl_device_from_the_environment(monkeypatch):
    monkeypatch.setenv("HYBRIDSCENE_GL_DEVICE", "99")
    with pytest.raises(hs.GPUError, match=r"EGL device 99 does not exist \(this machine's EGL lists \d+ device\(s\), 0\.\.\d+\)"):
        hs.create_context()
    monkeypatch.setenv("HYBRIDSCENE_GL_DEVICE", "0")
    hs.create_context().release()
    monkeypatch.setenv("HYBRIDSCENE_GL_DEVICE", "first")
    with pytest.raises(hs.ConfigError, match=r"HYBRIDSCENE_GL_DEVICE='first' is not an integer; set it to an EGL device index"):
        hs.create_context()
    monkeypatch.setenv("HYBRIDSCENE_GL_DEVICE", "0")
    monkeypatch.setenv("HYBRIDSCENE_REQUIRE_GPU", "maybe")
    with pytest.raises(hs.ConfigError, match=r"HYBRIDSCENE_REQUIRE_GPU='maybe' is not a yes/no value"):
        hs.create_context()


def test_check_renderer_names_what_ran_in_software(ctx, monkeypatch):
    """The preview window's context comes from the window toolkit, not create_context; it is checked
    the same way."""
    from hybridscene.gpu import context

    context.check_renderer(ctx, where="the preview window")  # no NVIDIA GPU here: silent
    monkeypatch.setattr(context, "nvidia_driver", lambda: _NVIDIA)
    with pytest.warns(hs.SoftwareRendererWarning, match=r"The preview window renders in software.*__GLX_VENDOR_LIBRARY_NAME=nvidia"):
        context.check_renderer(ctx, where="the preview window")
    with pytest.raises(hs.GPUError, match="The preview window renders in software"):
        context.check_renderer(ctx, where="the preview window", require_gpu=True)
