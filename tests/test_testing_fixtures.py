"""The builders of ``hybridscene.testing`` write model folders that load through the real loaders
(diffusers' Auto pipelines, transformers' Auto classes and ``pipeline``) and produce images."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

# Everything here loads from local folders: no hub access happens (none is needed or allowed).
torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

from hybridscene import testing as hst  # noqa: E402

# numpy >= 2 warns when torch's Tensor.__array__ (no `copy` keyword in this torch) is called by
# np.array(tensor); diffusers' Euler and DPM-Solver schedulers do that in set_timesteps.
NUMPY_COPY_WARNING = "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"

PROMPT = "Landscape with mountains and a river"
MAX_FOLDER_BYTES = 5 * 1024 * 1024


@pytest.fixture(scope="module", autouse=True)
def _one_thread_quiet_libraries():
    """One torch thread: the tiny models gain nothing from more, and with two OpenMP threads on a
    busy 2-core machine each op can stall 10-100x. Also silence the libraries' logging (not
    Python warnings) for this module. Both restored afterwards."""
    threads = torch.get_num_threads()
    d_level = diffusers.utils.logging.get_verbosity()
    t_level = transformers.utils.logging.get_verbosity()
    torch.set_num_threads(1)
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    yield
    torch.set_num_threads(threads)
    diffusers.utils.logging.set_verbosity(d_level)
    transformers.utils.logging.set_verbosity(t_level)


@pytest.fixture(scope="module")
def sd_path(tmp_path_factory):
    return hst.build_tiny_sd_pipeline(tmp_path_factory.mktemp("sd") / "tiny-sd")


@pytest.fixture(scope="module")
def sd_flag_path(tmp_path_factory):
    return hst.build_tiny_sd_pipeline(tmp_path_factory.mktemp("sdf") / "tiny-sd", safety_checker="flag_all")


@pytest.fixture(scope="module")
def sdxl_path(tmp_path_factory):
    return hst.build_tiny_sdxl_pipeline(tmp_path_factory.mktemp("sdxl") / "tiny-sdxl")


@pytest.fixture(scope="module")
def depth_path(tmp_path_factory):
    return hst.build_tiny_depth_model(tmp_path_factory.mktemp("depth") / "tiny-depth")


def _load(path, **kwargs):
    pipe = diffusers.AutoPipelineForText2Image.from_pretrained(str(path), **kwargs)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def sd_pipe(sd_path):
    return _load(sd_path)


@pytest.fixture(scope="module")
def sdxl_pipe(sdxl_path):
    return _load(sdxl_path)


def _generate(pipe, seed=0, **kwargs):
    kwargs.setdefault("num_inference_steps", 2)
    kwargs.setdefault("output_type", "np")
    return pipe(PROMPT, generator=torch.Generator("cpu").manual_seed(seed), **kwargs)


def _folder_bytes(path):
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- module hygiene


def test_import_does_not_import_torch():
    code = (
        "import sys, hybridscene.testing\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- tokenizer


def test_tiny_clip_tokenizer():
    tok = hst.tiny_clip_tokenizer()
    assert isinstance(tok, transformers.CLIPTokenizer)
    assert tok.model_max_length == 77
    ids = tok(PROMPT).input_ids
    tokens = tok.convert_ids_to_tokens(ids)
    assert tokens == [
        "<|startoftext|>",
        "landscape</w>",
        "with</w>",
        "mountains</w>",
        "and</w>",
        "a</w>",
        "river</w>",
        "<|endoftext|>",
    ]
    # Unknown words spell out; nothing becomes the unknown token (<|endoftext|> doubles as it).
    inner = tok("zebra 42, quixotic!").input_ids[1:-1]
    assert inner and tok.eos_token_id not in inner
    assert max(ids) < 1000  # fits the tiny text encoders' vocab_size
    padded = tok([PROMPT], padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    assert tuple(padded.input_ids.shape) == (1, 77)


# --------------------------------------------------------------------------- SD 1.x


def test_sd_folder_layout(sd_path):
    assert sd_path.is_absolute()
    for rel in (
        "model_index.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "tokenizer/tokenizer_config.json",
        "tokenizer/tokenizer.json",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "scheduler/scheduler_config.json",
    ):
        assert (sd_path / rel).is_file(), rel
    assert not list(sd_path.rglob("*.bin")), "weights must be safetensors"
    index = json.loads((sd_path / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["safety_checker"] == [None, None]
    assert index["feature_extractor"] == [None, None]
    assert index["requires_safety_checker"] is False
    scheduler = json.loads((sd_path / "scheduler/scheduler_config.json").read_text())
    assert scheduler["_class_name"] == "PNDMScheduler"
    assert scheduler["skip_prk_steps"] is True and scheduler["steps_offset"] == 1
    assert _folder_bytes(sd_path) < MAX_FOLDER_BYTES


@pytest.mark.parametrize("with_dtype", [False, True], ids=["default", "dtype"])
def test_sd_loads_through_auto_pipeline(sd_path, with_dtype):
    pipe = _load(sd_path, **({"dtype": torch.float32} if with_dtype else {}))
    assert type(pipe) is diffusers.StableDiffusionPipeline
    assert pipe.vae_scale_factor == hst.TINY_SD_VAE_SCALE_FACTOR == 2
    assert pipe.unet.dtype == torch.float32
    assert pipe.safety_checker is None
    out = _generate(pipe, height=64, width=64)
    assert out.images.shape == (1, 64, 64, 3)
    assert out.images.dtype == np.float32
    assert 0.0 <= out.images.min() and out.images.max() <= 1.0
    assert out.images.std() > 0.01  # a picture, not a constant
    assert out.nsfw_content_detected is None


def test_sd_default_size_and_pil_output(sd_pipe):
    image = _generate(sd_pipe, output_type="pil").images[0]
    assert image.mode == "RGB"
    assert image.size == (hst.TINY_SD_DEFAULT_SIZE, hst.TINY_SD_DEFAULT_SIZE)


def test_sd_valid_sizes(sd_pipe):
    assert _generate(sd_pipe, height=40, width=72, num_inference_steps=1).images.shape == (1, 40, 72, 3)
    assert _generate(sd_pipe, height=8, width=8, num_inference_steps=1).images.shape == (1, 8, 8, 3)
    with pytest.raises(ValueError, match="divisible by 8"):
        _generate(sd_pipe, height=12, width=12, num_inference_steps=1)


def test_sd_same_seed_same_pixels(sd_pipe):
    a = _generate(sd_pipe, seed=3).images
    b = _generate(sd_pipe, seed=3).images
    c = _generate(sd_pipe, seed=4).images
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.filterwarnings(NUMPY_COPY_WARNING)
@pytest.mark.parametrize(
    "scheduler_name", ["EulerDiscreteScheduler", "DPMSolverMultistepScheduler", "LCMScheduler"]
)
def test_sd_scheduler_swaps(sd_path, scheduler_name):
    pipe = _load(sd_path)
    cls = getattr(diffusers, scheduler_name)
    pipe.scheduler = cls.from_config(pipe.scheduler.config)
    steps = []
    out = _generate(
        pipe,
        callback_on_step_end=lambda p, i, t, kw: steps.append(i) or kw,
    )
    assert type(pipe.scheduler) is cls
    assert steps == [0, 1]
    assert out.images.shape == (1, 64, 64, 3)
    assert np.isfinite(out.images).all()


def test_sd_flag_all_safety_checker_returns_black(sd_flag_path):
    for rel in (
        "safety_checker/config.json",
        "safety_checker/model.safetensors",
        "feature_extractor/preprocessor_config.json",
    ):
        assert (sd_flag_path / rel).is_file(), rel
    index = json.loads((sd_flag_path / "model_index.json").read_text())
    assert index["safety_checker"] == ["stable_diffusion", "StableDiffusionSafetyChecker"]
    assert index["feature_extractor"] == ["transformers", "CLIPImageProcessor"]
    assert _folder_bytes(sd_flag_path) < MAX_FOLDER_BYTES

    pipe = _load(sd_flag_path, dtype=torch.float32)
    assert pipe.safety_checker is not None and pipe.feature_extractor is not None
    out = _generate(pipe, num_images_per_prompt=2)
    assert out.nsfw_content_detected == [True, True]
    assert out.images.shape == (2, 64, 64, 3)
    assert not out.images.any()  # all black
    pil = _generate(pipe, output_type="pil").images[0]
    assert pil.size == (64, 64) and pil.getextrema() == ((0, 0), (0, 0), (0, 0))


def test_sd_weights_are_deterministic(sd_path, tmp_path):
    again = hst.build_tiny_sd_pipeline(tmp_path / "again", seed=0)
    other = hst.build_tiny_sd_pipeline(tmp_path / "other", seed=1)
    files = sorted(p.relative_to(sd_path) for p in sd_path.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert _sha256(sd_path / rel) == _sha256(again / rel), rel
    unet = "unet/diffusion_pytorch_model.safetensors"
    assert _sha256(sd_path / unet) != _sha256(other / unet)


# --------------------------------------------------------------------------- SDXL


def test_sdxl_folder_layout(sdxl_path):
    for rel in (
        "model_index.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
        "text_encoder_2/model.safetensors",
        "tokenizer/tokenizer.json",
        "tokenizer_2/tokenizer.json",
        "scheduler/scheduler_config.json",
    ):
        assert (sdxl_path / rel).is_file(), rel
    index = json.loads((sdxl_path / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionXLPipeline"
    assert index["text_encoder_2"] == ["transformers", "CLIPTextModelWithProjection"]
    unet = json.loads((sdxl_path / "unet/config.json").read_text())
    assert unet["addition_embed_type"] == "text_time"
    assert not list(sdxl_path.rglob("*.bin"))
    assert _folder_bytes(sdxl_path) < MAX_FOLDER_BYTES


@pytest.mark.filterwarnings(NUMPY_COPY_WARNING)
@pytest.mark.parametrize("with_dtype", [False, True], ids=["default", "dtype"])
def test_sdxl_loads_and_generates(sdxl_path, with_dtype):
    pipe = _load(sdxl_path, **({"dtype": torch.float32} if with_dtype else {}))
    assert type(pipe) is diffusers.StableDiffusionXLPipeline
    assert pipe.vae_scale_factor == 2
    assert type(pipe.scheduler) is diffusers.EulerDiscreteScheduler
    out = _generate(pipe, height=64, width=64)
    assert out.images.shape == (1, 64, 64, 3)
    assert out.images.dtype == np.float32
    assert out.images.std() > 0.01


@pytest.mark.filterwarnings(NUMPY_COPY_WARNING)
def test_sdxl_same_seed_same_pixels_and_scheduler_swaps(sdxl_pipe):
    a = _generate(sdxl_pipe, seed=5).images
    np.testing.assert_array_equal(a, _generate(sdxl_pipe, seed=5).images)
    assert not np.array_equal(a, _generate(sdxl_pipe, seed=6).images)
    original = sdxl_pipe.scheduler
    try:
        for name in ("DPMSolverMultistepScheduler", "LCMScheduler"):
            sdxl_pipe.scheduler = getattr(diffusers, name).from_config(original.config)
            out = _generate(sdxl_pipe)
            assert out.images.shape == (1, 64, 64, 3) and np.isfinite(out.images).all()
    finally:
        sdxl_pipe.scheduler = original


def test_sdxl_weights_are_deterministic(sdxl_path, tmp_path):
    again = hst.build_tiny_sdxl_pipeline(tmp_path / "again")
    for rel in ("unet/diffusion_pytorch_model.safetensors", "text_encoder_2/model.safetensors"):
        assert _sha256(sdxl_path / rel) == _sha256(again / rel), rel
    # The two text encoders are seeded differently.
    assert _sha256(sdxl_path / "text_encoder/model.safetensors") != _sha256(
        sdxl_path / "text_encoder_2/model.safetensors"
    )


# --------------------------------------------------------------------------- TAESD


def test_tiny_autoencoder_decodes_for_tiny_sd(sd_path, tmp_path):
    taesd_path = hst.build_tiny_autoencoder(tmp_path / "taesd")
    assert (taesd_path / "config.json").is_file()
    assert (taesd_path / "diffusion_pytorch_model.safetensors").is_file()
    taesd = diffusers.AutoencoderTiny.from_pretrained(str(taesd_path))
    # The default is the published TAESD architecture.
    def public(config):
        return {k: v for k, v in json.loads(json.dumps(dict(config))).items() if not k.startswith("_")}

    assert public(taesd.config) == public(diffusers.AutoencoderTiny().config)
    assert taesd.config.latent_channels == 4

    pipe = _load(sd_path)
    pipe.vae = taesd
    out = _generate(pipe, height=32, width=32, num_inference_steps=1)
    # vae_scale_factor stays 2 (computed from the VAE the pipeline was built with), TAESD
    # upsamples by 8: the image is 4x the requested size.
    assert out.images.shape == (1, 128, 128, 3)
    assert np.isfinite(out.images).all() and out.images.std() > 0.0

    # Passed at load time, a TAESD matching the tiny pipelines keeps the requested size.
    small = diffusers.AutoencoderTiny.from_pretrained(
        str(hst.build_tiny_autoencoder(tmp_path / "taesd2", scale_factor=2))
    )
    pipe2 = _load(sd_path, vae=small)
    assert pipe2.vae_scale_factor == 2
    assert _generate(pipe2, height=64, width=64).images.shape == (1, 64, 64, 3)


# --------------------------------------------------------------------------- depth


def test_depth_model_loads_and_predicts(depth_path):
    from PIL import Image

    for rel in ("config.json", "model.safetensors", "preprocessor_config.json"):
        assert (depth_path / rel).is_file(), rel
    model = transformers.AutoModelForDepthEstimation.from_pretrained(str(depth_path))
    processor = transformers.AutoImageProcessor.from_pretrained(str(depth_path))
    assert type(model).__name__ == "DPTForDepthEstimation"

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8))
    inputs = processor(images=image, return_tensors="pt")
    with torch.no_grad():
        depth = model(**inputs).predicted_depth
    assert tuple(depth.shape) == (1, 64, 64)  # 32x32 input, the DPT head upsamples 2x

    estimator = transformers.pipeline("depth-estimation", model=str(depth_path))
    result = estimator(image)
    assert tuple(result["predicted_depth"].shape) == (48, 80)
    assert torch.isfinite(result["predicted_depth"]).all()
    assert result["depth"].size == (80, 48) and result["depth"].mode == "L"


def test_depth_weights_are_deterministic(depth_path, tmp_path):
    again = hst.build_tiny_depth_model(tmp_path / "again")
    assert _sha256(depth_path / "model.safetensors") == _sha256(again / "model.safetensors")


# --------------------------------------------------------------------------- full-size SD v1.4


def test_sd_v1_4_configs_describe_the_published_architecture():
    configs = hst.sd_v1_4_configs()
    assert set(configs) == {"unet", "vae", "text_encoder", "scheduler"}
    json.dumps(configs)  # plain data
    assert configs["unet"]["block_out_channels"] == [320, 640, 1280, 1280]
    assert configs["vae"]["scaling_factor"] == 0.18215
    assert configs["scheduler"]["_class_name"] == "PNDMScheduler"
    text_cfg = {k: v for k, v in configs["text_encoder"].items() if k != "model_type"}
    # Count parameters on the meta device: no memory, no initialisation cost.
    with torch.device("meta"):
        unet = diffusers.UNet2DConditionModel.from_config(configs["unet"])
        vae = diffusers.AutoencoderKL.from_config(configs["vae"])
        text = transformers.CLIPTextModel(transformers.CLIPTextConfig(**text_cfg))
    counts = [sum(p.numel() for p in m.parameters()) for m in (unet, vae, text)]
    assert counts == [859_520_964, 83_653_863, 123_060_480]
    scheduler = diffusers.PNDMScheduler.from_config(configs["scheduler"])
    assert scheduler.config.beta_schedule == "scaled_linear"
    assert scheduler.config.set_alpha_to_one is False
