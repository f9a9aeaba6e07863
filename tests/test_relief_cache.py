"""Reliefs on disk: a plate's relief is computed once, read back identical by later runs (and
their renderers), recomputed when its file is damaged, never half written, and counted, pruned
and cleared with the plate cache."""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import time

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.plate import relief_cache
from hybridscene.plate.cache import PlateCache
from hybridscene.plate.relief_cache import cached_relief, relief_files, relief_key, relief_path

SIZE = (320, 180)


@pytest.fixture(scope="module")
def plate():
    return hs.procedural_plate(size=SIZE, seed=3)  # with depth edges: a back layer


@pytest.fixture
def counted(monkeypatch):
    """Plates whose relief was really computed (not read from the cache)."""
    seen: list[hs.Plate] = []
    real = relief_cache.relief_geometry
    monkeypatch.setattr(relief_cache, "relief_geometry", lambda p, **kw: seen.append(p) or real(p, **kw))
    return seen


def assert_same(a, b) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "back_reveal":
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_array_equal(x.keys, y.keys)
                assert (x.focal, x.diagonal, x.near) == (y.focal, y.diagonal, y.near)
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, f.name
            np.testing.assert_array_equal(x, y, err_msg=f.name)
        else:
            assert x == y, f.name


def twin(plate: hs.Plate, **changes) -> hs.Plate:
    """Another Plate object with the same (or changed) pixels, depth and camera: a later run."""
    fields = dict(image=plate.image.copy(), depth=plate.depth.copy(), camera=plate.camera, source=plate.source)
    return hs.Plate(**{**fields, **changes})


