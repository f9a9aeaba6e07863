"""`hybridscene serve` / `hs.serve` without a browser: the MJPEG stream decoded and compared with
the offscreen renderer, the controls, hot reload, slow clients, the token and path checks, and
the command line (help, a bad size, SIGTERM)."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import hybridscene as hs
from hybridscene.scenefile import load_scene_file

pytestmark = pytest.mark.gl

SCENE = '''
import hybridscene as hs
FPS = 30
SIZE = (160, 96)

def build_scene(size=(160, 96), seed=1):
    scene = hs.Scene(hs.procedural_plate(size=size, seed=seed))
    cube = scene.add(hs.Mesh.cube(1.2, color="{colour}", shading="unlit"), position=(0, 1.2, -8))
    scene.animate(cube, "position", [(0, (-1.5, 1.2, -8)), (2, (1.5, 1.2, -8))])
    return scene
'''
SIZE = (160, 96)


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "scene.py"
    path.write_text(SCENE.replace("{colour}", "#e02020"))
    return path


@pytest.fixture(scope="module")
def server(scene_file):
    with hs.serve(scene_file, port=0, block=False, render_scale=1) as srv:  # frames always full size
        yield srv


def get(srv, path, **kw):
    return urllib.request.urlopen(srv.url.split("?")[0].rstrip("/") + path, timeout=10, **kw)


def post(srv, path):
    req = urllib.request.Request(srv.url.rstrip("/") + path, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def state(srv):
    with get(srv, "/api/state") as r:
        return json.loads(r.read())


def fetch(url, **kw):
    """The body of ``url`` (a Request or a string); an HTTPError is closed before it is raised."""
    try:
        with urllib.request.urlopen(url, timeout=10, **kw) as r:
            return r.read(), r.headers
    except urllib.error.HTTPError as exc:
        exc.close()
        raise


def read_frames(response, n):
    """``n`` (headers, RGB array) from an open MJPEG response."""
    out = []
    for _ in range(n):
        line = response.readline()
        while line.strip() == b"":
            line = response.readline()
        assert line.strip() == b"--hybridsceneframe"
        headers = {}
        while (line := response.readline().strip()):
            k, _, v = line.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        data = response.read(int(headers["content-length"]))
        out.append((headers, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))))
    return out


def reference(scene_file, t, layer="composite"):
    scene = load_scene_file(scene_file, size=SIZE).scene
    from hybridscene.live.app import layer_image

    with hs.FrameRenderer(hs.create_context(), SIZE, samples=1) as r:
        hs.scene.overscan.cover_camera_path(scene, SIZE, [0.0, 10.0])
        return r.render_frame(scene, t) if layer == "composite" else layer_image(r, scene, layer, t)


def test_state_stream_pause_and_compare(server, scene_file):
    s = state(server)
    assert {"playing", "time", "frame", "fps", "frame_ms", "layer", "layers", "error", "size", "clients"} <= set(s)
    assert s["size"] == list(SIZE) and s["layer"] == "composite" and s["error"] is None
    assert s["layers"][:5] == ["composite", "plate", "foreground", "depth", "shadow"]
    post(server, "/api/play")
    with get(server, "/stream.mjpg") as r:
        assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        (h1, f1), (h2, f2) = read_frames(r, 2)
        assert state(server)["clients"] == 1
    assert f1.shape == (96, 160, 3) and int(h2["x-frame"]) > int(h1["x-frame"])
    # Paused: the frame is the offscreen render of the paused time, and no new frames come.
    s = post(server, "/api/seek?t=0.5")
    s = post(server, "/api/pause")
    assert s["playing"] is False
    time.sleep(0.2)
    t = state(server)["time"]
    with get(server, "/stream.mjpg") as r:
        (h, frame), = read_frames(r, 1)
    assert abs(float(h["x-time"]) - t) < 1e-3
    ref = reference(scene_file, t)
    assert np.abs(frame.astype(int) - ref.astype(int)).mean() < 4.0  # JPEG error only
    counter = state(server)["counter"]
    time.sleep(0.4)
    assert state(server)["counter"] == counter  # paused: nothing new to send
    # The screenshot is the full-quality PNG of that frame.
    body, _ = fetch(urllib.request.Request(server.url + "api/screenshot", method="POST"))
    png = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    assert np.abs(png.astype(int) - ref.astype(int)).max() <= 2
    # Step lands on the frame grid; restart goes to 0.
    assert post(server, "/api/step?frames=3")["frame"] == round(t * 30) + 3
    assert post(server, "/api/restart")["time"] == 0.0


def test_layer_plate(server, scene_file):
    post(server, "/api/pause")
    post(server, "/api/seek?t=0")
    assert post(server, "/api/layer?name=plate")["layer"] == "plate"
    time.sleep(0.2)
    with get(server, "/stream.mjpg") as r:
        (h, frame), = read_frames(r, 1)
    ref = reference(scene_file, 0.0, "plate")
    assert np.abs(frame.astype(int) - ref.astype(int)).mean() < 4.0
    assert np.abs(frame.astype(int) - reference(scene_file, 0.0).astype(int)).mean() > 1.0  # not the composite
    # The render passes too: normals (0.5 + 0.5 n) and ids (a colour per node, black for none).
    from hybridscene.live.session import pass_image

    for name in ("normals", "ids"):
        assert name in state(server)["layers"]
        post(server, f"/api/layer?name={name}")
        time.sleep(0.2)
        with get(server, "/stream.mjpg") as r:
            (h, frame), = read_frames(r, 1)
        scene = load_scene_file(scene_file, size=SIZE).scene
        with hs.FrameRenderer(hs.create_context(), SIZE, samples=1) as rr:
            hs.scene.overscan.cover_camera_path(scene, SIZE, [0.0, 10.0])
            ref = pass_image(rr.render_passes(scene, 0.0, passes=(name,)).passes[name])
        assert ref.any() and (ref == 0).any()  # the cube, and nothing around it
        assert np.abs(frame.astype(int) - ref.astype(int)).mean() < 6.0, name
    post(server, "/api/layer?name=composite")
    post(server, "/api/play")


def test_bad_requests(server):
    for path, code in [("/api/nope", 404), ("/api/seek?t=abc", 400), ("/api/layer?name=x", 400)]:
        with pytest.raises(urllib.error.HTTPError) as err:
            fetch(urllib.request.Request(server.url + path[1:], method="POST"))
        assert err.value.code == code, path


@pytest.mark.parametrize("path", ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/index.html",
                                  "/web/index.html", "//etc/passwd", "/hybridscene/live/server.py"])
def test_paths_are_not_files(server, path):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 404 and b"root:" not in response.read()
    finally:
        conn.close()


def test_page(server):
    body = fetch(server.url)[0].decode()
    for needle in ['id="view"', 'src="/stream.mjpg', 'id="play"', 'id="pause"', 'id="step"', 'id="restart"',
                   'id="screenshot"', 'id="layer"', 'id="seek"', 'id="error"', 'id="stats"']:
        assert needle in body


def test_dns_rebinding_and_cross_site(server):
    for method, path, headers in [("GET", "/api/state", {"Host": "evil.example:8765"}),
                                  ("POST", "/api/pause", {"Origin": "http://evil.example"})]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.request(method, path, headers=headers)
            response = conn.getresponse()
            assert response.status == 403
            response.read()
        finally:
            conn.close()


def test_hot_reload_error_keeps_streaming(server, scene_file):
    post(server, "/api/play")
    good = scene_file.read_text()
    try:
        time.sleep(0.05)
        scene_file.write_text("def build_scene(:\n")
        os.utime(scene_file, ns=(time.time_ns(), time.time_ns() + 10**9))
        deadline = time.monotonic() + 5
        while state(server)["error"] is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "scene.py" in (state(server)["error"] or "") or "syntax" in (state(server)["error"] or "").lower()
        with get(server, "/stream.mjpg") as r:
            (h1, _), (h2, _) = read_frames(r, 2)  # the last good scene keeps running
        assert int(h2["x-frame"]) > int(h1["x-frame"])
    finally:
        scene_file.write_text(good)
        os.utime(scene_file, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    deadline = time.monotonic() + 5
    while state(server)["error"] is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state(server)["error"] is None


def rss_kb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_a_client_that_never_reads_does_not_stall_others(server):
    post(server, "/api/play")
    stuck = socket.create_connection(("127.0.0.1", server.port))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
    try:
        with get(server, "/stream.mjpg") as r:
            read_frames(r, 5)
            before = rss_kb()
            t0 = time.monotonic()
            frames = read_frames(r, 30)
            seconds = time.monotonic() - t0
            after = rss_kb()
        assert state(server)["clients"] >= 1
    finally:
        stuck.close()
    counters = [int(h["x-frame"]) for h, _ in frames]
    assert counters == sorted(counters) and len(set(counters)) == 30
    assert seconds < 10
    assert after - before < 20_000, (before, after)


def test_token_on_a_non_loopback_bind(scene_file):
    with hs.serve(scene_file, host="0.0.0.0", port=0, block=False) as srv:
        assert srv.token and f"?token={srv.token}" in srv.url
        base = f"http://127.0.0.1:{srv.port}"
        for path in ["/", "/api/state", "/stream.mjpg", f"/api/state?token={srv.token}x"]:
            with pytest.raises(urllib.error.HTTPError) as err:
                fetch(base + path)
            assert err.value.code == 403
        with pytest.raises(urllib.error.HTTPError) as err:
            fetch(urllib.request.Request(base + "/api/pause", method="POST"))
        assert err.value.code == 403
        assert json.loads(fetch(f"{base}/api/state?token={srv.token}")[0])["size"] == list(SIZE)
        bearer = urllib.request.Request(base + "/api/state", headers={"Authorization": f"Bearer {srv.token}"})
        assert json.loads(fetch(bearer)[0])["size"] == list(SIZE)
        _, headers = fetch(f"{base}/?token={srv.token}")
        cookie = headers["Set-Cookie"].split(";")[0]
        assert "HttpOnly" in headers["Set-Cookie"]
        with urllib.request.urlopen(urllib.request.Request(base + "/stream.mjpg", headers={"Cookie": cookie}),
                                    timeout=5) as r:
            assert read_frames(r, 1)[0][1].shape == (96, 160, 3)
    with pytest.raises(OSError):
        fetch(base + "/")  # closed


def test_cli_help_and_bad_size():
    out = subprocess.run([sys.executable, "-m", "hybridscene", "serve", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--host" in out.stdout and "--token" in out.stdout and "--port" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "hybridscene", "serve", "x.py", "--size", "big"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "--size" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_cli_sigterm_exits_cleanly(scene_file):
    proc = subprocess.Popen([sys.executable, "-m", "hybridscene", "serve", str(scene_file), "--port", "0", "--stats"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 20
        while "serving" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
        assert "http://127.0.0.1:" in line, line
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url + "stream.mjpg", timeout=10) as r:
            read_frames(r, 2)
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert out.startswith("fps=") and "frame_ms p50=" in out and out.strip().endswith("scale=1.00")  # a small, quick scene


def test_regenerate_repaints_without_stalling_the_stream(server):
    post(server, "/api/play")
    post(server, "/api/layer?name=plate")
    time.sleep(0.2)
    with get(server, "/stream.mjpg") as r:
        (_, before), = read_frames(r, 1)
        assert "painting the plate" in post(server, "/api/regenerate")["result"]
        t0 = time.monotonic()
        frames = read_frames(r, 10)  # the stream goes on while the plate is painted
        assert time.monotonic() - t0 < 5
        deadline = time.monotonic() + 10
        while state(server)["notice"] and time.monotonic() < deadline:
            read_frames(r, 1)
        time.sleep(1.2)  # the 1 s cross-fade
        (_, after), = read_frames(r, 1)
    post(server, "/api/layer?name=composite")
    assert len({int(h["x-frame"]) for h, _ in frames}) == 10
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 5  # a new seed, a new plate


def test_dynamic_resolution_while_playing_full_size_when_paused_and_in_screenshots(scene_file):
    """A fixed render scale of 0.5: frames drawn while playing come out at half size (the page
    shows them at full size), the state and the stats say so; a screenshot of such a frame is
    the full-size frame at its time; paused frames are full size."""
    with hs.serve(scene_file, port=0, block=False, render_scale=0.5) as srv:
        post(srv, "/api/play")
        with get(srv, "/stream.mjpg") as r:
            (_, small), = read_frames(r, 1)
        assert small.shape == (48, 80, 3)
        s = state(srv)
        assert s["scale"] == 0.5 and s["render_scale"] == 0.5 and s["size"] == list(SIZE)
        body, headers = fetch(urllib.request.Request(srv.url + "api/screenshot", method="POST"))
        png = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
        assert png.shape == (96, 160, 3)
        assert np.abs(png.astype(int) - reference(scene_file, float(headers["X-Time"])).astype(int)).max() <= 2
        time.sleep(0.5)  # most of the loop's turns so far are playing ones
        stats = srv.stats()  # (before pausing: the loop's paused turns are full size and count too)
        post(srv, "/api/pause")
        time.sleep(0.2)
        with get(srv, "/stream.mjpg") as r:
            (_, paused), = read_frames(r, 1)
        assert paused.shape == (96, 160, 3) and state(srv)["scale"] == 1.0
    assert stats.render_scale == 0.5 and stats.line().endswith("scale=0.50")


def test_auto_render_scale_steps_down_when_frames_miss_the_frame_rate(tmp_path):
    """``auto`` (the default): a scene whose frames take 60 ms cannot hold 30 frames/s, so the
    frames drawn while playing come out smaller."""
    path = tmp_path / "slow.py"
    path.write_text(SCENE.replace("{colour}", "#2020e0").replace(
        "    return scene", "    scene.on_frame(lambda t: __import__('time').sleep(0.06))\n    return scene"))
    with hs.serve(path, port=0, block=False, render_scale="auto") as srv:
        post(srv, "/api/play")
        deadline = time.monotonic() + 20
        while state(srv)["scale"] == 1.0:
            assert time.monotonic() < deadline, state(srv)
            time.sleep(0.1)
        assert state(srv)["render_scale"] == "auto"
        with get(srv, "/stream.mjpg") as r:
            (_, frame), = read_frames(r, 1)
        assert frame.shape[0] < 96 and frame.shape[1] < 160


def test_a_bad_render_scale_is_refused_in_one_line(scene_file):
    with pytest.raises(hs.ConfigError, match=r"^render_scale must be 'auto' or a number in 0.25..1, got 'fast'$"):
        hs.serve(scene_file, port=0, block=False, render_scale="fast")
    bad = subprocess.run([sys.executable, "-m", "hybridscene", "serve", "x.py", "--render-scale", "2"],
                         capture_output=True, text=True)
    assert bad.returncode != 0
    assert bad.stderr.strip() == "error: --render-scale must be 'auto' or a number in 0.25..1, got '2'"


def test_a_frame_carries_the_time_it_was_drawn_at_however_long_drawing_takes(tmp_path, monkeypatch):
    """The stream's X-Time and the screenshot's redraw use the frame's time: the scene time it
    was drawn at, not the clock's time once drawing (here 60 ms of on_frame) is over."""
    from hybridscene.live import session as live_session

    path = tmp_path / "slow.py"
    path.write_text(SCENE.replace("{colour}", "#e02020").replace(
        "    return scene", "    scene.on_frame(lambda t: __import__('time').sleep(0.06))\n    return scene"))
    drawn: dict[int, float] = {}
    render = live_session.RenderSession._render

    def spy(self, renderer, t):
        image = render(self, renderer, t)
        drawn[id(image)] = t
        return image

    monkeypatch.setattr(live_session.RenderSession, "_render", spy)
    session = live_session.RenderSession(load_scene_file(path, size=SIZE).scene, size=SIZE, fps=30.0, path=path,
                                         render_scale=0.5)
    session.start()
    try:
        session.command("play")
        frame = session.wait_frame(0, timeout=30)
        for _ in range(3):  # frames drawn while playing, at half size
            frame = session.wait_frame(frame.counter, timeout=30)
        assert frame.scale == 0.5 and frame.time == drawn[id(frame.image)]
    finally:
        session.close()
