"""Tiny, random-weight models for testing code that uses hybridscene's AI plate generator.

Real Stable Diffusion checkpoints are gigabytes and need a download; the builders here write
*structurally real* models with random weights to a local folder in the standard on-disk formats,
in a fraction of a second, with no network access. They load through the ordinary loaders
(``diffusers.AutoPipelineForText2Image.from_pretrained(path)``,
``transformers.pipeline("depth-estimation", model=path)``, ...) so the whole code path from a
model folder to an image is exercised, only the pictures are noise. Use them in your own tests the
way diffusers' test-suite uses ``get_dummy_components``::

    from hybridscene.testing import build_tiny_sd_pipeline

    def test_my_plate_code(tmp_path):
        model = build_tiny_sd_pipeline(tmp_path / "sd")
        plate = my_code_that_paints_a_plate(model, size=(64, 64), steps=2)
        ...

What there is:

* `tiny_clip_tokenizer` - a CLIP BPE tokenizer built in memory (288 tokens: the special
  tokens, letters, digits, punctuation and 64 landscape/prompt words).
* `build_tiny_sd_pipeline` - a Stable Diffusion 1.x-style pipeline folder (1.4 MB),
  optionally with a safety checker that flags every image.
* `build_tiny_sdxl_pipeline` - an SDXL-style pipeline folder (two text encoders, 2.3 MB).
* `build_tiny_autoencoder` - an ``AutoencoderTiny`` (TAESD architecture) folder (9.8 MB).
* `build_tiny_controlnet` - a ``ControlNetModel`` folder for the tiny SD or SDXL UNet (depth
  layouts).
* `build_tiny_depth_model` - a DPT depth-estimation model folder for ``transformers``
  (0.5 MB).
* `sd_v1_4_configs` and `build_sd_v1_4_random` - the *full-size* Stable Diffusion
  v1.4 architecture with random weights, for benchmarks that need real compute but no download.

Image sizes for the tiny pipelines: height and width must be multiples of 8 - the diffusers
SD/SDXL pipelines check ``height % 8`` whatever their VAE (``ValueError: `height` and `width`
have to be divisible by 8``) - and that is the only rule: the tiny VAE downsamples by 2
(``pipe.vae_scale_factor == 2``), so the latent is a multiple of 4 and the UNet's single
downsampling step always divides it. 8x8 is the smallest valid image, any aspect ratio works
(e.g. 40x72); without height/width the pipelines make 64x64 (``unet.config.sample_size`` 32 times
``vae_scale_factor`` 2). Keep test images small: the UNet attends over (side/4)^2 positions, so
the cost grows steeply - 64x64 ~0.05 s, 128x128 ~0.3 s, 256x256 ~3 s, 512x512 minutes.

Timings (2-core CPU, fp32, torch 2.13 / diffusers 0.42 / transformers 5.24, one torch thread,
warm process): building a tiny SD or SDXL folder ~0.06 s, loading it with
``AutoPipelineForText2Image.from_pretrained`` ~0.05 s, one 64x64 image with 2 steps and
classifier-free guidance ~0.05 s. The first build and the first load in a process add ~0.5 s
each (lazy imports), and importing torch + diffusers + transformers takes ~2.5 s.

.. note:: On a busy machine, run such tiny models with ``torch.set_num_threads(1)``. With two
   OpenMP threads on two cores shared with other processes, the same 64x64 image took ~7 s
   instead of 0.05 s (threads wait for each other at every op); models this small gain nothing
   from more threads anyway. The test-suite does this in a fixture.

Importing this module imports neither torch, diffusers nor transformers; each builder imports
what it needs. Every builder is deterministic: the same ``seed`` gives byte-identical weight files
(``torch.manual_seed(seed)`` is set before each model is constructed; the global torch RNG is left
changed). Builders write into ``path`` (created with its parents if missing; files already there
with the same names are overwritten) and return it as an absolute `pathlib.Path`.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

__all__ = [
    "TINY_SD_DEFAULT_SIZE",
    "TINY_SD_SIZE_MULTIPLE",
    "TINY_SD_VAE_SCALE_FACTOR",
    "build_sd_turbo_random",
    "build_sd_v1_4_random",
    "build_tiny_autoencoder",
    "build_tiny_controlnet",
    "build_tiny_depth_model",
    "build_tiny_sd_pipeline",
    "build_tiny_sdxl_pipeline",
    "sd_turbo_configs",
    "sd_v1_4_configs",
    "tiny_clip_tokenizer",
]

PathLike = str | os.PathLike[str]

#: ``pipe.vae_scale_factor`` of the tiny SD and SDXL pipelines (their VAEs have 2 blocks).
TINY_SD_VAE_SCALE_FACTOR = 2
#: Height and width given to the tiny pipelines must be multiples of this (the pipelines' own check).
TINY_SD_SIZE_MULTIPLE = 8
#: Image size (height = width) the tiny pipelines produce when called without height/width.
TINY_SD_DEFAULT_SIZE = 64

# Whole words the tiny tokenizer knows (as "word</w>" tokens); everything else falls back to
# letters, digits and punctuation, so no prompt is ever all-unknown.
_TOKENIZER_WORDS = (
    "a", "an", "the", "of", "with", "and", "in", "on", "at", "by", "to", "from", "over", "under",
    "landscape", "mountain", "mountains", "river", "lake", "sea", "ocean", "forest", "tree",
    "trees", "sky", "cloud", "clouds", "sun", "sunset", "sunrise", "night", "moon", "stars",
    "city", "street", "house", "castle", "desert", "snow", "field", "valley", "hills", "beach",
    "painting", "photo", "matte", "style", "detailed", "beautiful", "blue", "red", "green",
    "golden", "dark", "light", "misty", "background", "scene", "blurry", "ugly", "text",
)  # fmt: skip
_TOKENIZER_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.,;:!?-'()"


def _bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """Plain BPE of one word (CLIP style: the last symbol carries ``</w>``)."""
    parts = list(word[:-1]) + [word[-1] + "</w>"]
    while len(parts) > 1:
        pairs = [(ranks.get((a, b)), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
        rank, i = min(((r, i) for r, i in pairs if r is not None), default=(None, -1))
        if rank is None:
            break
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    return parts


def _tiny_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in _TOKENIZER_CHARS:
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    for word in _TOKENIZER_WORDS:
        # Append merges (each at the lowest priority so far, which leaves the words already
        # finished untouched) until BPE turns this word into a single "word</w>" token.
        while len(parts := _bpe(word, ranks)) > 1:
            pair = (parts[0], parts[1])
            ranks[pair] = len(merges)
            merges.append(pair)
            vocab.setdefault(pair[0] + pair[1], len(vocab))
    return vocab, merges


def tiny_clip_tokenizer() -> CLIPTokenizer:
    """A small CLIP BPE tokenizer built in memory (no files, no download).

    The vocabulary (288 entries, ids below 1000) holds ``<|startoftext|>`` (id 0, BOS) and
    ``<|endoftext|>`` (id 1: EOS, padding and unknown), every lowercase letter, digit and common
    punctuation mark both as a word-inner piece and with the ``</w>`` end-of-word suffix, and 64
    landscape/prompt words ("landscape", "mountains", "river", ...) reached by BPE merges
    (text is lowercased first). So ``"Landscape with mountains and a river"`` encodes to
    ``<|startoftext|> landscape</w> with</w> mountains</w> and</w> a</w> river</w> <|endoftext|>``
    and other words spell out piece by piece ("zebra" -> ``z e b r a</w>``); only characters
    outside ``a-z 0-9 .,;:!?-'()`` (accents, ``#``, emoji, ...) become the unknown token.
    ``model_max_length`` is 77 like the real CLIP tokenizer. Takes a few milliseconds.

    Works with the text encoders of the tiny pipelines here (their ``vocab_size`` is 1000, BOS 0,
    EOS/padding 1) and, for compute benchmarks, with the full-size CLIP text model (49408).
    """
    from transformers import CLIPTokenizer

    vocab, merges = _tiny_vocab_and_merges()
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


# --------------------------------------------------------------------------- helpers


def _prepare_dir(path: PathLike) -> pathlib.Path:
    out = pathlib.Path(path).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    return out


def _tiny_clip_text_config(**overrides: Any) -> Any:
    from transformers import CLIPTextConfig

    kwargs: dict[str, Any] = dict(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        vocab_size=1000,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        layer_norm_eps=1e-5,
        projection_dim=32,
        hidden_act="quick_gelu",
    )
    kwargs.update(overrides)
    return CLIPTextConfig(**kwargs)


def _sd_scheduler_config() -> dict[str, Any]:
    """The published Stable Diffusion v1.x scheduler (PNDM, PLMS mode)."""
    return {
        "_class_name": "PNDMScheduler",
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000,
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "trained_betas": None,
        "clip_sample": False,
    }


def _no_class_name(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if not k.startswith("_")}


# --------------------------------------------------------------------------- SD 1.x


def _tiny_vae(seed: int, *, scaling_factor: float) -> Any:
    """A 2-level AutoencoderKL (``vae_scale_factor`` 2) shared by the tiny SD and SDXL builders."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        sample_size=64,
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        scaling_factor=scaling_factor,
    )


