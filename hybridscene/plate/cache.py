"""The plate cache: content-addressed, atomic, locked across processes, verified on every read.

Layout under ``$HYBRIDSCENE_CACHE`` (default: the user cache folder)::

    plates/ab/ab12...ef/          one entry per key (32 hex digits of SHA-256 of the inputs)
        image.npy                 (H, W, 3) uint8 sRGB: raw, so a hit loads in milliseconds
        depth.npy                 (H, W) float32 metres, when the plate has depth
        water.npy                 (H, W) float32 0..1 water mask, when the plate has one (an
                                  entry without it, from before masks existed, reads as None)
        plate.json                inputs, timings, the plate's metadata (with its conventions'
                                  version, ``plate.META_VERSION``), and a SHA-256 per file
    plates/ab/ab12...ef.lock      cross-process lock (filelock) held while generating
    reliefs/ab/ab12...ef.npz      plates' reliefs, computed once (see relief_cache.py)
    fingerprints.json             remembered hashes of model files (see fingerprint.py)

An entry is written into a temporary folder beside its final name and renamed into place, so a
reader sees a whole entry or none. An entry is whole or it is a miss: a read whose ``plate.json``
has the wrong shape (`_check_info`), whose files differ from those listed (one missing, one
unlisted, a checksum mismatch), or whose depth is missing although its inputs asked for depth (a
damaged disk, an edit, a half-copied folder) removes the entry and reports a miss, so the plate is
generated again. Reading never imports torch.

A cache that cannot be written (read-only, full, or ``HYBRIDSCENE_CACHE`` naming a file) still
gives plates: `PlateCache.get_or_create` logs a warning that the plate was not cached and returns
it. Maintenance (`verify`, `prune`, `clear`) counts only entries really removed and records the
others, with the reason, in `PlateCache.failures`; an entry whose lock another process holds is
skipped, never waited for. Temporaries a killed process left (``.KEY.*.part``, ``.trash``,
``.old``) are removed when the cache is written to or cleared: folders being deleted at once,
``.part`` folders once no process holds their entry's lock, or after an hour.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_dir, remove, temp_name
from ..errors import ConfigError, PlateError
from .plate import META_VERSION, Plate, PlateCamera, upgrade_meta
from .relief_cache import relief_files, remove_relief, sweep_reliefs

__all__ = ["CacheEntry", "PlateCache", "parse_bytes"]

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[0-9a-f]{32}$")
_FORMAT = 1
_TEMP = re.compile(r"^\.(?P<name>.+?)\.(?:\d+@[A-Za-z0-9-]+\.)?[0-9a-f]{8}\.(?P<kind>part|trash|old)$")
"""What ``atomic.temp_name`` makes: ``.NAME.[PID@HOST.]RANDOM.KIND``."""
_ARRAYS = ("image.npy", "depth.npy", "water.npy")
"""The array files an entry may hold (``water.npy`` since water masks; older entries lack it)."""
_STALE_S = 3600.0
"""Seconds after which a ``.part`` temporary is taken as abandoned even if its lock is free."""


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """One cached plate, as listed by [`PlateCache.entries`][hybridscene.PlateCache.entries]."""

    key: str
    path: Path
    bytes: int
    """Disk size of the entry's files."""
    created: str
    """ISO 8601 time it was written."""
    last_used: float
    """POSIX time of the last hit (the entry folder's modification time)."""
    info: dict[str, Any]
    """The parsed ``plate.json``."""

    @property
    def prompt(self) -> str:
        return str(self.info.get("inputs", {}).get("prompt", ""))


