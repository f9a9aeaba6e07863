"""Image-based light: the Environment data, its GPU build from a plate, the shader include's
functions (through a probe program), the split-sum table, and the per-plate cache."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.errors import SceneError
from hybridscene.gpu.environment import EnvironmentRenderer, sidecar_path
from hybridscene.gpu.programs import load_program
from hybridscene.plate.cache import PlateCache
from hybridscene.plate.projection import plate_from_direction
from hybridscene.scene.environment import (
    Environment,
    direction_to_uv,
    project_sh,
    sh_basis,
    uv_to_direction,
)

from conftest import srgb_to_linear

UP, DOWN = np.array([0.0, 1.0, 0.0]), np.array([0.0, -1.0, 0.0])

PROBE = """#version 330 core
// Test probe: the functions of include/environment.glsl, per texel of a small target.
#if defined VERTEX_SHADER
#include "include/fullscreen_vertex.glsl"
#elif defined FRAGMENT_SHADER
#include "include/environment.glsl"
in vec2 v_uv;
uniform int u_mode;  // 0 diffuse, 1 specular (both along the texel's equirect direction), 2 chrome ball, 3 brdf
uniform float u_roughness;
out vec4 f_color;
void main() {
    if (u_mode == 2) {  // a mirror ball seen along -Z (orthographic), GL row order
        vec2 p = v_uv * 2.0 - 1.0;
        float q = dot(p, p);
        if (q > 1.0) { f_color = vec4(0.0); return; }
        vec3 n = vec3(p, sqrt(1.0 - q));
        f_color = vec4(env_specular(reflect(vec3(0.0, 0.0, -1.0), n), u_roughness), 1.0);
        return;
    }
    vec3 d = env_dir_from_uv(v_uv);
    if (u_mode == 0) f_color = vec4(env_diffuse(d), 1.0);
    else if (u_mode == 1) f_color = vec4(env_specular(d, u_roughness), 1.0);
    else f_color = vec4(env_brdf(v_uv.x, v_uv.y), 0.0, 1.0);
}
#endif
"""


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe")
    (folder / "env_probe.glsl").write_text(PROBE, encoding="utf-8")
    return folder


@pytest.fixture
def renderer(ctx):
    r = EnvironmentRenderer(ctx, size=(64, 32), levels=4, samples=32)
    yield r
    r.release()


@pytest.fixture(scope="module")
def plate():
    return hs.procedural_plate(size=(160, 90), seed=1)


def probe(ctx, probe_dir, renderer, env, *, mode, size=(64, 32), roughness=0.0):
    """Run the probe and return ``(H, W, 3) float32`` in GL row order (row 0 = v_uv.y small)."""
    prog = load_program(ctx, "env_probe", search_paths=[probe_dir])
    renderer.bind(prog, env)
    prog["u_mode"].value = mode
    if "u_roughness" in prog:
        prog["u_roughness"].value = roughness
    tex = ctx.mgl.texture(size, 4, dtype="f4")
    fbo = ctx.mgl.framebuffer([tex])
    vao = ctx.mgl.vertex_array(prog, [])
    try:
        fbo.use()
        ctx.mgl.viewport = (0, 0, *size)
        vao.render(vertices=3)
        data = np.frombuffer(fbo.read(components=4, dtype="f4"), np.float32).reshape(size[1], size[0], 4)
    finally:
        ctx.unbind([fbo])
        vao.release()
        fbo.release()
        tex.release()
    return data[..., :3].copy()


def split_sum_reference(n_dot_v: float, roughness: float, n: int = 400) -> float:
    """Directional albedo of GGX with the height-correlated Smith G and F = 1, by a midpoint rule
    over the hemisphere (no importance sampling: independent of the shader)."""
    a = roughness * roughness
    th = (np.arange(n) + 0.5) / n * np.pi / 2
    ph = (np.arange(2 * n) + 0.5) / (2 * n) * 2 * np.pi
    t, p = np.meshgrid(th, ph, indexing="ij")
    ldir = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1)
    v = np.array([np.sqrt(1 - n_dot_v**2), 0.0, n_dot_v])
    h = ldir + v
    h /= np.linalg.norm(h, axis=-1, keepdims=True)
    nh, nl = h[..., 2], ldir[..., 2]
    d = a * a / (np.pi * (nh * nh * (a * a - 1) + 1) ** 2)
    lam = lambda c: (-1 + np.sqrt(1 + a * a * (1 - c * c) / (c * c))) / 2  # noqa: E731  Smith's Lambda
    g = 1 / (1 + lam(nl) + lam(n_dot_v))
    f = d * g / (4 * nl * n_dot_v)
    solid = np.sin(t) * (np.pi / 2 / n) * (2 * np.pi / (2 * n))
    return float((f * nl * solid).sum())


def random_dirs(n=200, seed=0):
    d = np.random.default_rng(seed).normal(size=(n, 3))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


# -- plain data --------------------------------------------------------------------------------

def test_equirect_mapping_conventions():
    uv = direction_to_uv(np.array([[0, 0, -1], [1, 0, 0], [0, 1, 0], [0, -1, 0]], float))
    assert np.allclose(uv[0], [0.5, 0.5]) and np.allclose(uv[1], [0.75, 0.5])  # ahead = middle, +X to the right
    assert np.isclose(uv[2, 1], 0.0) and np.isclose(uv[3, 1], 1.0)  # row 0 = zenith
    d = random_dirs()
    assert np.allclose(uv_to_direction(direction_to_uv(d)), d, atol=1e-9)


def test_uniform_environment_is_exactly_its_colour():
    env = Environment.uniform()
    assert np.allclose(env.diffuse(random_dirs()), 1.0, atol=1e-6)
    for k in range(len(env.radiance_levels)):
        assert np.allclose(env.radiance(random_dirs(), level=k), 1.0)
    grey = Environment.uniform("#808080", intensity=2.0)
    want = 2.0 * srgb_to_linear(128 / 255)
    assert np.allclose(grey.diffuse(random_dirs()), want, rtol=1e-6)
    assert np.count_nonzero(grey.sh[1:]) == 0 and grey.max_lod == 5.0


def test_sh_projection_of_a_sky_that_is_bright_above():
    h, w = 64, 128
    v = (np.arange(h) + 0.5) / h
    radiance = np.broadcast_to(np.where(v < 0.5, 1.0, 0.25)[:, None, None], (h, w, 3)).astype(np.float32)
    sh = project_sh(radiance)
    up, down = sh_basis(UP) @ sh, sh_basis(DOWN) @ sh
    # Exact E/pi for a half-space of 1 over one of 0.25, at the poles: 1 and 0.25, with band-2
    # truncation the SH9 gets them within a few percent.
    assert np.allclose(up, 1.0, atol=0.06) and np.allclose(down, 0.25, atol=0.06)
    side = sh_basis(np.array([1.0, 0.0, 0.0])) @ sh
    assert np.allclose(side, 0.625, atol=0.01)  # half of each, exactly in SH too


def test_save_and_load_round_trip(tmp_path):
    levels = [np.random.default_rng(k).random((16 >> k, 32 >> k, 3)).astype(np.float16) for k in range(3)]
    sh = np.arange(27, dtype=np.float32).reshape(9, 3) / 27
    rot = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], np.float32)
    env = Environment(levels, sh, intensity=0.5, rotation=rot)
    path = tmp_path / "env.npz"
    env.save(path)
    back = Environment.load(path)
    assert all(np.array_equal(a, b) for a, b in zip(back.radiance_levels, levels))
    assert np.array_equal(back.sh, sh) and back.intensity == 0.5 and np.array_equal(back.rotation, rot)
    assert [p.name for p in tmp_path.iterdir()] == ["env.npz"]  # no temporary left
    # The rotation turns world directions into environment ones.
    assert np.allclose(env.radiance([1.0, 0.0, 0.0]), Environment(levels, sh, intensity=0.5).radiance([0.0, 0.0, -1.0]))


def test_bad_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(SceneError, match=r"is not a readable \.npz file .*; build it again") as exc:
        Environment.load(bad)
    assert "\n" not in str(exc.value)
    with pytest.raises(SceneError, match="cannot read the environment"):
        Environment.load(tmp_path / "missing.npz")
    other = tmp_path / "other.npz"
    np.savez(other, version=np.int32(99))
    with pytest.raises(SceneError, match="format version 99, this hybridscene reads 1"):
        Environment.load(other)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Environment([], np.zeros((9, 3))), "radiance_levels is empty"),
    (lambda: Environment([np.zeros((8, 16, 3), np.float32), np.zeros((8, 8, 3), np.float32)], np.zeros((9, 3))),
     r"level 1 must be a \(4, 8, 3\) float16/float32 array"),
    (lambda: Environment([np.zeros((8, 8, 3), np.float32)], np.zeros((9, 3))), "twice as wide as high"),
    (lambda: Environment([np.full((8, 16, 3), np.nan, np.float32)], np.zeros((9, 3))), "NaN, inf or negative"),
    (lambda: Environment([np.zeros((8, 16, 3), np.float32)], np.zeros(9)), r"sh must be a finite \(9, 3\) array"),
    (lambda: Environment.uniform(intensity=-1), "intensity must be a finite number >= 0"),
    (lambda: Environment([np.zeros((8, 16, 3), np.float32)], np.zeros((9, 3)), rotation=np.ones((3, 3))),
     r"rotation must be a \(3, 3\) rotation matrix"),
    (lambda: Environment.from_equirect(np.zeros((10, 20, 3), np.uint8)),
     "must be 2:1 with a height that is a multiple of 32 for 6 levels; use 64x32"),
    (lambda: Environment.from_equirect(np.zeros((32, 64), np.uint8)), r"must be \(H, 2H, 3\) RGB"),
    (lambda: Environment.from_equirect(np.full((32, 64, 3), -1.0)), "finite radiance >= 0"),
    (lambda: Environment.uniform("nope"), "is not a colour"),
])
def test_bad_input_is_a_one_line_error(make, message):
    with pytest.raises((SceneError, hs.ConfigError), match=message) as exc:
        make()
    assert "\n" not in str(exc.value)


def test_cpu_equirect_environment():
    image = np.zeros((32, 64, 3), np.uint8)
    image[:16] = (255, 255, 255)  # white sky over a black ground
    env = Environment.from_equirect(image, levels=3)
    assert [r.shape for r in env.radiance_levels] == [(32, 64, 3), (16, 32, 3), (8, 16, 3)]
    assert np.allclose(env.radiance(UP, level=2), 1.0) and np.allclose(env.radiance(DOWN), 0.0)
    assert np.allclose(env.diffuse(UP), 1.0, atol=0.06) and np.allclose(env.diffuse(DOWN), 0.0, atol=0.06)


# -- the GPU: furnace, LUT, include --------------------------------------------------------------

def test_white_furnace_through_the_shader_include(ctx, probe_dir, renderer):
    env = Environment.uniform()
    diffuse = probe(ctx, probe_dir, renderer, env, mode=0)
    assert np.allclose(diffuse, 1.0, rtol=0.01)
    for roughness in (0.0, 0.3, 0.7, 1.0):
        spec = probe(ctx, probe_dir, renderer, env, mode=1, roughness=roughness)
        assert np.allclose(spec, 1.0, rtol=0.02), roughness
    env.intensity = 0.5
    assert np.allclose(probe(ctx, probe_dir, renderer, env, mode=0, size=(8, 4)), 0.5, rtol=0.01)


def test_gpu_prefilter_and_sh_keep_a_uniform_environment(ctx, renderer):
    """The build passes' own furnace: a white panorama stays 1 at every roughness, and its SH
    irradiance is 1 from every side."""
    env = renderer.from_equirect(np.ones((32, 64, 3), np.float32))
    assert [r.shape for r in env.radiance_levels] == [(32, 64, 3), (16, 32, 3), (8, 16, 3), (4, 8, 3)]
    for level in env.radiance_levels:
        assert np.allclose(level.astype(np.float32), 1.0, rtol=0.01)
    assert np.allclose(env.diffuse(random_dirs()), 1.0, atol=0.01)


def test_split_sum_table(ctx, probe_dir, renderer):
    table = renderer.brdf_table()  # [roughness, N.V] -> (scale, bias)
    e = table.sum(-1)
    assert abs(e[0, -1] - 1.0) < 0.005  # a mirror reflects everything at normal incidence
    assert abs(table[0, -1, 1]) < 0.005  # ... with no Fresnel bias there
    # The white-furnace loss of a rough metal (F0 = 1): the single-scattering GGX albedo, known
    # from the integral itself (computed here without importance sampling).
    for roughness, n_dot_v, j, i in ((1.0, 1.0, -1, -1), (0.5, 1.0, 15, -1), (1.0, 0.5, -1, 15)):
        r, nv = j % 32 / 31, i % 32 / 31
        assert abs(e[j, i] - split_sum_reference(nv, r)) < 0.01, (roughness, n_dot_v)
    assert 0.29 < e[-1, -1] < 0.32  # roughness 1, N.V 1: 0.307
    assert (e <= 1.005).all() and (np.diff(e[:, -1]) <= 0.002).all()  # never gains, rougher loses more
    # The include reads it with texel centres on N.V, roughness = i / 31: the probe at
    # x = (i + 0.5) / 32 is the table interpolated at x * 31.
    lut = probe(ctx, probe_dir, renderer, Environment.uniform(), mode=3, size=(32, 32))[..., :2]
    at = (np.arange(32) + 0.5) / 32 * 31
    grid = np.arange(32)
    along_x = np.stack([[np.interp(at, grid, table[j, :, c]) for j in range(32)] for c in range(2)], -1)
    want = np.stack([[np.interp(at, grid, along_x[:, i, c]) for i in range(32)] for c in range(2)], -1).transpose(1, 0, 2)
    assert np.allclose(lut, want, atol=3e-3)


# -- from a plate --------------------------------------------------------------------------------

def _linear(image):
    return srgb_to_linear(image / 255.0)


def test_plate_environment_is_sky_above_and_land_below(ctx, renderer, plate):
    env = renderer.from_plate(plate)
    img = _linear(plate.image)
    h = plate.size[1]
    horizon = int(plate.camera.horizon * h)
    sky_top = img[: max(1, horizon // 2)].reshape(-1, 3).mean(0)
    ground = img[(h + horizon) // 2:].reshape(-1, 3).mean(0)
    up, down = env.radiance(UP), env.radiance(DOWN)
    assert up[2] > up[0] and up[2] > up[1]  # blue-ish
    assert np.allclose(up, sky_top, atol=0.05)
    assert np.allclose(down, ground, atol=0.03)
    assert np.linalg.norm(up - down) > 0.3
    # Straight ahead, a little above the horizon: the plate pixel there (its mip-smoothed
    # neighbourhood; the environment's texels are ~2.4 plate pixels wide).
    x, y = plate.size[0] // 2, horizon - 12
    inv = np.linalg.inv(plate_from_direction(plate))
    d = inv @ np.array([(x + 0.5) / plate.size[0], (y + 0.5) / h, 1.0])
    d = d / np.linalg.norm(d)
    assert d[1] > 0 and d[2] < 0
    patch = img[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3).mean(0)
    assert np.allclose(env.radiance(d), patch, atol=0.04)
    # The roughest level, seen on level 0's grid, varies little along each row (around the
    # scene) next to the sharp one, and is still sky over land.
    sharp = env.radiance_levels[0].astype(np.float32)
    v = (np.arange(32) + 0.5) / 32
    u = (np.arange(64) + 0.5) / 64
    dirs = uv_to_direction(np.stack(np.meshgrid(u, v), -1))
    rough = env.radiance(dirs, level=len(env.radiance_levels) - 1)
    assert rough.std(axis=1).mean() < 0.3 * sharp.std(axis=1).mean()
    assert rough[0].mean(0)[2] > rough[-1].mean(0)[2]
    # Irradiance: brighter and bluer from above.
    e_up, e_down = env.diffuse(UP), env.diffuse(DOWN)
    assert e_up.sum() > 1.5 * e_down.sum()
    assert e_up[2] / e_up.sum() > e_down[2] / e_down.sum()
    # The GPU's SH matches the numpy projection of the mirror level.
    assert np.allclose(env.sh, project_sh(sharp), atol=0.02 * np.abs(env.sh).max())


def test_chrome_ball_shows_sky_above_and_land_below(ctx, probe_dir, renderer, plate):
    env = renderer.from_plate(plate)
    ball = probe(ctx, probe_dir, renderer, env, mode=2, size=(32, 32))[::-1]  # top row first
    n = 32
    yy, xx = np.mgrid[0:n, 0:n]
    p = np.stack([(xx + 0.5) / n * 2 - 1, 1 - (yy + 0.5) / n * 2], -1)
    inside = (p**2).sum(-1) < 0.8
    upper = ball[inside & (p[..., 1] > 0.3)].mean(0)
    lower = ball[inside & (p[..., 1] < -0.3)].mean(0)
    img = _linear(plate.image)
    h = plate.size[1]
    horizon = int(plate.camera.horizon * h)
    sky, land = img[:horizon].reshape(-1, 3).mean(0), img[horizon:].reshape(-1, 3).mean(0)
    assert np.linalg.norm(upper - sky) < np.linalg.norm(upper - land)
    assert np.linalg.norm(lower - land) < np.linalg.norm(lower - sky)
    assert upper[2] > upper[0] and lower[2] < upper[2]
    # The GPU's env_specular is the numpy twin's lookup (same mapping, same texels).
    spec = probe(ctx, probe_dir, renderer, env, mode=1, size=(64, 32))
    v = (np.arange(32) + 0.5) / 32
    u = (np.arange(64) + 0.5) / 64
    dirs = uv_to_direction(np.stack(np.meshgrid(u, v), -1))
    assert np.allclose(spec, env.radiance(dirs), atol=2e-3)


def test_a_plate_without_a_camera_gets_the_default_one(ctx, renderer):
    image = np.zeros((40, 80, 3), np.uint8)
    image[:20] = (90, 140, 230)
    image[20:] = (60, 110, 40)
    env = renderer.from_plate(hs.Plate(image))
    assert env.radiance(UP)[2] > 0.4 and env.radiance(DOWN)[1] > env.radiance(DOWN)[2]
    ahead_up = np.array([0.0, np.sin(0.2), -np.cos(0.2)])  # horizon in the middle: 0.2 rad up is sky
    assert np.allclose(env.radiance(ahead_up), _linear(np.array([90, 140, 230])), atol=0.02)


# -- the per-plate cache ------------------------------------------------------------------------

def _cached_plate(tmp_path, plate):
    cache = PlateCache(tmp_path / "cache")
    key = "0123456789abcdef0123456789abcdef"
    cache.put(key, plate, inputs={}, timings={})
    return cache, key


def test_for_plate_is_built_once_and_kept_beside_the_cache_entry(ctx, renderer, plate, tmp_path, monkeypatch):
    cache, key = _cached_plate(tmp_path, plate)
    first = cache.get(key)
    env = renderer.for_plate(first)
    assert renderer.for_plate(first) is env
    path = sidecar_path(first)
    assert path is not None and path.is_file() and path.name == f"{key}.environment-v1.npz"
    # The cache entry is still whole (a file inside it would make it "damaged").
    second = cache.get(key)
    assert second is not None and second is not first
    # A new process (a new Plate object) reads the file instead of building.
    monkeypatch.setattr(EnvironmentRenderer, "from_plate", lambda self, p: pytest.fail("built again"))
    back = renderer.for_plate(second)
    assert back is not env
    assert all(np.array_equal(a, b) for a, b in zip(back.radiance_levels, env.radiance_levels))
    assert np.array_equal(back.sh, env.sh)
    # Other build options are not served from the file (and override the renderer's per call).
    monkeypatch.undo()
    assert renderer.for_plate(second, size=(32, 16), samples=8).size == (32, 16)
    assert renderer.for_plate(second).size == (64, 32)


def test_a_damaged_sidecar_is_rebuilt_with_a_warning(ctx, renderer, plate, tmp_path, caplog):
    cache, key = _cached_plate(tmp_path, plate)
    path = sidecar_path(cache.get(key))
    path.write_bytes(b"PK\x03\x04 damaged")
    with caplog.at_level(logging.WARNING, logger="hybridscene.gpu.environment"):
        env = renderer.for_plate(cache.get(key))
    assert any("ignoring the environment cache" in r.getMessage() for r in caplog.records)
    assert np.array_equal(Environment.load(path).sh, env.sh)  # rewritten whole


def test_an_unwritable_cache_just_does_not_keep_it(ctx, renderer, plate, tmp_path, monkeypatch):
    cache, key = _cached_plate(tmp_path, plate)
    import hybridscene.atomic as atomic

    monkeypatch.setattr(atomic, "temp_name", lambda path, suffix=".part": tmp_path / "no-such-folder" / "x.part")
    env = renderer.for_plate(cache.get(key))
    assert env.radiance_levels[0].shape == (32, 64, 3)
    assert not sidecar_path(cache.get(key)).exists()


def test_plain_plates_are_cached_in_memory_only(ctx, renderer, plate):
    assert sidecar_path(plate) is None
    assert renderer.for_plate(plate) is renderer.for_plate(plate)


def test_renderer_input_errors(ctx):
    with pytest.raises(SceneError, match="must be 2:1 with a height that is a multiple of 32 for 6 levels; use 192x96"):
        EnvironmentRenderer(ctx, size=(200, 100))
    with pytest.raises(SceneError, match="samples must be an int in 1..4096"):
        EnvironmentRenderer(ctx, samples=0)
    r = EnvironmentRenderer(ctx, size=(16, 8), levels=2, samples=4)
    with pytest.raises(SceneError, match="from_plate needs a hybridscene Plate, got str"):
        r.from_plate("mountains")
    with pytest.raises(SceneError, match=r"must be \(H, 2H, 3\) RGB"):
        r.from_equirect(np.zeros((8, 16, 4), np.float32))
    with pytest.raises(SceneError, match="multiple of 4 for 3 levels; use 8x4"):
        r.from_equirect(np.zeros((6, 12, 3), np.float32), levels=3)
    with pytest.raises(SceneError, match="levels must be an int in 1..12, got 0"):
        r.from_plate(hs.Plate.solid((1, 2, 3), (8, 8)), levels=0)
    r.release()
