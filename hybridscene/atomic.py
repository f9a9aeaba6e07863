"""Atomic file and folder writes: the one way hybridscene writes anything to disk.

Everything is written under a hidden temporary name beside its final name and renamed into
place only when complete (``os.replace`` is atomic on one file system), so a full disk, an
exception or a killed process leaves the previous file or folder intact and no half-written one
under the final name::

    with atomic_path("out.png") as tmp:      # a file
        image.save(tmp, format="PNG")

    with atomic_dir("frames") as tmp:        # a folder, swapped in whole
        (tmp / "00000.png").write_bytes(data)

Temporary names are ``.NAME.<random>.part`` (cleaned up on failure; a killed process may leave
one behind, which is never mistaken for the output).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import HybridSceneError, SinkError

__all__ = ["atomic_dir", "atomic_path", "publish_dir", "remove", "temp_name"]


def temp_name(path: str | os.PathLike[str], suffix: str = ".part") -> Path:
    """A hidden temporary sibling of ``path``: ``.name.<random>.part``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{suffix}")


def _check_parent(final: Path, error: type[HybridSceneError]) -> None:
    if not final.parent.exists():
        raise error(f"folder {str(final.parent)!r} does not exist; create it first")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, error: type[HybridSceneError] = SinkError) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``path`` on success, delete it on error.

    Raises:
        ``error`` (default [`SinkError`][hybridscene.SinkError]): the folder of ``path`` does not exist.
    """
    final = Path(path)
    _check_parent(final, error)
    tmp = temp_name(final)
    try:
        yield tmp
        os.replace(tmp, final)
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
    final = Path(path)
    _check_parent(final, error)
    tmp = temp_name(final)
    tmp.mkdir()
    try:
        yield tmp
        publish_dir(tmp, final)
    except BaseException:
        remove(tmp)
        raise


def remove(path: Path) -> None:
    """Delete a file or folder if it exists (temporary leftovers)."""
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
