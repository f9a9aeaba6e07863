"""The Python in the README and the quickstart runs as written (in a temporary folder)."""

import re
import subprocess
import sys
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.gl


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("doc, expected", [("README.md", "spin.mp4"), ("docs/quickstart.md", "first.mp4")])
def test_first_code_block_runs_and_writes_its_video(doc, expected, tmp_path):
    code = python_blocks(ROOT / doc)[0]
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with av.open(str(tmp_path / expected)) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (1280, 720) and s.frames >= 60


def test_doc_links_point_at_files():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_documentation_builds_without_warnings(tmp_path):
    """MkDocs in strict mode: a broken link, a missing page or a docstring that does not match its
    signature fails the build (the API reference is generated from the docstrings)."""
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in ("PerspectiveCamera", "from_plate", "generate_plate_async", "PreviewStats", "ShadowCatcher"):
        assert name in api, f"{name} missing from the API reference"


def test_gallery_script_renders_a_film_and_a_poster(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "make_gallery.py"), "--only", "birds", "--only", "quickstart",
                        "--out", str(tmp_path), "--size", "160x90", "--fps", "4", "--frames", "6"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with av.open(str(tmp_path / "quickstart.mp4")) as c:
        assert c.streams.video[0].frames == 6 and c.streams.video[0].width == 160
    with av.open(str(tmp_path / "birds.mp4")) as c:
        assert c.streams.video[0].frames == 32  # the file's DURATION (8 s) at 4 fps
    from PIL import Image

    with Image.open(tmp_path / "birds.png") as poster:
        assert poster.size == (160, 90)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["birds.mp4", "birds.png", "quickstart.mp4", "quickstart.png"]


def test_gallery_page_shows_every_example_with_its_code():
    page = (ROOT / "docs" / "gallery.md").read_text()
    for script in sorted((ROOT / "examples").glob("*.py")):
        assert (ROOT / "docs" / "gallery" / f"{script.stem}.png").exists(), f"no poster for {script.name}"
        assert f"`examples/{script.name}`:" in page
        assert script.read_text().rstrip() in page, f"the gallery shows an old version of {script.name}"