def build_tiny_sd_pipeline(
    path: PathLike,
    *,
    seed: int = 0,
    safety_checker: Literal["flag_all"] | None = None,
) -> pathlib.Path:
    """Write a tiny random-weight Stable Diffusion 1.x-style pipeline to ``path``.

    The folder has the standard diffusers layout, weights as safetensors::

        model_index.json                      _class_name "StableDiffusionPipeline"
        unet/config.json, diffusion_pytorch_model.safetensors
        vae/config.json, diffusion_pytorch_model.safetensors
        text_encoder/config.json, model.safetensors
        tokenizer/tokenizer.json, tokenizer_config.json, vocab.json, merges.txt
        scheduler/scheduler_config.json
        [safety_checker/config.json, model.safetensors; feature_extractor/preprocessor_config.json]

    What is built (SD 1.x components and wiring, tiny widths; 1.4 MB in all, 1.5 MB with the
    safety checker):

    * ``unet``: ``UNet2DConditionModel`` (253 k parameters), blocks (Down, CrossAttnDown) /
      (CrossAttnUp, Up), channels (16, 32), 1 layer per block, 4 attention heads,
      cross-attention dim 32, ``sample_size`` 32.
    * ``vae``: ``AutoencoderKL`` (44 k) with 2 blocks of (8, 16) channels, 4 latent channels,
      ``scaling_factor`` 0.18215 - so ``pipe.vae_scale_factor == 2``.
    * ``text_encoder``: ``CLIPTextModel`` (48 k), hidden 32, 2 layers, vocab 1000, 77 positions,
      BOS 0 / EOS 1 like `tiny_clip_tokenizer`.
    * ``tokenizer``: `tiny_clip_tokenizer` (plus ``vocab.json``/``merges.txt`` for
      loaders that want the classic files).
    * ``scheduler``: ``PNDMScheduler`` with SD v1.4's published settings (scaled_linear betas
      0.00085-0.012, ``steps_offset`` 1, ``skip_prk_steps``, ``set_alpha_to_one`` false).
      ``EulerDiscreteScheduler``, ``DPMSolverMultistepScheduler``, ``LCMScheduler``,
      ``DDIMScheduler`` ... swap in with ``X.from_config(pipe.scheduler.config)``. Note that PNDM
      (PLMS) evaluates the UNet N + 1 times for ``num_inference_steps=N`` (its timesteps repeat
      one), so ``callback_on_step_end`` is called N + 1 times; the other schedulers call it N
      times. ``pipe.num_timesteps`` (after a call) gives the real count.

    Args:
        path: output folder (created if missing).
        seed: seeds ``torch.manual_seed`` before each model; same seed, same bytes.
        safety_checker: ``None`` - no checker (``model_index.json`` has ``safety_checker`` and
            ``feature_extractor`` as ``[null, null]`` and ``requires_safety_checker`` false, so
            loading logs no "disabled safety checker" warning). ``"flag_all"`` - a tiny
            ``StableDiffusionSafetyChecker`` (1-layer CLIP vision tower, 32x32 input) and a
            ``CLIPImageProcessor`` feature extractor whose concept thresholds are -2, below any
            cosine similarity, so it flags *every* image: the pipeline returns all-black images
            (exact zeros; PIL images are black) and ``nsfw_content_detected == [True, ...]``, and
            diffusers logs "Potential NSFW content was detected ...". For testing how the
            checker's black images are handled. (``output_type="latent"`` skips the checker.)

    Images: height/width multiples of 8, default 64x64 (see the module docstring). Output is
    noise (random weights) with values spread over [0, 1].

    Timings (2-core CPU, one torch thread, warm): build ~0.06 s;
    ``AutoPipelineForText2Image.from_pretrained`` ~0.05 s; one 64x64 image with 2 steps and
    guidance ~0.05 s (128x128 ~0.3 s, 256x256 ~3 s).

    Returns:
        The absolute folder path.
    """
    import torch
    from diffusers import PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    if safety_checker not in (None, "flag_all"):
        raise ValueError(f"safety_checker must be None or 'flag_all', not {safety_checker!r}")
    out = _prepare_dir(path)

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        # Attention only at the lower resolution (as in diffusers' fast tests): at the full
        # latent resolution it would cost 16x more (quadratic in the number of positions).
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    vae = _tiny_vae(seed, scaling_factor=0.18215)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(_tiny_clip_text_config())
    scheduler = PNDMScheduler.from_config(_no_class_name(_sd_scheduler_config()))
    tokenizer = tiny_clip_tokenizer()

    checker = feature_extractor = None
    if safety_checker == "flag_all":
        checker, feature_extractor = _flag_all_safety_checker(seed)

    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=checker,
        feature_extractor=feature_extractor,
        requires_safety_checker=checker is not None,
    )
    pipe.save_pretrained(str(out), safe_serialization=True)
    _finish_pipeline_folder(out)
    return out


