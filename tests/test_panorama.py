"""Wide and 360 degree AI plates by MultiDiffusion (plate/panorama.py), on tiny random-weight
pipelines: 64x64 native, autoencoder factor 2, so a 32x32-cell window and a 16-cell stride."""

import contextlib
import json

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.errors import ConfigError
from hybridscene.plate import panorama
from hybridscene.plate.spec import ModelRef, PlateSpec, resolve_spec
from hybridscene.testing import build_tiny_sdxl_pipeline

pytestmark = pytest.mark.ai

PROMPT = "Landscape with mountains and a river"


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory):
    return build_tiny_sdxl_pipeline(tmp_path_factory.mktemp("models") / "tiny-sdxl")


def _load(folder):
    import torch
    from diffusers import AutoPipelineForText2Image

    torch.set_num_threads(1)
    pipe = AutoPipelineForText2Image.from_pretrained(str(folder))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def sd_pipe(tiny_sd):
    return _load(tiny_sd)


@pytest.fixture(scope="module")
def sdxl_pipe(tiny_sdxl):
    return _load(tiny_sdxl)


def spec(model, **kw):
    return PlateSpec(**{"prompt": PROMPT, "model": str(model), "size": (64, 64), "steps": 2, **kw})


def paint(pipe, *, seed=3, **kw):
    import torch

    args = {"prompt": PROMPT, "width": 256, "height": 64, "num_inference_steps": 2, "guidance_scale": 7.5, **kw}
    return panorama.multidiffusion(pipe, generator=torch.Generator().manual_seed(seed), **args)


def plain(pipe, *, seed=3, **kw):
    import torch

    args = {"prompt": PROMPT, "width": 64, "height": 64, "num_inference_steps": 2, "guidance_scale": 7.5, **kw}
    return pipe(generator=torch.Generator().manual_seed(seed), output_type="np", **args).images[0]


def _set_scheduler(pipe, name):
    import diffusers

    pipe.scheduler = getattr(diffusers, name).from_config(pipe.scheduler.config)


def _column_correlations(image):
    """Correlation of each column with the next (the last with the first at the end), over rows and
    channels, each row's mean taken out."""
    x = image.astype(np.float64) - image.mean(axis=1, keepdims=True)
    a, b = x, np.roll(x, -1, axis=1)
    a = a - a.mean(axis=(0, 2), keepdims=True)
    b = b - b.mean(axis=(0, 2), keepdims=True)
    return (a * b).sum(axis=(0, 2)) / np.sqrt((a * a).sum(axis=(0, 2)) * (b * b).sum(axis=(0, 2)))


# -- one window is the plain pipeline ------------------------------------------------------------
@pytest.mark.parametrize("scheduler", ["PNDMScheduler", "EulerAncestralDiscreteScheduler", "DPMSolverMultistepScheduler"])
def test_one_window_equals_the_plain_pipeline(sd_pipe, scheduler):
    _set_scheduler(sd_pipe, scheduler)
    out = paint(sd_pipe, width=64, height=64, num_inference_steps=3)
    assert out.windows == 1
    np.testing.assert_allclose(out.images[0], plain(sd_pipe, num_inference_steps=3), atol=1e-5, rtol=0)
    assert out.images[0].std() > 0.05  # an image, not a blank


def test_one_window_equals_plain_through_generate_plate(tiny_sd):
    tiled = hs.generate_plate(spec(tiny_sd, tiling="multidiffusion", scheduler="euler-a"), cache=False)
    untiled = hs.generate_plate(spec(tiny_sd, tiling="none", scheduler="euler-a"), cache=False)
    np.testing.assert_array_equal(tiled.plate.image, untiled.plate.image)
    assert tiled.key != untiled.key and tiled.plate.meta["tiling"] == {"window": [64, 64], "stride": 32, "wrap": False}
    assert "tiling" not in untiled.plate.meta


def test_sdxl_one_window_equals_plain_and_a_panorama_runs(sdxl_pipe):
    _set_scheduler(sdxl_pipe, "EulerAncestralDiscreteScheduler")
    one = paint(sdxl_pipe, width=64, height=64)
    np.testing.assert_allclose(one.images[0], plain(sdxl_pipe), atol=1e-5, rtol=0)
    wide = paint(sdxl_pipe, width=128, height=64, wrap=True)
    assert wide.windows == 4 and wide.images[0].shape == (64, 128, 3)
    assert np.isfinite(wide.images[0]).all() and wide.images[0].std() > 0.05


