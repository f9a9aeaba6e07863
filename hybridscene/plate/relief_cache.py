"""Reliefs kept on disk beside the plates: a plate's relief (`relief_geometry`, about a second of
CPU for a 1280x720 plate) is computed once and read back in milliseconds by every later render,
preview or worker that moves a camera over the same plate.

Layout under ``$HYBRIDSCENE_CACHE`` (the plate cache's folder, `hybridscene.plate.cache`)::

    reliefs/ab/ab12...ef.npz    one relief: its arrays, uncompressed (each member's CRC-32 is
                                checked as it is read), and the format's version

The key (32 hex digits of SHA-256) covers what the relief is computed from: the plate's image,
depth, size and camera, the options (``max_columns``, ``tolerance``, ``lod``), numpy's version
and the source of the modules that compute it, so a changed algorithm never reads an old
relief. A file is written under a temporary name and renamed; one that is damaged (a bad
checksum, a truncated file, arrays that do not fit together or not the plate) is removed and
the relief computed again. A cache that cannot be written still gives reliefs (a warning, once).
`PlateCache`'s ``size``, ``prune`` and ``clear`` count and remove them too (reliefs first when
pruning: they are cheaper to make again than a plate), ``prune`` and ``clear`` also dead writers'
temporaries; ``hybridscene cache verify`` reads each whole (`verify_reliefs`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import threading
import time
import zipfile
from pathlib import Path
import numpy as np

from ..atomic import atomic_path, remove_stale
from ..errors import HybridSceneError, PlateError
from .plate import Plate
from .relief import PLANAR_TOLERANCE, ReliefGeometry, relief_geometry
from .reveal import BackReveal

__all__ = ["cached_relief", "relief_files", "relief_key", "relief_path", "remove_relief", "sweep_reliefs",
           "verify_reliefs"]

log = logging.getLogger(__name__)

_FORMAT = 1
_TEMP = re.compile(r"^\.(?P<name>[0-9a-f]{32}\.npz)\.\d+@")  # atomic.temp_name's, of a relief
_warned: set[str] = set()  # cache folders already warned about (once each)
_lock = threading.Lock()


@functools.cache
def _code_hash() -> str:
    """A hash of the source that computes reliefs (a changed algorithm makes new keys)."""
    from . import projection, relief, reveal

    return hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in (relief, reveal, projection))).hexdigest()


def relief_key(plate: Plate, *, max_columns: int, tolerance: float | None, lod: int) -> str:
    """The cache key of ``plate``'s relief with these options (`relief_geometry`'s)."""
    if plate.depth is None or plate.camera is None:
        raise PlateError("a relief needs a plate with depth and a camera")
    h = hashlib.sha256(_code_hash().encode())
    h.update(json.dumps({"format": _FORMAT, "size": list(plate.size), "camera": plate.camera.as_dict(),
                         "max_columns": int(max_columns), "tolerance": tolerance, "lod": int(lod),
                         "numpy": np.__version__}, sort_keys=True).encode())
    for arr in (plate.image, plate.depth):
        a = np.ascontiguousarray(arr)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:32]


def relief_path(root: str | os.PathLike[str], key: str) -> Path:
    """Where the relief of ``key`` lives under the cache folder ``root``."""
    return Path(root) / "reliefs" / key[:2] / f"{key}.npz"


def cached_relief(plate: Plate, *, max_columns: int = 320, tolerance: float | None = PLANAR_TOLERANCE, lod: int = 1,
                  root: str | os.PathLike[str] | None = None) -> ReliefGeometry:
    """``relief_geometry(plate, ...)``, read from the cache when it holds it, else computed and
    stored (see the module's notes). ``root``: the cache folder (default: the plate cache's)."""
    if root is None:
        from ..config import get_settings

        root = get_settings().cache_dir
    if plate.depth is None or plate.camera is None:  # no relief: relief_geometry says why
        return relief_geometry(plate, max_columns=max_columns, tolerance=tolerance, lod=lod)
    key = relief_key(plate, max_columns=max_columns, tolerance=tolerance, lod=lod)
    path = relief_path(root, key)
    geo = _read(path, plate)
    if geo is not None:
        return geo
    t0 = time.perf_counter()
    geo = relief_geometry(plate, max_columns=max_columns, tolerance=tolerance, lod=lod)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, error=PlateError) as tmp, open(tmp, "wb") as f:
            np.savez(f, **_arrays(geo))
    except (OSError, HybridSceneError) as exc:
        with _lock:
            first = str(root) not in _warned
            _warned.add(str(root))
        (log.warning if first else log.debug)("plate reliefs are not cached: %s cannot be written (%s)", root,
                                               getattr(exc, "strerror", None) or exc)
    else:
        log.debug("relief %s computed in %.0f ms and cached", key, 1e3 * (time.perf_counter() - t0))
    return geo


def _arrays(geo: ReliefGeometry) -> dict[str, np.ndarray]:
    out = {f.name: np.asarray(getattr(geo, f.name)) for f in dataclasses.fields(geo) if f.name != "back_reveal"}
    out["format"] = np.asarray(_FORMAT)
    if geo.back_reveal is not None:
        r = geo.back_reveal
        out.update(reveal_keys=r.keys, reveal_bounds=np.asarray([r.focal, r.diagonal, r.near], np.float64))
    return out


def _read(path: Path, plate: Plate | None) -> ReliefGeometry | None:
    """The relief stored at ``path``, checked against ``plate`` (when given); ``None`` when
    absent or damaged (then removed)."""
    try:
        with open(path, "rb") as f:
            z = np.load(f, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with z:
                data = {name: z[name] for name in z.files}  # each member's CRC-32 is checked as it is read
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        return _damaged(path, exc)
    try:
        geo = _geometry(data, plate)
    except (KeyError, TypeError, ValueError) as exc:
        return _damaged(path, exc)
    try:
        os.utime(path)  # last used, for pruning
    except OSError:
        pass
    return geo


def _geometry(data: dict[str, np.ndarray], plate: Plate | None) -> ReliefGeometry:
    """A `ReliefGeometry` from stored arrays; ValueError when they do not fit together or the plate."""
    if int(data["format"]) != _FORMAT:
        raise ValueError(f"format {int(data['format'])}, not {_FORMAT}")
    v, i, bv, bi = data["vertices"], data["indices"], data["back_vertices"], data["back_indices"]
    image, depth, backdrop = data["back_image"], data["back_depth"], data["backdrop"]
    land, back_land = int(data["land"]), int(data["back_land"])
    checks = [
        (v.dtype == bv.dtype == np.float32 and v.ndim == bv.ndim == 2 and v.shape[1] == bv.shape[1] == 3, "vertices"),
        (i.dtype == bi.dtype == np.uint32 and i.ndim == bi.ndim == 2 and i.shape[1] == bi.shape[1] == 3, "indices"),
        (i.size == 0 or int(i.max()) < len(v), "front indices past the vertices"),
        (bi.size == 0 or int(bi.max()) < len(bv), "back indices past the vertices"),
        (backdrop.ndim == 3 and backdrop.shape[2] == 3 and backdrop.dtype == np.uint8, "backdrop"),
        (plate is None or backdrop.shape[:2] == plate.size[::-1], "backdrop not the plate's size"),
        (image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, "back image"),
        (depth.dtype == np.float32 and depth.shape == image.shape[:2], "back depth"),
        (0 <= land <= len(i) and 0 <= back_land <= len(bi), "land counts"),
    ]
    reveal = None
    if "reveal_keys" in data:
        keys, (focal, diagonal, near) = data["reveal_keys"], data["reveal_bounds"].tolist()
        checks.append((keys.shape == (len(bi),), "reveal keys"))
        reveal = BackReveal(keys, float(focal), float(diagonal), float(near))
    bad = [what for ok, what in checks if not ok]
    if bad:
        raise ValueError(", ".join(bad))
    return ReliefGeometry(v, i, image, depth, bv, bi, backdrop, land, back_land, reveal)


def _damaged(path: Path, exc: BaseException) -> None:
    log.warning("cached relief %s is damaged (%s); it will be computed again", path.name, exc)
    remove_relief(path)  # a reader that has it open keeps its bytes; the next one finds none


def relief_files(root: str | os.PathLike[str]) -> list[tuple[Path, int, float]]:
    """The cached reliefs under ``root``: ``(path, bytes, last used)``, least recently used first."""
    found = []
    for p in _names(root):
        if p.suffix == ".npz" and not p.name.startswith("."):
            try:
                st = p.stat()
            except OSError:  # removed meanwhile
                continue
            found.append((p, st.st_size, st.st_mtime))
    return sorted(found, key=lambda f: f[2])


def sweep_reliefs(root: str | os.PathLike[str]) -> None:
    """Remove the temporaries that writers which died left under ``root`` (`remove_stale`'s rule:
    this host's, whose process is gone)."""
    for p in _names(root):
        m = _TEMP.match(p.name)
        if m is not None:
            remove_stale(p.with_name(m["name"]))


def verify_reliefs(root: str | os.PathLike[str]) -> tuple[int, list[str]]:
    """Read every cached relief whole (checksums and shapes, without its plate); remove the
    damaged ones. Returns how many were whole and the names of those removed."""
    good, removed = 0, []
    for path, _, _ in relief_files(root):
        if _read(path, None) is None:
            removed.append(path.name)
        else:
            good += 1
    return good, removed


def _names(root: str | os.PathLike[str]) -> list[Path]:
    try:
        shards = [p for p in (Path(root) / "reliefs").iterdir() if p.is_dir()]
    except OSError:
        return []
    names: list[Path] = []
    for shard in shards:
        try:
            names += shard.iterdir()
        except OSError:
            continue
    return names


def remove_relief(path: Path) -> str | None:
    """Remove one cached relief; ``None`` when it is gone, else why not."""
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
