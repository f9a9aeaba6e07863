"""Reliability of the plate cache, the AI plate inputs and the environment (issue 12): every
fault gives a whole entry or a miss, a plate or one error line, never a traceback or a hang."""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.plate.cache import PlateCache

KEY = "0123456789abcdef0123456789abcdef"


def _plate(depth: bool = True) -> hs.Plate:
    image = np.full((8, 12, 3), 100, np.uint8)
    return hs.Plate(image=image, depth=np.full((8, 12), 5.0, np.float32) if depth else None)


def _store(root: Path, key: str = KEY, depth: bool = True) -> tuple[PlateCache, Path]:
    cache = PlateCache(root)
    path = cache.put(key, _plate(depth), inputs={"prompt": "p", "depth": "image:abc" if depth else None}, timings={})
    return cache, path


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hybridscene", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def _one_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MB tmpfs mounted at a fresh folder (root only); unmounted afterwards."""
    mounted = []

    def make(name: str = "mnt") -> Path:
        path = tmp_path / name
        path.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], capture_output=True).returncode:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        mounted.append(path)
        return path

    yield make
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


# -- 1. An entry is whole or it is a miss ----------------------------------------------------------
def _no_depth_file(path: Path) -> None:
    (path / "depth.npy").unlink()


def _no_depth_at_all(path: Path) -> None:
    (path / "depth.npy").unlink()
    info = json.loads((path / "plate.json").read_text())
    del info["files"]["depth.npy"]
    (path / "plate.json").write_text(json.dumps(info))


def _edit(change):
    def damage(path: Path) -> None:
        info = json.loads((path / "plate.json").read_text())
        (path / "plate.json").write_text(json.dumps(change(info)))
    return damage


DAMAGE = {
    "depth file missing": _no_depth_file,
    "depth file and its line missing": _no_depth_at_all,
    "plate.json a list": _edit(lambda info: [info]),
    "files null": _edit(lambda info: {**info, "files": None}),
    "files a list": _edit(lambda info: {**info, "files": list(info["files"])}),
    "file entry a string": _edit(lambda info: {**info, "files": {**info["files"], "image.npy": "x"}}),
    "bytes a string": _edit(lambda info: {**info, "files": {**info["files"], "image.npy": {
        **info["files"]["image.npy"], "bytes": "12"}}}),
    "plate section a list": _edit(lambda info: {**info, "plate": []}),
    "inputs a list": _edit(lambda info: {**info, "inputs": []}),
    "listed file missing": _edit(lambda info: {**info, "files": {**info["files"], "extra.npy": {"sha256": "0" * 64, "bytes": 1}}}),
    "unlisted file": lambda path: (path / "stray.npy").write_bytes(b"x"),
    "image.npy empty": lambda path: (path / "image.npy").write_bytes(b""),
}


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_damaged_entry_is_a_miss_and_removed(tmp_path, caplog, damage):
    cache, path = _store(tmp_path / "cache")
    assert cache.get(KEY) is not None
    DAMAGE[damage](path)
    with caplog.at_level(logging.WARNING, logger="hybridscene"):
        assert cache.get(KEY) is None
    assert not path.exists()
    assert "damaged" in caplog.text
    # It heals: the next put stores a whole entry again.
    _store(tmp_path / "cache")
    plate = cache.get(KEY)
    assert plate is not None and plate.depth is not None


@pytest.mark.parametrize("damage", ["plate.json a list", "files null", "depth file and its line missing"])
def test_cli_ls_and_verify_on_damaged_entries(tmp_path, damage):
    root = tmp_path / "cache"
    _, path = _store(root)
    _store(root, key="f" * 32, depth=False)
    DAMAGE[damage](path)
    env = {"HYBRIDSCENE_CACHE": str(root)}
    ls = _cli("cache", "ls", env=env)
    assert ls.returncode == 0 and "Traceback" not in ls.stderr, ls.stderr
    verify = _cli("cache", "verify", env=env)
    assert verify.returncode == 0, verify.stderr
    assert "1 plates verified, 1 damaged removed" in verify.stdout
    assert not path.exists() and (root / "plates" / "ff" / ("f" * 32)).is_dir()


