"""Packaging: the wheel carries the shaders, and an installed wheel finds and compiles them."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("hybridscene-*.whl")
    return path


def test_wheel_contains_shaders_and_metadata(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    shaders = sorted(n for n in names if n.startswith("hybridscene/shaders/"))
    on_disk = sorted("hybridscene/shaders/" + p.relative_to(ROOT / "shaders").as_posix() for p in (ROOT / "shaders").rglob("*.glsl"))
    assert shaders == on_disk and "hybridscene/shaders/include/colour.glsl" in shaders
    assert "License-Expression: MIT" in meta and "Requires-Python: >=3.10" in meta
    assert "Provides-Extra: ai" in meta and "Provides-Extra: preview" in meta
    assert "hybridscene/py.typed" in names


@pytest.mark.gl
def test_installed_wheel_finds_and_compiles_its_shaders(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    code = (
        "import hybridscene as hs\n"
        "from hybridscene.gpu.programs import load_program, shader_dir\n"
        "print(hs.__file__)\nprint(shader_dir())\n"
        "ctx = hs.create_context()\n"
        "for name in ('mesh', 'composite'):\n    load_program(ctx, name)\n"
        "frame = next(hs.frames(hs.Scene(hs.Plate.solid((9, 8, 7), (8, 8))), frames=1))\n"
        "print(frame[4, 4].tolist())\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    module_file, shaders, pixel = r.stdout.splitlines()
    assert module_file.startswith(str(site)) and shaders == str(site / "hybridscene" / "shaders")
    assert pixel == "[9, 8, 7]"
