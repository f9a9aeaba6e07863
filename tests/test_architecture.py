"""The house rules of the package layout (docs/concepts.md, "Architecture"): the modules form no
import cycle, counting imports inside functions; no library module grows past 600 lines; only
the CLI prints; GL state lives on the GLContext owner, never in ``moderngl.Context.extra``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hybridscene"
MAX_LINES = 600
LONG_ALLOWED = {"testing.py"}  # public test helpers: tiny model builders, one per diffusers family


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every hybridscene module ``name`` imports, at the top or inside functions."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from pkg import sub` imports the module pkg.sub; `from mod import name` imports mod.
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                       for alias in node.names]
        else:
            continue
        for target in targets:
            # `import a.b.c` runs a, a.b and a.b.c; the deepest existing module is the edge.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_package_has_no_import_cycle():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph["hybridscene"] >= {"hybridscene.compose", "hybridscene.export", "hybridscene.live"}  # the walk works
    assert "hybridscene.gpu.context" in graph["hybridscene.compose.frame"]
    cycles = _cycles(graph)
    detail = "\n".join(
        " -> ".join(c) + "\n    " + "\n    ".join(f"{m} imports {sorted(graph[m] & set(c))}" for m in c) for c in cycles
    )
    assert not cycles, f"import cycles:\n{detail}"


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("name", sorted(_modules()))
def test_no_library_module_is_over_600_lines(name):
    path = _modules()[name]
    if path.name in LONG_ALLOWED:
        pytest.skip(f"{path.name} is exempt")
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE.parent)} has {lines} lines; split it by concept"


def test_only_the_cli_prints():
    offenders = []
    for name, path in _modules().items():
        if name == "hybridscene.cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not offenders, f"print() outside cli.py (use logging): {offenders}"


def test_no_state_in_moderngl_context_extra():
    offenders = []
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "extra":
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not offenders, f"state kept in ctx.extra (keep it on GLContext): {offenders}"


def test_docstrings_use_markdown_not_sphinx_roles():
    """The reference is rendered by mkdocstrings (Markdown): a Sphinx role such as
    :class:`Plate` would show literally; use `Plate` or [`Plate`][hybridscene.Plate]."""
    import re

    role = re.compile(r":(class|func|meth|mod|attr|data|exc|obj):`")
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{i}" for path in _modules().values()
                 for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if role.search(line)]
    assert not offenders, f"Sphinx roles in docstrings: {offenders}"
