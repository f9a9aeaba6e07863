"""Every example runs headless with a couple of frames and writes what it says."""

from pathlib import Path

import pytest
from PIL import Image

from forking import RENDER_IMPORTS, forker_fixture

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.gl

# Each example runs as `python examples/NAME.py ARGS` would, in a child forked from one process that
# has imported hybridscene (and what a render imports) once (`forking.Forker`): a process of its own
# (its exit status, stderr, its own exit), without the second a fresh interpreter spends importing.
forker = forker_fixture(imports=("hybridscene",), try_imports=("hybridscene.cli", *RENDER_IMPORTS))


@pytest.fixture
def run_example(forker):
    """``run_example(script, *args, cwd=)``: the example run as a script."""
    return forker.script


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_renders_two_frames(script, tmp_path, run_example):
    out = tmp_path / "out.gif"
    r = run_example(EXAMPLES / script, "-o", str(out), "--frames", "2", "--size", "128x72", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with Image.open(out) as img:
        assert img.size[0] >= 128
        n = getattr(img, "n_frames", 1)
    assert n == 2 or script == "numpy_frames.py"
