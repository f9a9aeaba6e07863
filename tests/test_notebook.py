"""Scenes in Jupyter: the poster frame (``Scene._repr_png_``), ``hs.show``'s inline H.264 video,
and examples/notebook.ipynb executed in a real kernel with its outputs checked."""

from __future__ import annotations

import base64
import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from PIL import Image

import hybridscene as hs
from hybridscene.notebook import poster_size

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"


def _scene(size=(320, 180)):
    scene = hs.Scene(hs.procedural_plate("mountains", size=size, seed=3))
    cube = scene.add(hs.Mesh.cube(1.0, color="#e04020"), position=(0, 1.2, -8))

    @scene.on_frame
    def spin(t):
        cube.rotation = hs.quat_from_euler(y=90 * t)

    return scene


def _decode(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _video_bytes(html: str) -> bytes:
    assert "<video" in html and "controls" in html
    m = re.search(r'src="data:video/mp4;base64,([A-Za-z0-9+/=]+)"', html)
    assert m, html[:200]
    return base64.b64decode(m.group(1))


def test_poster_size_follows_the_plate():
    def with_plate(w, h):
        return SimpleNamespace(plate=SimpleNamespace(size=(w, h)))

    assert poster_size(with_plate(1280, 720)) == (640, 360)
    assert poster_size(with_plate(1000, 1000)) == (640, 640)
    assert poster_size(with_plate(2049, 1001)) == (640, 312)  # even, for H.264's yuv420p
    assert poster_size(with_plate(320, 180)) == (320, 180)  # never wider than the plate
    assert poster_size(hs.Scene(None)) == (640, 360)


def test_repr_png_is_the_frame_at_time_0(ctx):
    scene = _scene()
    png = scene._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert img.shape == (180, 320, 3)
    expected = next(hs.frames(scene, frames=1, size=(320, 180), ctx=ctx))
    assert np.abs(img.astype(int) - expected.astype(int)).max() <= 1
    assert img.std() > 10  # a picture, not a flat fill
    scene.poster_time = 0.5  # the cube has turned 45 degrees
    later = np.asarray(Image.open(io.BytesIO(scene._repr_png_())).convert("RGB"))
    expected = next(hs.frames(scene, frames=1, start=0.5, size=(320, 180), ctx=ctx))
    assert np.abs(later.astype(int) - expected.astype(int)).max() <= 1
    assert np.abs(later.astype(int) - img.astype(int)).max() > 20


def test_repr_png_without_gl_falls_back_to_text(monkeypatch, caplog):
    import hybridscene.export

    def no_gl(*args, **kwargs):
        raise hs.GPUError("cannot create an OpenGL context")

    monkeypatch.setattr(hybridscene.export, "frames", no_gl)
    with caplog.at_level(logging.WARNING, logger="hybridscene.notebook"):
        assert _scene()._repr_png_() is None
    assert "cannot create an OpenGL context" in caplog.text
    scene = _scene()
    scene.poster_time = "soon"
    assert scene._repr_png_() is None


def test_show_returns_an_inline_h264_video(tmp_path):
    clip = hs.show(_scene(), seconds=0.5, fps=10, progress=False)
    assert isinstance(clip, hs.Video)
    assert (clip.frames, clip.size, clip.mimetype) == (5, (320, 180), "video/mp4")
    data = _video_bytes(clip._repr_html_())
    assert data == clip.data
    frames = _decode(data)
    assert len(frames) == 5 and frames[0].shape == (180, 320, 3)
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).max() > 20  # the cube turned
    assert clip._repr_mimebundle_()["text/html"] == clip._repr_html_()
    out = clip.save(tmp_path / "spin.mp4")
    assert out.read_bytes() == clip.data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spin.mp4"]  # no temporary left
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("hybridscene-show-*/clip.mp4"))


def test_show_refuses_outputs_and_non_scenes():
    with pytest.raises(hs.ConfigError, match="does not take layers="):
        hs.show(_scene(), seconds=0.1, layers="out/")
    with pytest.raises(hs.ConfigError, match="show\\(\\) needs a hybridscene.Scene"):
        hs.show(42, seconds=0.1)


def test_import_does_not_load_ipython():
    probe = "import sys, hybridscene; print('IPython' in sys.modules, 'tqdm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    assert out.stdout.split() == ["False", "False"]


def _kernel_name(tmp_path, monkeypatch) -> str:
    """The ``python3`` kernel of this interpreter: Jupyter's own when it is installed, else one
    installed under ``tmp_path`` (JUPYTER_PATH points there; nothing global is touched)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        install(prefix=str(tmp_path / "jupyter"))
        monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter" / "share" / "jupyter"))
    return "python3"


def test_example_notebook_runs_and_shows_a_poster_and_a_video(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat (the dev extra)")
    nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient (the dev extra)")
    pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel (the dev extra)")
    # The kernel imports this checkout's hybridscene, whatever is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=_kernel_name(tmp_path, monkeypatch), timeout=120,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    stderr = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert "12/12" in stderr and "Warning" not in stderr  # tqdm's bar, without a warning
    pngs = [base64.b64decode(o.data["image/png"]) for o in outputs if "image/png" in o.get("data", {})]
    htmls = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(pngs) == 1 and len(htmls) == 1
    poster = np.asarray(Image.open(io.BytesIO(pngs[0])).convert("RGB"))
    assert poster.shape == (360, 640, 3) and poster.std() > 10
    frames = _decode(_video_bytes(htmls[0]))
    assert len(frames) == 12 and frames[0].shape == (360, 640, 3)  # hs.show(scene, seconds=1, fps=12)
    assert list(tmp_path.glob("*.mp4")) == []  # the user named no file, and none was left


def test_show_takes_a_scene_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clip = hs.show(ROOT / "examples" / "birds.py", frames=2, size=(128, 72), progress=False)
    assert (clip.frames, clip.size) == (2, (128, 72))
    assert len(_decode(clip.data)) == 2
    assert list(tmp_path.iterdir()) == []  # nothing written where the notebook runs
