"""The port table and the programs table, as real widgets."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from spacetime_panel.probes.status import SERVICE_ORDER, ServiceState, ServiceStatus
from spacetime_panel.supervisor.machine import ProgramState
from spacetime_panel.supervisor.program import ProgramStatus
from spacetime_panel.ui.icons import level_color, state_color
from spacetime_panel.ui.services_view import (
    ProgramsTable,
    ServicesTable,
    format_latency,
    format_owner,
    format_uptime,
)
from tests.conftest import program_status

PORTS = {
    "management_api": 8090,
    "bridge_http": 8080,
    "telemetry": 8081,
    "dap": 6006,
    "lsp": 6005,
    "discovery": 8087,
}


def service(name: str, state: ServiceState = ServiceState.UP, **changes: object) -> ServiceStatus:
    status = ServiceStatus(
        service=name,
        host="127.0.0.1",
        port=PORTS[name],
        protocol="udp" if name == "discovery" else "tcp",
        state=state,
        latency_ms=2.345,
        detail="answered",
        owner_pid=4242,
        owner_name="godot",
        checked_at=time.time(),
    )
    return replace(status, **changes)  # type: ignore[arg-type]


def program(name: str, state: ProgramState, **changes: object) -> ProgramStatus:
    return program_status(name, state, **changes)


def cell(table: ServicesTable | ProgramsTable, row: int, column: int) -> str:
    return table.item(row, column).text()


def background(table: ServicesTable | ProgramsTable, row: int, column: int) -> QColor:
    return table.item(row, column).background().color()


@pytest.fixture
def services(qtbot) -> ServicesTable:
    table = ServicesTable()
    qtbot.addWidget(table)
    table.show()
    return table


def test_six_rows_with_user_labels_in_port_table_order(services: ServicesTable) -> None:
    assert services.rowCount() == 6
    labels = [cell(services, row, 0) for row in range(6)]
    assert labels == [
        "Management API",
        "Bridge HTTP API",
        "Telemetry",
        "Debug adapter (DAP)",
        "Language server (LSP)",
        "Service discovery",
    ]
    assert [services.row_of(name) for name in SERVICE_ORDER] == list(range(6))
    headers = [services.horizontalHeaderItem(c).text() for c in range(services.columnCount())]
    assert headers == ["Service", "Port", "State", "Latency", "Owner", "Detail"]
    # Before the first check every service reads Unknown, in grey.
    assert cell(services, 0, 2) == "Unknown"
    assert background(services, 0, 2) == level_color("grey")


def test_state_cell_text_and_colour_follow_the_state(services: ServicesTable) -> None:
    row = services.row_of("bridge_http")
    expected = {
        ServiceState.UP: ("Up", "green"),
        ServiceState.DEGRADED: ("Degraded", "amber"),
        ServiceState.DOWN: ("Down", "red"),
        ServiceState.UNKNOWN: ("Unknown", "grey"),
    }
    for state, (text, level) in expected.items():
        services.update_services([service("bridge_http", state, detail=f"is {text}")])
        assert cell(services, row, ServicesTable.STATE_COLUMN) == text
        assert background(services, row, 2) == level_color(level)
        assert background(services, row, 2) == state_color(state)
        assert cell(services, row, 5) == f"is {text}"
    # Dark text on the light amber, readable either way.
    services.update_services([service("bridge_http", ServiceState.DEGRADED)])
    assert services.item(row, 2).foreground().color() == QColor(Qt.GlobalColor.black)
    # Other rows are untouched.
    assert cell(services, services.row_of("lsp"), 2) == "Unknown"


def test_port_latency_and_owner_formatting(services: ServicesTable) -> None:
    services.update_services([service(name) for name in SERVICE_ORDER])
    row = services.row_of("dap")
    assert cell(services, row, 1) == "6006/tcp"
    assert cell(services, services.row_of("discovery"), 1) == "8087/udp"
    assert cell(services, row, 3) == "2.3 ms"
    assert cell(services, row, 4) == "godot (4242)"
    services.update_services(
        [service("dap", ServiceState.DOWN, latency_ms=None, owner_pid=None, owner_name=None)]
    )
    assert cell(services, row, 3) == "—"
    assert cell(services, row, 4) == "—"
    assert format_latency(123.4) == "123 ms"
    assert format_owner(None, 77) == "pid 77"
    assert format_owner("python3", 77) == "python3 (77)"


def test_unchanged_update_touches_nothing(services: ServicesTable, qtbot) -> None:
    statuses = [service(name) for name in SERVICE_ORDER]
    assert services.update_services(statuses) == 6
    item = services.item(0, 2)
    # A new check with the same result (only checked_at moves) rewrites no cell ...
    again = [replace(s, checked_at=s.checked_at + 5) for s in statuses]
    changes: list[object] = []
    services.itemChanged.connect(changes.append)
    assert services.update_services(again) == 0
    assert changes == []
    # ... and a change rewrites only that row, in the same item (no row rebuild).
    assert services.update_services([service("management_api", ServiceState.DOWN)]) == 1
    assert services.item(0, 2) is item
    assert services.rowCount() == 6
    assert changes  # the State cell (and others of that row) changed


def test_unknown_services_are_ignored(services: ServicesTable) -> None:
    odd = replace(service("dap"), service="something_else")
    assert services.update_services([odd]) == 0
    assert services.rowCount() == 6


@pytest.fixture
def programs(qtbot) -> ProgramsTable:
    table = ProgramsTable()
    qtbot.addWidget(table)
    table.show()
    return table


def test_programs_table_rows_and_cells(programs: ProgramsTable) -> None:
    started = time.time() - 125
    statuses = {
        "game": program(
            "game", ProgramState.RUNNING, pid=321, started_at=started, restarts=2, last_exit_code=-9
        ),
        "editor": program("editor", ProgramState.STOPPED),
    }
    assert programs.update_programs(statuses) == 2
    assert programs.rowCount() == 2
    editor, game = programs.row_of("editor"), programs.row_of("game")
    assert (editor, game) == (0, 1)
    assert cell(programs, game, 0) == "Game"
    assert cell(programs, editor, 0) == "Godot editor"
    assert cell(programs, game, 1) == "RUNNING"
    assert background(programs, game, 1) == level_color("green")
    assert background(programs, editor, 1) == level_color("grey")
    assert cell(programs, game, 2) == "321"
    assert cell(programs, game, 3).startswith("2 min 0")
    assert cell(programs, game, 4) == "2"
    assert cell(programs, game, 5) == "-9"
    assert cell(programs, editor, 2) == "—"
    assert cell(programs, editor, 6) == "—"


def test_programs_table_shows_failure_and_fatal(programs: ProgramsTable) -> None:
    programs.update_programs({"game": program("game", ProgramState.RUNNING, pid=5)})
    issue = "game failed 3 times within 300 s (last: killed by SIGKILL)"
    fatal = program(
        "game",
        ProgramState.FATAL,
        last_failure="killed by SIGKILL",
        last_exit_code=-9,
        blocking_issue=issue,
        failures={"crash": 3},
    )
    assert programs.update_programs({"game": fatal}) == 1
    row = programs.row_of("game")
    assert cell(programs, row, 1) == "FATAL"
    assert background(programs, row, 1) == level_color("red")
    assert programs.item(row, 1).toolTip() == issue
    assert cell(programs, row, 6) == "killed by SIGKILL"
    assert programs.item(row, 4).toolTip() == "failures: crash: 3"
    assert programs.update_programs({"game": fatal}) == 0
    assert programs.rowCount() == 1


def test_format_uptime() -> None:
    assert format_uptime(None) == "—"
    assert format_uptime(42.9) == "42 s"
    assert format_uptime(185) == "3 min 05 s"
    assert format_uptime(2 * 3600 + 7 * 60 + 3) == "2 h 07 min"
