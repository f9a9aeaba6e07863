"""Scene files and `hybridscene render`."""

import re
import subprocess
import sys
import textwrap

import av
import pytest
from PIL import Image

import hybridscene as hs

GOOD = '''
import hybridscene as hs

DURATION = 0.25
FPS = 8
SIZE = (64, 36)


def build_scene(size=(1280, 720), seed=0):
    scene = hs.Scene(hs.procedural_plate(size=size, seed=seed))
    cube = scene.add(hs.Mesh.cube(1.0, color="#ff3300"), position=(0, 3, -10))
    scene.animate(cube, "position", [(0, (-2, 3, -10)), (0.25, (2, 3, -10))])
    return scene
'''


def write(tmp_path, text, name="scene.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "hybridscene", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=180)


def test_load_scene_file_passes_only_the_options_it_takes(tmp_path):
    path = write(tmp_path, GOOD)
    loaded = hs.load_scene_file(path, size=(32, 18), seed=4, model=None, prompt=None)
    assert loaded.scene.plate.size == (32, 18) and loaded.scene.plate.seed == 4
    assert (loaded.duration, loaded.fps, loaded.size) == (0.25, 8.0, (64, 36))
    takes_all = write(tmp_path, "import hybridscene as hs\ndef build_scene(**kw):\n    s = hs.Scene()\n    s.kw = kw\n    return s\n", "all.py")
    assert hs.load_scene_file(takes_all, size=(8, 8), model="m").scene.kw == {"size": (8, 8), "model": "m"}


@pytest.mark.gl
def test_render_uses_the_file_defaults(tmp_path):
    path = write(tmp_path, GOOD)
    r = cli("render", str(path), "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with av.open(str(tmp_path / "scene.mp4")) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (64, 36) and sum(1 for _ in c.decode(s)) == 2  # 0.25 s at 8 fps


@pytest.mark.gl
def test_render_options_override_and_write_a_png_sequence(tmp_path):
    path = write(tmp_path, GOOD)
    out = tmp_path / "frames"
    r = cli("render", str(path), "-o", f"{out}/", "--frames", "3", "--size", "48x32", "--seed", "2", "-q")
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["00000.png", "00001.png", "00002.png", "manifest.json"]
    with Image.open(out / "00000.png") as a, Image.open(out / "00002.png") as b:
        assert a.size == (48, 32) and a.tobytes() != b.tobytes()  # the cube moved


@pytest.mark.parametrize(
    "text, message",
    [
        ("def build_scene(:\n    pass\n", "scene.py:1: syntax error"),
        ("import hybridscene as hs\n\nx = 1\n", "defines no build_scene(); a scene file must define build_scene()"),
        ("def build_scene():\n    return 42\n", "build_scene() in"),
        ("import hybridscene as hs\ndef build_scene():\n    s = hs.Scene()\n    s.add(hs.Node('a', position=(0, float('nan'), 0)))\n    return s\n",
         "scene.py:4: build_scene() failed: SceneError: position of node 'a' must be finite"),
        ("import hybridscene as hs\nraise RuntimeError('boom')\n", "scene.py:2: RuntimeError: boom"),
    ],
)
def test_broken_scene_files_are_one_clear_line(tmp_path, text, message):
    path = write(tmp_path, text)
    r = cli("render", str(path), "--frames", "1", "-o", str(tmp_path / "o.png"))
    assert r.returncode == 1
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.png").exists()


def test_missing_scene_file_and_bad_output(tmp_path):
    r = cli("render", str(tmp_path / "nope.py"))
    assert r.returncode == 1 and "nope.py' does not exist" in r.stderr
    path = write(tmp_path, GOOD)
    r = cli("render", str(path), "-o", str(tmp_path / "x.avi"))
    assert r.returncode == 1 and "supported outputs" in r.stderr


def test_options_build_scene_does_not_take_are_an_error_that_names_them(tmp_path):
    path = write(tmp_path, GOOD)
    with pytest.raises(hs.ConfigError) as err:
        hs.load_scene_file(path, model="some/model")
    assert str(err.value) == (
        f"--model was given but build_scene() in {path} takes no 'model' parameter (it takes: size, seed); "
        "remove --model or add a model parameter to build_scene"
    )
    bare = write(tmp_path, "import hybridscene as hs\ndef build_scene():\n    return hs.Scene()\n", "bare.py")
    with pytest.raises(hs.ConfigError, match=r"--seed was given .* \(it takes: nothing\); remove --seed"):
        hs.load_scene_file(bare, seed=3)
    # size is not an error: the caller renders at it whether or not build_scene takes it
    assert hs.load_scene_file(bare, size=(8, 8), seed=None).scene.plate is None


def test_render_with_an_option_the_file_does_not_take_fails_in_one_line(tmp_path):
    path = write(tmp_path, GOOD)
    r = cli("render", str(path), "--model", "some/model", "--frames", "1", "-o", str(tmp_path / "o.png"))
    assert r.returncode == 1
    assert r.stderr == (
        f"error: --model was given but build_scene() in {path} takes no 'model' parameter (it takes: size, seed); "
        "remove --model or add a model parameter to build_scene\n"
    )
    assert not (tmp_path / "o.png").exists()


TAKES_MODEL = """
import hybridscene as hs

def build_scene(size=(64, 36), seed=0, model=None, prompt="a valley"):
    return hs.Scene(hs.background_plate(size, seed=seed, model=model, prompt=prompt))
"""


def test_plate_options_no_ai_plate_took_are_an_error(tmp_path):
    path = write(tmp_path, GOOD)
    with pytest.raises(hs.ConfigError) as err:
        hs.load_scene_file(path, plate_options={"steps": 2, "negative_prompt": "fog"})
    assert str(err.value) == (
        f"--steps, --negative given, but build_scene() in {path} painted no AI plate with them "
        "(it takes no 'model' parameter); give a model (--model) or remove --steps, --negative"
    )
    takes_model = write(tmp_path, TAKES_MODEL, "ai.py")
    with pytest.raises(hs.ConfigError, match=r"--guidance given, .*\(it was given no model\); give a model"):
        hs.load_scene_file(takes_model, plate_options={"guidance": 1.0})
    with pytest.raises(hs.ConfigError, match="--compile/--channels-last/--attention given"):
        hs.load_scene_file(takes_model, plate_options={"acceleration": hs.Acceleration(channels_last=True)})
    # None values are not given; and with no plate options the procedural plate is fine
    assert hs.load_scene_file(takes_model, plate_options={"steps": None}).scene.plate.source == "procedural:mountains"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"stepz": 2}, "unknown plate option 'stepz'; use one of steps, guidance"),
        ({"scheduler": "fancy"}, "unknown scheduler 'fancy'"),
        ({"steps": 0}, "steps must be a positive integer, got 0"),
        ({"acceleration": "fast"}, "acceleration must be a hybridscene.Acceleration, got 'fast'"),
    ],
)
def test_bad_plate_options_fail_before_the_scene_is_built(tmp_path, options, message):
    path = write(tmp_path, "def build_scene(**kw):\n    raise AssertionError('built')\n")
    with pytest.raises(hs.ConfigError, match=re.escape(message)):
        hs.load_scene_file(path, model="m", plate_options=options)


def test_render_with_plate_options_but_no_model_fails_in_one_line(tmp_path):
    path = write(tmp_path, TAKES_MODEL)
    r = cli("render", str(path), "--steps", "2", "--scheduler", "euler", "--frames", "1", "-o", str(tmp_path / "o.png"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: --steps, --scheduler given, but build_scene() in ")
    assert r.stderr.endswith("(it was given no model); give a model (--model) or remove --steps, --scheduler\n")
    assert not (tmp_path / "o.png").exists()
