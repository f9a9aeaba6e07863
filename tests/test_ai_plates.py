"""AI plates on tiny random-weight pipelines built at test time (no hub, no downloads)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.plate.cache import PlateCache
from hybridscene.plate.spec import PlateSpec, resolve_spec
from hybridscene.testing import build_tiny_depth_model, build_tiny_sd_pipeline, build_tiny_sdxl_pipeline
from forking import forker_fixture

pytestmark = pytest.mark.ai

PROMPT = "Landscape with mountains and a river"


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory):
    return build_tiny_sdxl_pipeline(tmp_path_factory.mktemp("models") / "tiny-sdxl")


@pytest.fixture(scope="session")
def tiny_depth(tmp_path_factory):
    return build_tiny_depth_model(tmp_path_factory.mktemp("models") / "tiny-depth")


@pytest.fixture(scope="module")
def plate_worker(tmp_path_factory):
    """One background plate worker (a process that imports torch and loads the model: seconds)
    for the tests of the worker, with a cache of its own."""
    with hs.PlateWorker(threads=1, cache=PlateCache(tmp_path_factory.mktemp("worker-cache"))) as worker:
        yield worker


def spec(model, **kw):
    return PlateSpec(**{"prompt": PROMPT, "model": str(model), "size": (32, 32), "steps": 2, **kw})


def cli(*args, env=None, timeout=240):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "hybridscene", *args], capture_output=True, text=True, env=e, timeout=timeout)


# `forked` runs the command line in children forked from one process that has imported it once
# (`forking.Forker`): each run is a process of its own (its exit status, stdout and stderr, its own
# exit), without the second a fresh interpreter spends importing. For refusals; `cli` where a run
# reads the environment at import (the Hugging Face cache) or races another.
forker = forker_fixture(imports=("hybridscene.cli",))


@pytest.fixture
def forked(forker):
    """``forked(*args, env=)``: as ``cli``, in a process forked from one that imported the command line."""

    def run(*args, env=None):
        return forker.cli(*args, extra_env=env)

    return run


def test_miss_then_hit_is_identical_and_stores_inputs(tiny_sd, isolated_cache):
    first = hs.generate_plate(spec(tiny_sd))
    second = hs.generate_plate(spec(tiny_sd))
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert first.key == second.key and first.entry == second.entry
    np.testing.assert_array_equal(first.plate.image, second.plate.image)
    assert first.plate.size == (32, 32) and first.plate.source == "diffusers" and first.plate.prompt == PROMPT
    assert first.plate.image.std() > 1  # noise, not a blank image
    info = json.loads((first.entry / "plate.json").read_text())
    assert info["inputs"]["prompt"] == PROMPT and info["inputs"]["steps"] == 2
    assert info["inputs"]["model"].startswith("local:") and info["inputs"]["pipeline"] == "StableDiffusionPipeline"
    assert info["inputs"]["device_type"] == "cpu" and info["inputs"]["dtype"] == "float32"
    assert info["timings"]["generate_s"] > 0
    assert str(first.entry).startswith(str(isolated_cache))


def test_same_inputs_without_cache_give_the_same_pixels(tiny_sd):
    a = hs.generate_plate(spec(tiny_sd, seed=3), cache=False)
    b = hs.generate_plate(spec(tiny_sd, seed=3), cache=False)
    c = hs.generate_plate(spec(tiny_sd, seed=4), cache=False)
    np.testing.assert_array_equal(a.plate.image, b.plate.image)
    assert not np.array_equal(a.plate.image, c.plate.image)
    assert a.entry is None and not any(PlateCache().entries())


def test_a_hit_does_not_import_torch(tiny_sd, isolated_cache):
    hs.generate_plate(spec(tiny_sd))
    code = (
        "import sys, hybridscene as hs\n"
        "from hybridscene.plate.spec import PlateSpec\n"
        f"r = hs.generate_plate(PlateSpec(prompt={PROMPT!r}, model={str(tiny_sd)!r}, size=(32, 32), steps=2))\n"
        "assert r.cache_hit, 'expected a hit'\n"
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, HYBRIDSCENE_CACHE=str(isolated_cache)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_damaged_entry_is_regenerated(tiny_sd, caplog):
    first = hs.generate_plate(spec(tiny_sd))
    npy = first.entry / "image.npy"
    data = bytearray(npy.read_bytes())
    data[-10] ^= 0xFF  # one flipped pixel byte
    npy.write_bytes(bytes(data))
    healed = hs.generate_plate(spec(tiny_sd))
    assert not healed.cache_hit
    assert "damaged" in caplog.text and "checksum" in caplog.text
    np.testing.assert_array_equal(healed.plate.image, first.plate.image)
    assert hs.generate_plate(spec(tiny_sd)).cache_hit
    good, bad = PlateCache().verify()
    assert good == [first.key] and bad == []


def test_two_racing_processes_generate_once(tiny_sd, isolated_cache):
    args = ["plate", PROMPT, "--model", str(tiny_sd), "--size", "32x32", "--steps", "20", "--json"]
    env = dict(os.environ, HYBRIDSCENE_CACHE=str(isolated_cache))
    procs = [subprocess.Popen([sys.executable, "-m", "hybridscene", *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    results = [json.loads(o[0]) for o in outs]
    assert sorted(r["cache"] for r in results) == ["hit", "miss"]
    assert results[0]["key"] == results[1]["key"]
    assert len(list(PlateCache().entries())) == 1


def test_changed_weights_change_the_key_and_copies_keep_it(tiny_sd, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_sd, copy)
    key = resolve_spec(spec(tiny_sd)).key
    assert resolve_spec(spec(copy)).key == key  # content-addressed: a copy is the same model
    build_tiny_sd_pipeline(copy, seed=1)  # new random weights, same file names
    assert resolve_spec(spec(copy)).key != key
    # Every input that changes pixels changes the key.
    variants = [dict(seed=1), dict(steps=3), dict(guidance=3.0), dict(size=(40, 32)), dict(scheduler="euler"),
                dict(negative_prompt="fog"), dict(prompt="a city at dusk"), dict(dtype="bfloat16")]
    keys = {resolve_spec(spec(tiny_sd, **v)).key for v in variants}
    assert len(keys) == len(variants) and key not in keys


def test_cancel_stops_between_steps_and_caches_nothing(tiny_sd):
    calls = []

    def callback(step, total):
        calls.append((step, total))
        return step < 2

    with pytest.raises(hs.Cancelled, match="after 2 of"):
        hs.generate_plate(spec(tiny_sd, steps=10), callback=callback)
    assert [c[0] for c in calls] == [1, 2] and calls[0][1] >= 10
    assert list(PlateCache().entries()) == []


@pytest.mark.parametrize("scheduler", ["euler", "dpm++", "lcm", "euler-a", "ddim", "unipc"])
def test_schedulers_by_name(tiny_sd, scheduler):
    result = hs.generate_plate(spec(tiny_sd, scheduler=scheduler), cache=False)
    assert result.plate.meta["scheduler"].lower().startswith(scheduler.split("-")[0].replace("+", "").rstrip("+")[:3])


def test_sdxl_pipeline_loads_by_path(tiny_sdxl):
    result = hs.generate_plate(spec(tiny_sdxl))
    assert result.plate.meta["pipeline"] == "StableDiffusionXLPipeline"
    assert result.plate.size == (32, 32) and resolve_spec(spec(tiny_sdxl)).guidance == 5.0


def test_resize_to_the_scene_only_when_asked(tiny_sd):
    result = hs.generate_plate(spec(tiny_sd, resize_to=(48, 40)))
    assert result.plate.size == (48, 40) and result.plate.meta["generated_size"] == [32, 32]


def test_depth_model_gives_cached_depth(tiny_sd, tiny_depth):
    first = hs.generate_plate(spec(tiny_sd, depth_model=str(tiny_depth)))
    depth = first.plate.depth
    assert depth.shape == (32, 32) and depth.dtype == np.float32
    assert ((depth > 0) | np.isinf(depth)).all() and np.isfinite(depth).any()
    finite = depth[np.isfinite(depth)]
    assert np.median(finite) == pytest.approx(10.0, rel=0.2)  # relative model: median at depth_scale
    again = hs.generate_plate(spec(tiny_sd, depth_model=str(tiny_depth)))
    assert again.cache_hit
    np.testing.assert_array_equal(again.plate.depth, depth)
    assert hs.generate_plate(spec(tiny_sd)).key != first.key


def test_user_depth_image_is_attached(tiny_sd, tmp_path):
    depth = np.full((32, 32), 7.5, np.float32)
    np.save(tmp_path / "d.npy", depth)
    result = hs.generate_plate(spec(tiny_sd, depth_image=str(tmp_path / "d.npy")))
    np.testing.assert_array_equal(result.plate.depth, depth)
    np.save(tmp_path / "bad.npy", np.ones((8, 8), np.float32))
    with pytest.raises(hs.ConfigError, match="is 8x8 but the plate is 32x32"):
        hs.generate_plate(spec(tiny_sd, depth_image=str(tmp_path / "bad.npy")))


def test_safety_checker_black_image_is_an_error(tmp_path):
    model = build_tiny_sd_pipeline(tmp_path / "flagging", safety_checker="flag_all")
    with pytest.raises(hs.PlateError, match="safety checker blacked out the image"):
        hs.generate_plate(spec(model))
    assert list(PlateCache().entries()) == []


def test_nan_output_is_an_error(tiny_sd, tmp_path):
    from safetensors.numpy import load_file, save_file

    model = tmp_path / "nan-sd"
    shutil.copytree(tiny_sd, model)
    (weights,) = (model / "vae").glob("*.safetensors")
    tensors = load_file(weights)
    name = next(k for k in tensors if k.startswith("decoder.conv_out") and k.endswith("bias"))
    tensors[name] = np.full_like(tensors[name], np.nan)
    save_file(tensors, weights)
    with pytest.raises(hs.PlateError, match="NaN pixels.*--dtype float32"):
        hs.generate_plate(spec(model))
    assert list(PlateCache().entries()) == []


def test_async_plate_arrives_while_frames_keep_coming(tiny_sd, gl_context, plate_worker):
    placeholder = hs.procedural_plate(size=(64, 36), seed=2)
    scene = hs.Scene(placeholder)
    future = plate_worker.submit(spec(tiny_sd, size=(64, 32), steps=4))
    scene.set_plate(future, crossfade=0.5)
    frames_while_waiting = 0
    t0 = time.monotonic()
    with hs.FrameRenderer(gl_context, (64, 36)) as renderer:
        t = 0.0
        while scene.waiting_for_plate:
            assert time.monotonic() - t0 < 180, "plate never arrived"
            frame = renderer.render_frame(scene, t)
            np.testing.assert_array_equal(frame[0, 0], placeholder.image[0, 0])
            frames_while_waiting += 1
            t += 1 / 30
            time.sleep(1 / 60)  # a frame rate, as a window's loop keeps, rather than every core for drawing
        arrived = scene.plate
        renderer.render_frame(scene, t + 1.0)  # after the cross-fade
    assert frames_while_waiting >= 5
    assert arrived is not placeholder and arrived.source == "diffusers"
    assert future.result().plate is arrived and not future.result().cache_hit


def test_worker_paints_over_a_layout_with_a_controlnet(tiny_sd, tmp_path, plate_worker):
    from hybridscene.testing import build_tiny_controlnet

    layout = hs.Layout.procedural(seed=6, size=(32, 32))
    net = build_tiny_controlnet(tmp_path / "cn")
    result = plate_worker.submit(spec(tiny_sd, layout=layout, controlnet=str(net))).result(timeout=180)
    np.testing.assert_array_equal(result.plate.depth, layout.depth)  # the layout's array crossed the process
    assert result.plate.camera == layout.camera and result.plate.meta["layout"]["control"] == "depth"


def test_worker_rejects_bad_specs_at_once_and_cancels(tiny_sd, tmp_path, plate_worker):
    worker = plate_worker
    stored = sorted(e.key for e in worker.cache.entries())
    with pytest.raises(hs.PlateError, match="does not exist"):
        worker.submit(spec(tmp_path / "missing"))
    slow = worker.submit(spec(tiny_sd, steps=400))
    queued = worker.submit(spec(tiny_sd, seed=9))
    assert queued.cancel() and queued.cancelled()
    deadline = time.monotonic() + 120
    while slow._worker._current is not slow:  # wait until it runs
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert slow.cancel()
    with pytest.raises(hs.Cancelled):
        slow.result(timeout=120)
    assert sorted(e.key for e in worker.cache.entries()) == stored  # the cancelled plates cached nothing


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "{missing}"], "model folder '{missing}' does not exist"),
        (["--model", "someone/no-such-model"], "and HF_HUB_OFFLINE is set; download it first"),
        (["--model", "{sd}", "--size", "0x64"], "size must be two positive integers"),
        (["--model", "{sd}", "--size", "60x64"], "must be a multiple of 8 for this model; use 64x64"),
        (["--model", "{sd}", "--scheduler", "fancy"], "unknown scheduler 'fancy'"),
        (["--model", "{sd}", "--device", "cuda"], "sees no CUDA GPU; install a CUDA build of torch or use --device cpu"),
        (["--model", "{sd}", "-o", "out.bmpx"], "use .png, .jpg or .webp"),
        (["--model", "{sd}", "--upscaler", "lanczos"], "--upscaler given without --upscale FACTOR; add e.g. --upscale 4"),
        (["--model", "{sd}", "--upscale", "0.5"], "upscale must be a factor in 1..16 (e.g. 4), got 0.5"),
        (["--model", "{sd}", "--layout-image", "a.png"], "needs both --layout-image and --layout-depth; add --layout-depth DEPTH"),
        (["--model", "{sd}", "--layout", "mountains", "--layout-depth", "d.npy"], "--layout-image IMG --layout-depth DEPTH, not both"),
        (["--model", "{sd}", "--controlnet", "{missing}"], "needs a layout to follow; give layout='mountains'"),
        (["--model", "{sd}", "--layout", "mountains", "--strength", "1.5"], "strength must be a number in 0..1"),
        (["--model", "{sd}", "--layout", "mountains", "--controlnet", "a", "--control-scale", "1", "--control-scale", "2",
          "--control-scale", "3"], "3 control scales for 1 ControlNets; give one, or one per ControlNet"),
        (["--model", "{sd}", "--wrap", "--tiling", "none"], "drop tiling='none' (--tiling none), or drop wrap"),
    ],
)
def test_cli_bad_input_one_line_nothing_cached(tiny_sd, tmp_path, isolated_cache, forked, args, message):
    fill = {"missing": str(tmp_path / "missing"), "sd": str(tiny_sd)}
    args = [a.format(**fill) for a in args]
    r = forked("plate", PROMPT, "--steps", "2", *args, env={"HYBRIDSCENE_CACHE": str(isolated_cache)})
    assert r.returncode == 1
    assert message.format(**fill) in r.stderr
    assert "Traceback" not in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.startswith("error:")]) == 1
    assert not (isolated_cache / "plates").exists() or not any((isolated_cache / "plates").rglob("plate.json"))


def test_cli_empty_prompt(tiny_sd, forked):
    r = forked("plate", "  ", "--model", str(tiny_sd))
    assert r.returncode == 1 and "the prompt is empty" in r.stderr and "Traceback" not in r.stderr


def in_process(*args, env=None):
    """The command in this process (click's runner: exit code, stdout and stderr apart), for
    tests about what a command prints and stores, where a new process would only add seconds of
    importing torch and loading the model."""
    from click.testing import CliRunner

    from hybridscene.cli import main

    r = CliRunner().invoke(main, list(args), env=env)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception  # an uncaught exception: a traceback for a user
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)


def test_cli_plate_json_output_and_cache_commands(tiny_sd, tmp_path, isolated_cache):
    cli = in_process
    env = {"HYBRIDSCENE_CACHE": str(isolated_cache)}
    out = tmp_path / "generated_image.png"
    base = ["plate", PROMPT, "--model", str(tiny_sd), "--size", "32x32", "--steps", "2", "--json"]
    miss = json.loads(cli(*base, "-o", str(out), env=env).stdout)
    hit = json.loads(cli(*base, env=env).stdout)
    assert miss["cache"] == "miss" and hit["cache"] == "hit" and miss["key"] == hit["key"]
    assert miss["output"] == str(out) and out.is_file() and miss["entry"].startswith(str(isolated_cache))
    assert hit["seconds"] < miss["seconds"]
    from PIL import Image

    with Image.open(out) as img:
        np.testing.assert_array_equal(np.asarray(img), PlateCache(isolated_cache).get(miss["key"]).image)
    off = json.loads(cli(*base, "--no-cache", "--seed", "5", env=env).stdout)
    assert off["cache"] == "off" and off["entry"] is None

    listing = cli("cache", "ls", "--json", env=env)
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [r["key"] for r in rows] == [miss["key"]] and rows[0]["inputs"]["prompt"] == PROMPT
    assert "1 plates verified, 0 damaged removed" in cli("cache", "verify", env=env).stdout
    assert "removed 1 plates" in cli("cache", "prune", "--max-size", "1K", env=env).stdout
    assert cli("cache", "ls", "--json", env=env).stdout == ""
    cli(*base, env=env)
    assert "removed 1 plates" in cli("cache", "clear", "--yes", env=env).stdout
    bad = cli("cache", "prune", "--max-size", "lots", env=env)
    assert bad.returncode == 1 and "write it like 500M" in bad.stderr


def test_demo_with_an_ai_plate(tiny_sd, tmp_path):
    out = tmp_path / "demo.png"
    r = in_process("demo", "--model", str(tiny_sd), "--prompt", PROMPT, "--steps", "2", "--frames", "1",
                   "--size", "64x36", "-o", str(out), "-q")
    assert r.returncode == 0, r.stderr
    from PIL import Image

    with Image.open(out) as img:
        assert img.size == (64, 36)


def test_hub_id_loads_from_the_hugging_face_cache_offline(tiny_sd, tmp_path):
    """A hub id resolves through the HF cache's refs to a commit, and loads offline from it."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "models--tiny-org--tiny-sd"
    shutil.copytree(tiny_sd, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    env = {"HF_HUB_CACHE": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "HYBRIDSCENE_CACHE": str(tmp_path / "c")}
    args = ["plate", PROMPT, "--model", "tiny-org/tiny-sd", "--size", "32x32", "--steps", "2", "--json"]
    r = cli(*args, env=env)
    assert r.returncode == 0, r.stderr
    entry = json.loads(r.stdout)["entry"]
    info = json.loads((Path(entry) / "plate.json").read_text())
    assert info["inputs"]["model"] == f"hub:tiny-org/tiny-sd@{commit}"
    # The same weights by path give the same pixels (the model identity differs, so the key too).
    by_path = hs.generate_plate(spec(tiny_sd), cache=False).plate.image
    np.testing.assert_array_equal(np.load(Path(entry) / "image.npy"), by_path)
    # An unknown revision is not in the cache: a clear error offline.
    r = cli(*args, "--revision", "v2", env=env)
    assert r.returncode == 1 and "(revision 'v2') is not in the Hugging Face cache" in r.stderr