def build_sd_turbo_random(path: PathLike, *, seed: int = 0) -> pathlib.Path:
    """Write the FULL-SIZE one-step SD-Turbo architecture (`sd_turbo_configs`) with random
    weights to ``path``, float32, for benchmarks: one image is one UNet step without guidance,
    as with the real ``stabilityai/sd-turbo``. Same differences from the real checkpoint as
    `build_sd_v1_4_random`; about 5.2 GB on disk."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    out = _prepare_dir(path)
    configs = sd_turbo_configs()
    unet, vae, text_encoder = _sd_v1_4_models(seed, configs)
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tiny_clip_tokenizer(), unet=unet,
        scheduler=EulerDiscreteScheduler.from_config(_no_class_name(configs["scheduler"])),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(str(out), safe_serialization=True)
    _finish_pipeline_folder(out)
    return out


def _flag_all_safety_checker(seed: int) -> tuple[Any, Any]:
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig

    try:  # transformers >= 5 (and no torchvision): name the PIL backend, no fallback message
        from transformers import CLIPImageProcessorPil as _Processor
    except ImportError:  # pragma: no cover - transformers 4
        from transformers import CLIPImageProcessor as _Processor

    tower = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4}
    config = CLIPConfig(
        text_config={**tower, "num_hidden_layers": 1, "vocab_size": 1000, "bos_token_id": 0,
                     "eos_token_id": 1, "pad_token_id": 1},
        vision_config={**tower, "num_hidden_layers": 1, "image_size": 32, "patch_size": 8},
        projection_dim=32,
    )
    torch.manual_seed(seed)
    checker = StableDiffusionSafetyChecker(config)
    with torch.no_grad():
        # Thresholds below every possible cosine similarity (>= -1): each concept score
        # (cos - threshold) is >= 1 > 0, so every image is flagged.
        checker.concept_embeds_weights.fill_(-2.0)
        checker.special_care_embeds_weights.fill_(-2.0)
    feature_extractor = _Processor(
        size={"shortest_edge": 32},
        crop_size={"height": 32, "width": 32},
        do_resize=True,
        do_center_crop=True,
        do_normalize=True,
    )
    return checker, feature_extractor


def _finish_pipeline_folder(out: pathlib.Path) -> None:
    """Tokenizer side files, and the standard class names in ``model_index.json``."""
    for name in ("tokenizer", "tokenizer_2"):
        if (out / name).is_dir():
            vocab, merges = _tiny_vocab_and_merges()
            (out / name / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
            lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
            (out / name / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    index_file = out / "model_index.json"
    index = json.loads(index_file.read_text(encoding="utf-8"))
    fe = index.get("feature_extractor")
    if isinstance(fe, list) and fe[1] is not None:
        # Real checkpoints name the backend-neutral class; transformers picks the backend on load.
        index["feature_extractor"] = [fe[0], "CLIPImageProcessor"]
    index_file.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    pre = out / "feature_extractor" / "preprocessor_config.json"
    if pre.is_file():
        data = json.loads(pre.read_text(encoding="utf-8"))
        if "image_processor_type" in data:
            data["image_processor_type"] = "CLIPImageProcessor"
        pre.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- SDXL


def build_tiny_sdxl_pipeline(path: PathLike, *, seed: int = 0) -> pathlib.Path:
    """Write a tiny random-weight Stable Diffusion XL-style pipeline to ``path``.

    Standard diffusers layout (``model_index.json`` with ``_class_name``
    ``"StableDiffusionXLPipeline"``; ``unet/``, ``vae/``, ``text_encoder/``, ``text_encoder_2/``,
    ``tokenizer/``, ``tokenizer_2/``, ``scheduler/``; safetensors weights; 2.3 MB in all).
    Modelled on diffusers' own ``StableDiffusionXLPipelineFastTests.get_dummy_components``:

    * ``unet``: ``UNet2DConditionModel`` with ``addition_embed_type="text_time"`` (the SDXL
      micro-conditioning: pooled text embedding + 6 size/crop time ids, ``addition_time_embed_dim``
      8, so ``projection_class_embeddings_input_dim`` 6*8+48 = 96; 372 k parameters), blocks
      (Down, CrossAttnDown) /
      (CrossAttnUp, Up), channels (16, 32), ``transformer_layers_per_block`` (1, 2), linear
      projections, cross-attention dim 80 (= 32 + 48, the two encoders' hidden states
      concatenated), ``sample_size`` 32.
    * ``vae``: ``AutoencoderKL``, 2 blocks of (8, 16) channels, ``scaling_factor`` 0.13025 (SDXL's)
      - so ``pipe.vae_scale_factor == 2``.
    * ``text_encoder``: ``CLIPTextModel`` (hidden 32, 2 layers; seeded with ``seed``).
    * ``text_encoder_2``: ``CLIPTextModelWithProjection`` (hidden 48, projection 48, 2 layers;
      seeded with ``seed + 1`` so the two encoders differ, as in SDXL).
    * ``tokenizer``, ``tokenizer_2``: `tiny_clip_tokenizer`.
    * ``scheduler``: ``EulerDiscreteScheduler`` with SDXL's published settings (scaled_linear
      0.00085-0.012, ``steps_offset`` 1, ``timestep_spacing`` "leading"); swappable with
      ``X.from_config(pipe.scheduler.config)``.
    * no watermarker (``add_watermarker=False``), no image encoder / feature extractor.

    Images: height/width multiples of 8, default 64x64 (see the module docstring). Output is
    noise. ``original_size``/``target_size`` default to the requested size, as in SDXL.

    Note: with numpy 2.4 and torch 2.13 (whose ``Tensor.__array__`` has no ``copy`` keyword),
    ``EulerDiscreteScheduler.set_timesteps`` (and ``DPMSolverMultistepScheduler``'s) emits
    ``DeprecationWarning: __array__ implementation doesn't accept a copy keyword, ...``
    (diffusers calls ``np.array`` on a torch tensor); tests that turn warnings into errors must
    ignore it for any pipeline running these schedulers.

    Timings (2-core CPU, one torch thread, warm): build ~0.05 s;
    ``AutoPipelineForText2Image.from_pretrained`` ~0.06 s; one 64x64 image with 2 steps and
    guidance ~0.05 s (128x128 ~0.3 s, 256x256 ~3.5 s).

    Returns:
        The absolute folder path.
    """
    import torch
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    out = _prepare_dir(path)
    time_embed_dim = 8
    te2_dim = 48
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
        addition_embed_type="text_time",
        addition_time_embed_dim=time_embed_dim,
        projection_class_embeddings_input_dim=6 * time_embed_dim + te2_dim,
        cross_attention_dim=32 + te2_dim,
        norm_num_groups=8,
    )
    vae = _tiny_vae(seed, scaling_factor=0.13025)  # SDXL's VAE scaling
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(_tiny_clip_text_config())
    torch.manual_seed(seed + 1)
    text_encoder_2 = CLIPTextModelWithProjection(
        _tiny_clip_text_config(hidden_size=te2_dim, projection_dim=te2_dim, hidden_act="gelu")
    )
    scheduler = EulerDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="epsilon",
        interpolation_type="linear",
        use_karras_sigmas=False,
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tiny_clip_tokenizer(),
        tokenizer_2=tiny_clip_tokenizer(),
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )
    pipe.save_pretrained(str(out), safe_serialization=True)
    _finish_pipeline_folder(out)
    return out


# --------------------------------------------------------------------------- TAESD


def build_tiny_autoencoder(
    path: PathLike, *, seed: int = 0, scale_factor: Literal[2, 4, 8] = 8
) -> pathlib.Path:
    """Write a random-weight ``diffusers.AutoencoderTiny`` (TAESD architecture) to ``path``.

    The folder is ``config.json`` + ``diffusion_pytorch_model.safetensors`` and loads with
    ``AutoencoderTiny.from_pretrained(path)``. Latent channels 4, ``scaling_factor`` 1.0, like
    ``madebyollin/taesd``: a drop-in decoder for SD 1.x/2.x-style pipelines
    (``pipe.vae = AutoencoderTiny.from_pretrained(path)``).

    Args:
        path: output folder (created if missing).
        seed: seeds ``torch.manual_seed`` before construction.
        scale_factor: spatial factor between latent and image. ``8`` (default) is diffusers'
            default config, i.e. the real TAESD architecture (4 blocks of 64 channels, 2.4 M
            parameters, 9.8 MB) - pair it with full-size pipelines. ``2`` or ``4`` drop trailing
            upsampling blocks; ``2`` (0.97 M parameters, 3.9 MB) matches the tiny pipelines of
            this module (``vae_scale_factor`` 2).

    Caveat: a pipeline computes ``vae_scale_factor`` once, from the VAE it was *constructed*
    with. Assigning ``pipe.vae = taesd`` afterwards keeps the old factor, so the decoded image
    is ``taesd_factor / pipe.vae_scale_factor`` times larger than the requested size (a 64x64
    request on a tiny pipeline decodes to 256x256 with the default TAESD). Passing the
    autoencoder at load time, ``AutoPipelineForText2Image.from_pretrained(p, vae=taesd)``,
    recomputes it (``AutoencoderTiny`` registers ``block_out_channels``).

    Timings (2-core CPU, one torch thread): build ~0.03 s; decoding a 32x32 latent to 256x256
    ~0.25 s (default architecture).

    Returns:
        The absolute folder path.
    """
    import torch
    from diffusers import AutoencoderTiny

    blocks = {2: 2, 4: 3, 8: 4}.get(scale_factor)
    if blocks is None:
        raise ValueError(f"scale_factor must be 2, 4 or 8, not {scale_factor!r}")
    out = _prepare_dir(path)
    torch.manual_seed(seed)
    if blocks == 4:
        vae = AutoencoderTiny()  # the published TAESD configuration
    else:
        vae = AutoencoderTiny(
            encoder_block_out_channels=(64,) * blocks,
            decoder_block_out_channels=(64,) * blocks,
            num_encoder_blocks=(1, 3, 3, 3)[:blocks],
            num_decoder_blocks=(3, 3, 3, 1)[-blocks:],
        )
    vae.save_pretrained(str(out), safe_serialization=True)
    # AutoencoderTiny registers ``block_out_channels`` (for pipelines' vae_scale_factor) but does
    # not take it as an argument: left in config.json it makes every load log "The config
    # attributes {'block_out_channels': ...} were passed to AutoencoderTiny, but are not
    # expected". The published TAESD config has no such key; it is re-registered on load.
    config_file = out / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.pop("block_out_channels", None)
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


# --------------------------------------------------------------------------- depth


def build_tiny_depth_model(path: PathLike, *, seed: int = 0) -> pathlib.Path:
    """Write a tiny random-weight DPT depth-estimation model and its image processor to ``path``.

    Files: ``config.json`` (``model_type`` "dpt", ``architectures`` ["DPTForDepthEstimation"]),
    ``model.safetensors`` (~0.45 MB, 111 k parameters) and ``preprocessor_config.json``
    (``image_processor_type`` "DPTImageProcessor"). It loads with
    ``transformers.AutoModelForDepthEstimation.from_pretrained(path)``,
    ``AutoImageProcessor.from_pretrained(path)`` and
    ``transformers.pipeline("depth-estimation", model=str(path))``.

    What is built: a plain-ViT DPT (hidden 32, 4 layers, 4 heads, patch 8, 32x32 input) with the
    DPT neck (reassemble factors 4, 2, 1, 0.5; neck sizes 8, 16, 32, 32; fusion 16) and depth
    head, no auxiliary head. The processor resizes any image to 32x32 (no aspect ratio kept),
    rescales to [0, 1] and normalises with mean/std 0.5. Without torchvision, transformers 5
    picks the PIL backend (``DPTImageProcessorPil``) silently; with torchvision it picks the
    torchvision one - the saved type name is the backend-neutral one, as in real checkpoints.

    Output: the model gives ``predicted_depth`` of shape ``(batch, 64, 64)`` (the DPT head
    upsamples its 32x32 input 2x); the pipeline resizes it to the input image and returns
    ``{"predicted_depth": float tensor (H, W), "depth": PIL "L" image of size (W, H)}``. Values
    are meaningless (random weights).

    Timings (2-core CPU, one torch thread): build ~0.02 s; ``pipeline(...)`` load ~0.03 s; one
    640x480 image ~0.01 s.

    Returns:
        The absolute folder path.
    """
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation

    try:  # transformers >= 5: the PIL backend needs no torchvision
        from transformers import DPTImageProcessorPil as _Processor
    except ImportError:  # pragma: no cover - transformers 4
        from transformers import DPTImageProcessor as _Processor

    out = _prepare_dir(path)
    config = DPTConfig(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        image_size=32,
        patch_size=8,
        is_hybrid=False,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        use_auxiliary_head=False,
    )
    torch.manual_seed(seed)
    model = DPTForDepthEstimation(config)
    processor = _Processor(
        do_resize=True,
        size={"height": 32, "width": 32},
        keep_aspect_ratio=False,
        ensure_multiple_of=1,
        do_rescale=True,
        do_normalize=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    model.save_pretrained(str(out), safe_serialization=True)
    processor.save_pretrained(str(out))
    return out


# --------------------------------------------------------------------------- full-size SD v1.4


def sd_v1_4_configs() -> dict[str, dict[str, Any]]:
    """The published configurations of Stable Diffusion v1.4 (``CompVis/stable-diffusion-v1-4``).

    Returns a new dict of plain, JSON-serialisable dicts with keys ``"unet"``, ``"vae"``,
    ``"text_encoder"`` and ``"scheduler"`` - the contents of that repository's
    ``unet/config.json``, ``vae/config.json``, ``text_encoder/config.json`` (the text half of
    CLIP ViT-L/14) and ``scheduler/scheduler_config.json``, less version stamps. Values left at
    the library default in the published files (``scaling_factor`` 0.18215, ``norm_num_groups``)
    are written out. Build the models with ``UNet2DConditionModel.from_config(c["unet"])``,
    ``AutoencoderKL.from_config(c["vae"])``, ``CLIPTextModel(CLIPTextConfig(**text))`` where
    ``text`` is ``c["text_encoder"]`` without its ``"model_type"`` key, and
    ``PNDMScheduler.from_config(c["scheduler"])``. (Tip: under ``with torch.device("meta"):``
    the models build instantly and allocate nothing - enough to count parameters.)

    Sizes (parameters): UNet 859.5 M, VAE 83.7 M, text encoder 123.1 M (fp32: 3.4 GB, 0.33 GB,
    0.49 GB).
    """
    return {
        "unet": {
            "_class_name": "UNet2DConditionModel",
            "act_fn": "silu",
            "attention_head_dim": 8,
            "block_out_channels": [320, 640, 1280, 1280],
            "center_input_sample": False,
            "cross_attention_dim": 768,
            "down_block_types": [
                "CrossAttnDownBlock2D",
                "CrossAttnDownBlock2D",
                "CrossAttnDownBlock2D",
                "DownBlock2D",
            ],
            "downsample_padding": 1,
            "flip_sin_to_cos": True,
            "freq_shift": 0,
            "in_channels": 4,
            "layers_per_block": 2,
            "mid_block_scale_factor": 1,
            "norm_eps": 1e-05,
            "norm_num_groups": 32,
            "out_channels": 4,
            "sample_size": 64,
            "up_block_types": [
                "UpBlock2D",
                "CrossAttnUpBlock2D",
                "CrossAttnUpBlock2D",
                "CrossAttnUpBlock2D",
            ],
        },
        "vae": {
            "_class_name": "AutoencoderKL",
            "act_fn": "silu",
            "block_out_channels": [128, 256, 512, 512],
            "down_block_types": [
                "DownEncoderBlock2D",
                "DownEncoderBlock2D",
                "DownEncoderBlock2D",
                "DownEncoderBlock2D",
            ],
            "in_channels": 3,
            "latent_channels": 4,
            "layers_per_block": 2,
            "norm_num_groups": 32,
            "out_channels": 3,
            "sample_size": 512,
            "scaling_factor": 0.18215,
            "up_block_types": [
                "UpDecoderBlock2D",
                "UpDecoderBlock2D",
                "UpDecoderBlock2D",
                "UpDecoderBlock2D",
            ],
        },
        "text_encoder": {
            "architectures": ["CLIPTextModel"],
            "model_type": "clip_text_model",
            "attention_dropout": 0.0,
            "bos_token_id": 0,
            "dropout": 0.0,
            "eos_token_id": 2,
            "hidden_act": "quick_gelu",
            "hidden_size": 768,
            "initializer_factor": 1.0,
            "initializer_range": 0.02,
            "intermediate_size": 3072,
            "layer_norm_eps": 1e-05,
            "max_position_embeddings": 77,
            "num_attention_heads": 12,
            "num_hidden_layers": 12,
            "pad_token_id": 1,
            "projection_dim": 768,
            "vocab_size": 49408,
        },
        "scheduler": _sd_scheduler_config(),
    }


def sd_turbo_configs() -> dict[str, dict[str, Any]]:
    """The configurations of the one-step SD-Turbo class (``stabilityai/sd-turbo``: the Stable
    Diffusion 2.1 base architecture, 512x512): like `sd_v1_4_configs` but with the OpenCLIP
    ViT-H text tower (1024 wide, 23 layers, 16 heads), cross-attention 1024 wide, per-block head
    sizes and linear attention projections, and an Euler scheduler with trailing timesteps (one
    step from pure noise). Sizes: UNet 865.9 M, VAE 83.7 M, text encoder 340.4 M parameters.
    """
    c = sd_v1_4_configs()
    c["unet"].update(attention_head_dim=[5, 10, 20, 20], cross_attention_dim=1024, use_linear_projection=True,
                     upcast_attention=False)
    c["text_encoder"].update(hidden_act="gelu", hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                             num_hidden_layers=23, projection_dim=512)
    c["scheduler"] = {
        "_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
        "beta_start": 0.00085, "interpolation_type": "linear", "num_train_timesteps": 1000,
        "prediction_type": "epsilon", "steps_offset": 1, "timestep_spacing": "trailing",
        "trained_betas": None, "use_karras_sigmas": False,
    }
    return c


def _sd_v1_4_models(seed: int, configs: dict[str, dict[str, Any]] | None = None) -> tuple[Any, Any, Any]:
    """The three full-size models with random weights (in memory, fp32, ~4 GB); SD v1.4's
    architecture unless ``configs`` says otherwise."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    configs = configs or sd_v1_4_configs()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_config(configs["unet"])
    torch.manual_seed(seed)
    vae = AutoencoderKL.from_config(configs["vae"])
    text_cfg = {k: v for k, v in configs["text_encoder"].items() if k != "model_type"}
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_cfg))
    return unet, vae, text_encoder


