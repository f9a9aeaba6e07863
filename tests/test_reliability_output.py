"""Reliability of outputs, driven through the command line as a user would (issue 12): output
folders that collide, frame rates, sizes, unwritable and full disks, killed renders and their
temporaries, symbolic links, stdout that cannot be written, and the GIF's memory.

Each run checks: the exit status, exactly one ``error:`` line on stderr and no traceback, the
previous output untouched, nothing under the final name unless complete, and no temporary left.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from forking import RENDER_IMPORTS, Forker

SCENE = """
import hybridscene as hs

SIZE = (64, 36)
FPS = 10


def build_scene(size=(64, 36), seed=0):
    scene = hs.Scene(hs.background_plate(size, seed=seed))
    scene.add(hs.Mesh.cube(1.0, color="#ff3300"), position=(0, 1.5, -6))
    return scene
"""

OUTPUTS = ["out.mp4", "out.gif", "out.png", "seq/", "layers"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}


# The command line runs in children forked from one process that has imported it (and what a render
# imports) once (`forking.Forker`): each run is a process of its own (its exit status, stdout and
# stderr, its own exit and pid, for signals), without the seconds a fresh interpreter spends
# importing. The run whose stdout is /dev/full is started as `python -m hybridscene` itself.
_FORKER: Forker | None = None


@pytest.fixture(scope="module", autouse=True)
def forker(tmp_path_factory: pytest.TempPathFactory):
    global _FORKER
    with Forker(tmp_path_factory.mktemp("forked"), try_imports=RENDER_IMPORTS, env=_env()) as _FORKER:
        yield _FORKER
    _FORKER = None


def hs(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m hybridscene ARGS`` (forked, see `Forker`) without a display."""
    return _FORKER.run(list(args), cwd=cwd, env=_env(), timeout=timeout)


def render(tmp: Path, out: str, *more: str, frames: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    """Render the test scene: ``out`` is a file, ``DIR/``, or ``layers`` (a PNG + --layers folder)."""
    args = ["render", str(tmp / "scene.py"), "--frames", str(frames), "-q", "--size", "64x36"]
    if out == "layers":
        args += ["-o", str(tmp / "ok.png") if frames == 1 else str(tmp / "ok.mp4"), "--layers", str(tmp / "w" / "lay")]
    else:
        args += ["-o", f"{tmp / 'w'}/{out}"]  # keeps the / of DIR/
    return hs(*args, *more, cwd=tmp, timeout=timeout)


def one_error(r: subprocess.CompletedProcess, *words: str) -> str:
    assert r.returncode != 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.stderr
    for w in words:
        assert w in errors[0], errors[0]
    return errors[0]


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith((".part", ".old")))


def snapshot(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir())}
    return {path.name: path.read_bytes()}


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    (tmp_path / "scene.py").write_text(SCENE)
    (tmp_path / "w").mkdir()
    return tmp_path


def _mount(folder: Path, options: str) -> None:
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({r.stderr.strip() or r.returncode}); needs root")


@pytest.fixture
def tmpfs(tmp: Path, request: pytest.FixtureRequest):
    """``mount(options)`` mounts a tmpfs on ``tmp / "w"``; unmounted after the test."""
    mounted = []

    def mount(options: str) -> Path:
        _mount(tmp / "w", options)
        mounted.append(tmp / "w")
        return tmp / "w"

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _final(tmp: Path, out: str) -> Path:
    """Where ``render(tmp, out)`` puts its output (the folder for ``DIR/`` and layers)."""
    return tmp / "w" / ("lay" if out == "layers" else out.rstrip("/"))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, forker):
    """Good outputs rendered through the command line once per kind for the whole module (a render
    is a new process: seconds of start-up); ``rendered(out)`` is the folder they were made in."""
    made: dict[str, Path] = {}

    def get(out: str) -> Path:
        if out not in made:
            folder = tmp_path_factory.mktemp("previous")
            (folder / "scene.py").write_text(SCENE)
            (folder / "w").mkdir()
            r = render(folder, out, frames=1 if out in ("out.png", "layers") else 2)
            assert r.returncode == 0, r.stderr
            made[out] = folder
        return made[out]

    return get


@pytest.fixture
def previous(tmp: Path, rendered):
    """``previous(out)`` puts a good output (rendered once per module) where ``render(tmp, out)``
    writes, as a first render there would; returns its path."""

    def put(out: str) -> Path:
        source = rendered(out)
        final, made = _final(tmp, out), _final(source, out)
        if made.is_dir():
            shutil.copytree(made, final, symlinks=True)
        else:
            shutil.copy2(made, final)
        if out == "layers":  # the PNG that went with the layers
            shutil.copy2(source / "ok.png", tmp / "ok.png")
        assert snapshot(final) == snapshot(made)
        return final

    return put


def _fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to the last byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (65536, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * chunk):
                    pass
    finally:
        os.close(fd)


