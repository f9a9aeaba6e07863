"""The browser preview, in a real browser: headless Chromium (Debian's chromium, driven over the
DevTools Protocol by tests/browser.py) opens `hs.serve`'s page, its screenshots are compared with
the offscreen renderer, its buttons and layer switcher are clicked, and a broken scene file shows
its error on the page while the last good scene keeps running."""

from __future__ import annotations

import io
import json
import os
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from browser import Browser, find_chromium
from PIL import Image

import hybridscene as hs
from hybridscene.scenefile import load_scene_file

pytestmark = [pytest.mark.gl, pytest.mark.browser]

if find_chromium() is None:
    pytest.skip("the browser tests need headless Chromium: apt-get install chromium (make test does)",
                allow_module_level=True)

SCENE = '''
import math

import hybridscene as hs
FPS = 30

def build_scene(size=(320, 180), seed=1):
    scene = hs.Scene(hs.procedural_plate(size=size, seed=seed))
    cube = scene.add(hs.Mesh.cube(1.2, color="{colour}", shading="unlit"), position=(0, 1.2, -8))

    @scene.on_frame
    def move(t):  # never still: the picture changes at every time
        cube.rotation = hs.quat_from_euler(y=45 * t)
        cube.position = (1.5 * math.sin(1.5 * t), 1.2, -8)

    return scene
'''
SIZE = (320, 180)


