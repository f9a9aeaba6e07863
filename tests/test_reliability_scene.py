"""Bad scenes and plate files get one clear line, never a traceback (issue 12: scene files,
image plates, environment). Each CLI case runs `hybridscene render` as a user would."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import hybridscene as hs
from conftest import flat_scene

SCENE = """
import hybridscene as hs
{head}
def build_scene(size=(64, 36), seed=0):
{body}
    scene = hs.Scene(hs.Plate.solid((40, 90, 160), size))
    cube = scene.add(hs.Mesh.cube(1.0, color="#e02020"), position=(0, 1.5, -6))
{tail}
    return scene
"""


def run_scene(tmp_path, *, head="", body="", tail="", args=(), env=None):
    path = tmp_path / "scene.py"
    path.write_text(SCENE.format(head=head, body=body or "    pass", tail=tail or "    pass"))
    out = tmp_path / "out.png"
    r = subprocess.run([sys.executable, "-m", "hybridscene", "render", str(path), "-o", str(out), "--frames", "1",
                        *args], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env=dict(os.environ, **(env or {})))
    return r, out


def one_error_line(r) -> str:
    assert r.returncode != 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr
    return errors[0]


@pytest.mark.parametrize("head, body, tail, args, env, expected", [
    ("", "", "    @scene.on_frame\n    def spin(t):\n        raise ValueError('no spin today')", (), None,
     r"scene\.py:\d+: on_frame callback spin\(\) failed at t=0\.000 s: ValueError: no spin today"),
    ("", "    import sys\n    sys.exit(3)", "", (), None, r"build_scene\(\) called sys\.exit\(3\)"),
    ("import sys\nsys.exit(4)", "", "", (), None, r"called sys\.exit\(4\) while importing"),
    ("SIZE = 640", "", "", (), None, r"SIZE in .*scene\.py must be \(width, height\), got 640"),
    ("SIZE = (0, 36)", "", "", (), None, r"SIZE in .*scene\.py must be two positive integers"),
    ("DURATION = float('nan')", "", "", (), None, r"DURATION in .*scene\.py must be a positive finite number, got nan"),
    ("", "", "    scene.add(hs.ParticleEmitter(rate=1e12, lifetime=10))", (), None,
     r"keeps 10,000,000,000,001 particles alive, more than 5,000,000 .* lower the rate"),
    ("", "", "", (), {"HYBRIDSCENE_MSAA": "3"}, r"msaa must be 1 \(no MSAA\) or a power of two .* got 3"),
    ("", "", "", ("--samples", "3"), None, None),  # render has no --samples: click's usage error
])
def test_bad_scenes_get_one_line(tmp_path, head, body, tail, args, env, expected):
    r, out = run_scene(tmp_path, head=head, body=body, tail=tail, args=args, env=env)
    if expected is None:
        assert r.returncode == 2 and "Traceback" not in r.stderr
        return
    import re

    line = one_error_line(r)
    assert re.search(expected, line), line
    assert not out.exists()


@pytest.mark.gl
def test_a_node_scaled_to_zero_draws_nothing_instead_of_failing(ctx):
    scene = flat_scene()
    flat = scene.add(hs.Mesh.cube(1.0, color="#e02020"), scale=(1.0, 0.0, 1.0))  # a keyframe passing through 0
    gone = scene.add(hs.Mesh.sphere(0.5, color="#20e020"), scale=0.0, position=(1, 0, 0))
    with hs.FrameRenderer(ctx, (64, 48), samples=1) as r:
        frame = r.render_frame(scene, 0.0)
    assert flat.scale.tolist() == [1.0, 0.0, 1.0] and gone.scale.tolist() == [0.0, 0.0, 0.0]
    plate = frame[0, 0]
    assert (np.abs(frame.astype(int) - plate.astype(int)).max(axis=2) > 30).sum() == 0  # nothing visible drawn


def test_normal_matrix_matches_the_inverse_transpose_and_exists_when_singular():
    from hybridscene import transforms as T

    rng = np.random.default_rng(1)
    for _ in range(50):
        m = np.eye(4)
        m[:3, :3] = rng.normal(size=(3, 3))
        n = rng.normal(size=3)
        a, b = T.normal_matrix(m) @ n, np.linalg.inv(m[:3, :3]).T @ n
        np.testing.assert_allclose(a / np.linalg.norm(a), b / np.linalg.norm(b), atol=1e-4)
    flat = T.normal_matrix(np.diag([2.0, 0.0, 1.0, 1.0]))
    np.testing.assert_allclose(flat @ [0, 1, 0], [0, 2, 0])  # squashed flat: every normal points along y
    assert not T.normal_matrix(np.diag([0.0, 0.0, 0.0, 1.0])).any()


def test_on_frame_errors_name_the_callback_and_the_time():
    scene = flat_scene()

    @scene.on_frame
    def wobble(t):
        if t > 0.5:
            raise RuntimeError("wobbled too far")

    scene.update(0.25)
    with pytest.raises(hs.SceneError, match=r"test_reliability_scene\.py:\d+: on_frame callback wobble\(\) "
                                            r"failed at t=0\.750 s: RuntimeError: wobbled too far"):
        scene.update(0.75)


def test_a_16_bit_grey_png_plate_keeps_its_levels(tmp_path):
    grey = np.full((8, 12), 32768, np.uint16)  # mid-grey in 16 bits
    grey[0, 0], grey[0, 1] = 0, 65535
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    with Image.open(tmp_path / "grey16.png") as img:
        assert img.mode.startswith("I")
    plate = hs.load_plate(tmp_path / "grey16.png")
    assert plate.image.dtype == np.uint8 and plate.image.shape == (8, 12, 3)
    assert plate.image[4, 4].tolist() == [128, 128, 128]
    assert plate.image[0, 0].tolist() == [0, 0, 0] and plate.image[0, 1].tolist() == [255, 255, 255]


@pytest.mark.parametrize("write, expected", [
    (lambda p: np.save(p, np.array([{"depth": 1}], dtype=object), allow_pickle=True), "is not a numpy array file"),
    (lambda p: p.write_bytes(np.lib.format.magic(1, 0) + b"\x10\x00{'descr'"), "is not a numpy array file"),
    (lambda p: p.write_text("1 2 3\n4 5 6\n"), "is not a numpy array file"),
    (lambda p: np.save(p, np.zeros((2, 3, 4), np.float32)), r"shape \(2, 3, 4\); it must be \(H, W\) numbers"),
])
def test_bad_depth_npy_files_get_one_clear_error(tmp_path, write, expected):
    Image.fromarray(np.zeros((3, 4, 3), np.uint8)).save(tmp_path / "p.png")
    write(tmp_path / "d.npy")
    with pytest.raises(hs.PlateError, match=expected) as caught:
        hs.load_plate(tmp_path / "p.png", depth=tmp_path / "d.npy")
    assert "allow_pickle" not in str(caught.value)


def test_a_huge_plate_image_is_a_warning_in_our_words_or_a_clear_error(tmp_path, monkeypatch, caplog):
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # 2400 px: over the limit, under twice it
    with caplog.at_level("WARNING", logger="hybridscene"):
        plate = hs.load_plate(tmp_path / "big.png")
    assert plate.size == (60, 40)
    assert "big.png is 60x40" in caplog.text and "consider downscaling" in caplog.text
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # over twice: Pillow refuses
    with pytest.raises(hs.PlateError, match=r"big\.png' is too large to open safely \(Image size \(2400 pixels\) "
                                            r"exceeds limit of 2000 pixels.*\); downscale it"):
        hs.load_plate(tmp_path / "big.png")


def test_a_gl_version_override_is_named_not_blamed_on_a_missing_driver(tmp_path):
    r, out = run_scene(tmp_path, env={"MESA_GL_VERSION_OVERRIDE": "2.1"})
    line = one_error_line(r)
    assert "MESA_GL_VERSION_OVERRIDE='2.1' is set; unset it" in line and "apt-get" not in line, line
    assert not out.exists()


def test_sigterm_while_build_scene_runs_stops_the_run_not_blamed_on_the_scene(tmp_path):
    import signal
    import time

    path = tmp_path / "slow.py"
    path.write_text(SCENE.format(head="", body="    import time\n    time.sleep(60)", tail="    pass"))
    proc = subprocess.Popen([sys.executable, "-m", "hybridscene", "render", str(path), "-o", str(tmp_path / "o.png"),
                             "--frames", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    time.sleep(3.0)  # importing and into build_scene's sleep
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "sys.exit" not in err and "Traceback" not in err, err
    assert not (tmp_path / "o.png").exists()


def test_ctrl_c_while_the_command_imports_is_one_line(monkeypatch, capsys):
    """Only the command installs the hook; it turns an uncaught KeyboardInterrupt into one line."""
    from hybridscene import _startup

    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    monkeypatch.setattr(sys, "argv", ["/usr/lib/python3/site-packages/app.py"])
    assert not _startup.install_interrupt_hook()  # a program importing the library: untouched
    assert sys.excepthook is sys.__excepthook__
    monkeypatch.setattr(sys, "argv", ["/venv/bin/hybridscene", "render", "x.py"])
    assert _startup.install_interrupt_hook() and not _startup.install_interrupt_hook()  # once
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
    err = capsys.readouterr().err
    assert err == "\nhybridscene: interrupted\n"


def test_ctrl_c_at_any_moment_once_the_command_runs_prints_no_traceback(tmp_path):
    """From the first line of the package on (the interpreter's own start-up before it, importing
    ``site`` and ``runpy``, is CPython's and prints CPython's traceback whatever the program)."""
    import signal
    import threading
    import time

    for delay in (0.0, 0.15, 0.4):
        # -X importtime writes a line as each module finishes importing: the signal is timed from
        # the moment the package's first module (the one that installs the hook) has loaded.
        with subprocess.Popen([sys.executable, "-X", "importtime", "-m", "hybridscene", "info", "--json"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) as proc:
            started, lines = threading.Event(), []

            def read(stream=proc.stderr, started=started, lines=lines):
                for line in stream:
                    lines.append(line)
                    if line.rstrip().endswith("hybridscene._startup"):
                        started.set()
                started.set()

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            assert started.wait(60)
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            reader.join(60)
            proc.wait(timeout=60)
        err = "".join(line for line in lines if not line.startswith("import time:"))
        assert any(line.rstrip().endswith("hybridscene._startup") for line in lines), err
        assert "Traceback" not in err, (delay, err)
