"""Model identities: what a plate's cache key records of the model that painted it, so the key
changes when the weights change. A hub id resolves to ``hub:<id>@<commit>`` (`hub_commit`,
the one place a Hugging Face revision is resolved); a folder to ``local:<fingerprint>``, a content
hash of its files.

Hashing gigabytes of weights takes seconds, so each file's hash is remembered in
``<cache>/fingerprints.json`` by path and a stamp of size, modification and status-change times
(nanoseconds) and inode: a folder is hashed once, then only again when a file in it changes.
Copies of a folder have the same fingerprint. A memo that is not what this module writes (a list,
garbage, a half-written file) is ignored: everything is hashed again.

The status-change time (``st_ctime_ns``) is what makes the stamp trustworthy: any write to a
file, and any ``utime`` that resets its modification time, sets it to now, and it cannot be set
back without changing the system clock. Residual risk: a file rewritten and then given the same
ctime (only by a clock set back, or a file system restored from a snapshot with its inodes and
times, or one with coarse timestamps rewritten within one tick keeping size and inode) keeps its
remembered hash; delete ``fingerprints.json`` (or ``hybridscene cache clear``) to force re-hashing.

Network calls to the Hugging Face Hub (`hub_commit`, and ``spec.py``'s config downloads) go
through `hub_call`: bounded by ``HF_HUB_ETAG_TIMEOUT`` seconds (default 10), and a refused or
timed-out connection is one `PlateError` line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..atomic import atomic_path
from ..errors import PlateError

__all__ = ["folder_fingerprint", "hub_call", "hub_commit", "model_identity"]

log = logging.getLogger(__name__)

_SKIP = re.compile(r"(^|/)(\.|README|LICENSE)|\.(md|png|jpg|jpeg|gif|txt\.lock)$", re.I)
_CHUNK = 8 * 1024 * 1024
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_T = TypeVar("_T")


def _memo_path(cache_dir: Path | None) -> Path:
    from ..config import get_settings

    return (cache_dir or get_settings().cache_dir) / "fingerprints.json"


def _load_memo(path: Path) -> dict[str, Any]:
    """The memo, keeping only well-formed entries (path → ``{"stamp": [...], "sha256": hex}``)."""
    try:
        memo = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(memo, dict):
        log.debug("ignoring fingerprint memo %s: not an object", path)
        return {}
    return {
        k: v for k, v in memo.items()
        if isinstance(v, dict) and isinstance(v.get("stamp"), list) and isinstance(v.get("sha256"), str)
        and re.fullmatch(r"[0-9a-f]{64}", v["sha256"])
    }


def _save_memo(path: Path, memo: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, error=PlateError) as tmp:
            tmp.write_text(json.dumps(memo, sort_keys=True), encoding="utf-8")
    except (OSError, PlateError) as exc:  # a read-only cache only costs re-hashing next time
        log.debug("could not save fingerprint memo %s: %s", path, exc)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def folder_fingerprint(folder: Path, *, cache_dir: Path | None = None) -> str:
    """SHA-256 over the relative paths and contents of a model folder's files (docs and images
    skipped), 32 hex digits. Symlinks (as in the Hugging Face cache) are followed."""
    folder = Path(folder).resolve()
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and not _SKIP.search(p.relative_to(folder).as_posix())
    )
    if not files:
        raise PlateError(f"model folder {str(folder)!r} has no files")
    memo_file = _memo_path(cache_dir)
    memo = _load_memo(memo_file)
    changed = False
    total = hashlib.sha256()
    t0 = time.perf_counter()
    hashed_bytes = 0
    for p in files:
        st = p.stat()
        real = str(p.resolve())
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        entry = memo.get(real)
        if entry is None or entry.get("stamp") != stamp:
            if st.st_size > 256 * 1024 * 1024 and hashed_bytes == 0:
                log.info("fingerprinting the weights in %s once (they are remembered)", folder)
            entry = {"stamp": stamp, "sha256": _file_sha256(p)}
            memo[real] = entry
            changed = True
            hashed_bytes += st.st_size
        total.update(p.relative_to(folder).as_posix().encode() + b"\0" + entry["sha256"].encode() + b"\n")
    if changed:
        _save_memo(memo_file, memo)
        log.debug("hashed %.1f MB in %.2f s", hashed_bytes / 1e6, time.perf_counter() - t0)
    return total.hexdigest()[:32]


def hub_commit(repo_id: str, revision: str | None = None) -> str:
    """The commit that ``repo_id`` at ``revision`` (default ``main``) resolves to: a commit hash
    as given, else the Hugging Face cache's ref (no network), else the Hub's answer (unless
    ``HF_HUB_OFFLINE`` is set).

    Raises:
        PlateError: offline and not cached, no such model or revision, or the Hub unreachable;
            the message says what to do.
    """
    from huggingface_hub import constants

    rev = revision or "main"
    if _COMMIT.match(rev):
        return rev
    ref = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "refs" / rev
    if ref.is_file():
        return ref.read_text().strip()
    if constants.HF_HUB_OFFLINE:
        raise offline_error(repo_id, rev)
    from huggingface_hub import HfApi

    info = hub_call(repo_id, rev, lambda timeout: HfApi().model_info(repo_id, revision=rev, timeout=timeout))
    return str(info.sha)


def hub_call(repo_id: str, revision: str, call: Callable[[float], _T]) -> _T:
    """``call(timeout)``: one request to the Hugging Face Hub, bounded by ``HF_HUB_ETAG_TIMEOUT``
    seconds, its failures turned into one `PlateError` line.

    Raises:
        PlateError: no such model or revision, or the Hub refused, timed out or failed.
    """
    from huggingface_hub import constants
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    timeout = float(constants.HF_HUB_ETAG_TIMEOUT)
    try:
        return call(timeout)
    except RepositoryNotFoundError:
        raise PlateError(f"no model {repo_id!r} on the Hugging Face Hub (or it is private: log in with `hf auth login`)") from None
    except RevisionNotFoundError:
        raise PlateError(f"model {repo_id!r} has no revision {revision!r}") from None
    except Exception as exc:  # the HTTP client's connection, timeout and status errors
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "timed out" in detail.lower() or "timeout" in type(exc).__name__.lower():
            detail = f"no answer within {timeout:g} s (HF_HUB_ETAG_TIMEOUT)"
        raise PlateError(
            f"cannot reach the Hugging Face Hub at {constants.ENDPOINT} for {repo_id!r}: {detail}; "
            "check the connection, or set HF_HUB_OFFLINE=1 to use the cache only"
        ) from None


def offline_error(repo_id: str, revision: str) -> PlateError:
    """The error for a hub model that is not in the cache while ``HF_HUB_OFFLINE`` is set."""
    from huggingface_hub import constants

    return PlateError(
        f"model {repo_id!r} (revision {revision!r}) is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) "
        "and HF_HUB_OFFLINE is set; download it first (unset HF_HUB_OFFLINE, or "
        f"`hf download {repo_id}` on a connected machine) or pass a local folder"
    )


def model_identity(name: str, *, revision: str | None = None, cache_dir: Path | None = None) -> str:
    """Identity of any model (diffusers or transformers): ``hub:<id>@<commit>`` for a hub id,
    ``local:<fingerprint>`` for a folder; no torch import, no network when cached."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not (path / "model_index.json").is_file():
            raise PlateError(f"{str(path)!r} is not a model folder (no config.json); check the path")
        return "local:" + folder_fingerprint(path, cache_dir=cache_dir)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise PlateError(f"model folder {name!r} does not exist; check the path")
    return f"hub:{name}@{hub_commit(name, revision)}"
