"""Atomic file and folder writes: the one way hybridscene writes anything to disk.

Everything is written under a hidden temporary name beside its final name and renamed into
place only when complete (``os.replace`` is atomic on one file system), so a full disk, an
exception or a killed process leaves the previous file or folder intact and no half-written one
under the final name::

    with atomic_path("out.png") as tmp:      # a file
        image.save(tmp, format="PNG")

    with atomic_dir("frames") as tmp:        # a folder, swapped in whole
        (tmp / "00000.png").write_bytes(data)

Temporary names are ``.NAME.<pid>@<host>.<random>.part``: cleaned up on failure, and never
mistaken for the output. A killed process (SIGKILL, power loss) may leave one behind; the next
writer of the same output removes it (`remove_stale`) once its owner process is gone, and
never touches the temporary of a process that is still running. A ``.NAME.*.old`` left by a
process killed in the middle of `publish_dir` is the previous folder: it is put back when
nothing is under the final name.

A symbolic link as the final name is written through: the temporary is made beside the link's
target and renamed onto the target (`final_path`), so the link stays a link.

Failures of the file system (a full disk, a read-only or forbidden folder, ``ulimit -f``) are
raised as one error naming the path and the cause (`os_error_message`, `translate_os_errors`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import HybridSceneError, SinkError

log = logging.getLogger(__name__)

__all__ = [
    "atomic_dir",
    "atomic_path",
    "final_path",
    "os_error_message",
    "publish_dir",
    "remove",
    "remove_stale",
    "temp_name",
    "translate_os_errors",
]


def _host() -> str:
    """This machine's short name, reduced to characters safe in a file name."""
    name = socket.gethostname().split(".")[0]
    return re.sub(r"[^A-Za-z0-9-]", "-", name)[:32] or "host"


def temp_name(path: str | os.PathLike[str], suffix: str = ".part") -> Path:
    """A hidden temporary sibling of ``path``: ``.name.<pid>@<host>.<random><suffix>`` (the
    owner's process id and host let `remove_stale` tell a dead writer's leftover)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}@{_host()}.{uuid.uuid4().hex[:8]}{suffix}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def remove_stale(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries of ``path`` left by dead processes of this host; return them.

    Only names written by `temp_name` are considered, and only when their owner process no
    longer exists (a live process's temporary, or one from another host, is left alone). A
    stale ``.old`` folder is the previous output of an interrupted `publish_dir`: it is renamed
    back to ``path`` when nothing is there, else removed. Errors are ignored (a best effort).
    """
    final = Path(path)
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.(\d+)@([A-Za-z0-9-]+)\.[0-9a-f]{{8}}(\.[a-z]+)$")
    host, removed = _host(), []
    try:
        entries = list(os.scandir(final.parent))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None or m.group(2) != host or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        stale = final.parent / entry.name
        try:
            if m.group(3) == ".old" and not os.path.lexists(final):
                os.replace(stale, final)  # the previous output, put back
                continue
            remove(stale)
        except OSError:
            continue
        removed.append(stale)
    return removed


def final_path(path: str | os.PathLike[str]) -> Path:
    """``path``, or the file a symbolic link there points to (followed to the end, even when the
    target does not exist yet), so that writing replaces the target, not the link."""
    p = Path(path)
    if p.is_symlink():
        return Path(os.path.realpath(p))
    return p


_CAUSES = {
    errno.ENOSPC: ("no space left on device", "free space or choose another folder"),
    errno.EDQUOT: ("disk quota exceeded", "free space or choose another folder"),
    errno.EROFS: ("read-only file system", "choose a folder you can write to"),
    errno.EACCES: ("permission denied", "choose a folder you can write to"),
    errno.EPERM: ("operation not permitted", "choose a folder you can write to"),
    errno.EFBIG: ("file too large (the file size limit, ulimit -f)", "raise the limit or write a smaller output"),
}


def os_error_message(exc: OSError, path: str | os.PathLike[str]) -> str:
    """One line for a failed write: ``no space left on device writing out.mp4; free space or
    choose another folder``."""
    cause, fix = _CAUSES.get(exc.errno or 0, (None, None))
    if cause is None:
        return f"cannot write {os.fspath(path)}: {exc.strerror or exc}"
    return f"{cause} writing {os.fspath(path)}; {fix}"


@contextlib.contextmanager
def translate_os_errors(path: str | os.PathLike[str], error: type[HybridSceneError] = SinkError) -> Iterator[None]:
    """Raise an ``OSError`` inside the block as ``error`` with `os_error_message`."""
    try:
        yield
    except OSError as exc:
        raise error(os_error_message(exc, path)) from exc


def _check_parent(final: Path, error: type[HybridSceneError]) -> None:
    if not final.parent.exists():
        raise error(f"folder {str(final.parent)!r} does not exist; create it first")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, error: type[HybridSceneError] = SinkError) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``path`` on success, delete it on error.

    Raises:
        ``error`` (default [`SinkError`][hybridscene.SinkError]): the folder of ``path`` does not exist.
    """
    final = final_path(path)
    _check_parent(final, error)
    remove_stale(final)
    tmp = temp_name(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except OSError as exc:
        remove(tmp)
        if exc.filename is not None and Path(exc.filename) not in (tmp, final):
            raise  # about another file: not ours to name
        raise error(os_error_message(exc, final)) from exc
    except BaseException:
        remove(tmp)
        raise


def publish_dir(tmp: Path, final: Path) -> None:
    """Replace the folder ``final`` (if any) with the folder ``tmp``; if the swap fails, the old
    folder is put back."""
    old = None
    if final.exists():
        old = temp_name(final, ".old")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, error: type[HybridSceneError] = SinkError) -> Iterator[Path]:
    """Yield a new, empty temporary folder to fill; on success it replaces the folder ``path``
    whole (see `publish_dir`), on error it is deleted."""
    final = final_path(path)
    _check_parent(final, error)
    remove_stale(final)
    tmp = temp_name(final)
    tmp.mkdir()
    try:
        yield tmp
        publish_dir(tmp, final)
    except BaseException:
        remove(tmp)
        raise


def remove(path: Path) -> None:
    """Delete a file or folder if it exists (temporary leftovers). Never raises: it runs while
    another error is on its way (a read-only file system even refuses to unlink a file that is
    not there), and a leftover it cannot remove is logged and swept by a later run."""
    if not os.path.lexists(path):
        return
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove the temporary %s: %s", path, exc.strerror or exc)
