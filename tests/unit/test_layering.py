"""The layers of DESIGN.md, read from the source: Qt stays in ui/, and ui/ has one door.

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
