"""The plate cache: content-addressed, atomic, locked across processes, verified on every read.

Layout under ``$HYBRIDSCENE_CACHE`` (default: the user cache folder)::

    plates/ab/ab12...ef/          one entry per key (32 hex digits of SHA-256 of the inputs)
        image.npy                 (H, W, 3) uint8 sRGB: raw, so a hit loads in milliseconds
        depth.npy                 (H, W) float32 metres, when the plate has depth
        plate.json                inputs, timings, the plate's metadata (with its conventions'
                                  version, ``plate.META_VERSION``), and a SHA-256 per file
    plates/ab/ab12...ef.lock      cross-process lock (filelock) held while generating
    fingerprints.json             remembered hashes of model files (see fingerprint.py)

An entry is written into a temporary folder beside its final name and renamed into place, so a
reader sees a whole entry or none. A read whose checksums do not match (a damaged disk, an edit,
a half-copied folder) removes the entry and reports a miss, so the plate is generated again.
Reading never imports torch.
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_dir, temp_name
from ..errors import ConfigError, PlateError
from .plate import META_VERSION, Plate, upgrade_meta

__all__ = ["CacheEntry", "PlateCache", "parse_bytes"]

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[0-9a-f]{32}$")
_FORMAT = 1


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

    # -- read ----------------------------------------------------------------------------------
    def get(self, key: str) -> Plate | None:
        """The plate for ``key``, verified; ``None`` when absent or damaged (then removed)."""
        path = self.entry_path(key)
        if not path.is_dir():
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
        try:
            info = json.loads((path / "plate.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise _Damaged(f"plate.json unreadable: {exc}") from None
        if info.get("key") != key or info.get("format") != _FORMAT:
            raise _Damaged("plate.json belongs to another key or format")
        arrays = {}
        for name, meta in info.get("files", {}).items():
            try:
                data = (path / name).read_bytes()
            except OSError as exc:
                raise _Damaged(f"{name} missing: {exc}") from None
            if len(data) != meta.get("bytes") or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
                raise _Damaged(f"{name} checksum mismatch")
            try:
                arrays[name] = np.load(io.BytesIO(data), allow_pickle=False)
            except ValueError as exc:
                raise _Damaged(f"{name} is not a numpy array: {exc}") from None
        if "image.npy" not in arrays:
            raise _Damaged("no image.npy")
        plate_info = info.get("plate", {})
        try:
            return Plate(
                image=arrays["image.npy"],
                depth=arrays.get("depth.npy"),
                source=plate_info.get("source", "diffusers"),
                prompt=plate_info.get("prompt"),
                seed=plate_info.get("seed"),
                meta=dict(upgrade_meta(plate_info.get("meta", {}), plate_info.get("meta_version")),
                          cache_key=key, cache_entry=str(path)),
            )
        except PlateError as exc:
            raise _Damaged(str(exc)) from None

    # -- write ---------------------------------------------------------------------------------
    def put(self, key: str, plate: Plate, *, inputs: dict[str, Any], timings: dict[str, float]) -> Path:
        """Store ``plate`` under ``key`` atomically (replacing a damaged or older entry)."""
        final = self.entry_path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        with atomic_dir(final, error=PlateError) as tmp:
            files = {"image.npy": plate.image}
            if plate.depth is not None:
                files["depth.npy"] = plate.depth
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
                },
                "files": checksums,
            }
            (tmp / "plate.json").write_text(json.dumps(info, indent=2, sort_keys=True), encoding="utf-8")
        return final

    def get_or_create(self, key: str, create: Callable[[], tuple[Plate, dict[str, Any], dict[str, float]]]) -> tuple[Plate, bool]:
        """The cached plate, or ``create()``'s, stored first. Returns ``(plate, hit)``.

        Two processes asking for the same key at once generate it once: the second waits on the
        lock and then reads what the first stored.
        """
        plate = self.get(key)
        if plate is not None:
            return plate, True
        with self.lock(key):
            plate = self.get(key)
            if plate is not None:
                return plate, True
            new, inputs, timings = create()
            path = self.put(key, new, inputs=inputs, timings=timings)
        stored = self.get(key)
        if stored is None:  # pragma: no cover - only if the disk fails between write and read
            raise PlateError(f"the plate cache entry {path} could not be read back")
        return stored, False

    # -- maintenance ---------------------------------------------------------------------------
    def entries(self) -> Iterator[CacheEntry]:
        """Every entry, oldest use first. Damaged ones are listed with ``info={}``."""
        if not self.plates.is_dir():
            return iter(())
        found = []
        for shard in self.plates.iterdir():
            if not shard.is_dir():
                continue
            for path in shard.iterdir():
                if not path.is_dir() or not _KEY.match(path.name):
                    continue
                try:
                    info = json.loads((path / "plate.json").read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    info = {}
                size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
                found.append(CacheEntry(path.name, path, size, info.get("created", "?"), path.stat().st_mtime, info))
        return iter(sorted(found, key=lambda e: e.last_used))

    def verify(self) -> tuple[list[str], list[str]]:
        """Check every entry; remove the damaged ones. Returns ``(good_keys, removed_keys)``."""
        good, bad = [], []
        for entry in list(self.entries()):
            try:
                self._read(entry.path, entry.key)
                good.append(entry.key)
            except _Damaged as exc:
                log.warning("removing damaged entry %s: %s", entry.key, exc)
                self._discard(entry.path)
                bad.append(entry.key)
        return good, bad

    def prune(self, max_bytes: int) -> list[str]:
        """Remove least recently used entries until the cache holds at most ``max_bytes``."""
        entries = list(self.entries())
        total = sum(e.bytes for e in entries)
        removed = []
        for e in entries:
            if total <= max_bytes:
                break
            with self.lock(e.key, timeout=0):
                self._discard(e.path)
            total -= e.bytes
            removed.append(e.key)
        return removed

    def clear(self) -> int:
        """Remove every entry; returns how many."""
        entries = list(self.entries())
        for e in entries:
            self._discard(e.path)
        return len(entries)

    def size(self) -> int:
        return sum(e.bytes for e in self.entries())

    @staticmethod
    def _discard(path: Path) -> None:
        """Remove an entry: renamed aside first, so no reader sees it half deleted."""
        trash = temp_name(path, ".trash")
        try:
            os.rename(path, trash)
        except OSError:
            return
        shutil.rmtree(trash, ignore_errors=True)


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
