"""Shader programs from ``shaders/*.glsl``: one program per file, stages selected with
``#if defined VERTEX_SHADER`` / ``FRAGMENT_SHADER`` / ``GEOMETRY_SHADER``, shared snippets pulled in
with ``#include "include/name.glsl"``. Programs are compiled once per context and cached on its
`GLContext`.

Compile errors are raised as `ShaderError` with the file and line of the
offending source (includes are tracked with ``#line`` directives and mapped back to file names).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import GPUError, ShaderError

if TYPE_CHECKING:
    import moderngl

    from .context import GLContext

__all__ = ["has_uniform", "load_program", "program_variant", "set_uniform", "shader_dir", "shader_source", "write_uniform"]

_STAGES = {
    "vertex_shader": "VERTEX_SHADER",
    "geometry_shader": "GEOMETRY_SHADER",
    "fragment_shader": "FRAGMENT_SHADER",
}
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$')
_VERSION = re.compile(r"^\s*#\s*version\b.*$")
# Driver log prefixes: Mesa "0:12(3): error", NVIDIA "0(12) : error", AMD/Intel "ERROR: 0:12:".
_LOCATION = re.compile(r"(?<![\w.])(\d+)(?::|\()(\d+)(?:\((\d+)\))?\)?")


def shader_dir() -> Path:
    """The folder holding the bundled shaders.

    In an installed wheel it is ``hybridscene/shaders`` inside the package; in a source checkout
    (editable install) it is the repository's top-level ``shaders/``.
    """
    packaged = resources.files("hybridscene") / "shaders"
    if packaged.is_dir():
        return Path(str(packaged))
    source = Path(__file__).resolve().parents[2] / "shaders"
    if (source / "include").is_dir():
        return source
    raise GPUError(
        "hybridscene's shaders are missing (looked in the package and the source tree); "
        "reinstall with `pip install --force-reinstall hybridscene`"
    )


def _find(name: str, search_paths: Sequence[Path]) -> Path:
    filename = name if name.endswith(".glsl") else f"{name}.glsl"
    for folder in search_paths:
        candidate = Path(folder) / filename
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(p) for p in search_paths)
    raise ShaderError(f"shader {filename!r} not found (looked in {looked})")


def shader_source(name: str, *, search_paths: Sequence[str | os.PathLike[str]] = ()) -> tuple[str, list[Path]]:
    """The source of shader ``name`` with includes expanded, and the files by source-string number.

    ``#line L N`` directives map every line back to (file ``N``, line ``L``).
    """
    paths = [Path(p) for p in search_paths] + [shader_dir()]
    files: list[Path] = []

    def expand(path: Path, stack: tuple[Path, ...]) -> list[str]:
        if path in stack:
            chain = " -> ".join(p.name for p in (*stack, path))
            raise ShaderError(f"{path}: circular #include ({chain})")
        files.append(path)
        index = len(files) - 1
        out: list[str] = []
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            m = _INCLUDE.match(line)
            if m:
                target = _find(m.group(1), [path.parent, *paths])
                out.append(f"#line 1 {len(files)}")
                out.extend(expand(target, (*stack, path)))
                out.append(f"#line {lineno + 1} {index}")
            else:
                out.append(line)
        return out

    lines = expand(_find(name, paths), ())
    return "\n".join(lines) + "\n", files


def _stage_source(source: str, define: str, extra_defines: dict[str, Any]) -> str:
    lines = source.split("\n")
    head: list[str] = []
    if lines and _VERSION.match(lines[0]):
        head.append(lines.pop(0))
        first_line = 2
    else:
        head.append("#version 330 core")
        first_line = 1
    head.append(f"#define {define} 1")
    head.extend(f"#define {k} {v}" for k, v in extra_defines.items())
    head.append(f"#line {first_line} 0")
    return "\n".join(head + lines)


def _map_locations(log: str, files: list[Path]) -> str:
    def repl(m: re.Match[str]) -> str:
        index, line = int(m.group(1)), int(m.group(2))
        if index >= len(files):
            return m.group(0)
        col = f":{m.group(3)}" if m.group(3) else ""
        return f"{files[index]}:{line}{col}"

    return "\n".join(_LOCATION.sub(repl, ln, count=1) for ln in log.splitlines())


def load_program(
    gl: GLContext,
    name: str,
    *,
    defines: dict[str, Any] | None = None,
    search_paths: Sequence[str | os.PathLike[str]] = (),
) -> moderngl.Program:
    """Compile (once per context) and return the ``moderngl.Program`` in ``{name}.glsl``.

    Args:
        gl: the context that owns the program (cached in ``gl.programs`` and released with it).
        name: file name without ``.glsl``, looked up in ``search_paths`` and then the bundled
            shaders.
        defines: extra ``#define NAME VALUE`` lines for every stage.
        search_paths: folders with your own shaders, searched first.
    """
    import moderngl

    defines = dict(defines or {})
    key = ("program", name, tuple(sorted(defines.items())), tuple(str(p) for p in search_paths))
    cache = gl.programs
    if key in cache:
        return cache[key]

    source, files = shader_source(name, search_paths=search_paths)
    stages = {
        arg: _stage_source(source, define, defines)
        for arg, define in _STAGES.items()
        if re.search(rf"defined\s*\(?\s*{define}\b", source)
    }
    if "vertex_shader" not in stages:
        raise ShaderError(f"{files[0]}: no '#if defined VERTEX_SHADER' section; every program needs one")
    try:
        program = gl.mgl.program(**stages)
    except moderngl.Error as exc:
        raise ShaderError(f"{files[0]} failed to compile:\n{_map_locations(str(exc), files)}") from None
    cache[key] = program
    return program


def program_variant(gl: GLContext, program: moderngl.Program, defines: dict[str, Any]) -> moderngl.Program:
    """``program`` (made by `load_program` on ``gl``) compiled with ``defines`` added (cached like
    any). Looks ``program`` up among the context's programs: cache the result."""
    key = next((k for k, p in gl.programs.items() if p is program), None)
    if key is None:
        raise ShaderError("program_variant needs a program made by load_program on this context")
    _, name, own, search_paths = key
    return load_program(gl, name, defines={**dict(own), **defines}, search_paths=search_paths)


def has_uniform(prog: moderngl.Program, name: str) -> bool:
    """Whether ``prog`` has the member ``name`` (a variant may have compiled it out). A dict
    lookup: ``name in prog`` walks every member of the program, per call."""
    return prog.get(name, None) is not None


def set_uniform(prog: moderngl.Program, name: str, value: Any) -> None:
    """Set the uniform ``name`` if ``prog`` has it."""
    member = prog.get(name, None)
    if member is not None:
        member.value = value


def write_uniform(prog: moderngl.Program, name: str, data: bytes) -> None:
    """Write raw bytes (a matrix, an array) to the uniform ``name`` if ``prog`` has it."""
    member = prog.get(name, None)
    if member is not None:
        member.write(data)