@pytest.mark.gl
@pytest.mark.parametrize("out", OUTPUTS)
@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_unwritable_output_is_one_line_and_keeps_the_previous_one(tmp, tmpfs, previous, out, fault):
    folder = tmpfs("size=2m")
    final = previous(out)
    before = snapshot(final)
    if fault == "full":
        _fill(folder)
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    r = render(tmp, out, frames=3 if out != "out.png" and out != "layers" else 1)
    cause = "no space left on device" if fault == "full" else "read-only file system"
    line = one_error(r, cause)
    assert final.name in line
    assert snapshot(final) == before
    assert temporaries(folder) == []


@pytest.mark.gl
def test_layers_into_the_output_folder_is_refused_up_front(tmp):
    seq = tmp / "w" / "seq"
    for layers in (seq, seq / "sub"):
        r = hs("render", str(tmp / "scene.py"), "--frames", "2", "-q", "-o", f"{seq}/", "--layers", str(layers),
               cwd=tmp)
        one_error(r, "same or nested", "--layers")
    assert not seq.exists()
    r = render(tmp, "seq/", "--layers", str(tmp / "w" / "lay"))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in seq.iterdir()) == ["00000.png", "00001.png", "manifest.json"]
    assert len(list((tmp / "w" / "lay").glob("*.composite.png"))) == 2


@pytest.mark.parametrize(("args", "words"), [
    (["--fps", "0"], ["fps", "positive"]),
    (["--fps", "-3"], ["fps", "positive"]),
    (["--fps", "1e9"], ["fps 1e+09", "1000"]),
    (["--fps", "10000"], ["fps 10000", "1000"]),
    (["--fps", "2000"], ["fps 2000", "1000"]),
    (["--fps", "1e-9"], ["fps 1e-09", "0.01"]),
    (["--fps", "nan"], ["fps", "positive"]),
    (["--seconds", "1e300", "--fps", "1e10"], ["fps 1e+10"]),
    (["--seconds", "1e300"], ["1,000,000 frames"]),
    (["--frames", "2000000"], ["1,000,000 frames"]),
    (["--size", "0x10"], ["--size", "positive"]),
    (["--size", "16384x16384"], ["16384x16384", "GiB"]),
    (["--size", "16385x16"], ["16385x16", "16384"]),
])
def test_bad_rates_lengths_and_sizes_are_refused_before_rendering(tmp, args, words):
    out = tmp / "w" / "out.mp4"
    t0 = time.perf_counter()
    r = hs("render", str(tmp / "scene.py"), "-q", "-o", str(out), *args, cwd=tmp, timeout=60)
    one_error(r, *words)
    assert time.perf_counter() - t0 < 30
    assert not out.exists() and temporaries(out.parent) == []


@pytest.mark.gl
def test_fps_limits_write_every_frame(tmp):
    av = pytest.importorskip("av")
    for fps in ("1000", "0.01", "29.97"):
        r = hs("render", str(tmp / "scene.py"), "--frames", "3", "-q", "-o", str(tmp / "w" / "f.mp4"), "--fps", fps,
               cwd=tmp)
        assert r.returncode == 0, r.stderr
        with av.open(str(tmp / "w" / "f.mp4")) as c:
            assert sum(1 for _ in c.decode(video=0)) == 3, fps


@pytest.mark.gl
def test_zero_size_in_the_scene_file_is_refused(tmp):
    (tmp / "zero.py").write_text(SCENE.replace("SIZE = (64, 36)", "SIZE = (0, 0)"))
    r = hs("render", str(tmp / "zero.py"), "--frames", "2", "-q", "-o", str(tmp / "w" / "z.mp4"), cwd=tmp)
    one_error(r, "(0, 0)")
    assert not (tmp / "w" / "z.mp4").exists()


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.gl
def test_stale_temporaries_of_dead_processes_are_removed_and_live_ones_kept(tmp):
    from hybridscene.atomic import temp_name

    w = tmp / "w"
    dead, host = _dead_pid(), temp_name("x").name.split("@")[1].split(".")[0]
    stale_file = w / f".out.mp4.{dead}@{host}.0123abcd.part"
    stale_dir = w / f".seq.{dead}@{host}.4567cdef.part"
    live = w / f".out.mp4.{os.getpid()}@{host}.89abcdef.part"
    other_host = w / f".out.mp4.{dead}@elsewhere-x.89abcdef.part"
    unrelated = w / f".other.mp4.{dead}@{host}.0123abcd.part"
    stale_file.write_bytes(b"half")
    stale_dir.mkdir()
    (stale_dir / "00000.png").write_bytes(b"x")
    for p in (live, other_host, unrelated):
        p.write_bytes(b"keep")
    assert render(tmp, "out.mp4").returncode == 0
    assert render(tmp, "seq/").returncode == 0
    assert not stale_file.exists() and not stale_dir.exists()
    assert live.exists() and other_host.exists() and unrelated.exists()


