"""Tiny, random-weight models for testing code that uses hybridscene's AI plate generator.

Real Stable Diffusion checkpoints are gigabytes and need a download; the builders here write
*structurally real* models with random weights to a local folder in the standard on-disk formats,
in about a second, with no network access. They load through the ordinary loaders
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

* :func:`tiny_clip_tokenizer` - a CLIP BPE tokenizer built in memory (~100 tokens: the special
  tokens, letters, digits, punctuation and some landscape words).
* :func:`build_tiny_sd_pipeline` - a Stable Diffusion 1.x-style pipeline folder (~0.5 MB),
  optionally with a safety checker that flags every image.
* :func:`build_tiny_sdxl_pipeline` - an SDXL-style pipeline folder (two text encoders, ~0.7 MB).
* :func:`build_tiny_autoencoder` - an ``AutoencoderTiny`` (TAESD architecture) folder.
* :func:`build_tiny_depth_model` - a DPT depth-estimation model folder for ``transformers``.
* :func:`sd_v1_4_configs` and :func:`build_sd_v1_4_random` - the *full-size* Stable Diffusion
  v1.4 architecture with random weights, for benchmarks that need real compute but no download.

Image sizes for the tiny pipelines: the diffusers SD/SDXL pipelines demand height and width that
are multiples of 8 (``check_inputs``), and that is the only rule here - the tiny VAE downsamples
by 2 (``pipe.vae_scale_factor == 2``), so the latent is a multiple of 4 and the UNet's single
downsampling step always divides it. 8x8 is the smallest valid image; the default size (when no
height/width is passed) is 64x64 (``unet.config.sample_size`` 32 times ``vae_scale_factor`` 2).

Timings (2-core CPU, torch 2.13, diffusers 0.42, fp32): building a tiny SD or SDXL folder takes
~0.3 s, loading it with ``AutoPipelineForText2Image.from_pretrained`` ~0.3 s, one 64x64 image with
2 steps and classifier-free guidance ~0.05 s (SD) / ~0.07 s (SDXL).

Importing this module imports neither torch, diffusers nor transformers; each builder imports
what it needs. Every builder is deterministic: the same ``seed`` gives byte-identical weight files
(``torch.manual_seed(seed)`` is set before each model is constructed; the global torch RNG is left
changed). Builders write into ``path`` (created with its parents if missing; files already there
with the same names are overwritten) and return it as an absolute :class:`pathlib.Path`.
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
    "build_sd_v1_4_random",
    "build_tiny_autoencoder",
    "build_tiny_depth_model",
    "build_tiny_sd_pipeline",
    "build_tiny_sdxl_pipeline",
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


def _tiny_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in _TOKENIZER_CHARS:
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    merges: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for word in _TOKENIZER_WORDS:
        # Left-to-right merges: ("l","a") -> "la", ("la","n") -> "lan", ... ("landscap","e</w>").
        current = word[0] if len(word) > 1 else word + "</w>"
        for i, ch in enumerate(word[1:], start=1):
            right = ch + "</w>" if i == len(word) - 1 else ch
            pair = (current, right)
            current += right
            if pair not in seen:
                seen.add(pair)
                merges.append(pair)
            vocab.setdefault(current, len(vocab))
    return vocab, merges


def tiny_clip_tokenizer() -> CLIPTokenizer:
    """A small CLIP BPE tokenizer built in memory (no files, no download).

    The vocabulary (about 300 entries, ids below 1000) holds ``<|startoftext|>`` (id 0, BOS) and
    ``<|endoftext|>`` (id 1: EOS, padding and unknown), every lowercase letter, digit and common
    punctuation mark both as a word-inner piece and with the ``</w>`` end-of-word suffix, and a
    few dozen landscape words ("landscape", "mountains", "river", ...) reached by BPE merges. So
    ``"Landscape with mountains and a river"`` encodes to
    ``<|startoftext|> landscape</w> with</w> mountains</w> and</w> a</w> river</w> <|endoftext|>``
    and unknown words spell out letter by letter; nothing maps to the unknown token.
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

    What is built (same block types and wiring as SD 1.x, tiny widths; ~0.5 MB in all):

    * ``unet``: ``UNet2DConditionModel``, blocks (CrossAttnDown, Down) / (Up, CrossAttnUp),
      channels (16, 32), 1 layer per block, cross-attention dim 32, ``sample_size`` 32.
    * ``vae``: ``AutoencoderKL`` with 2 blocks of (8, 16) channels, 4 latent channels,
      ``scaling_factor`` 0.18215 - so ``pipe.vae_scale_factor == 2``.
    * ``text_encoder``: ``CLIPTextModel``, hidden 32, 2 layers, vocab 1000, 77 positions.
    * ``tokenizer``: :func:`tiny_clip_tokenizer`.
    * ``scheduler``: ``PNDMScheduler`` with SD v1.4's published settings (scaled_linear betas
      0.00085-0.012, ``steps_offset`` 1, ``skip_prk_steps``); ``EulerDiscreteScheduler``,
      ``DPMSolverMultistepScheduler``, ``LCMScheduler``, ``DDIMScheduler`` ... can be swapped in
      with ``X.from_config(pipe.scheduler.config)``.

    Args:
        path: output folder (created if missing).
        seed: seeds ``torch.manual_seed`` before each model; same seed, same bytes.
        safety_checker: ``None`` - no checker (``model_index.json`` has ``safety_checker`` and
            ``feature_extractor`` as ``[null, null]`` and ``requires_safety_checker`` false, so
            loading logs no "disabled safety checker" warning). ``"flag_all"`` - a tiny
            ``StableDiffusionSafetyChecker`` (CLIP vision tower, 32x32 input) and a
            ``CLIPImageProcessor`` feature extractor, whose concept thresholds are -2 (below any
            cosine similarity), so it flags *every* image: the pipeline returns all-black images
            and ``nsfw_content_detected == [True, ...]``. For testing how black "NSFW" images are
            handled.

    Images: height/width must be multiples of 8 (``StableDiffusionPipeline.check_inputs``);
    default 64x64. Output is noise (random weights).

    Timings on a 2-core CPU: build ~0.3 s; ``AutoPipelineForText2Image.from_pretrained`` ~0.3 s;
    a 64x64 image with 2 steps (guidance on) ~0.05 s, 512x512 ~1.5 s.

    Returns:
        The absolute folder path.
    """
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
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
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        sample_size=64,
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        scaling_factor=0.18215,
    )
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


def _flag_all_safety_checker(seed: int) -> tuple[Any, Any]:
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig

    try:  # transformers >= 5 (and no torchvision): name the PIL backend, no fallback message
        from transformers import CLIPImageProcessorPil as _Processor
    except ImportError:  # pragma: no cover - transformers 4
        from transformers import CLIPImageProcessor as _Processor

    config = CLIPConfig(
        text_config=dict(
            hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=1,
            vocab_size=1000, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        ),
        vision_config=dict(
            hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=1,
            image_size=32, patch_size=8,
        ),
        projection_dim=32,
    )  # fmt: skip
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
    """TODO"""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    out = _prepare_dir(path)
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
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + 32,
        cross_attention_dim=64,
        norm_num_groups=8,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        sample_size=64,
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        scaling_factor=0.13025,
        force_upcast=True,
    )
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(_tiny_clip_text_config())
    torch.manual_seed(seed + 1)
    text_encoder_2 = CLIPTextModelWithProjection(_tiny_clip_text_config(hidden_act="gelu"))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        timestep_spacing="leading",
        interpolation_type="linear",
        prediction_type="epsilon",
        use_karras_sigmas=False,
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