# -- 2. The fingerprint memo ---------------------------------------------------------------------
def test_fingerprint_sees_weights_rewritten_with_same_size_mtime_and_inode(tmp_path):
    from hybridscene.plate.fingerprint import folder_fingerprint

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    weights = model / "weights.bin"
    weights.write_bytes(b"A" * 4096)
    first = folder_fingerprint(model, cache_dir=tmp_path / "cache")
    st = weights.stat()
    time.sleep(0.01)
    with open(weights, "r+b") as f:  # in place: same inode, same size
        f.write(b"B" * 4096)
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old modification time
    after = weights.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    assert folder_fingerprint(model, cache_dir=tmp_path / "cache") != first


@pytest.mark.parametrize("memo", ["[1, 2]", "garbage{", '{"x": 3}', '"text"', "null", '{"/a": {"stamp": 1}}'])
def test_bad_fingerprint_memo_is_ignored(tmp_path, memo):
    from hybridscene.plate.fingerprint import folder_fingerprint

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    good = folder_fingerprint(model, cache_dir=tmp_path / "fresh")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "fingerprints.json").write_text(memo)
    assert folder_fingerprint(model, cache_dir=tmp_path / "cache") == good
    assert isinstance(json.loads((tmp_path / "cache" / "fingerprints.json").read_text()), dict)


# -- 3. What maintenance really did; no temporaries left -------------------------------------------
def test_clear_and_verify_on_a_read_only_cache_report_the_truth(tmpfs):
    root = tmpfs()
    _, path = _store(root)
    _, damaged = _store(root, key="f" * 32)
    (damaged / "depth.npy").unlink()
    _read_only(root)
    env = {"HYBRIDSCENE_CACHE": str(root)}
    verify = _cli("cache", "verify", env=env)
    assert "0 damaged removed" in verify.stdout
    assert "1 damaged plates could not be removed" in _one_error(verify)
    clear = _cli("cache", "clear", "--yes", env=env)
    assert "removed 0 plates" in clear.stdout
    assert "2 plates could not be removed" in _one_error(clear)
    assert "read-only" in clear.stderr.lower()
    assert path.is_dir() and damaged.is_dir()


def test_clear_counts_only_removed_entries(tmp_path, monkeypatch):
    from hybridscene.plate import cache as cache_mod

    cache, path = _store(tmp_path / "cache")
    monkeypatch.setattr(cache_mod.os, "rename", lambda a, b: (_ for _ in ()).throw(PermissionError(errno.EACCES, "Permission denied")))
    assert cache.clear() == 0
    assert cache.failures == {KEY: "Permission denied"}
    assert path.is_dir()


def test_clear_and_prune_remove_stale_temporaries(tmp_path):
    cache, path = _store(tmp_path / "cache")
    shard = path.parent
    trash = shard / f".{KEY}.1a2b3c4d.trash"
    old_part = shard / f".{'a' * 32}.123@host.5e6f7a8b.part"
    fresh_part = shard / f".{'b' * 32}.9a8b7c6d.part"
    memo_part = cache.root / ".fingerprints.json.0a1b2c3d.part"
    for p in (trash, old_part, fresh_part):
        p.mkdir()
        (p / "image.npy").write_bytes(b"x" * 100)
    memo_part.write_text("{")
    hour_ago = time.time() - 7200
    os.utime(old_part, (hour_ago, hour_ago))
    os.utime(memo_part, (hour_ago, hour_ago))
    with cache.lock("b" * 32):  # being written by someone: left alone
        assert cache.prune(10**9) == []
    assert not trash.exists() and not old_part.exists() and not memo_part.exists()
    assert fresh_part.exists()
    assert cache.clear() == 1  # its lock is free now: a leftover
    assert not fresh_part.exists()
    assert sorted(p.name for p in shard.iterdir() if not p.name.endswith(".lock")) == []


def test_put_sweeps_stale_temporaries(tmp_path):
    cache, path = _store(tmp_path / "cache")
    trash = path.parent / f".{KEY}.1a2b3c4d.trash"
    trash.mkdir()
    _store(tmp_path / "cache", key=KEY[:-1] + "0")
    assert not trash.exists()