# -- windows, overlap, wrap ----------------------------------------------------------------------
def test_window_layout():
    assert panorama.window_starts(128, 32, 16, wrap=True) == list(range(0, 128, 16))
    assert panorama.window_starts(128, 32, 16, wrap=False) == list(range(0, 97, 16))
    assert panorama.window_starts(100, 32, 16, wrap=False) == [0, 16, 32, 48, 64, 68]  # the last flush with the edge
    assert panorama.window_starts(24, 32, 16, wrap=False) == [0]


def test_tall_plates_get_windows_down_the_height(sd_pipe):
    _set_scheduler(sd_pipe, "EulerDiscreteScheduler")
    out = paint(sd_pipe, width=64, height=128, num_inference_steps=1)
    assert out.windows == 3 and out.images[0].shape == (128, 64, 3) and out.images[0].std() > 0.05


@pytest.mark.parametrize("wrap, windows", [(True, 6), (False, 5)])
def test_every_window_is_denoised_at_every_step(sd_pipe, wrap, windows):
    _set_scheduler(sd_pipe, "EulerDiscreteScheduler")
    rows = []
    hook = sd_pipe.unet.register_forward_pre_hook(lambda module, args: rows.append(args[0].shape))
    try:
        out = paint(sd_pipe, wrap=wrap, width=192, batch=4)
    finally:
        hook.remove()
    assert out.windows == windows
    # 2 steps of batches of 4 windows, twice over for classifier-free guidance, native 32x32-cell windows
    assert [s[0] for s in rows] == [2 * min(4, windows - i) for i in range(0, windows, 4)] * 2
    assert {tuple(s[1:]) for s in rows} == {(4, 32, 32)}
    # batching does not change the painting
    np.testing.assert_allclose(paint(sd_pipe, wrap=wrap, width=192).images[0], out.images[0], atol=1e-5, rtol=0)
    assert np.abs(out.images[0] - paint(sd_pipe, wrap=wrap, width=192, stride=64).images[0]).max() > 0.05  # the overlap matters


def test_a_wrapped_panorama_has_no_seam(sd_pipe):
    """Noise rolled round by one stride paints the same panorama rolled round: no column is an
    edge, the seam included; an unwrapped panorama (or a decode that does not wrap) is not."""
    import torch

    _set_scheduler(sd_pipe, "EulerDiscreteScheduler")
    noise = torch.randn((1, 4, 32, 64), generator=torch.Generator().manual_seed(0))

    def rolled_difference(wrap):
        kw = {"wrap": wrap, "width": 128, "num_inference_steps": 1}
        a = paint(sd_pipe, latents=noise, **kw).images[0]
        b = paint(sd_pipe, latents=torch.roll(noise, 16, dims=3), **kw).images[0]
        return np.abs(b - np.roll(a, 32, axis=1)).max(), _column_correlations(a)

    diff, corr = rolled_difference(True)
    assert diff < 1e-4
    # the pair across the seam (last, first) is as alike as neighbouring columns are
    assert corr[-1] >= np.percentile(corr[:-1], 1) and np.median(corr[:-1]) > 0.3
    diff, corr = rolled_difference(False)
    assert diff > 0.1 and corr[-1] < np.percentile(corr[:-1], 1)
    # windows that wrap with a decode that does not: the edges show
    real = panorama._wrapped_convs
    panorama._wrapped_convs = lambda module: contextlib.nullcontext()
    try:
        assert rolled_difference(True)[0] > 0.1
    finally:
        panorama._wrapped_convs = real


# -- plates: the spec, the key, the camera, cancelling --------------------------------------------
def test_wrapped_plate_is_a_cylindrical_360_panorama_and_cached(tiny_sd):
    first = hs.generate_plate(spec(tiny_sd, size=(128, 64), wrap=True))
    camera = first.plate.camera
    assert (camera.projection, camera.fov_x, camera.horizon, camera.height) == ("cylindrical", 360.0, 0.5, 1.6)
    assert camera.full_turn and camera.fov_y == pytest.approx(np.degrees(2 * np.arctan(32 / (128 / (2 * np.pi)))))
    assert first.plate.meta["tiling"] == {"window": [64, 64], "stride": 32, "wrap": True}
    info = json.loads((first.entry / "plate.json").read_text())
    assert info["inputs"]["tiling"] == first.plate.meta["tiling"]
    second = hs.generate_plate(spec(tiny_sd, size=(128, 64), wrap=True))
    assert second.cache_hit and second.plate.camera == camera
    np.testing.assert_array_equal(second.plate.image, first.plate.image)