def build_sd_v1_4_random(
    path: PathLike,
    *,
    seed: int = 0,
    dtype: Literal["float32", "float16", "bfloat16"] = "float32",
) -> pathlib.Path:
    """Write the FULL-SIZE Stable Diffusion v1.4 architecture with random weights to ``path``.

    For benchmarks that need real compute (a 512x512 image costs what it costs with the real
    checkpoint) but no download or licence. Standard diffusers layout, safetensors, loads with
    ``AutoPipelineForText2Image.from_pretrained(path)`` as a ``StableDiffusionPipeline``
    (``vae_scale_factor`` 8, default size 512x512). Configs: `sd_v1_4_configs`.

    Differences from the real checkpoint: random weights (the images are noise); the tokenizer is
    `tiny_clip_tokenizer` (the text model keeps its 49408-entry embedding, only low ids are
    ever used, which costs the same); no safety checker (``requires_safety_checker`` false).

    Cost: 1.066 G parameters (UNet 859.5 M, VAE 83.7 M, text encoder 123.1 M); 4.3 GB on disk
    in float32, 2.1 GB with ``dtype="float16"``/``"bfloat16"`` (the weights are cast before
    saving); building took 21 s (float32) / 9 s (float16) and ~4.5 GB of RAM on a 2-core CPU.
    Loading it back takes ~0.5 s from a warm page cache; one 64x64 image with 1 step ~1.4 s
    there. Not for unit tests.

    Returns:
        The absolute folder path.
    """
    import torch
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    torch_dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in torch_dtype:
        raise ValueError(f"dtype must be one of {sorted(torch_dtype)}, not {dtype!r}")
    out = _prepare_dir(path)
    unet, vae, text_encoder = _sd_v1_4_models(seed)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_clip_tokenizer(),
        unet=unet,
        scheduler=PNDMScheduler.from_config(_no_class_name(_sd_scheduler_config())),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    if dtype != "float32":
        pipe.to(dtype=torch_dtype[dtype])
    pipe.save_pretrained(str(out), safe_serialization=True)
    _finish_pipeline_folder(out)
    return out


