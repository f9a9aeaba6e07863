"""The command line, run as a user runs it (a subprocess) where exit codes and streams matter."""

import json
import os
import re
import subprocess
import sys

import av
import pytest
from click.testing import CliRunner

from hybridscene.cli import main
from forking import RENDER_IMPORTS, forker_fixture


def run_cli(*args, env=None, timeout=120):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "hybridscene", *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


# Runs `hybridscene ARGS` in a child forked from a process that has imported the command line (and
# what a render imports) once (`forking.Forker`): a process of its own (exit status, stdout and
# stderr apart, its own exit), without the seconds a fresh interpreter spends importing. `run_cli`
# (`python -m hybridscene` itself) for the entry point and for the runs that get signals.
forker = forker_fixture(try_imports=RENDER_IMPORTS)


@pytest.fixture
def forked(forker):
    """``forked(*args, cwd=, env=)``: ``python -m hybridscene ARGS`` (in ``cwd``, with ``env`` in
    place of this process's environment) in a process forked from one that imported the command
    line once."""
    return forker.cli


def test_help_and_version():
    r = run_cli("--help")
    assert r.returncode == 0 and "demo" in r.stdout and "info" in r.stdout
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("hybridscene, version ")


@pytest.mark.gl
def test_info_reports_gl_torch_and_cache(tmp_path, forked):
    r = forked("info", "--json", env=dict(os.environ, HYBRIDSCENE_CACHE=str(tmp_path / "plates")))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["plate_cache"] == str(tmp_path / "plates")
    assert data["gl_renderer"] and data["gl_version"].split()[0] >= "3.3"
    assert "torch" in data
    if not data["torch"].startswith("not installed"):
        assert data["torch_device"] in ("cpu", "cuda", "mps")
    text = forked("info").stdout
    assert "gl_renderer" in text and "plate_cache" in text