def test_tiling_decisions_and_keys(tiny_sd):
    plain_key = resolve_spec(spec(tiny_sd))
    assert not plain_key.tiled and "tiling" not in plain_key.inputs
    assert resolve_spec(spec(tiny_sd, tiling="none")).key == plain_key.key  # keys made before tiling stay valid
    assert not resolve_spec(spec(tiny_sd, size=(96, 64))).tiled  # auto: up to 1.5x native
    wide = resolve_spec(spec(tiny_sd, size=(104, 64)))
    assert wide.tiled and wide.inputs["tiling"] == {"window": [64, 64], "stride": 32, "wrap": False}
    assert not resolve_spec(spec(tiny_sd, size=(104, 64), tiling="none")).tiled
    assert resolve_spec(spec(tiny_sd, tiling="multidiffusion")).tiled
    assert resolve_spec(spec(tiny_sd, size=(128, 32), wrap=True)).inputs["tiling"]["window"] == [64, 32]
    assert resolve_spec(PlateSpec(prompt=PROMPT, model=str(tiny_sd), wrap=True)).size == (256, 64)  # default
    with pytest.raises(ConfigError, match="drop tiling='none'"):
        resolve_spec(spec(tiny_sd, wrap=True, tiling="none"))
    with pytest.raises(ConfigError, match="multiple of 32 .* got 240; use size 256x64$"):
        resolve_spec(spec(tiny_sd, size=(240, 64), wrap=True))
    with pytest.raises(ConfigError, match="at least 64"):
        resolve_spec(spec(tiny_sd, size=(32, 64), wrap=True))
    with pytest.raises(ConfigError, match="a layout cannot be painted by MultiDiffusion"):
        resolve_spec(spec(tiny_sd, size=(128, 64), wrap=True, layout="mountains"))
    flux = ModelRef("org/flux", "hub:org/flux@0", None, {"_class_name": "FluxPipeline", "transformer": ["d", "F"]}, 8, (1024, 1024))
    assert panorama.tiling_inputs(spec(tiny_sd, size=(4096, 1024)), flux, (4096, 1024)) is None  # auto leaves it
    with pytest.raises(ConfigError, match="works with UNet models"):
        panorama.tiling_inputs(spec(tiny_sd, size=(4096, 1024), wrap=True), flux, (4096, 1024))


def test_cancel_stops_a_panorama_and_caches_nothing(tiny_sd, isolated_cache):
    seen = []

    def callback(step, total):
        seen.append((step, total))
        return False

    with pytest.raises(hs.Cancelled, match="after 1 of 3 steps"):
        hs.generate_plate(spec(tiny_sd, size=(128, 64), wrap=True), callback=callback)
    assert seen == [(1, 3)]  # PNDM: 2 steps are 3 timesteps
    assert not list(isolated_cache.rglob("plate.json"))


def test_a_scene_file_asks_for_a_panorama_in_one_call_and_turns_round_it(tiny_sd, gl_context):
    """``background_plate(size, model=..., wrap=True)`` (what examples/panorama.py calls with a
    model) paints a full turn whatever the frame's aspect, keeps its cylindrical camera over
    ``fov_y``, and a camera that turns a full circle over it sees the first frame again."""
    from hybridscene.plate.generate import plate_defaults

    with plate_defaults(steps=2):
        plate = hs.background_plate((320, 180), model=str(tiny_sd), wrap=True, fov_y=40.0)
    assert plate.size == (256, 64) and plate.camera.projection == "cylindrical" and plate.camera.full_turn
    scene = hs.Scene(plate)
    frames = []
    with hs.FrameRenderer(gl_context, (96, 54)) as renderer:
        for yaw in (0.0, 2 * np.pi):
            scene.camera.target = (np.sin(yaw), scene.camera.position[1], -np.cos(yaw))
            frames.append(renderer.render_frame(scene, 0.0))
    np.testing.assert_array_equal(frames[0], frames[1])
    assert frames[0].std() > 1
