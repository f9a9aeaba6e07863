"""Scene files and `hybridscene render`."""

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
    loaded = hs.load_scene_file(path, size=(32, 18), seed=4, model=None, prompt="ignored")
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
    assert names == ["00000.png", "00001.png", "00002.png"]
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
