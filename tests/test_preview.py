"""The preview window, for real: an X server (Xvfb), real key presses (xdotool), screenshots
compared with the offscreen renderer, hot reload, and clean exits."""

from __future__ import annotations

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
from PIL import Image

import hybridscene as hs
from hybridscene.scenefile import load_scene_file

pytestmark = [pytest.mark.gl, pytest.mark.window]

XVFB, XDOTOOL = shutil.which("Xvfb"), shutil.which("xdotool")
if XVFB is None or XDOTOOL is None:
    pytest.skip("the window tests need Xvfb and xdotool: apt-get install xvfb xdotool (make test does)",
                allow_module_level=True)

SCENE = '''
import hybridscene as hs
FPS = 30

def build_scene(size=(320, 180), seed=1):
    scene = hs.Scene(hs.procedural_plate(size=size, seed=seed))
    cube = scene.add(hs.Mesh.cube(1.2, color="{colour}", shading="unlit"), position=(0, 1.2, -8))
    scene.animate(cube, "rotation", [(0, hs.quat_from_euler(y=0)), (2, hs.quat_from_euler(y=90))])
    scene.animate(cube, "position", [(0, (-1.5, 1.2, -8)), (2, (1.5, 1.2, -8))])
    return scene
'''
SIZE = (320, 180)


