"""Every column of the port and program tables shows at the window's first-start size.

The real window (a real Controller, the simulated Godot) at the size it opens
with, the tables fed the longest values they can get: long details and
failures are cut short with "…" and whole in their tooltip; no column hides
behind a horizontal scroll bar.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from spacetime_panel.core.views import (
    SERVICE_ORDER,
    ProgramState,
    ProgramStatus,
    ServiceState,
    ServiceStatus,
)
from spacetime_panel.ui.app import DesktopPanel
from spacetime_panel.ui.main_window import MainWindow
from tests.conftest import eventually

#: The size MainWindow opens with when no geometry was saved (`_build_layout`).
FIRST_START_SIZE = QSize(1400, 860)

LONG_DETAIL = (
    "connection refused after the game stopped answering: the bridge HTTP server on "
    "127.0.0.1 did not accept within 2 s (is another program holding the port?)"
)
LONG_FAILURE = (
    "exited with code 137 (SIGKILL) after 12 failed health checks in 300 s: the bridge "
    "never answered /health; see game.log for Godot's own last lines before the kill"
)


def long_services() -> list[ServiceStatus]:
    return [
        ServiceStatus(
            service=service,
            host="127.0.0.1",
            port=65535,
            protocol="tcp",
            state=ServiceState.DEGRADED,
            latency_ms=12345.0,
            detail=LONG_DETAIL,
            owner_pid=4194304,
            owner_name="spacetime-godot-sim",
        )
        for service in SERVICE_ORDER
    ]


def long_programs() -> dict[str, ProgramStatus]:
    return {
        name: ProgramStatus(
            name=name,
            state=ProgramState.STOPPING,
            pid=4194304,
            started_at=time.time() - 3 * 3600,
            restarts=123,
            last_exit_code=-15,
            last_failure=LONG_FAILURE,
            blocking_issue=None,
            adopted=False,
            failures={"crash": 12},
        )
        for name in ("editor", "game")
    }


def cell(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
    found = table.item(row, column)
    assert found is not None
    return found


def title(table: QTableWidget, column: int) -> str:
    found = table.horizontalHeaderItem(column)
    assert found is not None
    return found.text()


def fits(table: QTableWidget) -> bool:
    header = table.horizontalHeader()
    last = table.columnCount() - 1
    right = header.sectionViewportPosition(last) + header.sectionSize(last)
    return right <= table.viewport().width() and table.horizontalScrollBar().maximum() == 0


def assert_every_column_shows(table: QTableWidget) -> None:
    header = table.horizontalHeader()
    width = table.viewport().width()
    for column in range(table.columnCount()):
        name = title(table, column)
        right = header.sectionViewportPosition(column) + header.sectionSize(column)
        assert header.sectionSize(column) > 0, f"{name} has no width"
        assert right <= width, f"{name} ends at {right} px, past the {width} px shown"
    assert table.horizontalScrollBar().maximum() == 0, "a horizontal scroll bar is needed"


def assert_whole_in_tooltip(table: QTableWidget, column: int, text: str) -> None:
    for row in range(table.rowCount()):
        item = cell(table, row, column)
        assert item.text() == text
        assert item.data(Qt.ItemDataRole.ToolTipRole) == text
        shown = table.fontMetrics().elidedText(
            text, table.textElideMode(), table.columnWidth(column)
        )
        assert shown != text, "the test's text is too short to need eliding"


def test_every_column_shows_at_the_first_start_size(run_panel: Callable[..., None]) -> None:
    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        window.timer.stop()  # the real statuses must not replace the long ones
        window.resize(FIRST_START_SIZE)
        services, programs = window.services, window.programs
        services.update_services(long_services())
        programs.update_programs(long_programs())
        await eventually(lambda: window.size() == FIRST_START_SIZE)
        # The header lays its sections out from the loop; the asserts below say what is wrong.
        with contextlib.suppress(AssertionError):
            await eventually(lambda: fits(services) and fits(programs), 5, "the columns to fit")

        for table in (services, programs):
            assert_every_column_shows(table)
            assert table.textElideMode() == Qt.TextElideMode.ElideRight
        assert_whole_in_tooltip(services, services.COLUMNS.index("Detail"), LONG_DETAIL)
        assert_whole_in_tooltip(programs, programs.COLUMNS.index("Last failure"), LONG_FAILURE)
        owner = cell(services, 0, services.COLUMNS.index("Owner"))
        assert owner.data(Qt.ItemDataRole.ToolTipRole) == "spacetime-godot-sim (4194304)"

    run_panel(scenario)