# --------------------------------------------------------------------------- ControlNet (issue 16, part 1: layouts)


def build_tiny_controlnet(path: PathLike, *, seed: int = 0, sdxl: bool = False) -> pathlib.Path:
    """Write a tiny random-weight ``ControlNetModel`` for `build_tiny_sd_pipeline`'s UNet (or,
    with ``sdxl=True``, `build_tiny_sdxl_pipeline`'s) to ``path``: ``config.json`` and
    ``diffusion_pytorch_model.safetensors``, as ``controlnet.save_pretrained(path)`` writes them.

    Built like diffusers' ``ControlNetPipelineFastTests.get_dummy_components``: the encoder half
    is a copy of the tiny UNet's (``ControlNetModel.from_unet``, cross-attention 32, or 80 with
    SDXL's text-time conditioning), the conditioning embedding has channels (16, 32), so it
    downsamples the control image by 2 (the tiny VAE's factor), and the zero convolutions that
    feed the UNet are re-drawn from a normal distribution (std 0.05, bias 0.1) so the control
    visibly changes the image (a real untrained ControlNet's zeros would change nothing).
    ~0.3 MB; loads with ``ControlNetModel.from_pretrained(path)`` or ``AutoModel``.

    Returns:
        The absolute folder path.
    """
    import tempfile

    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    out = _prepare_dir(path)
    with tempfile.TemporaryDirectory() as tmp:
        build = build_tiny_sdxl_pipeline if sdxl else build_tiny_sd_pipeline
        unet = UNet2DConditionModel.from_pretrained(str(build(pathlib.Path(tmp) / "pipe", seed=seed)), subfolder="unet")
    torch.manual_seed(seed + 7)
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))

    def redraw(module: Any) -> None:
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.normal_(module.weight, std=0.05)
            torch.nn.init.constant_(module.bias, 0.1)

    with torch.no_grad():
        net.controlnet_down_blocks.apply(redraw)
        net.controlnet_mid_block.apply(redraw)
    net.save_pretrained(str(out), safe_serialization=True)
    return out


