"""Datasets (make_dataset, hybridscene dataset): items appear whole, a killed run resumes without
redoing finished items, damaged items are redone, digests do not depend on the folder or the
clock, and the COCO files load in pycocotools."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hybridscene.cli import main
from hybridscene.errors import ConfigError
from hybridscene.export.dataset import item_digest, make_dataset

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402

pytestmark = pytest.mark.gl

SCENE = '''
import os
import time

import hybridscene as hs

SIZE = (96, 54)


def build_scene(size=(96, 54), seed=0, model=None, prompt=None):
    marker = os.environ.get("DATASET_TEST_MARKER")
    plate = hs.procedural_plate("mountains", size=size, seed=3)
    scene = hs.Scene(plate)
    scene.add(hs.Mesh.cube(1.6, color="#e4572e"), position=((seed % 3) - 1.0, 2.2, -12), category="box")
    ball = scene.add(hs.Mesh.sphere(0.9, color="#f3d34a"), position=(1.8, 1.6, -12), category="ball")

    @scene.on_frame
    def animate(t):
        ball.position = (1.8 - 3 * t, 1.6, -12)
        if marker and seed == 1 and t > 0.04 and not os.path.exists(marker):
            open(marker, "w").close()  # item 1's first frame is written; the second is being drawn
            time.sleep(120)  # killed here by the test

    return scene
'''

ARGS = ("--count", "3", "--frames", "2", "--size", "96x54", "-q")


@pytest.fixture
def scene_file(tmp_path: Path) -> Path:
    path = tmp_path / "boxes.py"
    path.write_text(SCENE)
    return path


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hybridscene", "dataset", *args], capture_output=True, text=True,
                          timeout=timeout)


def digests(out: Path) -> dict[str, str]:
    manifest = json.loads((out / "manifest.json").read_text())
    return {name: entry["digest"] for name, entry in manifest["items"].items()}


def listing(out: Path) -> list[str]:
    """What ``out`` holds, less the manifest's lock file and the folder of the items' locks."""
    return sorted(p.name for p in out.iterdir() if p.name not in (".lock", ".locks"))


def stats(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_three_items_with_labels_passes_manifest_and_one_coco_file(scene_file, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red car\n\n  a blue bus  \n")
    out = tmp_path / "data"
    seen = []
    result = make_dataset(scene_file, out, count=3, seed=5, prompts=prompts, frames=2, size=(96, 54),
                          progress=seen.append)
    assert (result.done, result.skipped, result.items) == (3, 0, 3) and result.seconds > 0
    assert [(p.item, p.finished, p.total, p.skipped) for p in seen] == [(0, 1, 3, False), (1, 2, 3, False),
                                                                        (2, 3, 3, False)]
    assert listing(out) == ["000000", "000001", "000002", "coco.json", "manifest.json"]
    for k in range(3):
        item = out / f"{k:06d}"
        coco = COCO(str(item / "labels" / "coco.json"))
        assert len(coco.getImgIds()) == 2
        assert {c["name"] for c in coco.loadCats(coco.getCatIds())} == {"box", "ball"}
        assert len(coco.getAnnIds()) >= 2
        for name in ("cameras.json", "objects.json", "images/00000.png", "images/00001.png"):
            assert (item / "labels" / name).is_file(), name
        for i in range(2):
            for p in ("depth.npy", "ids.png", "normals.npy", "flow.npy"):
                assert (item / "passes" / f"{i:05d}.{p}").is_file(), p
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["count"] == 3
    assert manifest["parameters"]["prompts"] == ["a red car", "a blue bus"]
    items = manifest["items"]
    assert [(items[f"{k:06d}"]["seed"], items[f"{k:06d}"]["prompt"]) for k in range(3)] == [
        (5, "a red car"), (6, "a blue bus"), (7, "a red car")]
    for k in range(3):
        assert item_digest(out / f"{k:06d}")[0] == items[f"{k:06d}"]["digest"]
    assert len(set(digests(out).values())) == 3  # the seed moves the box
    merged = COCO(str(out / "coco.json"))
    images = merged.loadImgs(merged.getImgIds())
    assert len(images) == 3 * 2
    assert all((out / image["file_name"]).is_file() for image in images)
    assert sorted({image["item"] for image in images}) == [0, 1, 2]
    assert len(merged.getAnnIds()) == sum(len(COCO(str(out / f"{k:06d}/labels/coco.json")).getAnnIds())
                                          for k in range(3))


def test_a_killed_run_resumes_without_redoing_finished_items(scene_file, tmp_path):
    out, marker = tmp_path / "data", tmp_path / "marker"
    env = dict(os.environ, DATASET_TEST_MARKER=str(marker))
    proc = subprocess.Popen([sys.executable, "-m", "hybridscene", "dataset", str(scene_file), "--out", str(out), *ARGS],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the second item never started"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
    # Killed while building item 1: item 0 is complete, item 1 only a temporary folder.
    names = listing(out)
    assert "000001" not in names and "000002" not in names
    assert "000000" in names and "manifest.json" in names
    leftovers = [n for n in names if n not in ("000000", "manifest.json")]
    assert leftovers and all(n.startswith(".000001.") and n.endswith(".part") for n in leftovers), names
    assert any(p.is_file() for p in (out / leftovers[0]).rglob("*"))  # killed half-way through the item's files
    first = digests(out)
    assert list(first) == ["000000"] and item_digest(out / "000000")[0] == first["000000"]
    before = stats(out / "000000")

    r = run_cli(str(scene_file), "--out", str(out), *ARGS, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}: 3 items (2 made, 1 already done)" in r.stderr
    assert stats(out / "000000") == before  # not rewritten
    assert listing(out) == ["000000", "000001", "000002", "coco.json", "manifest.json"]
    resumed = digests(out)
    assert resumed["000000"] == first["000000"]

    clean = tmp_path / "elsewhere" / "clean"  # the same command in another folder, run through
    r = run_cli(str(scene_file), "--out", str(clean), *ARGS, timeout=120)
    assert r.returncode == 0, r.stderr
    assert digests(clean) == resumed
    assert len(COCO(str(out / "coco.json")).getImgIds()) == 6


def test_a_damaged_item_is_redone_and_other_parameters_are_refused(scene_file, tmp_path):
    out = tmp_path / "data"
    make_dataset(scene_file, out, count=3, frames=2, size=(96, 54), passes="depth")
    good = digests(out)
    kept = stats(out / "000000")
    (out / "000002" / "labels" / "images" / "00001.png").unlink()
    result = make_dataset(scene_file, out, count=3, frames=2, size=(96, 54), passes="depth")
    assert (result.done, result.skipped) == (1, 2)
    assert digests(out) == good and stats(out / "000000") == kept
    assert (out / "000002" / "labels" / "images" / "00001.png").is_file()

    # count may grow: the new item is added, the others are kept.
    result = make_dataset(scene_file, out, count=4, frames=2, size=(96, 54), passes="depth")
    assert (result.done, result.skipped) == (1, 3)
    assert len(COCO(str(out / "coco.json")).getImgIds()) == 8

    with pytest.raises(ConfigError, match=r"other parameters \(frames 2 -> 3\); use a new --out or delete"):
        make_dataset(scene_file, out, count=4, frames=3, size=(96, 54), passes="depth")
    r = CliRunner().invoke(main, ["dataset", str(scene_file), "--out", str(out), "--count", "4", "--frames", "2",
                                  "--size", "96x54", "--passes", "depth,ids", "-q"])
    assert r.exit_code == 1 and r.output.count("\n") == 1, r.output
    assert r.output.startswith("error: dataset ") and "passes ['depth'] -> ['depth', 'ids']" in r.output
    with pytest.raises(ConfigError, match="count only grows"):
        make_dataset(scene_file, out, count=2, frames=2, size=(96, 54), passes="depth")
    assert digests(out)["000000"] == good["000000"]


@pytest.mark.parametrize(("args", "message"), [
    (("--count", "0"), "error: count must be a positive integer (items to make), got 0; give e.g. --count 10\n"),
    (("--count", "2", "--prompts", "missing.txt"),
     "error: prompts file 'missing.txt' does not exist; give a text file with one prompt per line\n"),
])
def test_bad_count_and_missing_prompts_file_are_one_line_errors(scene_file, tmp_path, args, message):
    out = tmp_path / "data"
    r = CliRunner().invoke(main, ["dataset", str(scene_file), "--out", str(out), *args, "-q"])
    assert r.exit_code == 1
    assert r.output == message and "Traceback" not in r.output
    assert not out.exists()  # checked before anything is made


def test_a_folder_that_is_not_a_dataset_is_refused(scene_file, tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a hybridscene dataset"):
        make_dataset(scene_file, out, count=1, frames=1, size=(96, 54))
    with pytest.raises(ConfigError, match="scene file .* does not exist"):
        make_dataset(tmp_path / "nope.py", tmp_path / "d2", count=1)
    from filelock import FileLock

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / ".locks").mkdir()
    with FileLock(busy / ".locks" / "000000.lock"), pytest.raises(ConfigError, match="another run is writing the "
                                                                                    "dataset .* .item 000000"):
        make_dataset(scene_file, busy, count=1, frames=1, size=(96, 54))


@pytest.mark.ai
def test_a_plate_spec_shared_by_items_is_painted_once(tiny_sd, tmp_path, isolated_cache):
    from hybridscene.plate.generate import plate_defaults

    scene = tmp_path / "valley.py"
    scene.write_text('''
import hybridscene as hs

def build_scene(size=(64, 36), seed=0, model=None, prompt="a valley"):
    scene = hs.Scene(hs.background_plate(size, seed=7, model=model, prompt=prompt))  # one plate for all seeds
    scene.add(hs.Mesh.cube(1.0, color="#ff3300"), position=(0, 1.5, -6), category="box")
    return scene
''')
    steps = []
    with plate_defaults(callback=lambda step, total: steps.append(step)):
        result = make_dataset(scene, tmp_path / "data", count=3, prompts=["a valley", "a valley", "a lake"],
                              model=str(tiny_sd), frames=1, size=(64, 36), passes="depth",
                              plate_options={"steps": 2, "device": "cpu", "dtype": "float32"})
    assert result.done == 3
    # Two paintings (each counts its steps from 1): "a valley" once (item 1 loads it from the
    # cache), "a lake" once.
    assert steps.count(1) == 2 and steps == sorted(steps[: len(steps) // 2]) * 2, steps
    assert len(list((isolated_cache / "plates").glob("*/*/plate.json"))) == 2


def test_an_item_published_but_not_recorded_is_redone(scene_file, tmp_path, monkeypatch):
    """Killed between renaming an item into place and recording it in the manifest: the rerun
    does not trust the unrecorded folder and renders it again, to the same digest."""
    import hybridscene.export.dataset as dataset

    out = tmp_path / "data"
    real = dataset._write_manifest
    calls = []

    def dies_after_the_first_item(path, manifest):
        calls.append(1)
        if len(calls) == 2:  # 1: the new dataset, 2: after item 0 was renamed into place
            raise KeyboardInterrupt
        real(path, manifest)

    monkeypatch.setattr(dataset, "_write_manifest", dies_after_the_first_item)
    with pytest.raises(KeyboardInterrupt):
        make_dataset(scene_file, out, count=2, frames=2, size=(96, 54))
    assert (out / "000000").is_dir() and "000000" not in digests(out)
    monkeypatch.setattr(dataset, "_write_manifest", real)
    result = make_dataset(scene_file, out, count=2, frames=2, size=(96, 54))
    assert (result.done, result.skipped) == (2, 0)
    clean = make_dataset(scene_file, tmp_path / "clean", count=2, frames=2, size=(96, 54))
    assert clean.done == 2 and digests(out) == digests(tmp_path / "clean")


def test_shards_run_at_once_into_one_folder_make_the_whole_dataset(scene_file, tmp_path):
    """Two `--shard K/2` processes at once on one folder: each makes its items, locked one by
    one; the manifest ends up with every item, and the run that finishes last writes coco.json.
    The items and digests are those of a run without shards."""
    out = tmp_path / "sharded"
    procs = [subprocess.Popen([sys.executable, "-m", "hybridscene", "dataset", str(scene_file), "--out", str(out),
                               *ARGS, "--shard", f"{k}/2"], stderr=subprocess.PIPE, text=True) for k in range(2)]
    errors = [p.communicate(timeout=180)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert "2 items (2 made" in errors[0] or "1 items (1 made" in errors[0], errors
    assert listing(out) == ["000000", "000001", "000002", "coco.json", "manifest.json"]
    make_dataset(scene_file, tmp_path / "whole", count=3, frames=2, size=(96, 54))
    assert digests(out) == digests(tmp_path / "whole")
    assert len(COCO(str(out / "coco.json")).getImgIds()) == 6


def test_one_shard_alone_leaves_coco_json_to_the_last_one(scene_file, tmp_path):
    out = tmp_path / "data"
    first = make_dataset(scene_file, out, count=3, frames=2, size=(96, 54), shard=(1, 2))
    assert (first.done, first.skipped) == (2, 0)  # items 1 and 2 (shard 1 of 2 of 3 items)
    assert listing(out) == ["000001", "000002", "manifest.json"]
    second = make_dataset(scene_file, out, count=3, frames=2, size=(96, 54), shard="0/2")
    assert (second.done, second.skipped) == (1, 0)
    assert listing(out) == ["000000", "000001", "000002", "coco.json", "manifest.json"]
    with pytest.raises(ConfigError, match=r"--shard 0/5|5 shards of 3"):
        make_dataset(scene_file, tmp_path / "d2", count=3, frames=2, size=(96, 54), shard=(0, 5))
    assert not (tmp_path / "d2").exists()
