"""Speed options for AI plates (torch.compile, channels-last, the attention kernel) and a
replacement autoencoder (TAESD), on tiny random-weight pipelines built at test time."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.plate import generate as generate_mod
from hybridscene.plate.spec import PlateSpec, resolve_spec
from hybridscene.testing import build_tiny_autoencoder

pytestmark = pytest.mark.ai

PROMPT = "Landscape with mountains and a river"


@pytest.fixture(scope="module")
def tiny_taesd(tmp_path_factory):
    # the tiny pipelines' VAE scales by 2, so the matching TAESD drops two upsampling blocks
    return build_tiny_autoencoder(tmp_path_factory.mktemp("models") / "tiny-taesd", scale_factor=2)


def spec(model, **kw):
    return PlateSpec(**{"prompt": PROMPT, "model": str(model), "size": (32, 32), "steps": 2, "seed": 5, **kw})


def loaded_pipeline(s):
    """The pipeline the last generate_plate call ran (the process keeps it loaded)."""
    return generate_mod._GENERATOR.pipeline(resolve_spec(s))


def levels(a, b):
    return int(np.abs(a.astype(int) - b.astype(int)).max())


# -- the options ------------------------------------------------------------------------------------
def test_options_are_checked_and_named():
    with pytest.raises(hs.ConfigError, match=r"unknown torch.compile mode 'fast'; use one of default, reduce-overhead, max-autotune"):
        hs.Acceleration(compile="fast")
    with pytest.raises(hs.ConfigError, match=r"unknown attention 'flash'; use one of sdpa, sdpa-flash, .*eager"):
        hs.Acceleration(attention="flash")
    with pytest.raises(hs.ConfigError, match="channels_last must be True or False, got 'yes'"):
        hs.Acceleration(channels_last="yes")
    with pytest.raises(hs.ConfigError, match="acceleration must be a hybridscene.Acceleration, got 'max-autotune'"):
        hs.generate_plate(prompt=PROMPT, model="CompVis/stable-diffusion-v1-4", acceleration="max-autotune")
    with pytest.raises(hs.ConfigError, match="acceleration must be a hybridscene.Acceleration"):
        hs.PlateWorker(acceleration={"compile": "default"})
    assert hs.Acceleration().plain and not hs.Acceleration(channels_last=True).plain


def test_options_from_the_environment(monkeypatch):
    assert hs.get_settings().acceleration == hs.Acceleration()
    monkeypatch.setenv("HYBRIDSCENE_TORCH_COMPILE", "max-autotune")
    monkeypatch.setenv("HYBRIDSCENE_CHANNELS_LAST", "1")
    monkeypatch.setenv("HYBRIDSCENE_ATTENTION", "SDPA-Flash")
    assert hs.get_settings().acceleration == hs.Acceleration(compile="max-autotune", channels_last=True, attention="sdpa-flash")
    monkeypatch.setenv("HYBRIDSCENE_TORCH_COMPILE", "1")
    assert hs.get_settings().acceleration.compile == "default"
    monkeypatch.setenv("HYBRIDSCENE_TORCH_COMPILE", "off")
    assert hs.get_settings().acceleration.compile is None
    monkeypatch.setenv("HYBRIDSCENE_TORCH_COMPILE", "turbo")
    with pytest.raises(hs.ConfigError, match=r"unknown torch.compile mode 'turbo'.*HYBRIDSCENE_TORCH_COMPILE"):
        hs.get_settings()
    monkeypatch.delenv("HYBRIDSCENE_TORCH_COMPILE")
    monkeypatch.setenv("HYBRIDSCENE_CHANNELS_LAST", "perhaps")
    with pytest.raises(hs.ConfigError, match="HYBRIDSCENE_CHANNELS_LAST='perhaps' is not a yes/no value"):
        hs.get_settings()


# -- they change how, not what ----------------------------------------------------------------------
def test_channels_last_and_attention_kernels_keep_pixels_and_key(tiny_sd):
    import torch

    plain = hs.generate_plate(spec(tiny_sd), cache=False)
    pipe = loaded_pipeline(spec(tiny_sd))
    assert not pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert "acceleration" not in plain.plate.meta

    fast = hs.Acceleration(channels_last=True, attention="sdpa-math")
    a = hs.generate_plate(spec(tiny_sd), cache=False, acceleration=fast)
    pipe = loaded_pipeline(spec(tiny_sd))
    assert pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert pipe.vae.decoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert a.key == plain.key  # not part of the cache key
    assert a.plate.meta["acceleration"] == {"compile": None, "channels_last": True, "attention": "sdpa-math"}
    assert levels(a.plate.image, plain.plate.image) <= 1

    b = hs.generate_plate(spec(tiny_sd), cache=False, acceleration=hs.Acceleration(attention="eager"))
    processors = {type(p).__name__ for p in loaded_pipeline(spec(tiny_sd)).unet.attn_processors.values()}
    assert processors == {"AttnProcessor"}  # diffusers' pre-SDPA attention
    assert levels(b.plate.image, plain.plate.image) <= 1

    c = hs.generate_plate(spec(tiny_sd), cache=False, acceleration=hs.Acceleration(attention="sdpa-flash"))
    assert levels(c.plate.image, plain.plate.image) <= 1


def test_a_kernel_that_cannot_run_here_is_named(tiny_sd):
    with pytest.raises(hs.ConfigError, match=r"attention 'sdpa-cudnn' has no kernel for float32 on cpu .*use attention 'sdpa'"):
        hs.generate_plate(spec(tiny_sd), cache=False, acceleration=hs.Acceleration(attention="sdpa-cudnn"))


@pytest.mark.slow
def test_torch_compile_runs_the_compiled_unet(tiny_sd):
    """Inductor compiles the tiny UNet in about 35 s on two cores (C++ through gcc)."""
    plain = hs.generate_plate(spec(tiny_sd), cache=False)
    compiled = hs.generate_plate(spec(tiny_sd), cache=False, acceleration=hs.Acceleration(compile="default"))
    unet = loaded_pipeline(spec(tiny_sd)).unet
    assert unet._compiled_call_impl is not None  # nn.Module.compile() in place: config and attributes stay
    assert levels(compiled.plate.image, plain.plate.image) <= 1
    assert compiled.plate.meta["acceleration"]["compile"] == "default"


# -- a replacement autoencoder ----------------------------------------------------------------------
def test_tiny_autoencoder_decodes_at_the_right_size_and_is_in_the_key(tiny_sd, tiny_taesd, isolated_cache):
    plain_inputs = resolve_spec(spec(tiny_sd)).inputs
    assert "vae" not in plain_inputs  # keys made before the option existed stay valid
    result = hs.generate_plate(spec(tiny_sd, vae=str(tiny_taesd)))
    assert type(loaded_pipeline(spec(tiny_sd, vae=str(tiny_taesd))).vae).__name__ == "AutoencoderTiny"
    assert result.plate.size == (32, 32)  # the pipeline's scale factor follows the new autoencoder
    assert result.plate.image.std() > 1
    plain = hs.generate_plate(spec(tiny_sd))
    assert result.key != plain.key and not result.cache_hit and not plain.cache_hit
    stored = json.loads((result.entry / "plate.json").read_text())
    assert stored["inputs"]["vae"].startswith("model:local:")
    assert result.plate.meta["vae"] == str(tiny_taesd)
    assert hs.generate_plate(spec(tiny_sd, vae=str(tiny_taesd))).cache_hit


def test_an_autoencoder_of_another_latent_space_is_refused(tiny_sd, tmp_path):
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    AutoencoderTiny(  # 16 latent channels, like SD3's and FLUX's autoencoders
        latent_channels=16, encoder_block_out_channels=(64, 64), decoder_block_out_channels=(64, 64),
        num_encoder_blocks=(1, 3), num_decoder_blocks=(3, 1),
    ).save_pretrained(str(tmp_path / "taesd3ish"))
    with pytest.raises(hs.ConfigError, match=r"has 16 latent channels but model .* works in 4; use the matching tiny autoencoder"):
        hs.generate_plate(spec(tiny_sd, vae=str(tmp_path / "taesd3ish")), cache=False)
    with pytest.raises(hs.PlateError, match="is not a model folder"):
        hs.generate_plate(spec(tiny_sd, vae=str(tmp_path)), cache=False)
    with pytest.raises(hs.ConfigError, match="vae must be a hub id or folder"):
        spec(tiny_sd, vae="  ")


def test_cli_plate_with_speed_options(tiny_sd, tiny_taesd, isolated_cache):
    """In this process (click's runner keeps stdout and stderr apart): a new process would only
    add seconds of importing torch and loading the model."""
    from click.testing import CliRunner

    from hybridscene.cli import main

    def run(args):
        r = CliRunner().invoke(main, args, env={"HYBRIDSCENE_CACHE": str(isolated_cache)})
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception  # no traceback
        return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)

    args = ["plate", PROMPT, "--model", str(tiny_sd), "--size", "32x32",
            "--steps", "2", "--vae", str(tiny_taesd), "--channels-last", "--attention", "sdpa-math", "--json"]
    out = run(args)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["cache"] == "miss" and data["size"] == [32, 32]
    stored = json.loads((Path(data["entry"]) / "plate.json").read_text())
    assert stored["plate"]["meta"]["acceleration"] == {"compile": None, "channels_last": True, "attention": "sdpa-math"}
    assert stored["plate"]["meta"]["vae"] == str(tiny_taesd)
    bad = run(args[:-6] + ["--compile", "fast"])
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].endswith(
        "unknown torch.compile mode 'fast'; use one of default, reduce-overhead, max-autotune, max-autotune-no-cudagraphs (or None for no compile)"
    )


def test_cli_says_that_compiling_takes_a_while(tiny_sd, isolated_cache):
    from click.testing import CliRunner

    from hybridscene.cli import main

    hs.generate_plate(spec(tiny_sd))  # cached: the CLI call below is a hit, nothing compiles
    result = CliRunner().invoke(main, ["plate", PROMPT, "--model", str(tiny_sd), "--size", "32x32", "--steps", "2",
                                       "--seed", "5", "--compile", "max-autotune"])
    assert result.exit_code == 0, result.output
    assert "torch.compile (max-autotune): on a cache miss the first image also compiles the model" in result.output
    assert "(hit," in result.output
