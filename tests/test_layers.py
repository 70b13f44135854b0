"""The import rules of the layout: imports point down the table below, never up or across, and never
in a circle. Any module of a new package fails until the package has its row."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "streams"

#: Each layer and the other layers it may import (its own modules, the standard library and third-party
#: packages always). Only the CLI joins the adapters; nothing imports the CLI.
MAY_IMPORT: dict[str, set[str]] = {
    "streams.engine":    set(),  # pure: the standard library only (checked below)
    "streams.errors":    set(),
    "streams.settings":  {"streams.engine", "streams.errors"},
    "streams.formats":   {"streams.engine", "streams.errors"},
    "streams.offline":   {"streams.engine", "streams.errors", "streams.settings", "streams.formats"},
    "streams.report":    {"streams.engine", "streams.errors", "streams.formats", "streams.offline"},
    "streams.sinks":     {"streams.engine", "streams.errors", "streams.settings", "streams.formats"},
    # grafana.py holds the annotation sink beside provisioning: it shares the sinks' bounded buffer.
    "streams.provision": {"streams.engine", "streams.errors", "streams.settings", "streams.formats", "streams.sinks"},
    "streams.worker":    {"streams.engine", "streams.errors", "streams.settings", "streams.formats", "streams.sinks"},
    "streams.cli":       {"streams", "streams.engine", "streams.errors", "streams.settings", "streams.formats",
                          "streams.offline", "streams.report", "streams.sinks", "streams.provision", "streams.worker"},
    "streams":           set(),  # the package itself: only its version
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every name an import of the file may refer to, absolute (`from a import b` gives a and a.b)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's package, one level up per extra dot
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


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


def layer_of(module: str) -> str | None:
    """The longest row of the table that holds the module, or None for a package with no row."""
    rows = [layer for layer in MAY_IMPORT if module == layer or module.startswith(layer + ".")]
    rows = [layer for layer in rows if layer != "streams"] or (["streams"] if module == "streams" else [])
    return max(rows, key=len, default=None)


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import the table forbids, and every module of a layer the table does not know."""
    found = []
    for module, targets in sorted(graph.items()):
        layer = layer_of(module)
        if layer is None:
            found.append(f"{module} is in no layer of MAY_IMPORT: give its package a row")
            continue
        for target in sorted(targets):
            target_layer = layer_of(target)
            if target_layer != layer and target_layer not in MAY_IMPORT[layer]:
                found.append(f"{module} ({layer}) imports {target} ({target_layer})")
    return found


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


def test_engine_imports_only_the_standard_library_and_itself() -> None:
    for path in (PACKAGE / "engine").rglob("*.py"):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert name.startswith("streams.engine") or top in sys.stdlib_module_names or top == "__future__", (
                f"{module_name(path)} imports {name}"
            )


def test_imports_point_only_down_the_table() -> None:
    found = violations(import_graph())
    assert not found, "imports the layout forbids:\n" + "\n".join(found)


def test_no_module_imports_itself_in_a_circle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_command_modules_of_the_cli_never_import_each_other() -> None:
    # A command module registers commands; what two commands share lives in a helper module (options, tables...).
    commands = {module_name(path) for path in (PACKAGE / "cli").glob("*.py")
                if "def register(" in path.read_text()}  # fmt: skip
    assert {"streams.cli.offline", "streams.cli.ops", "streams.cli.live"} <= commands
    graph = import_graph()
    for command in sorted(commands):
        assert not graph[command] & commands, f"{command} imports {sorted(graph[command] & commands)}"


def test_the_real_graph_is_read() -> None:
    # Guards the two tests above against passing on an empty or misread graph.
    graph = import_graph()
    assert "streams.formats.codec" in graph["streams.offline.replay"]
    assert "streams.offline.replay" in graph["streams.offline.rejects"]  # `from streams.offline.replay import`
    assert "streams.worker" in graph["streams.cli.live"]


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("streams.engine.series", "streams.formats.codec"),  # engine -> anything outside it
        ("streams.formats.codec", "streams.offline.replay"),  # formats point up
        ("streams.offline.replay", "streams.worker"),  # offline -> worker
        ("streams.offline.replay", "streams.provision.grafana"),  # offline -> provision
        ("streams.offline.replay", "streams.sinks.influx"),  # the backtest side talks to no service
        ("streams.provision.grafana", "streams.offline.evaluate"),  # provision -> offline
        ("streams.provision.grafana", "streams.worker.dead_letters"),  # provision -> worker
        ("streams.worker", "streams.offline.replay"),  # worker -> offline
        ("streams.worker.dead_letters", "streams.provision.grafana"),  # worker -> provision
        ("streams.sinks.influx", "streams.worker"),  # a sink -> the worker that drives it
        ("streams.worker", "streams.cli.live"),  # anything but cli -> cli
        ("streams.settings", "streams.cli.options"),
        ("streams.errors", "streams.settings"),
    ],
)
def test_an_upward_or_sideways_import_is_found(importer: str, imported: str) -> None:
    assert violations({importer: {imported}, imported: set()}) == [
        f"{importer} ({layer_of(importer)}) imports {imported} ({layer_of(imported)})"
    ]


def test_allowed_imports_and_unknown_packages() -> None:
    allowed = {"streams.cli.live": {"streams.worker", "streams.provision.grafana"},
               "streams.offline.replay": {"streams.formats.codec", "streams.engine", "streams.offline.evaluate"},
               "streams.worker.dead_letters": {"streams.formats.codec", "streams.sinks.influx"}}  # fmt: skip
    assert violations(allowed) == []
    assert violations({"streams.newthing.x": set()}) == [
        "streams.newthing.x is in no layer of MAY_IMPORT: give its package a row"
    ]


def test_the_cycle_finder_finds_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
