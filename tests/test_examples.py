"""Every example runs headless with a couple of frames and writes what it says."""

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.gl


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_renders_two_frames(script, tmp_path):
    out = tmp_path / "out.gif"
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "-o", str(out), "--frames", "2", "--size", "128x72"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    with Image.open(out) as img:
        assert img.size[0] >= 128
        n = getattr(img, "n_frames", 1)
    assert n == 2 or script == "numpy_frames.py"