# --------------------------------------------------------------------------- upscalers (issue 16, part 2)


def _x4_scheduler_configs() -> tuple[dict[str, Any], dict[str, Any]]:
    """The x4 upscaler's published schedulers: DDIM with v-prediction, and the DDPM schedule that
    noises the low-resolution conditioning."""
    betas = {"beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
             "clip_sample": False, "trained_betas": None}
    return ({"_class_name": "DDIMScheduler", **betas, "prediction_type": "v_prediction", "set_alpha_to_one": False,
             "steps_offset": 1},
            {"_class_name": "DDPMScheduler", **betas, "variance_type": "fixed_small"})


def _save_x4(out: pathlib.Path, unet: Any, vae: Any, text_encoder: Any) -> pathlib.Path:
    from diffusers import DDIMScheduler, DDPMScheduler, StableDiffusionUpscalePipeline

    scheduler, low_res = _x4_scheduler_configs()
    pipe = StableDiffusionUpscalePipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tiny_clip_tokenizer(), unet=unet,
        low_res_scheduler=DDPMScheduler.from_config(_no_class_name(low_res)),
        scheduler=DDIMScheduler.from_config(_no_class_name(scheduler)), max_noise_level=350,
    )
    pipe.save_pretrained(str(out), safe_serialization=True)
    _finish_pipeline_folder(out)
    return out