@pytest.mark.gl
def test_stale_old_folder_of_an_interrupted_swap_is_put_back(tmp):
    from hybridscene.atomic import temp_name

    w = tmp / "w"
    dead, host = _dead_pid(), temp_name("x").name.split("@")[1].split(".")[0]
    old = w / f".seq.{dead}@{host}.0123abcd.old"  # killed between the two renames of publish_dir
    old.mkdir()
    (old / "00000.png").write_bytes(b"previous")
    from hybridscene.atomic import remove_stale

    remove_stale(w / "seq")
    assert (w / "seq" / "00000.png").read_bytes() == b"previous" and not old.exists()


@pytest.mark.gl
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_hangup_and_terminate_remove_the_output_in_progress(tmp, signum):
    out = tmp / "w" / "out.mp4"
    out.write_bytes(b"previous")
    pid = _FORKER.start(["render", str(tmp / "scene.py"), "--frames", "100000", "-o", str(out)], cwd=tmp, env=_env())
    deadline = time.monotonic() + 60
    while not temporaries(out.parent) and time.monotonic() < deadline:
        time.sleep(0.05)
    started = bool(temporaries(out.parent))
    os.kill(pid, signum if started else signal.SIGKILL)
    r = _FORKER.wait(timeout=60)
    assert started, "the render never started"
    assert r.returncode == 128 + signum, r.stderr
    assert "Traceback" not in r.stderr
    assert out.read_bytes() == b"previous" and temporaries(out.parent) == []


@pytest.mark.gl
def test_killed_render_leaves_a_temporary_the_next_render_removes(tmp):
    out = tmp / "w" / "out.mp4"
    pid = _FORKER.start(["render", str(tmp / "scene.py"), "--frames", "100000", "-o", str(out)], cwd=tmp, env=_env())
    deadline = time.monotonic() + 60
    while not temporaries(out.parent) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    assert _FORKER.wait(timeout=30).returncode == -signal.SIGKILL
    left = temporaries(out.parent)
    assert left and str(pid) in left[0]
    assert render(tmp, "out.mp4").returncode == 0
    assert out.exists() and temporaries(out.parent) == []


@pytest.mark.gl
def test_a_symbolic_link_is_written_through(tmp):
    target = tmp / "w" / "target.mp4"
    target.write_bytes(b"previous")
    link = tmp / "w" / "link.mp4"
    link.symlink_to(target)
    r = hs("render", str(tmp / "scene.py"), "--frames", "2", "-q", "-o", str(link), cwd=tmp)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes()[4:8] == b"ftyp"
    assert temporaries(tmp / "w") == []


def test_stdout_that_cannot_be_written_is_one_line(tmp):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "hybridscene", "info", "--json"], cwd=tmp, env=_env(), stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=60)
    one_error(r, "no space left on device", "standard output")


def test_gif_is_streamed_not_held_in_memory(tmp_path):
    from PIL import Image

    from hybridscene.sinks import GifSink

    out = tmp_path / "a.gif"
    frames = [np.full((36, 64, 3), (i * 40, 255 - i * 40, 90), np.uint8) for i in range(5)]
    sink = GifSink(out, size=(64, 36), fps=30)
    with sink:
        for f in frames:
            sink.write(f)
            assert sink.tmp_path.exists() and not hasattr(sink, "_frames")
    with Image.open(out) as im:
        assert im.n_frames == 5 and im.info.get("loop") == 0
        durations = []
        for i in range(5):
            im.seek(i)
            durations.append(im.info["duration"])
            assert np.abs(np.asarray(im.convert("RGB"), np.int16) - frames[i]).mean() < 3
    assert durations == sink.durations_ms(5) == [30, 40, 30, 30, 40]
    with pytest.raises(Exception, match="100 fps"):
        GifSink(tmp_path / "b.gif", size=(64, 36), fps=120)


@pytest.mark.gl
@pytest.mark.parametrize("out", ["out.mp4", "out.gif", "seq/"])
def test_file_size_limit_is_one_line(tmp, previous, out):
    pytest.importorskip("resource")
    final = previous(out)
    before = snapshot(final)
    args = ["render", str(tmp / "scene.py"), "--frames", "30", "--size", "256x144", "-q", "-o", f"{tmp / 'w'}/{out}"]
    r = _FORKER.run(args, cwd=tmp, env=_env(), timeout=120, fsize=8192)  # ulimit -f 8
    one_error(r, "file too large", final.name)
    assert snapshot(final) == before and temporaries(final.parent) == []


def test_a_plate_saved_into_a_read_only_folder_names_the_file_not_its_temporary(tmpfs):
    folder = tmpfs("ro,size=1m")
    import hybridscene

    plate = hybridscene.Plate.solid((10, 20, 30), (8, 8))
    with pytest.raises(hybridscene.SinkError, match=rf"read-only file system writing {re.escape(str(folder / 'p.png'))}; "):
        plate.save(str(folder / "p.png"))
    assert list(folder.iterdir()) == []
