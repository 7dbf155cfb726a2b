"""The port table (six debug services) and the programs table (editor, game).

Both tables keep their rows and items for the life of the widget and only
touch the cells whose text or colour changed: the main window can feed them
every second without flicker, and an unchanged update costs a tuple compare.

Every column shows at the window's first-start size, without a horizontal
scroll bar: the short columns fit their contents, the owner column has a
width for a typical "godot (12345)", and the last text column (the detail,
the last failure) takes the rest. Text longer than its column ends in "…";
the whole of it is in the cell's tooltip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from spacetime_panel.core.views import (
    BRIDGE_HTTP,
    DAP,
    DISCOVERY,
    LSP,
    MANAGEMENT_API,
    SERVICE_ORDER,
    TELEMETRY,
    ProgramStatus,
    ServiceState,
    ServiceStatus,
)
from spacetime_panel.ui.icons import state_color, text_color_on

SERVICE_LABELS: dict[str, str] = {
    MANAGEMENT_API: "Management API",
    BRIDGE_HTTP: "Bridge HTTP API",
    TELEMETRY: "Telemetry",
    DAP: "Debug adapter (DAP)",
    LSP: "Language server (LSP)",
    DISCOVERY: "Service discovery",
}

PROGRAM_LABELS: dict[str, str] = {"editor": "Godot editor", "game": "Game"}
PROGRAM_ORDER = ("editor", "game")

NONE = "—"  # shown for a value that does not exist (no pid, no latency)
#: Room around a cell's text (the style's item margins), in pixels.
CELL_PADDING = 16


@dataclass(frozen=True, slots=True)
class Cell:
    """What one table cell shows; equal cells are not written again."""

    text: str
    tooltip: str = ""
    background: QColor | None = None


def format_latency(latency_ms: float | None) -> str:
    if latency_ms is None:
        return NONE
    if latency_ms < 10:
        return f"{latency_ms:.1f} ms"
    return f"{latency_ms:.0f} ms"


def format_owner(name: str | None, pid: int | None) -> str:
    """'godot (1234)', 'pid 1234' when the name is unknown, '—' when nobody holds the port."""
    if pid is None:
        return name or NONE
    return f"{name} ({pid})" if name else f"pid {pid}"


def format_uptime(seconds: float | None) -> str:
    """'42 s', '3 min 05 s', '2 h 07 min'."""
    if seconds is None:
        return NONE
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class _CellTable(QTableWidget):
    """A read-only table whose items are created once and updated cell by cell."""

    def __init__(
        self,
        headers: Sequence[str],
        parent: QWidget | None = None,
        *,
        sized: Mapping[str, str] | None = None,
        header_tips: Mapping[str, str] | None = None,
    ) -> None:
        """`sized` columns are as wide as their sample text (the user may drag them);
        the last column stretches; the others fit their contents."""
        super().__init__(0, len(headers), parent)
        self.setHorizontalHeaderLabels(list(headers))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().setVisible(False)
        self.setAlternatingRowColors(False)  # the state colour must read as the only colour
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(headers) - 1, QHeaderView.ResizeMode.Stretch)
        for title, sample in (sized or {}).items():
            column = list(headers).index(title)
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(
                column, self.fontMetrics().horizontalAdvance(sample) + CELL_PADDING
            )
        for title, tip in (header_tips or {}).items():
            item = QTableWidgetItem(title)
            item.setToolTip(tip)
            self.setHorizontalHeaderItem(list(headers).index(title), item)
        self._shown: list[list[Cell | None]] = []
        self._items: list[list[QTableWidgetItem]] = []

    def _add_row(self) -> int:
        row = self.rowCount()
        self.insertRow(row)
        items = [QTableWidgetItem() for _ in range(self.columnCount())]
        for column, item in enumerate(items):
            self.setItem(row, column, item)
        self._items.append(items)
        self._shown.append([None] * self.columnCount())
        return row

    def _show_row(self, row: int, cells: Sequence[Cell]) -> bool:
        """Write the cells that differ from what is shown; True if any did."""
        changed = False
        shown = self._shown[row]
        for column, cell in enumerate(cells):
            if shown[column] == cell:
                continue
            item = self._items[row][column]
            item.setText(cell.text)
            item.setToolTip(cell.tooltip)
            if cell.background is None:
                item.setData(Qt.ItemDataRole.BackgroundRole, None)
                item.setData(Qt.ItemDataRole.ForegroundRole, None)
            else:
                item.setBackground(QBrush(cell.background))
                item.setForeground(QBrush(text_color_on(cell.background)))
            shown[column] = cell
            changed = True
        return changed


class ServicesTable(_CellTable):
    """One row per debug service, in the order of the design's port table."""

    COLUMNS = ("Service", "Port", "State", "Latency", "Owner", "Detail")
    STATE_COLUMN = 2

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(self.COLUMNS, parent, sized={"Owner": "godot (123456)"})
        self._rows: dict[str, int] = {}
        for service in SERVICE_ORDER:
            row = self._add_row()
            self._rows[service] = row
            label = SERVICE_LABELS.get(service, service)
            unknown = state_color(ServiceState.UNKNOWN)
            cells = (
                Cell(label),
                Cell(NONE),
                Cell("Unknown", "not checked yet", unknown),
                Cell(NONE),
                Cell(NONE),
                Cell("not checked yet"),
            )
            self._show_row(row, cells)

    def row_of(self, service: str) -> int:
        return self._rows[service]

    def update_services(self, statuses: Sequence[ServiceStatus]) -> int:
        """Show the latest statuses; return how many rows changed.

        Statuses of services outside the six known ones are ignored; a service
        missing from `statuses` keeps what it showed.
        """
        changed = 0
        for status in statuses:
            row = self._rows.get(status.service)
            if row is not None and self._show_row(row, self._cells(status)):
                changed += 1
        return changed

    @staticmethod
    def _cells(status: ServiceStatus) -> tuple[Cell, ...]:
        where = f"{status.host}:{status.port}/{status.protocol}"
        # No check time in the cells: an unchanged result must not rewrite anything.
        tooltip = where if not status.server else f"{where}\nserver: {status.server}"
        state = status.state
        return (
            Cell(SERVICE_LABELS.get(status.service, status.service), tooltip),
            Cell(f"{status.port}/{status.protocol}", where),
            Cell(state.value.capitalize(), status.detail, state_color(state)),
            Cell(format_latency(status.latency_ms)),
            Cell(owner := format_owner(status.owner_name, status.owner_pid), owner),
            Cell(status.detail, status.detail),
        )