def write_scene(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture(scope="module")
def browser():
    with Browser(width=900, height=700) as b:
        yield b


@pytest.fixture
def served(tmp_path):
    """A scene file and `hs.serve` of it on a free loopback port."""
    scene_file = tmp_path / "served.py"
    write_scene(scene_file, SCENE.replace("{colour}", "#e02020"))
    server = hs.serve(str(scene_file), port=0, size=SIZE, block=False, render_scale=1)  # (full-size frames)
    try:
        yield scene_file, server
    finally:
        server.close()


def api(server, path: str, method: str = "GET") -> dict:
    req = urllib.request.Request(server.url.split("?")[0].rstrip("/") + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def wait_state(server, ready, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while not ready(s := api(server, "/api/state")):
        assert time.monotonic() < deadline, s
        time.sleep(0.05)
    return s


def view(b: Browser) -> np.ndarray:
    """The <img id="view"> as the browser shows it: (H, W, 3) ints."""
    png = b.screenshot(clip=b.rect("#view"))
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def open_page(b: Browser, server) -> None:
    b.open(server.url)
    # The stream has delivered a frame; show it 1:1 (no CSS scaling) so it compares pixel for pixel.
    b.wait_for("(() => { const v = document.getElementById('view'); return v.complete !== undefined && v.naturalWidth > 0; })()", 20)
    b.eval(f"(() => {{ const v = document.getElementById('view'); v.style.width = '{SIZE[0]}px';"
           f" v.style.height = '{SIZE[1]}px'; v.style.maxWidth = 'none'; v.style.maxHeight = 'none'; }})()")
    assert b.eval("document.getElementById('view').naturalWidth") == SIZE[0]


def settled(b: Browser, seconds: float = 0.4) -> np.ndarray:
    """A screenshot once the stream has delivered the frame the server shows now."""
    time.sleep(seconds)
    return view(b)


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def offscreen(ctx, scene_file: Path, t: float, layer: str | None = None) -> np.ndarray:
    scene = load_scene_file(scene_file, size=SIZE).scene
    with hs.FrameRenderer(ctx, SIZE) as r:
        if layer is None:
            return r.render_frame(scene, t).astype(int)
        return getattr(r.render_layers(scene, t), layer).astype(int)


def changed(a: np.ndarray, b: np.ndarray) -> int:
    """Pixels that differ by more than JPEG noise."""
    return int((np.abs(a - b).max(axis=2) > 40).sum())


def red(img: np.ndarray) -> int:
    return int(((img[..., 0] > 170) & (img[..., 1] < 90) & (img[..., 2] < 90)).sum())


def test_page_shows_the_scene_plays_pauses_and_switches_to_the_plate(browser, served, ctx):
    scene_file, server = served
    open_page(browser, server)
    # Playing: a second later the picture has moved on.
    a = settled(browser, 0.2)
    time.sleep(1.0)
    b = view(browser)
    assert a.shape == (SIZE[1], SIZE[0], 3)
    assert changed(a, b) > 50, "the stream did not move on in a second of play"
    # Pause with the page's button: the frames stop, and they are the offscreen frame of that time.
    browser.eval("document.getElementById('pause').click()")
    wait_state(server, lambda s: not s["playing"])
    c = settled(browser, 0.6)
    time.sleep(1.0)
    d = view(browser)
    assert changed(c, d) == 0 and mean_diff(c, d) < 0.5, "the picture changed while paused"
    t = api(server, "/api/state")["time"]
    expected = offscreen(ctx, scene_file, t)
    assert mean_diff(c, expected) < 4.0, f"the page differs from the offscreen render at t={t}"
    assert red(c) > 100
    # The layer switcher: the plate alone, no cube.
    browser.eval("(() => { const s = document.getElementById('layer'); s.value = 'plate';"
                 " s.dispatchEvent(new Event('change', {bubbles: true})); })()")
    wait_state(server, lambda s: s["layer"] == "plate")
    plate = settled(browser, 0.6)
    assert red(plate) == 0
    assert mean_diff(plate, offscreen(ctx, scene_file, t, "plate")) < 4.0, "the plate layer differs from the plate"
    # The window's keys: Right steps a frame (paused), L cycles the layer, Space plays and pauses.
    browser.eval("document.activeElement.blur()")
    frame = api(server, "/api/state")["frame"]
    browser.key("ArrowRight")
    wait_state(server, lambda s: s["frame"] == frame + 1)
    browser.key("l")
    wait_state(server, lambda s: s["layer"] == "foreground")
    browser.key(" ")
    wait_state(server, lambda s: s["playing"])
    browser.key(" ")
    wait_state(server, lambda s: not s["playing"])
    # Play again with the button, on the composite: it moves.
    api(server, "/api/layer?name=composite", "POST")
    browser.eval("document.getElementById('play').click()")
    e = settled(browser, 0.6)
    time.sleep(0.8)
    f = view(browser)
    assert red(f) > 100 and changed(e, f) > 50


def test_a_broken_scene_file_shows_its_error_on_the_page_while_the_last_good_scene_runs(browser, served):
    scene_file, server = served
    open_page(browser, server)
    assert not browser.eval("document.getElementById('error').textContent.trim()")
    write_scene(scene_file, "def build_scene(size=(320, 180), seed=1):\n    raise RuntimeError('the moon fell off')\n")
    text = browser.wait_for("document.getElementById('error').textContent", timeout=10)
    assert "the moon fell off" in text and "served.py" in text, text
    a = settled(browser, 0.1)
    time.sleep(1.0)
    b = view(browser)
    assert red(a) > 100 and changed(a, b) > 50, "the last good scene stopped"
    write_scene(scene_file, SCENE.replace("{colour}", "#e02020"))  # fixed: the error goes away
    browser.wait_for("!document.getElementById('error').textContent.trim()", timeout=10)


def test_frames_drawn_below_full_size_are_shown_at_full_size(browser, tmp_path):
    """With the render scale at 0.5, the stream's frames are 160x90, the page shows them at the
    scene's 320x180 (the picture where the full-size one would be) and its stats say the scale."""
    scene_file = tmp_path / "half.py"
    write_scene(scene_file, SCENE.replace("{colour}", "#e02020"))
    with hs.serve(str(scene_file), port=0, size=SIZE, block=False, render_scale=0.5) as server:
        browser.open(server.url)
        browser.wait_for("document.getElementById('view').naturalWidth === 160", 20)
        browser.wait_for("document.getElementById('stats').textContent.includes('scale 0.50')", 10)
        rect = browser.eval("(() => { const r = document.getElementById('view').getBoundingClientRect();"
                            " return [r.width, r.height]; })()")
        assert rect == [SIZE[0], SIZE[1]], rect
        shown = view(browser)
        assert shown.shape == (SIZE[1], SIZE[0], 3) and red(shown) > 400  # the cube, filtered up
