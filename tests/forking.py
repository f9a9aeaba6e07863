"""Runs of the command line (``python -m hybridscene ARGS``) or of a script (``python SCRIPT ARGS``)
in children forked from one helper process that has imported what they need once.

Each run is a process of its own: its exit status, stdout and stderr apart, its own exit and pid
(for signals), its own working folder, environment and resource limits; without the seconds a fresh
interpreter spends importing. The helper makes no GL context: every child makes its own.

    forker = forker_fixture(imports=("hybridscene.cli",), try_imports=RENDER_IMPORTS)  # in a test module

    def test_x(forker, tmp_path):
        r = forker.cli("info", "--json", cwd=tmp_path)          # as subprocess.run would give it
        r = forker.script(path, "-o", "x.gif", cwd=tmp_path)     # `python path -o x.gif`
        pid = forker.start(["render", ...]); os.kill(pid, ...); r = forker.wait(timeout=60)
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest

# What a render imports, besides the command line; for ``try_imports``.
RENDER_IMPORTS = ("hybridscene.export", "hybridscene.gpu.renderer", "hybridscene.sinks", "scipy.ndimage", "av",
                  "PIL.Image", "moderngl")

# The helper: imports (argv[1], JSON: [imports, try_imports]), then for each request line on stdin forks a
# child that runs it, and prints the child's pid, then its exit status (as subprocess's returncode).
_HELPER = r"""
import importlib, json, os, sys
imports, try_imports = json.loads(sys.argv[1])
for name in imports:
    importlib.import_module(name)
for name in try_imports:
    try:  # no GL context here: every child makes its own
        importlib.import_module(name)
    except ImportError:
        pass
del sys.argv[1:]
for line in sys.stdin:
    req = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        for fd, path in ((1, req["out"]), (2, req["err"])):
            f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        if req["fsize"]:  # as `ulimit -f` before the command
            import resource
            resource.setrlimit(resource.RLIMIT_FSIZE, (req["fsize"], req["fsize"]))
        if req["script"] is None:  # python -m hybridscene ARGS
            from hybridscene.cli import main
            sys.argv = ["hybridscene", *req["args"]]
            main(req["args"], prog_name="hybridscene")
        else:  # python SCRIPT ARGS
            import runpy
            sys.argv = [req["script"], *req["args"]]
            sys.path[0] = os.path.dirname(req["script"])
            runpy.run_path(req["script"], run_name="__main__")
        sys.exit(0)
    print(pid, flush=True)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


class Forker:
    """One forking helper process, started on first use, with ``imports`` imported (an error if one
    fails) and ``try_imports`` imported where installed, in ``env`` (default: this process's
    environment then). One run at a time; stdout and stderr go through files in ``streams``.

    ``cwd`` (default: this process's working folder) and ``env`` (default: this process's
    environment at the call; ``extra_env`` is added to either) are the child's, as for
    `subprocess.run`; ``fsize`` is the limit, in bytes, that `ulimit -f` would set."""

    def __init__(self, streams: Path, *, imports: Iterable[str] = ("hybridscene.cli",),
                 try_imports: Iterable[str] = (), env: Mapping[str, str] | None = None) -> None:
        self.streams = Path(streams)
        self.imports, self.try_imports = list(imports), list(try_imports)
        self.env = None if env is None else dict(env)
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None
        self.args: list[str] | None = None

    def _helper(self) -> subprocess.Popen:
        if self.proc is None:
            # Unbuffered: select() on the pipe must not miss a line already read into a buffer.
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _HELPER, json.dumps([self.imports, self.try_imports])],
                env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        return self.proc

    def start(self, args: Sequence[str], *, script: str | os.PathLike | None = None,
              cwd: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
              extra_env: Mapping[str, str] | None = None, fsize: int = 0) -> int:
        """Starts ``python -m hybridscene ARGS`` (or ``python SCRIPT ARGS``); returns the child's pid."""
        assert self.pid is None, "one run at a time: wait() for the last one first"
        proc = self._helper()
        args = [str(a) for a in args]
        self.args = ["hybridscene", *args] if script is None else [str(script), *args]
        child_env = dict(os.environ if env is None else env, **(extra_env or {}))
        out, err = self.streams / "stdout", self.streams / "stderr"
        request = {"cwd": str(cwd if cwd is not None else os.getcwd()), "env": child_env, "args": args,
                   "script": None if script is None else str(script), "out": str(out), "err": str(err),
                   "fsize": fsize}
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line.strip(), "the forking process died"
        self.pid = int(line)
        return self.pid

    def wait(self, timeout: float | None = None) -> subprocess.CompletedProcess:
        """The started run's result; past ``timeout`` seconds the child is killed and
        `subprocess.TimeoutExpired` raised, as `subprocess.run` does."""
        assert self.pid is not None, "nothing started"
        pid, self.pid = self.pid, None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            self.proc.stdout.readline()
            raise subprocess.TimeoutExpired(self.args, timeout)
        status = self.proc.stdout.readline()
        assert status.strip(), "the forking process died"
        out, err = self.streams / "stdout", self.streams / "stderr"
        return subprocess.CompletedProcess(self.args, int(status), out.read_text(), err.read_text())

    def run(self, args: Sequence[str], *, timeout: float | None = None, **kw) -> subprocess.CompletedProcess:
        """`start` then `wait`: ``run(["info"], cwd=...)``, or ``run(ARGS, script=PATH)``."""
        self.start(args, **kw)
        return self.wait(timeout)

    def cli(self, *args: str, **kw) -> subprocess.CompletedProcess:
        """``python -m hybridscene ARGS``: ``cli("info", "--json", cwd=..., env=..., timeout=...)``."""
        return self.run(args, **kw)

    def script(self, script: str | os.PathLike, *args: str, **kw) -> subprocess.CompletedProcess:
        """``python SCRIPT ARGS``, the script run as ``__main__`` with its folder first on sys.path."""
        return self.run(args, script=script, **kw)

    def close(self) -> None:
        """Ends the helper (its loop ends at the end of its stdin)."""
        if self.proc is not None:
            proc, self.proc = self.proc, None
            proc.stdin.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()

    def __enter__(self) -> Forker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def forker_fixture(*, imports: Iterable[str] = ("hybridscene.cli",), try_imports: Iterable[str] = (),
                   env: Mapping[str, str] | None = None, scope: str = "module", autouse: bool = False):
    """A fixture giving one `Forker` (see there for the arguments) per ``scope``, closed at its end:
    ``forker = forker_fixture(imports=..., try_imports=...)`` in a test module."""

    @pytest.fixture(scope=scope, autouse=autouse)
    def forker(tmp_path_factory: pytest.TempPathFactory):
        with Forker(tmp_path_factory.mktemp("forked"), imports=imports, try_imports=try_imports, env=env) as f:
            yield f

    return forker
