"""The layers of docs/architecture.md, read from the source.

- Each top-level package has a layer, and imports only from its own layer or
  those below (`LAYERS`); nothing imports itself back (no import cycles, lazy
  imports included); `cli.py` only parses and dispatches to `commands/`; the
  graphs' base module imports none of the graphs built on it.
- The core (everything but `ui/`) never imports PySide6, qasync or pyqtgraph
  (tests/integration/test_install_addon_cli.py checks the same at run time).
- `ui/` talks to the Controller only: no import from `supervisor/`, `probes/`
  or `telemetry/` (their types come from `spacetime_panel.core.views`), and no
  reach through the controller into what it owns (`controller.monitor` ...).
"""

from __future__ import annotations

import ast
from pathlib import Path

import spacetime_panel

PACKAGE = Path(spacetime_panel.__file__).parent
QT = ("PySide6", "qasync", "pyqtgraph")
CORE_INTERNALS = ("supervisor", "probes", "telemetry")
#: What the Controller owns; a view reads it through the Controller's methods.
CONTROLLER_INSIDES = frozenset({"monitor", "telemetry", "recorder", "supervisor", "game"})

#: The layers, bottom up: a module imports from its own layer or the ones below.
LAYERS: dict[str, int] = {
    # what every part reads: settings, keys, the bridge protocol's contract
    "config": 0,
    "secrets": 0,
    "protocol": 0,
    # the parts: child processes, service checks, telemetry, Godot projects and the addon;
    # and the simulated Godot, a program of its own built on the same parts
    "supervisor": 1,
    "probes": 1,
    "telemetry": 1,
    "godot": 1,
    "sim": 1,
    # the Controller: the one door to the parts
    "core": 2,
    # the management API on the Controller
    "api": 3,
    # what AI agents see: the management API as MCP tools (its HTTP client, not the API)
    "agents": 3,
    # the Controller and the API as one service; and what the commands run beside it
    "service": 4,
    "deploy": 4,
    "doctor": 4,
    # the two front ends: the terminal commands and the desktop panel
    "commands": 5,
    "ui": 5,
    # the entry point: parse and dispatch
    "cli": 6,
    "__main__": 6,
}


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module an import statement names (anywhere in the file), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "spacetime_panel":  # `from spacetime_panel import probes`
                found += [(node.lineno, f"spacetime_panel.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _outside_type_checking(tree: ast.AST) -> ast.Module:
    """The tree without its `if TYPE_CHECKING:` blocks (those imports never run)."""

    class Strip(ast.NodeTransformer):
        def visit_If(self, node: ast.If) -> ast.AST | None:
            if "TYPE_CHECKING" in ast.unparse(node.test):
                return None
            self.generic_visit(node)
            return node

    stripped = Strip().visit(tree)
    assert isinstance(stripped, ast.Module)
    return stripped


def package_imports() -> dict[str, set[str]]:
    """Our module -> our modules it imports when it runs (lazy imports included)."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = _outside_type_checking(ast.parse(path.read_text(encoding="utf-8")))
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    found.add(child if child in paths else node.module)
        graph[name] = {module for module in found if module in paths and module != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while (member := stack.pop()) != module:
                group.append(member)
            if group:
                cycles.append(sorted([module, *group]))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_back() -> None:
    assert import_cycles(package_imports()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_each_layer_imports_only_from_itself_and_below() -> None:
    upward = []
    for module, imported in sorted(package_imports().items()):
        parts = module.split(".")
        if len(parts) == 1:
            continue  # spacetime_panel/__init__.py: the version
        assert parts[1] in LAYERS, f"{module}: give spacetime_panel.{parts[1]} a layer in LAYERS"
        for other in sorted(imported):
            other_top = other.split(".")[1] if "." in other else ""
            if other_top in LAYERS and LAYERS[other_top] > LAYERS[parts[1]]:
                upward.append(f"{module} imports {other}")
    assert upward == []


def test_cli_only_parses_and_dispatches() -> None:
    imported = package_imports()["spacetime_panel.cli"]
    assert imported and all(
        module.startswith("spacetime_panel.commands") or module == "spacetime_panel"
        for module in imported
    ), imported


def test_the_graphs_base_imports_none_of_the_graphs() -> None:
    children = {"performance", "headset", "stats_strip"}
    imported = package_imports()["spacetime_panel.ui.graphs.base"]
    assert {module.rsplit(".", 1)[-1] for module in imported} & children == set()


def _is_controller(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return isinstance(name, str) and name.lstrip("_").endswith("controller")


def ui_reaches(source: str) -> list[str]:
    """Where a ui/ module reaches past the Controller, one line each ('LINE: what')."""
    tree = ast.parse(source)
    found = [
        f"{line}: imports {module}"
        for line, module in imported_modules(tree)
        if any(module.startswith(f"spacetime_panel.{inner}") for inner in CORE_INTERNALS)
    ]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in CONTROLLER_INSIDES
            and _is_controller(node.value)
        ):
            found.append(f"{node.lineno}: reads {ast.unparse(node)}")
    return sorted(set(found))


def qt_imports(source: str) -> list[str]:
    return [
        f"{line}: imports {module}"
        for line, module in imported_modules(ast.parse(source))
        if module.split(".")[0] in QT
    ]


def test_the_core_never_imports_qt() -> None:
    leaks = {
        str(path.relative_to(PACKAGE)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if "ui" not in path.relative_to(PACKAGE).parts[:1]
        and (found := qt_imports(path.read_text(encoding="utf-8")))
    }
    assert leaks == {}


def test_ui_goes_through_the_controller_only() -> None:
    reaches = {
        path.name: found
        for path in sorted((PACKAGE / "ui").rglob("*.py"))
        if (found := ui_reaches(path.read_text(encoding="utf-8")))
    }
    assert reaches == {}


def test_the_check_sees_each_way_past_the_controller() -> None:
    """The checks above would fail for each kind of reach (so their silence means something)."""
    source = (
        "from spacetime_panel.supervisor.machine import ProgramState\n"
        "import spacetime_panel.probes.status\n"
        "from spacetime_panel import telemetry\n"
        "def f(self, controller):\n"
        "    from spacetime_panel.telemetry import RecordingError\n"
        "    self.controller.monitor.check_interval = 10\n"
        "    controller.telemetry.batch_interval = 0.25\n"
        "    return self._controller.recorder.rows, controller.game.view\n"
        "from spacetime_panel.core.views import ProgramState\n"  # the door: fine
        "x = self.controller.statuses(); y = self.window.telemetry\n"  # fine
    )
    assert ui_reaches(source) == [
        "1: imports spacetime_panel.supervisor.machine",
        "2: imports spacetime_panel.probes.status",
        "3: imports spacetime_panel.telemetry",
        "5: imports spacetime_panel.telemetry",
        "6: reads self.controller.monitor",
        "7: reads controller.telemetry",
        "8: reads controller.game",
        "8: reads self._controller.recorder",
    ]
    assert qt_imports("import PySide6.QtCore\nfrom qasync import QEventLoop\nimport numpy\n") == [
        "1: imports PySide6.QtCore",
        "2: imports qasync",
    ]
