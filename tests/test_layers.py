"""The import rules of the layout: a pure engine, shared formats, adapters that only the CLI joins."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "streams"
#: Modules every layer may use: formats, configuration, errors and the sinks' bounded buffer.
SHARED = {"streams", "streams.formats.codec", "streams.formats.state", "streams.settings", "streams.errors", "streams.sinks.point_buffer"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_engine_imports_only_the_standard_library_and_itself() -> None:
    for path in (PACKAGE / "engine").rglob("*.py"):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert name.startswith("streams.engine") or top in sys.stdlib_module_names or top == "__future__", (
                f"{module_name(path)} imports {name}"
            )


def test_adapters_never_import_each_other_only_the_cli_joins_them() -> None:
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if name.startswith(("streams.engine", "streams.cli")) or name in SHARED:
            continue
        # An adapter that is a package (sinks, worker) may use its own modules.
        family = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for imported in imports_of(path):
            if imported.startswith("streams.") and not imported.startswith("streams.engine"):
                own = family != "streams" and (imported == family or imported.startswith(family + "."))
                assert imported in SHARED or own, f"{name} imports the adapter {imported}"


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports (type-checking imports too)."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in imports_of(path):
            # `from streams.engine import x` names the package; a longer name that is no module is an attribute.
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of the graph, as the list of modules around it, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if cycle := visit(target):
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        if cycle := visit(node):
            return cycle
    return None


def test_no_module_imports_itself_in_a_circle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