class PlateCache:
    """A folder of plates addressed by key. Safe to share between processes."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        from ..config import get_settings

        self.root = Path(root) if root is not None else get_settings().cache_dir
        self.plates = self.root / "plates"
        self.failures: dict[str, str] = {}
        """Entries the last `verify`, `prune` or `clear` could not remove: key → reason."""

    def entry_path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ConfigError(f"{key!r} is not a plate key (32 hex digits)")
        return self.plates / key[:2] / key

    def lock(self, key: str, timeout: float = -1) -> Any:
        """A cross-process lock for ``key`` (a ``filelock.FileLock``; use with ``with``)."""
        from filelock import FileLock

        path = self.entry_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path) + ".lock", timeout=timeout)

    def check_root(self) -> None:
        """Raise a one-line `PlateError` when the cache folder is a file (or under one)."""
        for p in (self.root, *self.root.parents):
            if p.exists():
                if not p.is_dir():
                    raise PlateError(
                        f"the plate cache {str(self.root)!r} is not a folder ({str(p)!r} is a file); "
                        "point HYBRIDSCENE_CACHE at a folder")
                return

    # -- read ----------------------------------------------------------------------------------
    def get(self, key: str) -> Plate | None:
        """The plate for ``key``, verified; ``None`` when absent or damaged (then removed)."""
        path = self.entry_path(key)
        try:
            if not path.is_dir():
                return None
        except OSError:
            return None
        try:
            plate = self._read(path, key)
        except _Damaged as exc:
            log.warning("plate cache entry %s is damaged (%s); it will be generated again", key, exc)
            self._discard(path)
            return None
        try:
            os.utime(path)  # last used, for pruning
        except OSError:
            pass
        return plate

    def _read(self, path: Path, key: str) -> Plate:
        info = _check_info(_load_info(path), key)
        on_disk = {f.name for f in path.iterdir() if f.name != "plate.json"}
        if on_disk != set(info["files"]):
            raise _Damaged(f"files {sorted(on_disk)} differ from those plate.json lists {sorted(info['files'])}")
        arrays = {}
        for name, meta in info["files"].items():
            try:
                data = (path / name).read_bytes()
            except OSError as exc:
                raise _Damaged(f"{name} unreadable: {exc}") from None
            if len(data) != meta["bytes"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
                raise _Damaged(f"{name} checksum mismatch")
            try:
                arrays[name] = np.load(io.BytesIO(data), allow_pickle=False)
            except (ValueError, EOFError, OSError) as exc:
                raise _Damaged(f"{name} is not a numpy array: {exc}") from None
        plate_info = info["plate"]
        try:
            return Plate(
                image=arrays["image.npy"],
                depth=arrays.get("depth.npy"),
                water=arrays.get("water.npy"),
                source=plate_info.get("source", "diffusers"),
                prompt=plate_info.get("prompt"),
                seed=plate_info.get("seed"),
                camera=PlateCamera.from_dict(plate_info["camera"]) if plate_info.get("camera") else None,
                meta=dict(upgrade_meta(plate_info.get("meta", {}), plate_info.get("meta_version")),
                          cache_key=key, cache_entry=str(path)),
            )
        except (PlateError, TypeError, ValueError) as exc:
            raise _Damaged(str(exc)) from None

    # -- write ---------------------------------------------------------------------------------
    def put(self, key: str, plate: Plate, *, inputs: dict[str, Any], timings: dict[str, float]) -> Path:
        """Store ``plate`` under ``key`` atomically (replacing a damaged or older entry).

        Raises:
            OSError: the cache cannot be written (read-only, full); nothing is left half written.
        """
        final = self.entry_path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        self._sweep(final.parent)
        with atomic_dir(final, error=PlateError) as tmp:
            files = {"image.npy": plate.image}
            if plate.depth is not None:
                files["depth.npy"] = plate.depth
            if plate.water is not None:
                files["water.npy"] = plate.water
            checksums = {}
            for name, arr in files.items():
                buf = io.BytesIO()
                np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
                data = buf.getvalue()
                (tmp / name).write_bytes(data)
                checksums[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            info = {
                "format": _FORMAT,
                "key": key,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "inputs": inputs,
                "timings": timings,
                "plate": {
                    "source": plate.source,
                    "prompt": plate.prompt,
                    "seed": plate.seed,
                    "size": list(plate.size),
                    "meta": {k: v for k, v in plate.meta.items() if k not in ("cache_key", "cache_entry")},
                    "meta_version": META_VERSION,
                    **({"camera": plate.camera.as_dict()} if plate.camera is not None else {}),
                },
                "files": checksums,
            }
            (tmp / "plate.json").write_text(json.dumps(info, indent=2, sort_keys=True), encoding="utf-8")
        return final

    def get_or_create(self, key: str, create: Callable[[], tuple[Plate, dict[str, Any], dict[str, float]]]) -> tuple[Plate, bool]:
        """The cached plate, or ``create()``'s, stored first. Returns ``(plate, hit)``.

        Two processes asking for the same key at once generate it once: the second waits on the
        lock and then reads what the first stored. When the cache cannot be written (read-only,
        full, not a folder), the new plate is returned uncached (no ``cache_entry`` in its
        ``meta``) with a logged warning.
        """
        plate = self.get(key)
        if plate is not None:
            return plate, True
        try:
            lock = self.lock(key)
            lock.acquire()
        except OSError as exc:
            new = create()[0]
            _not_cached(key, self.root, exc)
            return new, False
        try:
            plate = self.get(key)
            if plate is not None:
                return plate, True
            new, inputs, timings = create()
            try:
                self.put(key, new, inputs=inputs, timings=timings)
            except (OSError, PlateError) as exc:
                _not_cached(key, self.root, exc)
                return new, False
        finally:
            lock.release()
        stored = self.get(key)
        if stored is None:  # only if the disk fails between write and read
            _not_cached(key, self.root, "it could not be read back")
            return new, False
        return stored, False

    # -- moving entries between caches (Ray's object store) ------------------------------------
    def export_entry(self, key: str) -> dict[str, bytes] | None:
        """The files of ``key``'s entry (verified), to install in another machine's cache with
        `install_entry`; ``None`` when absent or damaged."""
        if self.get(key) is None:
            return None
        path = self.entry_path(key)
        try:
            return {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()}
        except OSError:
            return None

    def install_entry(self, key: str, files: dict[str, bytes]) -> bool:
        """Store an entry `export_entry` gave, atomically, unless this cache has it already.
        Returns ``True`` when it was installed. A damaged copy is refused (`PlateError`)."""
        if self.get(key) is not None:
            return False
        final = self.entry_path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        with self.lock(key):
            if self.get(key) is not None:
                return False
            with atomic_dir(final, error=PlateError) as tmp:
                for name, data in files.items():
                    if "/" in name or name.startswith("."):
                        raise PlateError(f"plate entry {key}: bad file name {name!r}")
                    (tmp / name).write_bytes(data)
            if self.get(key) is None:  # checksums did not match: get() removed it
                raise PlateError(f"plate entry {key} arrived damaged; it will be painted again")
        return True

    # -- maintenance ---------------------------------------------------------------------------
    def entries(self) -> Iterator[CacheEntry]:
        """Every entry, oldest use first. Damaged ones are listed with ``info={}``.

        Raises:
            PlateError: the cache folder is a file, or cannot be read.
        """
        self.check_root()
        if not self.plates.is_dir():
            return iter(())
        found = []
        try:
            for shard in self.plates.iterdir():
                if not shard.is_dir():
                    continue
                for path in shard.iterdir():
                    if not path.is_dir() or not _KEY.match(path.name):
                        continue
                    try:
                        info = _check_info(_load_info(path), path.name)
                    except _Damaged:
                        info = {}
                    try:
                        size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
                        used = path.stat().st_mtime
                    except OSError:  # removed meanwhile by another process
                        continue
                    found.append(CacheEntry(path.name, path, size, info.get("created", "?"), used, info))
        except OSError as exc:
            raise PlateError(f"cannot read the plate cache {str(self.root)!r}: {exc.strerror or exc}") from None
        return iter(sorted(found, key=lambda e: e.last_used))

    def verify(self) -> tuple[list[str], list[str]]:
        """Check every entry; remove the damaged ones. Returns ``(good_keys, removed_keys)``;
        damaged entries that could not be removed are in `failures`."""
        self.failures = {}
        good, bad = [], []
        for entry in list(self.entries()):
            try:
                self._read(entry.path, entry.key)
                good.append(entry.key)
            except _Damaged as exc:
                log.warning("removing damaged entry %s: %s", entry.key, exc)
                if self._remove_entry(entry):
                    bad.append(entry.key)
        return good, bad

    def prune(self, max_bytes: int) -> list[str]:
        """Remove least recently used entries until the cache holds at most ``max_bytes``, the
        plates' reliefs (`hybridscene.plate.relief_cache`, quicker to make again) first.
        Entries in use by another process (their lock is held) are skipped, noted in `failures`."""
        self.failures = {}
        entries = list(self.entries())
        self._sweep_all()
        sweep_reliefs(self.root)
        reliefs = relief_files(self.root)
        total = sum(e.bytes for e in entries) + sum(size for _, size, _ in reliefs)
        for path, size, _ in reliefs:
            if total <= max_bytes:
                break
            error = remove_relief(path)
            if error is None:
                total -= size
            else:
                self.failures[path.name] = error
        removed = []
        for e in entries:
            if total <= max_bytes:
                break
            if self._remove_entry(e):
                total -= e.bytes
                removed.append(e.key)
        return removed

    def clear(self) -> int:
        """Remove every entry and every cached relief; returns how many plates were really
        removed (the others, and reliefs that could not be removed, are in `failures`)."""
        self.failures = {}
        entries = list(self.entries())
        self._sweep_all()
        sweep_reliefs(self.root)
        for path, _, _ in relief_files(self.root):
            error = remove_relief(path)
            if error is not None:
                self.failures[path.name] = error
        return sum(self._remove_entry(e) for e in entries)

    def size(self) -> int:
        """Bytes held: the plates and their cached reliefs."""
        return sum(e.bytes for e in self.entries()) + sum(size for _, size, _ in relief_files(self.root))

    def _remove_entry(self, entry: CacheEntry) -> bool:
        """Remove one entry under its lock (not waiting for it); on failure note why in `failures`."""
        from filelock import Timeout

        try:
            lock = self.lock(entry.key, timeout=0)
            lock.acquire()
        except Timeout:
            self.failures[entry.key] = "in use by another process"
            log.info("plate cache entry %s is in use by another process; left in place", entry.key)
            return False
        except OSError:  # no lock file possible (read-only): the removal itself says why
            lock = None
        try:
            error = self._discard(entry.path)
        finally:
            if lock is not None:
                lock.release()
        if error is not None:
            self.failures[entry.key] = error
            return False
        return True

    @staticmethod
    def _discard(path: Path) -> str | None:
        """Remove an entry: renamed aside first, so no reader sees it half deleted. Returns
        ``None`` when it is gone, else why it could not be removed."""
        trash = temp_name(path, ".trash")
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return exc.strerror or str(exc)
        shutil.rmtree(trash, ignore_errors=True)
        return None

    def _sweep_all(self) -> None:
        self._sweep(self.root)
        try:
            shards = [p for p in self.plates.iterdir() if p.is_dir() and not _TEMP.match(p.name)]
        except OSError:
            return
        for shard in shards:
            self._sweep(shard)

    def _sweep(self, folder: Path) -> None:
        """Remove temporaries killed processes left in ``folder`` (a shard): ``.trash`` and
        ``.old`` folders at once (they are only ever being deleted), ``.part`` ones when their
        entry's lock is free or they are older than `_STALE_S`."""
        from filelock import Timeout

        try:
            names = [p for p in folder.iterdir() if _TEMP.match(p.name)]
        except OSError:
            return
        for p in names:
            m = _TEMP.match(p.name)
            assert m is not None
            if m["kind"] == "part":
                try:
                    age = time.time() - p.stat().st_mtime
                except OSError:
                    continue
                if age < _STALE_S:
                    if not _KEY.match(m["name"]):
                        continue
                    try:
                        with self.lock(m["name"], timeout=0):
                            remove(p)
                    except (Timeout, OSError):
                        pass
                    continue
            try:
                remove(p)
            except OSError as exc:
                log.debug("cannot remove stale temporary %s: %s", p, exc)


