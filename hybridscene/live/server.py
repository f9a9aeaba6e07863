"""`hybridscene serve`: the live preview in a web browser.

    hybridscene serve examples/fireflies.py          # then open http://127.0.0.1:8765/
    server = hs.serve(scene, block=False); server.url; server.close()

Frames go out as MJPEG (``multipart/x-mixed-replace``) at ``GET /stream.mjpg``: an ``<img>``
shows it with no script, every browser plays it, and each connection is one plain HTTP response
the standard library serves (no WebSocket library). Controls are ``POST /api/<action>``;
``GET /api/state`` is JSON. Rendering stays on one thread (`RenderSession`); each client thread
encodes the newest frame when it is ready for one, so a slow client skips frames and holds at
most one encoded frame. Bound to localhost by default; any other address needs a token.
"""

from __future__ import annotations

import concurrent.futures
import hmac
import http.server
import io
import ipaddress
import json
import logging
import os
import secrets
import signal
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from .._validate import check_finite, check_size
from ..config import check_render_scale
from ..errors import ConfigError, HybridSceneError
from ..scene import Scene
from .app import load_source
from .session import Frame, RenderSession
from .stats import frame_stats

__all__ = ["Server", "serve"]

log = logging.getLogger(__name__)

BOUNDARY = "hybridsceneframe"
COOKIE = "hybridscene_token"
JPEG_QUALITY = 85