def build_tiny_sd_upscaler(path: PathLike, *, seed: int = 0) -> pathlib.Path:
    """Write a tiny random-weight ``StableDiffusionUpscalePipeline`` (the x4 upscaler's wiring) to ``path``.

    * ``unet``: ``UNet2DConditionModel`` with 7 input channels (4 latent + the 3 of the noised
      low-resolution image), 1000 class embeddings (the noise level), blocks (Down,
      CrossAttnDown) / (CrossAttnUp, Up) of (16, 32) channels, cross-attention 32 wide.
    * ``vae``: ``AutoencoderKL`` with 3 blocks (8, 8, 16): ``vae_scale_factor`` 4 like the real
      model's, so the latent has the low-resolution image's size and decodes to 4 times it.
    * ``text_encoder``/``tokenizer``: as `build_tiny_sd_pipeline`'s.
    * ``scheduler``: DDIM with v-prediction; ``low_res_scheduler``: DDPM (the published settings);
      ``max_noise_level`` 350.

    Loads with ``StableDiffusionUpscalePipeline.from_pretrained(path)`` or ``DiffusionPipeline``.
    A 32x32 image becomes 128x128 in ~0.1 s (2 steps, one thread). Returns the absolute folder.
    """
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    out = _prepare_dir(path)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=32, in_channels=7, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8, num_class_embeds=1000,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        sample_size=128, in_channels=3, out_channels=3, block_out_channels=(8, 8, 16),
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        layers_per_block=1, latent_channels=4, norm_num_groups=4, scaling_factor=0.08333,
    )
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(_tiny_clip_text_config())
    return _save_x4(out, unet, vae, text_encoder)