@pytest.fixture(scope="module")
def display():
    """A private X server for this module's windows."""
    read, write = os.pipe()
    proc = subprocess.Popen([XVFB, "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    assert number, "Xvfb did not start"
    yield f":{number}"
    proc.terminate()
    proc.wait(10)


class Window:
    """A `hybridscene preview` process and the keys to drive it."""

    def __init__(self, display: str, scene_file: Path, shots: Path, *args: str, wait: bool = True) -> None:
        """Start the window; with ``wait`` (else call `ready`), until it is up and takes keys."""
        self.env = dict(os.environ, DISPLAY=display)
        self.shots, self.scene_file = shots, scene_file
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hybridscene", "preview", str(scene_file), "--size", "320x180", "--stats",
             "--samples", "4", "--screenshots", str(shots), *args],  # 4x MSAA like the export
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            # SIGINT as a terminal's Ctrl-C finds it, even when the tests run as a background job
            # (shells start those with SIGINT ignored, and children inherit that).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        if wait:
            self.ready()

    def ready(self) -> None:
        """Wait until the window is up and its loop takes keys (killed if it never is)."""
        try:
            out = self._xdotool("search", "--sync", "--onlyvisible", "--name", re.escape(self.scene_file.name))
            self.wid = out.split()[0]
            self.screenshot(retry_s=2.0)  # the loop runs and takes keys before a test sends any
        except BaseException:
            self.proc.kill()
            self.proc.communicate()
            raise

    def _xdotool(self, *args: str) -> str:
        r = subprocess.run([XDOTOOL, *args], env=self.env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def key(self, *names: str, settle_s: float = 0.3) -> None:
        """Press keys, then give the window ``settle_s`` to act on them."""
        for name in names:
            self._xdotool("windowfocus", "--sync", self.wid)
            self._xdotool("key", name)  # XTEST, to the focused window, like a keyboard
        time.sleep(settle_s)

    def screenshot(self, retry_s: float = 15.0) -> np.ndarray:
        """Press S and read the PNG it writes (pressing again if the window was still busy
        starting when the key arrived). The first press to a just-opened window is often lost
        (pyglet on Xvfb), never late, so the start-up check presses again after ``retry_s`` = 2 s
        rather than waiting 15 s each time."""
        before = set(self.shots.glob("*.png")) if self.shots.exists() else set()
        for _attempt in range(4 if retry_s >= 15 else int(60 / retry_s)):
            self.key("s", settle_s=0)  # the PNG it writes is waited for below
            deadline = time.monotonic() + retry_s
            while time.monotonic() < deadline:
                new = (set(self.shots.glob("*.png")) if self.shots.exists() else set()) - before
                if new:
                    if _attempt:
                        time.sleep(1.0)  # a press that was only slow writes its PNG before the next `before`
                    with Image.open(max(new)) as img:
                        return np.asarray(img.convert("RGB")).astype(int)
                assert self.proc.poll() is None, self.proc.communicate()[1]
                time.sleep(0.05)
        raise AssertionError("no screenshot appeared")

    def screenshot_when(self, ready, timeout_s: float = 30.0) -> np.ndarray:
        """Screenshots until ``ready(image)`` (a reload or a repaint has arrived) or ``timeout_s``
        passed; the last one either way, for the test's own assertion."""
        deadline = time.monotonic() + timeout_s
        img = self.screenshot()
        while not ready(img) and time.monotonic() < deadline:
            img = self.screenshot()
        return img

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


def offscreen(ctx, scene_file, t, layer=None):
    scene = load_scene_file(scene_file, size=SIZE).scene
    with hs.FrameRenderer(ctx, SIZE) as r:
        if layer is None:
            return r.render_frame(scene, t).astype(int)
        return getattr(r.render_layers(scene, t), layer).astype(int)


def close_to(a, b, *, level=3, fraction=0.002):
    diff = np.abs(a - b).max(axis=2)
    return (diff > level).mean() <= fraction


def write_scene(path: Path, colour: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(SCENE.replace("{colour}", colour))
    os.replace(tmp, path)


def red(img):
    return ((img[..., 0] > 180) & (img[..., 1] < 80) & (img[..., 2] < 80)).sum()


def blue(img):
    return ((img[..., 2] > 180) & (img[..., 0] < 80) & (img[..., 1] < 80)).sum()


def test_window_shows_the_offscreen_frame_steps_pauses_and_switches_layers(display, tmp_path, ctx):
    scene_file = tmp_path / "steps.py"
    write_scene(scene_file, "#e02020")
    win = Window(display, scene_file, tmp_path / "shots", "--paused")
    try:
        first = win.screenshot()
        assert first.shape == (180, 320, 3)
        assert close_to(first, offscreen(ctx, scene_file, 0.0)), "window differs from the offscreen render"
        win.key("Right", "Right")  # two frames on, at 30 fps
        stepped = win.screenshot()
        assert close_to(stepped, offscreen(ctx, scene_file, 2 / 30))
        assert not close_to(stepped, first)
        win.key("l")  # the plate layer: no cube
        plate = win.screenshot()
        assert close_to(plate, offscreen(ctx, scene_file, 2 / 30, "plate"))
        assert red(plate) == 0 and red(stepped) > 100
        win.key("l", "l", "l", "l")  # back to the composite
        win.key("space")  # play: time moves
        a = win.screenshot()
        time.sleep(0.5)
        b = win.screenshot()
        assert not close_to(a, b)
        win.key("space")  # pause: it stops
        c = win.screenshot()
        time.sleep(0.4)
        assert close_to(c, win.screenshot(), level=0, fraction=0)
        win.key("Home")  # restart at t = 0 (still paused)
        assert close_to(win.screenshot(), first)
    finally:
        rc, out, err = win.stop()
    assert rc == 0, err
    assert re.search(r"^fps=\d+\.\d frames=\d+ frame_ms p50=[\d.]+ p90=[\d.]+ p99=[\d.]+ max=[\d.]+ scale=[\d.]+$",
                     out, re.M), out


def test_resizing_letterboxes_without_distortion(display, tmp_path, ctx):
    scene_file = tmp_path / "resize.py"
    write_scene(scene_file, "#e02020")
    win = Window(display, scene_file, tmp_path / "shots", "--paused")
    try:
        win._xdotool("windowsize", "--sync", win.wid, "640", "180")
        time.sleep(0.5)
        wide = win.screenshot()
    finally:
        rc, _, err = win.stop()
    assert rc == 0, err
    assert wide.shape == (180, 640, 3)
    assert wide[:, :150].max() == 0 and wide[:, 490:].max() == 0  # black bars at the sides
    assert close_to(wide[:, 160:480], offscreen(ctx, scene_file, 0.0))  # the frame 1:1 in the middle


def test_hot_reload_and_a_broken_file_keep_the_window(display, tmp_path):
    scene_file = tmp_path / "reload.py"
    write_scene(scene_file, "#e02020")
    win = Window(display, scene_file, tmp_path / "shots", "--paused")
    try:
        assert red(win.screenshot()) > 100
        time.sleep(0.05)
        write_scene(scene_file, "#2020e0")  # saved: the window rebuilds the scene
        img = win.screenshot_when(lambda img: blue(img) > 100 and red(img) == 0)
        assert blue(img) > 100 and red(img) == 0
        scene_file.write_text("def build_scene(:\n")  # a syntax error: shown, the window stays
        time.sleep(1.5)
        assert win.proc.poll() is None
        img = win.screenshot()
        assert blue(img) > 100  # the last good scene keeps running
        write_scene(scene_file, "#e02020")  # fixed: back to work
        assert red(win.screenshot_when(lambda img: red(img) > 100)) > 100
    finally:
        rc, out, err = win.stop()
    assert rc == 0, err
    assert "reload.py" in err and ("SyntaxError" in err or "invalid syntax" in err), err


def test_repaint_key_cross_fades_to_a_new_plate(display, tmp_path):
    scene_file = tmp_path / "repaint.py"
    write_scene(scene_file, "#e02020")
    win = Window(display, scene_file, tmp_path / "shots")
    try:
        before = win.screenshot()
        win.key("r")  # seed 1 -> 2: another palette, painted on a worker thread

        def sky_changed(img):
            return np.abs(before[:30].mean(axis=(0, 1)) - img[:30].mean(axis=(0, 1))).max() > 10

        after = win.screenshot_when(sky_changed)
    finally:
        rc, _, err = win.stop()
    assert rc == 0, err
    sky_before, sky_after = before[:30].mean(axis=(0, 1)), after[:30].mean(axis=(0, 1))
    assert np.abs(sky_before - sky_after).max() > 10, (sky_before, sky_after)


def test_escape_close_button_and_ctrl_c_exit_cleanly(display, tmp_path):
    # Three windows, started together (their start-ups overlap), each closed its own way.
    wins = []
    try:
        for how in ("escape", "close", "ctrl-c"):
            scene_file = tmp_path / f"{how}.py"
            write_scene(scene_file, "#e02020")
            wins.append(Window(display, scene_file, tmp_path / f"shots-{how}", wait=False))
        for win in wins:
            win.ready()
    except BaseException:
        for win in wins:
            if win.proc.poll() is None:
                win.proc.kill()
                win.proc.communicate()
        raise
    escape, close, ctrl_c = wins
    escape.key("Escape")
    out, err = escape.proc.communicate(timeout=30)
    assert escape.proc.returncode == 0, err
    assert "fps=" in out
    wm_delete_window(display, int(close.wid))  # what a window manager sends for the close button
    out, err = close.proc.communicate(timeout=30)
    assert close.proc.returncode == 0, err
    assert "fps=" in out
    rc, out, err = ctrl_c.stop(signal.SIGINT)  # Ctrl-C
    assert rc == 0 and "Traceback" not in err, err
    assert "fps=" in out


def wm_delete_window(display: str, wid: int) -> None:
    """Send the ICCCM WM_DELETE_WINDOW message (the close button) through libX11."""
    import ctypes
    import ctypes.util

    x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11"))
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]

    class Event(ctypes.Union):
        _fields_ = [("client", ClientMessage), ("pad", ctypes.c_long * 24)]

    dpy = x11.XOpenDisplay(display.encode())
    assert dpy, f"cannot open {display}"
    ev = Event()
    ev.client.type = 33  # ClientMessage
    ev.client.window = wid
    ev.client.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
    ev.client.format = 32
    ev.client.data[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
    x11.XSendEvent(dpy, wid, 0, 0, ctypes.byref(ev))
    x11.XFlush(dpy)
    x11.XCloseDisplay(dpy)


def test_scene_preview_from_python(display, tmp_path):
    code = (
        "import hybridscene as hs\n"
        "scene = hs.Scene(hs.procedural_plate(size=(160, 90)))\n"
        "scene.add(hs.Mesh.cube(1.0, color='tomato'), position=(0, 1, -6))\n"
        "import concurrent.futures\n"
        "scene.set_plate(concurrent.futures.Future(), crossfade=1.0)  # a plate still being painted\n"
        "stats = hs.preview(scene, seconds=1.0, size=(160, 90), render_scale=0.5)\n"
        "print(stats.line())\n"
        "assert stats.frames > 5 and stats.fps > 5, stats  # the window did not wait for the plate\n"
        "assert stats.render_scale == 0.5, stats\n"
        "assert scene.waiting_for_plate\n"
    )
    r = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, DISPLAY=display), capture_output=True,
                       text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("fps=")


def test_preview_msaa_defaults_to_none_on_a_cpu_rasteriser(ctx, monkeypatch):
    from hybridscene.live.app import preview_samples as _preview_samples

    monkeypatch.delenv("HYBRIDSCENE_PREVIEW_MSAA", raising=False)
    software = "llvmpipe" in ctx.info["GL_RENDERER"] or "softpipe" in ctx.info["GL_RENDERER"]
    assert _preview_samples(ctx) == (1 if software else hs.get_settings().msaa)
    monkeypatch.setenv("HYBRIDSCENE_PREVIEW_MSAA", "2")
    assert _preview_samples(ctx) == 2
    monkeypatch.setenv("HYBRIDSCENE_PREVIEW_MSAA", "lots")
    with pytest.raises(hs.ConfigError, match="HYBRIDSCENE_PREVIEW_MSAA='lots' is not an integer"):
        _preview_samples(ctx)


def test_repainting_an_ai_plate_keeps_its_settings_but_the_seed(monkeypatch):
    """R repaints with the next seed; the model, steps, guidance, negative prompt, autoencoder
    and sizes are the plate's own (read from its metadata)."""
    from concurrent.futures import ThreadPoolExecutor

    from hybridscene.live import app
    from hybridscene.plate import worker

    asked = []
    monkeypatch.setattr(worker, "generate_plate_async", lambda spec: asked.append(spec) or "future")
    plate = hs.Plate(image=np.zeros((36, 64, 3), np.uint8), source="diffusers", prompt="a valley", seed=3,
                     meta={"model": "some/model", "steps": 4, "guidance": 2.5, "negative_prompt": "fog",
                           "vae": "madebyollin/taesd", "generated_size": [128, 72]})
    with ThreadPoolExecutor(1) as pool:
        assert app._regenerate(plate, 4, pool) == "future"
    (spec,) = asked
    assert (spec.prompt, spec.model, spec.seed, spec.steps, spec.guidance) == ("a valley", "some/model", 4, 4, 2.5)
    assert (spec.negative_prompt, spec.vae, spec.size, spec.resize_to) == ("fog", "madebyollin/taesd", (128, 72), (64, 36))


def test_a_failing_scene_shows_its_error_and_keeps_the_last_good_frame(display, tmp_path):
    """An on_frame callback that raises at some time: the error (file, line, time) goes to the
    overlay and the log, the clock stops at the last time that drew, the window stays up."""
    scene_file = tmp_path / "fails.py"
    scene_file.write_text(SCENE.replace("{colour}", "#e02020").replace("    return scene\n", (
        "    @scene.on_frame\n"
        "    def late(t):\n"
        "        if t > 0.3:\n"
        "            raise ValueError('the late callback broke')\n"
        "    return scene\n")))
    win = Window(display, scene_file, tmp_path / "shots")
    try:
        time.sleep(1.5)
        assert win.proc.poll() is None
        assert red(win.screenshot()) > 100  # the last good frame, not a black window
    finally:
        rc, out, err = win.stop()
    assert rc == 0, err
    assert "fails.py:" in err and "on_frame callback late() failed at t=" in err and "the late callback broke" in err, err
    assert "Traceback" not in err


def test_a_frame_below_full_size_is_filtered_up_and_a_paused_one_is_whole(display, tmp_path, ctx):
    """Dynamic resolution: while playing at render scale 0.5 the window shows a 160x90 frame
    filtered up (the same picture, softer), with the shadow map halved too; paused, the same
    time is drawn at full size and is the offscreen frame."""
    scene_file = tmp_path / "scaled.py"
    write_scene(scene_file, "#e02020")
    code = f"""
import json
from pathlib import Path
import numpy as np
from hybridscene.live.app import PreviewApp, load_source
from hybridscene.sinks.window import WindowSink
scene, path, _, _ = load_source({str(scene_file)!r}, size=(320, 180), seed=None, model=None, prompt=None, caller="t")
win = WindowSink((320, 180), vsync=False)
app = PreviewApp(scene, win, fps=30, path=path, scene_options={{}}, screenshots=Path("."), paused=False,
                 samples=4, render_scale=0.5)
def shown():
    return np.frombuffer(win.fbo.read(components=3), np.uint8).reshape(180, 320, 3)[::-1]
app.draw(1.0)
np.save("scaled.npy", shown())
info = dict(scale=app.drawn_scale, size=list(app._scaled.size),
            shadow_map=app._scaled.scene_renderer.shadows._shadow_size, relief_lod=app._scaled.parallax.lod,
            full_shadow_map=scene.shadows.resolution if scene.shadows is not None else 0)
app.clock.pause()
app.draw(1.0)
np.save("full.npy", shown())
info["paused_scale"] = app.drawn_scale
print(json.dumps(info))
app.release()
win.release()
"""
    r = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, DISPLAY=display), capture_output=True,
                       text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import json

    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["scale"] == 0.5 and info["size"] == [160, 90] and info["paused_scale"] == 1.0
    assert info["relief_lod"] == 2  # half size: reliefs at half detail (COARSE_RELIEF_AT)
    assert info["shadow_map"] == min(info["full_shadow_map"], max(256, info["full_shadow_map"] // 2))
    reference = offscreen(ctx, scene_file, 1.0)
    full = np.load(tmp_path / "full.npy").astype(int)
    scaled = np.load(tmp_path / "scaled.npy").astype(int)
    assert close_to(full, reference)  # paused: the whole frame
    assert not close_to(scaled, reference, level=0, fraction=0)  # playing: drawn smaller ...
    assert np.abs(scaled - reference).mean() < 4.0  # ... the same picture, filtered up
    assert abs(red(scaled) - red(reference)) <= 0.1 * red(reference) and red(reference) > 100  # the cube in place