def test_a_relief_is_computed_once_and_read_back_identical(plate, counted, tmp_path):
    from hybridscene.plate.relief import relief_geometry

    first = cached_relief(plate, root=tmp_path)
    assert counted == [plate]
    key = relief_key(plate, max_columns=320, tolerance=hs.plate.relief.PLANAR_TOLERANCE, lod=1)
    assert relief_path(tmp_path, key).is_file() and [p.name for p, _, _ in relief_files(tmp_path)] == [f"{key}.npz"]
    again = cached_relief(twin(plate), root=tmp_path)  # a new Plate object of the same content
    assert len(counted) == 1, "read from the cache, not computed again"
    assert again.back_reveal is not None and again.land > 0
    assert_same(again, first)
    assert_same(again, relief_geometry(plate))

    # What the relief is computed from changes its key; the same content keeps it.
    assert relief_key(twin(plate), max_columns=320, tolerance=0.01, lod=1) == key
    depth = plate.depth.copy()
    depth[90, 160] *= 1.001
    camera = dataclasses.replace(plate.camera, height=plate.camera.height + 0.1)
    others = {relief_key(twin(plate, depth=depth), max_columns=320, tolerance=0.01, lod=1),
              relief_key(twin(plate, camera=camera), max_columns=320, tolerance=0.01, lod=1),
              relief_key(plate, max_columns=160, tolerance=0.01, lod=1),
              relief_key(plate, max_columns=320, tolerance=None, lod=1),
              relief_key(plate, max_columns=320, tolerance=0.01, lod=2)}
    assert len(others) == 5 and key not in others
    coarse = cached_relief(plate, lod=2, root=tmp_path)
    assert len(counted) == 2 and coarse.backdrop.shape == first.backdrop.shape
    assert len(coarse.indices) < len(first.indices)


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "wrong shapes", "not a zip", "one array"])
def test_a_damaged_relief_is_removed_and_computed_again(plate, counted, tmp_path, caplog, damage):
    good = cached_relief(plate, root=tmp_path)
    (path, size, _), = relief_files(tmp_path)
    if damage == "truncated":
        os.truncate(path, size // 2)
    elif damage == "flipped byte":
        data = bytearray(path.read_bytes())
        data[size // 2] ^= 0xFF  # inside an array's bytes: its CRC-32 no longer matches
        path.write_bytes(bytes(data))
    elif damage == "wrong shapes":
        arrays = relief_cache._arrays(good)
        arrays["backdrop"] = arrays["backdrop"][:-1]
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    elif damage == "one array":
        with open(path, "wb") as f:
            np.save(f, good.vertices)
    else:
        path.write_text("hello")
    caplog.set_level(logging.WARNING, logger="hybridscene.plate.relief_cache")
    again = cached_relief(twin(plate), root=tmp_path)
    assert len(counted) == 2, "computed again"
    assert f"cached relief {path.name} is damaged" in caplog.text and "it will be computed again" in caplog.text
    assert_same(again, good)
    (path2, _, _), = relief_files(tmp_path)  # the new one replaced it, and it reads back
    assert path2 == path and not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    cached_relief(twin(plate), root=tmp_path)
    assert len(counted) == 2


def test_a_failed_write_leaves_no_relief_and_still_gives_one(plate, counted, tmp_path, monkeypatch, caplog):
    def full(f, **arrays):
        f.write(b"PK\x03\x04 half a relief")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(relief_cache.np, "savez", full)
    caplog.set_level(logging.DEBUG, logger="hybridscene.plate.relief_cache")
    geo = cached_relief(plate, root=tmp_path)
    assert len(geo.indices) > 0 and len(counted) == 1
    assert relief_files(tmp_path) == []
    shard = next((tmp_path / "reliefs").iterdir())
    assert list(shard.iterdir()) == [], "no temporary file left"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "plate reliefs are not cached" in warnings[0].getMessage()
    assert "no space left on device" in warnings[0].getMessage()
    cached_relief(plate, root=tmp_path)  # again: computed, and not warned about twice
    assert len(counted) == 2 and len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_a_cache_that_is_a_file_still_gives_reliefs(plate, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("HYBRIDSCENE_CACHE", str(blocker))
    caplog.set_level(logging.WARNING, logger="hybridscene.plate.relief_cache")
    geo = cached_relief(plate)
    assert len(geo.vertices) > 0 and "plate reliefs are not cached" in caplog.text and str(blocker) in caplog.text
    assert blocker.read_text() == "x"


def test_the_plate_cache_counts_prunes_and_clears_reliefs(plate, tmp_path):
    store = PlateCache(tmp_path)
    stored = hs.procedural_plate(size=SIZE, seed=2)  # something in the plate cache too
    store.put("0" * 32, stored, inputs={"prompt": "x"}, timings={})
    plates = store.size()
    cached_relief(plate, root=tmp_path)
    time.sleep(0.01)
    cached_relief(plate, lod=2, root=tmp_path)
    files = relief_files(tmp_path)
    assert len(files) == 2 and store.size() == plates + sum(size for _, size, _ in files)
    from hybridscene.atomic import _host, _pid_alive

    dead = next(pid for pid in range(4_000_000, 4_100_000) if not _pid_alive(pid))
    stale = files[0][0].parent / f".{files[0][0].name}.{dead}@{_host()}.0badf00d.part"
    stale.write_bytes(b"left by a killed process")
    live = files[0][0].parent / f".{files[0][0].name}.{os.getpid()}@{_host()}.0badf00d.part"
    live.write_bytes(b"being written")  # a live writer's: left alone
    assert len(relief_files(tmp_path)) == 2  # listing removes nothing
    # Pruning to what the plate and the newer relief hold removes the older relief only.
    assert store.prune(plates + files[1][1]) == [] and store.get("0" * 32) is not None
    assert [p for p, _, _ in relief_files(tmp_path)] == [files[1][0]] and not stale.exists() and live.exists()
    live.unlink()
    assert store.clear() == 1 and relief_files(tmp_path) == [] and store.size() == 0


@pytest.mark.gl
def test_a_second_run_reads_the_relief_and_draws_the_same_frames(plate, counted, ctx):
    frames = []
    for run in range(2):
        scene = hs.Scene(twin(plate), shadows=False, overscan="off")
        scene.camera.position = (0.4, plate.camera.height + 0.1, 0.0)
        with hs.FrameRenderer(ctx, SIZE, samples=1, relief_ahead=False) as r:
            frames.append(r.render_frame(scene, 0.0))
        assert len(counted) == 1, f"run {run}: computed once, then read from the cache"
    np.testing.assert_array_equal(frames[0], frames[1])
    with hs.FrameRenderer(ctx, SIZE, samples=1) as r:
        flat = r.render_frame(hs.Scene(twin(plate), shadows=False), 0.0)
    assert np.abs(flat.astype(int) - frames[0].astype(int)).max() > 20  # the camera did move: a relief was drawn


def test_the_cli_lists_and_clears_reliefs(plate, tmp_path):
    import subprocess
    import sys

    cached_relief(plate, root=tmp_path)
    (_, size, _), = relief_files(tmp_path)
    env = {**os.environ, "HYBRIDSCENE_CACHE": str(tmp_path)}
    run = [sys.executable, "-m", "hybridscene", "cache"]
    ls = subprocess.run([*run, "ls"], capture_output=True, text=True, env=env, timeout=60)
    assert ls.returncode == 0 and f"0 plates, 0.00 MB; 1 reliefs, {size / 1e6:.2f} MB in {tmp_path}" in ls.stderr
    path = relief_files(tmp_path)[0][0]
    cached_relief(plate, lod=2, root=tmp_path)
    os.truncate(path, size // 3)  # damaged: `cache verify` finds it without the plate
    verify = subprocess.run([*run, "verify"], capture_output=True, text=True, env=env, timeout=60)
    assert verify.returncode == 0 and f"1 reliefs verified, 1 damaged removed: {path.name}" in verify.stdout
    assert not path.exists() and len(relief_files(tmp_path)) == 1
    clear = subprocess.run([*run, "clear", "--yes"], capture_output=True, text=True, env=env, timeout=60)
    assert clear.returncode == 0 and "removed 0 plates" in clear.stdout, clear.stderr
    assert relief_files(tmp_path) == []


def test_a_plate_without_depth_or_camera_says_so(plate, tmp_path):
    with pytest.raises(hs.PlateError, match="no depth"):
        cached_relief(hs.Plate(image=plate.image, camera=plate.camera), root=tmp_path)
    with pytest.raises(hs.PlateError, match="no camera"):
        cached_relief(hs.Plate(image=plate.image, depth=plate.depth), root=tmp_path)
    with pytest.raises(hs.PlateError, match="a relief needs a plate with depth and a camera"):
        relief_key(hs.Plate(image=plate.image), max_columns=320, tolerance=0.01, lod=1)
    assert relief_files(tmp_path) == []