def build_tiny_latent_upscaler(path: PathLike, *, seed: int = 0) -> pathlib.Path:
    """Write a tiny random-weight ``StableDiffusionLatentUpscalePipeline`` (x2) to ``path``: the
    K-diffusion UNet of diffusers' own fast tests (8 input channels, 5 output, Fourier time
    embedding conditioned on the noise level and the pooled prompt), a 3-block ``AutoencoderKL``
    (``vae_scale_factor`` 4; image sides are multiples of 16, at least 32), an Euler scheduler predicting
    the sample, and `build_tiny_sd_pipeline`'s text encoder and tokenizer. Returns the folder."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionLatentUpscalePipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    out = _prepare_dir(path)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        act_fn="gelu", attention_head_dim=8, norm_num_groups=None, block_out_channels=(32, 32, 64, 64),
        time_cond_proj_dim=128 + 32, conv_in_kernel=1, conv_out_kernel=1, cross_attention_dim=32,
        down_block_types=("KDownBlock2D", "KCrossAttnDownBlock2D", "KCrossAttnDownBlock2D", "KCrossAttnDownBlock2D"),
        in_channels=8, mid_block_type=None, only_cross_attention=False, out_channels=5,
        resnet_time_scale_shift="scale_shift", time_embedding_type="fourier", timestep_post_act="gelu",
        up_block_types=("KCrossAttnUpBlock2D", "KCrossAttnUpBlock2D", "KCrossAttnUpBlock2D", "KUpBlock2D"),
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        block_out_channels=(8, 16, 16), in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3, latent_channels=4, norm_num_groups=4, layers_per_block=1,
    )
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(_tiny_clip_text_config())
    pipe = StableDiffusionLatentUpscalePipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tiny_clip_tokenizer(), unet=unet,
        scheduler=EulerDiscreteScheduler(prediction_type="sample"),
    )
    pipe.save_pretrained(str(out), safe_serialization=True)
    _finish_pipeline_folder(out)
    return out


def sd_x4_upscaler_configs() -> dict[str, dict[str, Any]]:
    """The configurations of ``stabilityai/stable-diffusion-x4-upscaler`` (from its original
    ``x4-upscaling.yaml``): keys ``"unet"``, ``"vae"``, ``"text_encoder"``, ``"scheduler"``,
    ``"low_res_scheduler"``. The UNet works at the low-resolution image's size (7 input channels:
    latent and noised image; 1000 noise-level classes; cross-attention only in its first three
    levels, 1024 wide); the VAE decodes x4 (3 blocks, 128-512 channels, scaling 0.08333); the
    text encoder is OpenCLIP ViT-H's text tower (as SD 2's). Sizes: UNet 473 M, VAE 55 M, text
    encoder 340 M parameters (869 M in all)."""
    scheduler, low_res = _x4_scheduler_configs()
    return {
        "unet": {
            "_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": 8,
            "block_out_channels": [256, 512, 512, 1024], "center_input_sample": False, "cross_attention_dim": 1024,
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 7, "layers_per_block": 2,
            "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "num_class_embeds": 1000,
            "only_cross_attention": [True, True, True, False], "out_channels": 4, "sample_size": 128,
            "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
            "use_linear_projection": True,
        },
        "vae": {
            "_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512],
            "down_block_types": ["DownEncoderBlock2D"] * 3, "in_channels": 3, "latent_channels": 4, "layers_per_block": 2,
            "norm_num_groups": 32, "out_channels": 3, "sample_size": 256, "scaling_factor": 0.08333,
            "up_block_types": ["UpDecoderBlock2D"] * 3,
        },
        "text_encoder": sd_turbo_configs()["text_encoder"],
        "scheduler": scheduler,
        "low_res_scheduler": low_res,
    }


def build_sd_x4_upscaler_random(path: PathLike, *, seed: int = 0) -> pathlib.Path:
    """Write the FULL-SIZE x4 upscaler architecture (`sd_x4_upscaler_configs`) with random
    weights to ``path``, for benchmarks (the real model's compute, no download): 869 M
    parameters, 3.5 GB in float32 (3.3 GiB on disk; building took ~80 s on a 2-core CPU). The
    tokenizer is `tiny_clip_tokenizer`. Returns the folder."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    out = _prepare_dir(path)
    c = sd_x4_upscaler_configs()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_config(c["unet"])
    torch.manual_seed(seed)
    vae = AutoencoderKL.from_config(c["vae"])
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(**{k: v for k, v in c["text_encoder"].items() if k != "model_type"}))
    return _save_x4(out, unet, vae, text_encoder)