@pytest.mark.gl
def test_demo_writes_an_mp4(tmp_path, forked):
    out = tmp_path / "demo.mp4"
    r = forked("demo", "-o", str(out), "--frames", "3", "--size", "160x90", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stderr and "3 frames" in r.stderr
    m = re.search(r"^wrote .*demo\.mp4: 3 frames, 160x90 at 30 fps in (\d+\.\d) s "
                  r"\(scene and plate (\d+\.\d) s, frames (\d+\.\d) s, \d+\.\d frames/s\)$", r.stderr, re.M)
    assert m, r.stderr
    total, build, frames = (float(v) for v in m.groups())
    assert abs(total - (build + frames)) <= 0.11  # both parts, rounded to 0.1 s each
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (160, 90)
        assert sum(1 for _ in c.decode(s)) == 3


@pytest.mark.gl
def test_demo_seconds_and_fps_set_the_frame_count(tmp_path):
    out = tmp_path / "d.gif"
    result = CliRunner().invoke(main, ["demo", "-o", str(out), "--seconds", "0.5", "--fps", "8", "--size", "64x36", "-q"])
    assert result.exit_code == 0, result.output
    from PIL import Image

    with Image.open(out) as gif:
        assert gif.n_frames == 4


@pytest.mark.gl
def test_odd_size_for_video_is_rounded_with_a_message(tmp_path, forked):
    out = tmp_path / "odd.mp4"
    r = forked("demo", "-o", str(out), "--frames", "1", "--size", "101x61", "-q")
    assert r.returncode == 0, r.stderr
    assert "warning: video size 101x61 is not even; rendering 100x60 instead" in r.stderr
    with av.open(str(out)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (100, 60)


@pytest.mark.parametrize(
    "args, message",
    [
        (["demo", "-o", "x.avi", "--frames", "1"], "error: cannot write 'x.avi' (extension '.avi'); supported outputs: .mp4"),
        (["demo", "--frames", "2", "--seconds", "1"], "error: give either frames or seconds, not both"),
        (["demo", "--frames", "2", "--seconds", "1", "--model", "{missing}"], "error: give either frames or seconds"),
        (["demo", "--steps", "2", "--guidance", "1"],
         "error: --steps, --guidance given without --model: the demo's plate is procedural; add --model M or remove them"),
        (["demo", "--model", "{missing}", "--scheduler", "fancy"], "error: unknown scheduler 'fancy'"),
        (["demo", "--model", "{missing}", "--compile", "fast"], "error: unknown torch.compile mode 'fast'"),
        (["demo", "--size", "0x10"], "--size must be two positive integers"),
        (["demo", "--size", "wide"], "'wide' is not WIDTHxHEIGHT"),
        (["demo", "--frames", "0", "-o", "z.mp4"], "frames must be a positive integer, got 0"),
        (["demo", "--fps", "-3", "-o", "z.mp4"], "fps must be a positive number, got -3.0"),
    ],
)
def test_bad_input_is_one_line_without_traceback(tmp_path, forked, args, message):
    args = [a.replace("{missing}", str(tmp_path.parent / "no-such-model")) for a in args]
    r = forked(*args, cwd=tmp_path)
    assert r.returncode != 0
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.gl
@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_interrupted_demo_leaves_no_file(tmp_path, how):
    import signal
    import time

    out = tmp_path / "long.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hybridscene", "demo", "-o", str(out), "--frames", "100000", "--size", "64x36", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell starts background jobs (`make test &`) with SIGINT ignored and children inherit
        # that; give the child the default, as a terminal's Ctrl-C would find it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not any(".part" in p.name for p in tmp_path.iterdir()):  # wait until it is writing
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(getattr(signal, how))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_preview_without_a_display_or_with_a_missing_file_says_what_to_do(tmp_path, forked):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    scene = tmp_path / "s.py"
    scene.write_text("import hybridscene as hs\ndef build_scene(size=(64, 36)):\n    return hs.Scene()\n")
    r = forked("preview", str(scene), "--seconds", "1", env=env)
    assert r.returncode == 1
    assert r.stderr.startswith("error: no display to open a window on (DISPLAY is not set)") and "xvfb-run" in r.stderr
    r = forked("preview", str(tmp_path / "nope.py"), env=env)
    assert r.returncode == 1 and "nope.py' does not exist" in r.stderr


SCENE_TAKING_MODEL = """
import hybridscene as hs

def build_scene(size=(64, 36), seed=0, model=None, prompt="a valley"):
    scene = hs.Scene(hs.background_plate(size, seed=seed, model=model, prompt=prompt))
    scene.add(hs.Mesh.cube(1.0, color="#ff3300"), position=(0, 1.5, -6))
    return scene
"""


@pytest.mark.gl
@pytest.mark.ai
def test_render_passes_the_plate_options_to_the_scenes_ai_plate(tiny_sd, tmp_path, isolated_cache):
    scene = tmp_path / "valley.py"
    scene.write_text(SCENE_TAKING_MODEL)
    out = tmp_path / "o.png"
    # In this process (click's runner keeps stdout and stderr apart): a new process would only add
    # seconds of importing torch and loading the model.
    r = CliRunner().invoke(main, ["render", str(scene), "--model", str(tiny_sd), "--steps", "2", "--guidance", "1.0",
                                  "--negative", "fog", "--scheduler", "euler", "--dtype", "float32", "--device", "cpu",
                                  "--frames", "1", "--size", "64x36", "-o", str(out), "-q"])
    assert r.exception is None and r.exit_code == 0, (r.exception, r.stderr)
    entries = list((isolated_cache / "plates").glob("*/*/plate.json"))
    assert len(entries) == 1
    info = json.loads(entries[0].read_text())
    inputs, meta = info["inputs"], info["plate"]["meta"]
    assert (inputs["steps"], inputs["guidance"], inputs["negative_prompt"], inputs["scheduler"]) == (2, 1.0, "fog", "euler")
    assert (meta["steps"], meta["guidance"], meta["scheduler"], meta["dtype"], meta["device"]) == (
        2, 1.0, "EulerDiscreteScheduler", "float32", "cpu")
    m = re.fullmatch(r"wrote .*o\.png: 1 frames, 64x36 at 30 fps in (\d+\.\d) s "
                     r"\(scene and plate (\d+\.\d) s, frames (\d+\.\d) s\)\n", r.stderr)
    assert m, r.stderr
    total, build, frames = (float(v) for v in m.groups())
    assert build > 0 and abs(total - (build + frames)) <= 0.11  # loading and running the model
    from PIL import Image

    with Image.open(out) as img:
        assert img.size == (64, 36)