def _not_cached(key: str, root: Path, why: object) -> None:
    reason = getattr(why, "strerror", None) or str(why)
    log.warning("plate %s was not cached: the plate cache %s cannot be written (%s)", key, root, reason)


def _load_info(path: Path) -> Any:
    try:
        return json.loads((path / "plate.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _Damaged(f"plate.json unreadable: {exc}") from None


def _check_info(info: Any, key: str) -> dict[str, Any]:
    """``info`` (a parsed ``plate.json``) if it has the shape `PlateCache.put` writes, else
    `_Damaged`: the one place its shape is checked."""
    if not isinstance(info, dict):
        raise _Damaged(f"plate.json holds a {type(info).__name__}, not an object")
    if info.get("key") != key or info.get("format") != _FORMAT:
        raise _Damaged("plate.json belongs to another key or format")
    files = info.get("files")
    if not isinstance(files, dict) or "image.npy" not in files:
        raise _Damaged("plate.json lists no image.npy")
    for name, meta in files.items():
        if (name not in _ARRAYS or not isinstance(meta, dict)
                or not isinstance(meta.get("sha256"), str)
                or not isinstance(meta.get("bytes"), int) or isinstance(meta.get("bytes"), bool)):
            raise _Damaged(f"plate.json's entry for {name!r} is malformed")
    inputs = info.get("inputs", {})
    plate = info.get("plate", {})
    if not isinstance(inputs, dict) or not isinstance(plate, dict) or not isinstance(plate.get("meta", {}), dict):
        raise _Damaged("plate.json's inputs or plate section is malformed")
    if inputs.get("depth") and "depth.npy" not in files:
        raise _Damaged("the plate was made with depth but depth.npy is not listed")
    return info


class _Damaged(Exception):
    pass


_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3,
          "T": 1024**4, "TB": 1024**4, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}


def parse_bytes(text: str) -> int:
    """``"500M"``, ``"2GB"``, ``"1.5G"``, ``"0"`` → bytes (binary units)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).upper() not in _UNITS:
        raise ConfigError(f"size {text!r} is not understood; write it like 500M, 2G or 1.5GB")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])
