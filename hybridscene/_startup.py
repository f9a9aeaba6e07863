"""Ctrl-C while the ``hybridscene`` command is still importing its libraries: one line, not
Python's ``KeyboardInterrupt`` traceback.

Once the command runs, click turns Ctrl-C into "Aborted!" and the exports clean up after
themselves; before that (numpy, moderngl and friends take a moment to import) only an exception
hook can speak. It is installed only when this process *is* the command (the ``hybridscene``
script or ``python -m hybridscene``), never for a program that merely imports the library.
"""

from __future__ import annotations

import os
import sys

__all__ = ["install_interrupt_hook"]

_COMMANDS = ("hybridscene", "hybridscene.exe", "hybridscene-script.py")


def _is_the_command() -> bool:
    argv0 = sys.argv[0] if sys.argv else ""
    # `python -m hybridscene`: argv[0] is "-m" while the package is being found and imported.
    return argv0 == "-m" or os.path.basename(argv0) in _COMMANDS


def install_interrupt_hook() -> bool:
    """Install the hook when this process is the command; returns whether it did."""
    if not _is_the_command() or getattr(sys.excepthook, "_hybridscene", False):
        return False
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: object) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.stderr.write("\nhybridscene: interrupted\n")
            return
        previous(kind, value, tb)  # type: ignore[arg-type]

    hook._hybridscene = True  # type: ignore[attr-defined]
    sys.excepthook = hook
    return True