# -- 4. An unwritable cache still gives the plate --------------------------------------------------
@pytest.fixture
def tiny_spec(tiny_sd):
    return {"prompt": "mountains", "model": str(tiny_sd), "steps": 1, "size": (32, 32), "device": "cpu"}


def _check_uncached(result, caplog) -> None:
    assert result.plate.image.shape == (32, 32, 3)
    assert result.entry is None and not result.cache_hit
    assert "was not cached" in caplog.text


def test_cache_path_is_a_file(tmp_path, tiny_spec, caplog):
    path = tmp_path / "cache-file"
    path.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="hybridscene"):
        result = hs.generate_plate(cache=PlateCache(path), **tiny_spec)
    _check_uncached(result, caplog)
    assert path.read_text() == "not a folder"
    proc = _cli("cache", "ls", env={"HYBRIDSCENE_CACHE": str(path)})
    assert "is not a folder" in _one_error(proc)
    proc = _cli("cache", "verify", env={"HYBRIDSCENE_CACHE": str(path / "sub")})
    assert "is not a folder" in _one_error(proc)


def test_full_and_read_only_cache(tmpfs, tiny_spec, caplog):
    full = tmpfs("full")
    filler = full / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    with caplog.at_level(logging.WARNING, logger="hybridscene"):
        result = hs.generate_plate(cache=PlateCache(full), **tiny_spec)
    _check_uncached(result, caplog)
    assert not list((full / "plates").rglob(".*.part")) if (full / "plates").exists() else True
    caplog.clear()
    read_only = tmpfs("ro")
    _read_only(read_only)
    with caplog.at_level(logging.WARNING, logger="hybridscene"):
        result = hs.generate_plate(cache=PlateCache(read_only), **tiny_spec)
    _check_uncached(result, caplog)


def test_cli_plate_with_cache_a_file(tmp_path, tiny_sd):
    """In this process (click's runner keeps stdout and stderr apart): a new process would only
    add seconds of importing torch and loading the model."""
    from click.testing import CliRunner

    from hybridscene.cli import main

    path = tmp_path / "cache-file"
    path.write_text("x")
    proc = CliRunner().invoke(main, ["plate", "mountains", "--model", str(tiny_sd), "--steps", "1", "--size", "32x32",
                                     "--device", "cpu", "--json", "-o", str(tmp_path / "out.png")],
                              env={"HYBRIDSCENE_CACHE": str(path)})
    assert proc.exception is None and proc.exit_code == 0, (proc.exception, proc.stderr)  # no traceback
    assert "Traceback" not in proc.stderr and "was not cached" in proc.stderr
    assert json.loads(proc.stdout)["entry"] is None
    assert (tmp_path / "out.png").is_file()


# -- 5. Prune while another process holds an entry's lock ------------------------------------------
def test_prune_skips_an_entry_another_process_holds(tmp_path):
    root = tmp_path / "cache"
    cache, path = _store(root)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from filelock import FileLock\n"
        f"lock = FileLock({str(path) + '.lock'!r}); lock.acquire(); print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        proc = _cli("cache", "prune", "--max-size", "0", env={"HYBRIDSCENE_CACHE": str(root)}, timeout=30)
        assert time.monotonic() - t0 < 20
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "removed 0 plates" in proc.stdout
    assert "in use by another process" in proc.stderr
    assert path.is_dir()


# -- 6. AI inputs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["[1, 2]", '"text"', "3"])
def test_model_index_not_an_object(tmp_path, content):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model_index.json").write_text(content)
    with pytest.raises(hs.PlateError, match="not an object"):
        hs.generate_plate(prompt="p", model=str(model))