class ProgramsTable(_CellTable):
    """One row per supervised program: state, pid, uptime, restarts and the last failure."""

    COLUMNS = ("Program", "State", "PID", "Uptime", "Restarts", "Exit code", "Last failure")
    STATE_COLUMN = 1

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(self.COLUMNS, parent, header_tips={"Exit code": "the last exit code"})
        self._rows: dict[str, int] = {}

    def row_of(self, program: str) -> int:
        return self._rows[program]

    def update_programs(self, statuses: Mapping[str, ProgramStatus]) -> int:
        """Show the programs' statuses (editor first, then game, then others); rows
        appear the first time a program does. Returns how many rows changed."""
        ordered = sorted(
            statuses,
            key=lambda n: (PROGRAM_ORDER.index(n) if n in PROGRAM_ORDER else len(PROGRAM_ORDER), n),
        )
        changed = 0
        for name in ordered:
            row = self._rows.get(name)
            if row is None:
                row = self._rows[name] = self._add_row()
            if self._show_row(row, self._cells(statuses[name])):
                changed += 1
        return changed

    @staticmethod
    def _cells(status: ProgramStatus) -> tuple[Cell, ...]:
        state = status.state
        state_tip = status.blocking_issue or ""
        if status.adopted:
            state_tip = (state_tip + "\n" if state_tip else "") + "adopted from a previous panel"
        failures = ", ".join(f"{kind}: {n}" for kind, n in sorted(status.failures.items()))
        return (
            Cell(PROGRAM_LABELS.get(status.name, status.name)),
            Cell(state.value, state_tip, state_color(state)),
            Cell(NONE if status.pid is None else str(status.pid)),
            Cell(format_uptime(status.uptime)),
            Cell(str(status.restarts), failures and f"failures: {failures}"),
            Cell(NONE if status.last_exit_code is None else str(status.last_exit_code)),
            Cell(status.last_failure or NONE, status.last_failure or ""),
        )
