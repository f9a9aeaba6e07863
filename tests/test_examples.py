"""Every example runs headless with a couple of frames and writes what it says."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.gl

# Each example runs as `python examples/NAME.py ARGS` would, in a child forked from one process that
# has imported hybridscene (and what a render imports) once: a process of its own (its exit status,
# stderr, its own exit), without the second a fresh interpreter spends importing.
FORKER = r"""
import importlib, json, os, runpy, sys
import hybridscene
for name in ("hybridscene.cli", "hybridscene.export", "hybridscene.gpu.renderer", "hybridscene.sinks",
             "scipy.ndimage", "av", "PIL.Image", "moderngl"):
    try:  # no GL context here: every child makes its own
        importlib.import_module(name)
    except ImportError:
        pass
for line in sys.stdin:
    cwd, script, args, out, err = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.chdir(cwd)
        for fd, path in ((1, out), (2, err)):
            f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        sys.argv = [script, *args]
        sys.path[0] = os.path.dirname(script)  # as for `python SCRIPT`
        runpy.run_path(script, run_name="__main__")
        sys.exit(0)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


@pytest.fixture(scope="module")
def run_example(tmp_path_factory):
    """``run_example(script, *args, cwd=)``: the example run as a script (see ``FORKER``)."""
    streams = tmp_path_factory.mktemp("forked")
    proc = subprocess.Popen([sys.executable, "-c", FORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(script, *args, cwd):
        out, err = streams / "stdout", streams / "stderr"
        proc.stdin.write(json.dumps([str(cwd), str(script), list(args), str(out), str(err)]) + "\n")
        proc.stdin.flush()
        status = proc.stdout.readline()
        assert status.strip(), "the forking process died"
        return subprocess.CompletedProcess([script, *args], int(status), out.read_text(), err.read_text())

    yield run
    proc.stdin.close()  # its loop ends
    proc.wait(timeout=30)
    proc.stdout.close()


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_renders_two_frames(script, tmp_path, run_example):
    out = tmp_path / "out.gif"
    r = run_example(EXAMPLES / script, "-o", str(out), "--frames", "2", "--size", "128x72", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with Image.open(out) as img:
        assert img.size[0] >= 128
        n = getattr(img, "n_frames", 1)
    assert n == 2 or script == "numpy_frames.py"