def test_cli_model_index_a_list(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model_index.json").write_text("[]")
    assert "not an object" in _one_error(_cli("plate", "p", "--model", str(model)))


def _depth_files(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    files = {}
    np.save(folder / "good.npy", np.ones((32, 32), np.float32))
    data = (folder / "good.npy").read_bytes()
    (folder / "truncated.npy").write_bytes(data[: len(data) // 2])
    np.save(folder / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (folder / "text.npy").write_text("1 2 3\n4 5 6\n")
    np.save(folder / "wrong_size.npy", np.ones((16, 16), np.float32))
    for name in ("truncated", "pickled", "text", "wrong_size"):
        files[name] = folder / f"{name}.npy"
    return files


def test_bad_depth_image_fails_before_the_model_runs(tmp_path, tiny_spec, monkeypatch):
    from hybridscene.plate import generate as gen

    def no_model(*args, **kwargs):
        raise AssertionError("the model ran before the depth file was checked")

    monkeypatch.setattr(gen, "_generator", no_model)
    files = _depth_files(tmp_path / "depth")
    expected = {"truncated": "numpy array", "pickled": "numpy array", "text": "not a .npy file",
                "wrong_size": "16x16 but the plate is 32x32"}
    for name, path in files.items():
        with pytest.raises(hs.HybridSceneError, match=expected[name]) as info:
            hs.generate_plate(depth_image=str(path), **tiny_spec)
        assert "allow_pickle" not in str(info.value)


def test_cli_bad_depth_image(tmp_path, tiny_sd):
    files = _depth_files(tmp_path / "depth")
    for name in ("pickled", "text"):
        line = _one_error(_cli("plate", "p", "--model", str(tiny_sd), "--size", "32x32", "--steps", "1",
                               "--device", "cpu", "--depth-image", str(files[name])))
        assert "allow_pickle" not in line


# -- 7. The hub: a refused and a silent endpoint ---------------------------------------------------
@pytest.mark.parametrize("mode", ["refuses", "never answers"])
def test_unreachable_hub_is_one_error_line(tmp_path, mode):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    if mode == "refuses":
        server.close()
    else:
        held = []
        threading.Thread(target=lambda: held.extend(iter(lambda: server.accept()[0], None)), daemon=True).start()
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_HOME=str(tmp_path / "hf"), HF_HUB_ETAG_TIMEOUT="1",
               HF_HUB_DISABLE_TELEMETRY="1")
    t0 = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "hybridscene", "plate", "p", "--model", "org/model"],
                              capture_output=True, text=True, env=env, timeout=30)
    finally:
        if mode != "refuses":
            server.close()
    assert time.monotonic() - t0 < 20
    line = _one_error(proc)
    assert "cannot reach the Hugging Face Hub" in line and f"127.0.0.1:{port}" in line


def test_worker_hands_back_a_plate_it_could_not_cache(tmp_path):
    from hybridscene.plate.worker import PlateFuture

    class Worker:  # what PlateFuture reads of its worker
        cache = PlateCache(tmp_path / "cache")

    future = PlateFuture(Worker(), 1, hs.PlateSpec(prompt="p", model="m"))  # type: ignore[arg-type]
    plate = _plate()
    future._future.set_result((KEY, False, 0.5, plate))  # the message of a worker whose cache failed
    result = future.result()
    assert result.plate is plate and result.entry is None and result.key == KEY


def test_a_model_folder_copied_without_a_component_fails_before_loading(tiny_sd, tmp_path):
    import shutil

    partial = tmp_path / "partial-sd"
    shutil.copytree(tiny_sd, partial)
    shutil.rmtree(partial / "tokenizer")
    with pytest.raises(hs.PlateError, match=r"has no 'tokenizer' \(model_index.json names transformers.CLIPTokenizer "
                                            r"there\); copy the whole model folder"):
        hs.generate_plate(prompt="mountains", model=str(partial), steps=1, size=(32, 32), device="cpu")


def test_json_and_listings_to_a_full_stdout_are_one_line(tmp_path, tiny_sd):
    """`plate --json`, `cache ls --json` and `cache verify` with stdout on /dev/full."""
    env = {"HYBRIDSCENE_CACHE": str(tmp_path / "c")}
    with open("/dev/full", "w") as full:
        for args in (("plate", "mountains", "--model", str(tiny_sd), "--steps", "1", "--size", "32x32",
                      "--device", "cpu", "--json"), ("cache", "ls", "--json"), ("cache", "verify")):
            proc = subprocess.run([sys.executable, "-m", "hybridscene", *args], stdout=full, stderr=subprocess.PIPE,
                                  text=True, env={**os.environ, **env}, timeout=120)
            assert "no space left on device writing standard output" in _one_error(proc), args
    assert len(list((tmp_path / "c" / "plates").glob("*/*/plate.json"))) == 1  # the plate was still cached