def _assets() -> dict[str, tuple[bytes, str]]:
    """The page's own files, by request path (the only files ever served)."""
    web = resources.files("hybridscene.live") / "web"
    return {"/": ((web / "index.html").read_bytes(), "text/html; charset=utf-8")}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], server: Server) -> None:
        self.app = server
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is routine (debug); anything else is logged with its traceback."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            log.debug("client %s: %s", client_address, exc)
        else:
            log.exception("serving %s", client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # -- checks --------------------------------------------------------------------------------
    def _authorised(self, query: dict[str, list[str]]) -> bool:
        token = self.server.app.token
        if token is None:
            return True
        given = query.get("token", [None])[0]
        auth = self.headers.get("Authorization", "")
        if given is None and auth.startswith("Bearer "):
            given = auth[7:].strip()
        if given is None:
            for part in self.headers.get("Cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == COOKIE:
                    given = value
        return given is not None and hmac.compare_digest(given.encode(), token.encode())

    def _host_ok(self) -> bool:
        """On a loopback bind without a token, only a localhost Host (no DNS rebinding) and no
        other site's Origin (no cross-site requests)."""
        if self.server.app.token is not None:
            return True
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.strip("[]") not in ("localhost", "127.0.0.1", "::1", self.server.app.host):
            return False
        origin = self.headers.get("Origin")
        return origin is None or urllib.parse.urlsplit(origin).netloc == host

    def _parse(self) -> tuple[str, dict[str, list[str]]] | None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if not self._host_ok() or not self._authorised(query):
            self._send(403, b"forbidden: add ?token=... (printed when the server started)\n", "text/plain")
            return None
        return url.path, query

    def _send(self, code: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, value: Any) -> None:
        self._send(code, json.dumps(value).encode(), "application/json")

    # -- GET -----------------------------------------------------------------------------------
    def do_GET(self) -> None:
        parsed = self._parse()
        if parsed is None:
            return
        path, query = parsed
        app = self.server.app
        if path == "/stream.mjpg":
            self._stream()
        elif path == "/api/state":
            self._json(200, {**app.session.state(), "clients": app.clients})
        elif path == "/api/screenshot":
            self._screenshot()
        elif path in app.assets:
            body, ctype = app.assets[path]
            headers = {"Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
                       "script-src 'unsafe-inline'; img-src 'self' blob: data:"}
            if app.token is not None and "token" in query:
                headers["Set-Cookie"] = f"{COOKIE}={app.token}; HttpOnly; SameSite=Strict; Path=/"
            self._send(200, body, ctype, headers)
        else:
            self._send(404, b"not found\n", "text/plain")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        parsed = self._parse()
        if parsed is None:
            return
        path, query = parsed
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 1 << 30
        if length > 65536:  # no action takes a body: do not read a big one, close after replying
            self.close_connection = True
        elif length > 0:
            self.rfile.read(length)
        if not path.startswith("/api/"):
            self._send(404, b"not found\n", "text/plain")
            return
        action = path[len("/api/"):]
        if action == "screenshot":
            self._screenshot()
            return
        args = {k: v[0] for k, v in query.items() if k != "token"}
        try:
            result = self.server.app.session.command(action, **args)
        except ConfigError as exc:
            self._json(404 if "unknown action" in str(exc) else 400, {"error": str(exc)})
            return
        except (concurrent.futures.CancelledError, concurrent.futures.TimeoutError):
            self._json(503, {"error": "the server is stopping"})
            return
        self._json(200, {**self.server.app.session.state(), "result": result})

    def _screenshot(self) -> None:
        frame = self.server.app.session.wait_frame(0, timeout=10.0)
        if frame is None:
            self._send(503, b"no frame yet\n", "text/plain")
            return
        from PIL import Image

        image = frame.image
        if frame.scale < 1.0:  # drawn below full size while playing: the screenshot is full size
            try:
                image = self.server.app.session.full_frame(frame.time)
            except (HybridSceneError, concurrent.futures.CancelledError, concurrent.futures.TimeoutError):
                pass  # (the scene failed there, or the server is stopping: the frame as shown)
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        name = f"{self.server.app.name}-{frame.counter:06d}.png"
        self._send(200, buf.getvalue(), "image/png", {"Content-Disposition": f'inline; filename="{name}"',
                                                      "X-Time": f"{frame.time:.4f}"})

    def _stream(self) -> None:
        app = self.server.app
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        app.add_client(self.connection)
        last = 0
        try:
            while not app.closing:
                frame = app.session.wait_frame(last, timeout=1.0)
                if frame is None:
                    continue
                last = frame.counter
                data = app.jpeg(frame)
                part = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n"
                        f"X-Frame: {frame.counter}\r\nX-Time: {frame.time:.4f}\r\n\r\n").encode() + data + b"\r\n"
                self.wfile.write(part)
                if app.session.clock.paused:
                    # A browser shows a part only once the next part's headers arrive: paused, no
                    # next part would come (a step, a seek or a layer would show one change late),
                    # so the frame goes out twice.
                    self.wfile.write(part)
                self.wfile.flush()
        except (OSError, ValueError):  # the client went away (or the server closed its socket)
            pass
        finally:
            app.remove_client(self.connection)


class Server:
    """A running `hybridscene serve`: ``url``, ``close()``, a context manager.

    Made by [`serve`][hybridscene.serve] with ``block=False``."""

    def __init__(self, session: RenderSession, *, host: str, port: int, token: str | None, name: str) -> None:
        self.session = session
        self.host = host
        self.token = token
        self.name = name
        self.assets = _assets()
        self.closing = False
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._jpeg: tuple[int, bytes] = (-1, b"")
        try:
            self.httpd = _HTTPServer((host, port), self)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                              "try another --port, or --port 0 for a free one") from None
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="hybridscene-http", daemon=True)
        self._thread.start()
        self._closed = threading.Event()

    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` (with ``?token=...`` when one is needed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?token={self.token}" if self.token else ""
        return f"http://{host}:{self.port}/{query}"

    @property
    def clients(self) -> int:
        """Streams being sent now."""
        return len(self._clients)

    def jpeg(self, frame: Frame) -> bytes:
        """``frame`` as JPEG, encoded once however many clients send it (by the first that does)."""
        with self._encode_lock:
            if self._jpeg[0] != frame.counter:
                from PIL import Image

                buf = io.BytesIO()
                Image.fromarray(frame.image).save(buf, format="JPEG", quality=JPEG_QUALITY)
                self._jpeg = (frame.counter, buf.getvalue())
            return self._jpeg[1]

    def add_client(self, sock: socket.socket) -> None:
        with self._lock:
            self._clients.add(sock)

    def remove_client(self, sock: socket.socket) -> None:
        with self._lock:
            self._clients.discard(sock)

    def stats(self) -> Any:
        """[`PreviewStats`][hybridscene.PreviewStats] of the frames rendered so far."""
        return frame_stats(list(self.session.frame_seconds[1:]), list(self.session.frame_scales[1:]))

    def close(self) -> None:
        """Stop serving: close the listening socket and every stream, stop rendering, release GL."""
        if self.closing:
            return
        self.closing = True
        self.httpd.shutdown()
        self.httpd.server_close()
        with self._lock:
            clients = list(self._clients)
        for sock in clients:  # unblocks a stream stuck writing to a client that stopped reading
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.session.close()
        self._closed.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until closed (True) or ``timeout`` seconds pass (False)."""
        return self._closed.wait(timeout)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<hybridscene.Server {self.url} {'closed' if self.closing else 'serving'}>"


def serve(
    source: Scene | str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    size: tuple[int, int] | str | None = None,
    fps: float | None = None,
    token: str | None = None,
    block: bool = True,
    stats: bool = False,
    seconds: float | None = None,
    paused: bool = False,
    samples: int | None = None,
    render_scale: float | str | None = None,
    seed: int | None = None,
    model: str | None = None,
    prompt: str | None = None,
    on_ready: Callable[[Server], None] | None = None,
) -> Any:
    """Serve a scene (or a scene file, hot-reloaded) live to a web browser.

    Args:
        source: a [`Scene`][hybridscene.Scene], or a scene file rebuilt whenever it is saved (an
            error in it shows on the page while the last good scene keeps running).
        host: the address to listen on; anything but loopback needs a ``token``.
        port: the port (0 picks a free one; see ``Server.port``).
        size: render size ``(width, height)`` or ``"WxH"``; default: the file's ``SIZE``, else 1280x720.
        fps: the render rate and frame step; default: the file's ``FPS``, else 30.
        token: a secret every request must carry (``?token=``, ``Authorization: Bearer`` or the
            cookie the page sets); generated when the host is not loopback and none is given.
        block: serve until Ctrl-C or SIGTERM and return [`PreviewStats`][hybridscene.PreviewStats];
            ``False`` returns a running [`Server`][hybridscene.Server] at once (for notebooks).
        stats: log the ``fps=... frame_ms ...`` line (at INFO) on exit.
        seconds: with ``block``, stop by itself after this long.
        paused: start paused at t = 0.
        samples: MSAA samples (as `preview`).
        render_scale: ``"auto"``: while playing, frames are drawn below full size (down to 0.5,
            shown at full size on the page) when the renderer cannot hold ``fps``; a number in
            0.25..1 fixes the scale of the frames drawn while playing. Paused frames, the other
            layers and screenshots are full size. Default: ``HYBRIDSCENE_PREVIEW_SCALE``, else
            ``"auto"`` (as `preview`).
        seed: passed to a scene file's ``build_scene(seed=...)``.
        model: passed as ``build_scene(model=...)``.
        prompt: passed as ``build_scene(prompt=...)``.

    Returns:
        [`PreviewStats`][hybridscene.PreviewStats] with ``block``, else the running [`Server`][hybridscene.Server].
        on_ready: called with the `Server` once it listens (the CLI prints its URL).
    """

    scene, path, file_size, file_fps = load_source(source, size=size, seed=seed, model=model, prompt=prompt,
                                                   caller="serve")
    size = check_size(size) if size is not None else (file_size or (1280, 720))
    rate = check_finite(fps, "fps", positive=True) if fps is not None else (file_fps or 30.0)
    if seconds is not None:
        check_finite(seconds, "seconds", positive=True)
    if render_scale is not None:
        render_scale = check_render_scale(render_scale, "render_scale")
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"port must be 0..65535, got {port!r}; try 8765")
    if token is not None and (not token or any(c in token for c in " ;,\"'\r\n")):
        raise ConfigError("token must be non-empty, without spaces, quotes, ';' or ','; "
                          "leave it out to have one generated")
    if token is None and not _is_loopback(host):
        token = secrets.token_urlsafe(24)
    session = RenderSession(scene, size=size, fps=rate, path=path,
                            scene_options={"seed": seed, "model": model, "prompt": prompt},
                            paused=paused, samples=samples, render_scale=render_scale)
    session.start()
    try:
        server = Server(session, host=host, port=port, token=token,
                        name=path.stem if isinstance(path, Path) else "hybridscene")
    except BaseException:
        session.close()
        raise
    log.info("serving %s at %s", path or "the scene", server.url)
    if on_ready is not None:
        on_ready(server)
    if not block:
        return server
    return _run_blocking(server, seconds, stats)


def _run_blocking(server: Server, seconds: float | None, stats: bool) -> Any:
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_signal) if main_thread else None
    end = time.monotonic() + seconds if seconds is not None else None
    try:
        while not stop.is_set() and not server.session.closed:
            if end is not None and time.monotonic() >= end:
                break
            stop.wait(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        server.close()
    result = server.stats()
    if stats:
        log.info("%s", result.line())
    return result

