"""The Python in the README and the quickstart runs as written (in a temporary folder); the
command-line reference matches the click commands; the built API reference documents every
exported name."""

import html
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import av
import click
import pytest

import hybridscene as hs

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.gl
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


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The documentation built by MkDocs in strict mode: a broken link or anchor, a missing page or
    a docstring that does not match its signature fails the build (the API reference is generated
    from the docstrings)."""
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_documentation_builds_and_documents_every_exported_name(site):
    reference = (site / "reference" / "index.html").read_text()
    headings = set(re.findall(r'<h[2-6] id="(hybridscene\.[\w.]+)"', reference))
    missing = [name for name in hs.__all__ if f"hybridscene.{name}" not in headings]
    assert not missing, f"no entry in the built API reference (docs/reference.md) for: {', '.join(missing)}"
    for member in ("PerspectiveCamera.from_plate", "Scene.add", "PlateWorker.submit"):
        assert f"hybridscene.{member}" in headings, f"{member} missing from the API reference"
    # Google-style sections (Args:, Returns:) render as parameter tables, not as text.
    assert '<th class="field-name">Parameters:</th>' in reference
    assert "Args:" not in re.sub(r"<[^>]+>", "", reference)


def test_built_reference_has_no_sphinx_roles(site):
    """The renderer (mkdocstrings, Markdown) does not understand reStructuredText roles such as
    :class:`Plate`; they would show literally. Use `Plate` or [`Plate`][hybridscene.Plate]."""
    text = html.unescape(re.sub(r"<[^>]+>", "", (site / "reference" / "index.html").read_text()))
    roles = sorted(set(re.findall(r":(?:class|func|meth|mod|attr|data|exc|obj):`?[^\s`]*", text)))
    assert not roles, f"reStructuredText roles shown literally in the API reference: {roles[:20]}"


def test_api_overview_is_plain_markdown_and_links_every_exported_name():
    """docs/api.md is read on the code host too, where mkdocstrings directives show raw."""
    page = (ROOT / "docs" / "api.md").read_text()
    assert ":::" not in page, "docs/api.md must stay plain Markdown; directives go in docs/reference.md"
    missing = [name for name in hs.__all__ if f"[`{name}`](reference.md#hybridscene.{name})" not in page]
    assert not missing, f"docs/api.md does not list: {', '.join(missing)}"


def load_gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def command_sections():
    """docs/cli.md cut at its "## hybridscene ..." / "### hybridscene ..." headings."""
    parts = re.split(r"^#{2,3} (hybridscene(?: [\w-]+)*)\n", (ROOT / "docs" / "cli.md").read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_cli_reference_documents_every_command_and_option():
    from hybridscene.cli import main

    sections = command_sections()

    def walk(cmd, path):
        assert path in sections, f"docs/cli.md has no section for `{path}`"
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                for opt in param.opts + param.secondary_opts:
                    assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", sections[path]), \
                        f"`{path} {opt}` is not in docs/cli.md: run `python docs/gen_cli.py`"
        for name, sub in getattr(cmd, "commands", {}).items():
            if not sub.hidden:
                walk(sub, f"{path} {name}")

    walk(main, "hybridscene")
    assert "--layers" in sections["hybridscene render"] and "--samples" in sections["hybridscene preview"]


def test_cli_reference_is_what_the_generator_writes_now():
    expected = load_gen_cli().generate()
    assert (ROOT / "docs" / "cli.md").read_text() == expected, (
        "docs/cli.md is out of date with the click commands in hybridscene/cli.py: "
        "run `python docs/gen_cli.py` (or `make docs`) and commit docs/cli.md")


@pytest.mark.gl
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
