"""Frame ranges, shards and assemble: frames a..b rendered alone are the same frames as in a whole
render (every example), shards of frames, layers and labels join into what a whole render writes,
assemble refuses parts that do not cover a render exactly once, and the command line's
``--frames A:B``, ``--shard K/N`` and ``assemble``."""

from __future__ import annotations

import hashlib
import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import hybridscene as hs
from hybridscene.cli import main
from hybridscene.export.shards import shard_range
from hybridscene.sinks.manifest import frame_digest

pytestmark = pytest.mark.gl

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SIZE = (96, 64)
SCENE_FILES = ["birds.py", "fireflies.py", "flight.py", "glossy.py", "panorama.py", "rain_lanterns.py"]
SCRIPTS = ["carousel.py", "numpy_frames.py", "quickstart.py"]  # parse argv and call hs.render / hs.frames
PART = range(3, 7)  # starts after frame 2 (flight.py once differed from frame 3 on)


def _scene(name: str = "flight.py", size=SIZE) -> hs.Scene:
    return hs.SceneSource(EXAMPLES / name, options={"size": size}).load().scene


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _decode(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def _manifest(folder) -> dict:
    return json.loads((Path(folder) / "manifest.json").read_text())


def _folder(path: Path) -> str:
    return str(path) + "/"


# -- 1. every example: a range alone == the same frames of a whole render -----------------------


def test_every_example_is_in_the_identity_test():
    # ray_film.py renders flight.py (checked here) on Ray workers; tests/test_ray.py checks that Ray's
    # output equals a render in one process.
    assert set(SCENE_FILES) | set(SCRIPTS) | {"ray_film.py"} == {p.name for p in EXAMPLES.glob("*.py")}
    assert not set(SCENE_FILES) & set(SCRIPTS)


class _Captured(Exception):
    def __init__(self, scene, kwargs):
        super().__init__("captured")
        self.scene, self.kwargs = scene, kwargs


def _script_scene(name: str, tmp_path: Path, monkeypatch) -> tuple[hs.Scene, float]:
    """Run an example script with a tiny size; its hs.render / hs.frames call hands back the scene."""

    def capture(scene, *args, **kwargs):
        raise _Captured(scene, kwargs)

    with monkeypatch.context() as m:
        m.setattr(hs, "render", capture)
        m.setattr(hs, "frames", capture)
        m.setattr(sys, "argv", [str(EXAMPLES / name), "-o", str(tmp_path / "out.gif"), "--frames", "8",
                                "--size", f"{SIZE[0]}x{SIZE[1]}"])
        with pytest.raises(_Captured) as info:
            runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    scene = info.value.scene
    assert isinstance(scene, hs.Scene)
    return scene, info.value.kwargs.get("fps", 30.0)


@pytest.mark.parametrize("example", SCENE_FILES + SCRIPTS)
def test_a_range_alone_equals_the_same_frames_of_a_whole_render(example, ctx, tmp_path, monkeypatch):
    if example in SCRIPTS:
        def build():
            return _script_scene(example, tmp_path, monkeypatch)
    else:
        def build():
            return _scene(example), 30.0
    scene, fps = build()
    whole = list(hs.frames(scene, frames=8, fps=fps, size=SIZE, ctx=ctx))
    scene, fps = build()  # a fresh scene: the part starts from scratch, as on another machine
    part = list(hs.frames(scene, frames=PART, fps=fps, size=SIZE, ctx=ctx))
    assert len(whole) == 8 and len(part) == len(PART)
    assert all(f.dtype == np.uint8 and f.shape == (SIZE[1], SIZE[0], 3) for f in whole + part)
    assert len({f.tobytes() for f in whole}) > 1, "the example does not animate: the test would prove nothing"
    for i, frame in zip(PART, part):
        assert np.array_equal(frame, whole[i]), f"{example}: frame {i} rendered alone differs from the whole render"


# -- 2. layers and labels: shards joined == a whole render -------------------------------------


@pytest.fixture(scope="module")
def flight_passes(gl_context, tmp_path_factory):
    """flight.py, 6 frames, with layers and labels: whole, and as 3 shards joined by assemble."""
    root = tmp_path_factory.mktemp("passes")
    gl_context.make_current()
    for d in ("whole", "s0", "s1", "s2"):
        (root / d).mkdir()
    hs.render(_scene(), _folder(root / "whole" / "frames"), frames=6, size=SIZE, ctx=gl_context,
              layers=root / "whole" / "layers", labels=root / "whole" / "labels")
    for k in range(3):
        hs.render(_scene(), _folder(root / f"s{k}" / "frames"), frames=6, shard=(k, 3), size=SIZE, ctx=gl_context,
                  layers=root / f"s{k}" / "layers", labels=root / f"s{k}" / "labels")
    labels = hs.assemble([root / f"s{k}" / "labels" for k in (2, 0, 1)], root / "joined_labels")
    layers = hs.assemble([root / f"s{k}" / "layers" for k in (1, 2, 0)], root / "joined_layers")
    assert labels.frames == layers.frames == 6 and labels.parts == layers.parts == 3
    return root


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_shards_hold_their_frames(flight_passes):
    for k, (a, b) in enumerate(((0, 2), (2, 4), (4, 6))):
        m = _manifest(flight_passes / f"s{k}" / "frames")
        assert (m["frames"]["start"], m["frames"]["stop"], m["total"], m["shard"]) == (a, b, 6, [k, 3])
        assert sorted(p.name for p in (flight_passes / f"s{k}" / "frames").glob("*.png")) == \
            [f"{i:05d}.png" for i in range(a, b)]


def test_joined_labels_equal_a_whole_render(flight_passes):
    from pycocotools.coco import COCO

    whole, joined = flight_passes / "whole" / "labels", flight_passes / "joined_labels"
    coco_w, coco_j = (json.loads((d / "coco.json").read_text()) for d in (whole, joined))
    assert len(coco_w["images"]) == 6 and coco_w["annotations"], "flight.py should have labelled objects"
    for key in ("images", "annotations", "categories"):
        assert coco_j[key] == coco_w[key], key
    assert set(coco_j) == set(coco_w)
    api = COCO(str(joined / "coco.json"))
    assert sorted(api.getImgIds()) == [im["id"] for im in coco_w["images"]]
    assert len(api.getAnnIds()) == len(coco_w["annotations"])
    for name in ("cameras.json", "objects.json"):
        assert json.loads((joined / name).read_text()) == json.loads((whole / name).read_text()), name
    fw, fj = _files(whole), _files(joined)
    images = [k for k in fw if k.endswith(".png")]
    assert len(images) >= 6
    assert set(fj) == set(fw)
    for k in images:
        assert fj[k] == fw[k], k
    mw, mj = _manifest(whole), _manifest(joined)
    assert (mj["frames"], mj["digests"], mj["total"]) == (mw["frames"], mw["digests"], 6)


def test_joined_layers_equal_a_whole_render(flight_passes):
    whole, joined = flight_passes / "whole" / "layers", flight_passes / "joined_layers"
    fw, fj = _files(whole), _files(joined)
    assert set(fj) == set(fw)
    assert len([k for k in fw if k.endswith((".png", ".npy"))]) >= 12
    for k in fw:
        if k == "ids.json":
            assert json.loads(fj[k]) == json.loads(fw[k])
        elif k != "manifest.json":
            assert fj[k] == fw[k], k
    mw, mj = _manifest(whole), _manifest(joined)
    assert (mj["kind"], mj["frames"], mj["digests"]) == ("layers", mw["frames"], mw["digests"])


# -- 3. assemble frames --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shards12(gl_context, tmp_path_factory):
    """fireflies.py, 12 frames: whole (PNG folder and MP4) and 3 PNG shards."""
    root = tmp_path_factory.mktemp("shards12")
    gl_context.make_current()
    hs.render(_scene("fireflies.py"), _folder(root / "whole"), frames=12, size=SIZE, ctx=gl_context)
    hs.render(_scene("fireflies.py"), root / "whole.mp4", frames=12, size=SIZE, ctx=gl_context)
    for k in range(3):
        hs.render(_scene("fireflies.py"), _folder(root / f"p{k}"), frames=12, shard=(k, 3), size=SIZE, ctx=gl_context)
    return root


def test_assembled_mp4_decodes_to_the_whole_render(shards12, tmp_path):
    out = tmp_path / "film.mp4"
    result = hs.assemble([shards12 / "p2", shards12 / "p0", shards12 / "p1"], out)
    assert (result.frames, result.parts, tuple(result.size), result.fps) == (12, 3, SIZE, 30.0)
    got, want = _decode(out), _decode(shards12 / "whole.mp4")
    assert len(got) == len(want) == 12
    for i, (g, w) in enumerate(zip(got, want)):
        assert np.array_equal(g, w), f"frame {i}"


def test_assembled_folder_equals_the_whole_png_render(shards12, tmp_path):
    out = tmp_path / "joined"
    hs.assemble([shards12 / f"p{k}" for k in range(3)], _folder(out))
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == [f"{i:05d}.png" for i in range(12)]
    frames = [_png(out / n) for n in names]
    assert len({f.tobytes() for f in frames}) > 1
    for n, f in zip(names, frames):
        assert np.array_equal(f, _png(shards12 / "whole" / n)), n
    m, mw = _manifest(out), _manifest(shards12 / "whole")
    assert (m["frames"], m["digests"]) == (mw["frames"], mw["digests"])
    assert m["digests"] == [frame_digest(f) for f in frames]


# -- 4. coverage errors ------------------------------------------------------------------------


def _assert_refused(parts, out_dir: Path, match: str, name: str = "film.mp4"):
    out_dir.mkdir()
    with pytest.raises(hs.SinkError, match=match) as info:
        hs.assemble(parts, out_dir / name if not name.endswith("/") else _folder(out_dir / name[:-1]))
    assert "\n" not in str(info.value)
    assert list(out_dir.iterdir()) == [], "assemble left output behind"
    return str(info.value)


def test_a_gap_is_refused(shards12, tmp_path):
    msg = _assert_refused([shards12 / "p0", shards12 / "p2"], tmp_path / "o", r"frames 4:8 are missing")
    assert "p2" in msg


def test_a_missing_last_shard_is_refused(shards12, tmp_path):
    _assert_refused([shards12 / "p0", shards12 / "p1"], tmp_path / "o", r"frames 8:12 are missing")


def test_an_overlap_is_refused(ctx, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    hs.render(_scene("fireflies.py"), _folder(a), frames=range(0, 6), size=SIZE, ctx=ctx)
    hs.render(_scene("fireflies.py"), _folder(b), frames=range(4, 12), size=SIZE, ctx=ctx)
    _assert_refused([b, a], tmp_path / "o", r"frames 4:6 are in two parts")
    # the same parts with no overlap assemble
    hs.render(_scene("fireflies.py"), _folder(tmp_path / "c"), frames=range(6, 12), size=SIZE, ctx=ctx)
    assert hs.assemble([a, tmp_path / "c"], tmp_path / "ok.gif").frames == 12


def test_parts_of_different_renders_are_refused(shards12, ctx, tmp_path):
    other = tmp_path / "other"
    hs.render(_scene("fireflies.py", size=(64, 48)), _folder(other), frames=12, shard=(1, 3), size=(64, 48), ctx=ctx)
    _assert_refused([shards12 / "p0", other, shards12 / "p2"], tmp_path / "o", r"differs .* in size")
    longer = tmp_path / "longer"
    hs.render(_scene("fireflies.py"), _folder(longer), frames=15, shard=(1, 3), size=SIZE, ctx=ctx)
    _assert_refused([shards12 / "p0", longer], tmp_path / "o2", r"length of the whole render")


@pytest.mark.parametrize("name", ["film.mp4", "frames/"])
def test_a_changed_frame_is_refused(shards12, tmp_path, name):
    part = tmp_path / "p1"
    shutil.copytree(shards12 / "p1", part)
    path = part / "00005.png"
    pixels = _png(path).copy()
    pixels[10, 20, 0] ^= 1
    Image.fromarray(pixels).save(path)
    msg = _assert_refused([shards12 / "p0", part, shards12 / "p2"], tmp_path / "o", r"frame 5 .*does not match the digest",
                          name)
    assert "00005.png" in msg
    # without verification it is joined as it is
    assert hs.assemble([shards12 / "p0", part, shards12 / "p2"], tmp_path / "nv.gif", verify=False).frames == 12


def test_a_folder_without_a_manifest_is_refused(shards12, tmp_path):
    part = tmp_path / "p1"
    shutil.copytree(shards12 / "p1", part)
    (part / "manifest.json").unlink()
    _assert_refused([shards12 / "p0", part, shards12 / "p2"], tmp_path / "o", r"has no manifest\.json")


# -- 5. parsing ----------------------------------------------------------------------------------


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("args, match", [
    (["--frames", "10:5"], "empty"),
    (["--frames", "abc"], "neither a frame count"),
    (["--frames", "5:5"], "empty"),
    (["--shard", "4/4"], "less than N"),
    (["--shard", "5/3"], "less than N"),
    (["--shard", "x/3"], "not K/N"),
    (["--shard", "3/0"], "less than N"),
])
def test_bad_frames_and_shards_are_one_line_errors(args, match, tmp_path):
    r = _cli("render", EXAMPLES / "birds.py", "-o", _folder(tmp_path / "out"), "--size", "96x64", "-q", *args)
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert match in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "out").exists()


def test_a_shard_into_a_video_is_a_one_line_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "hybridscene", "render", str(EXAMPLES / "birds.py"), "-o",
                        str(tmp_path / "film.mp4"), "--shard", "0/4", "--frames", "8", "--size", "96x64", "-q"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "shard" in r.stderr and "folder" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_assemble_without_output_is_a_usage_error(tmp_path):
    r = _cli("assemble", tmp_path)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "Usage" in r.stderr or "usage" in r.stderr.lower()


@pytest.mark.parametrize("total", [1, 2, 3, 7, 10, 12, 31, 100, 1001])
def test_shard_range_covers_every_frame_once(total):
    for n in sorted(n for n in {1, 2, 3, 4, 7, 10, total} if n <= total):
        ranges = [shard_range(k, n, total) for k in range(n)]
        flat = [i for r in ranges for i in r]
        assert flat == list(range(total)), (total, n)
        sizes = [len(r) for r in ranges]
        assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1, (total, n, sizes)
        assert all(r.step == 1 for r in ranges)


def test_more_shards_than_frames_is_a_config_error(ctx, tmp_path):
    with pytest.raises(hs.ConfigError, match="empty"):
        shard_range(0, 5, 4)
    with pytest.raises(hs.ConfigError, match="empty"):
        hs.render(_scene("birds.py"), _folder(tmp_path / "never"), frames=2, shard=(0, 3), size=SIZE, ctx=ctx)
    assert list(tmp_path.iterdir()) == []


# -- 6. and 7. the command line end to end; the manifest --------------------------------------


@pytest.fixture(scope="module")
def cli_parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    for name, frames in (("p0", "0:3"), ("p1", "3:6")):
        r = _cli("render", EXAMPLES / "birds.py", "-o", _folder(root / name), "--frames", frames, "--size", "96x64", "-q")
        assert r.exit_code == 0, r.output
    r = _cli("render", EXAMPLES / "birds.py", "-o", _folder(root / "s1"), "--shard", "1/2", "--frames", "6",
             "--size", "96x64", "-q")
    assert r.exit_code == 0, r.output
    r = _cli("render", EXAMPLES / "birds.py", "-o", _folder(root / "whole"), "--frames", "6", "--size", "96x64", "-q")
    assert r.exit_code == 0, r.output
    return root


def test_cli_frames_ranges_and_assemble(cli_parts, tmp_path):
    assert sorted(p.name for p in (cli_parts / "p1").glob("*.png")) == ["00003.png", "00004.png", "00005.png"]
    assert sorted(p.name for p in (cli_parts / "p0").glob("*.png")) == ["00000.png", "00001.png", "00002.png"]
    m = _manifest(cli_parts / "p1")
    assert (m["frames"], len(m["digests"]), m["total"], m["shard"]) == ({"start": 3, "stop": 6}, 3, None, None)
    out = tmp_path / "film.gif"
    r = _cli("assemble", cli_parts / "p1", cli_parts / "p0", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    assert "wrote" in r.stderr and "6 frames from 2 parts" in r.stderr
    with Image.open(out) as gif:
        assert gif.n_frames == 6 and gif.size == SIZE
    out = tmp_path / "joined"
    r = _cli("assemble", cli_parts / "p0", cli_parts / "p1", "-o", _folder(out), "-q")
    assert r.exit_code == 0, r.output
    for i in range(6):
        assert np.array_equal(_png(out / f"{i:05d}.png"), _png(cli_parts / "whole" / f"{i:05d}.png")), i


def test_cli_shard_of_a_count(cli_parts):
    s1 = cli_parts / "s1"
    assert sorted(p.name for p in s1.glob("*.png")) == ["00003.png", "00004.png", "00005.png"]
    m = _manifest(s1)
    assert (m["frames"], m["total"], m["shard"]) == ({"start": 3, "stop": 6}, 6, [1, 2])
    assert m["digests"] == _manifest(cli_parts / "p1")["digests"] == _manifest(cli_parts / "whole")["digests"][3:]


def test_cli_assemble_errors_are_one_line(cli_parts, tmp_path):
    r = _cli("assemble", cli_parts / "s1", "-o", tmp_path / "film.mp4")
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "frames 0:3 are missing" in r.stderr
    assert not (tmp_path / "film.mp4").exists()


@pytest.mark.parametrize("part", ["p1", "s1", "whole"])
def test_the_manifest(cli_parts, part):
    folder = cli_parts / part
    m = _manifest(folder)
    for key in ("format", "version", "kind", "frames", "total", "shard", "fps", "start_time", "size", "digests",
                "gl", "versions", "scene"):
        assert key in m, key
    assert (m["format"], m["kind"], m["fps"], m["size"], m["start_time"]) == ("hybridscene-frames", "frames", 30.0,
                                                                               list(SIZE), 0.0)
    assert m["gl"]["renderer"] and m["gl"]["version"]
    assert m["versions"]["hybridscene"] == hs.__version__
    assert m["scene"]["sha256"] == hashlib.sha256((EXAMPLES / "birds.py").read_bytes()).hexdigest()
    assert m["scene"]["options"]["size"] == list(SIZE)
    names = sorted(folder.glob("*.png"))
    assert len(names) == len(m["digests"]) == m["frames"]["stop"] - m["frames"]["start"]
    assert [frame_digest(_png(p)) for p in names] == m["digests"]
    assert len(set(m["digests"])) > 1 or len(names) == 1


def test_manifest_of_the_library_render_without_scene_file(shards12):
    m = _manifest(shards12 / "p1")
    assert m["versions"]["hybridscene"] == hs.__version__ and m["gl"]["renderer"]
    assert m["shard"] == [1, 3] and m["total"] == 12 and m["frames"] == {"start": 4, "stop": 8}
    assert [frame_digest(_png(shards12 / "p1" / f"{i:05d}.png")) for i in range(4, 8)] == m["digests"]


# -- parts never delete other parts; assemble checks label images and node ids ------------------


def test_a_part_into_a_folder_holding_other_frames_is_refused(shards12, ctx, tmp_path):
    """Writing frames 4:8 into a folder holding 0:12 would delete frames 0-3 and 8-11; a rerun of
    the same part into its own folder is fine."""
    whole = tmp_path / "whole"
    shutil.copytree(shards12 / "whole", whole)
    before = _files(whole)
    with pytest.raises(hs.ConfigError, match=r"holds frames 0\.\.11 of an earlier render; writing frames 4:8") as info:
        hs.render(_scene("fireflies.py"), _folder(whole), frames=range(4, 8), size=SIZE, ctx=ctx)
    assert "\n" not in str(info.value) and _files(whole) == before
    again = tmp_path / "p1"
    shutil.copytree(shards12 / "p1", again)
    hs.render(_scene("fireflies.py"), _folder(again), frames=12, shard=(1, 3), size=SIZE, ctx=ctx)
    assert _manifest(again)["digests"] == _manifest(shards12 / "p1")["digests"]


def test_a_changed_label_image_is_refused(flight_passes, tmp_path):
    parts = []
    for k in range(3):
        shutil.copytree(flight_passes / f"s{k}" / "labels", tmp_path / f"l{k}")
        parts.append(tmp_path / f"l{k}")
    image = tmp_path / "l1" / "images" / "00003.png"
    pixels = _png(image).copy()
    pixels[0, 0] ^= 1
    Image.fromarray(pixels).save(image)
    (tmp_path / "o").mkdir()
    with pytest.raises(hs.SinkError, match=r"frame 3 .*00003.png.* does not match the digest"):
        hs.assemble(parts, tmp_path / "o" / "labels")
    assert list((tmp_path / "o").iterdir()) == []
    hs.assemble(parts, tmp_path / "o" / "unchecked", verify=False)  # --no-verify joins them
    assert (tmp_path / "o" / "unchecked" / "coco.json").is_file()


def test_parts_that_number_nodes_differently_are_refused(flight_passes, tmp_path):
    parts = []
    for k in range(3):
        shutil.copytree(flight_passes / f"s{k}" / "layers", tmp_path / f"y{k}")
        parts.append(tmp_path / f"y{k}")
    ids = json.loads((tmp_path / "y2" / "ids.json").read_text())
    first = next(iter(ids))
    ids[first] = "someone-else"
    (tmp_path / "y2" / "ids.json").write_text(json.dumps(ids))
    (tmp_path / "o").mkdir()
    with pytest.raises(hs.SinkError, match=rf"node id {first} is .* in one part and 'someone-else'"):
        hs.assemble(parts, tmp_path / "o" / "layers")
    assert list((tmp_path / "o").iterdir()) == []
