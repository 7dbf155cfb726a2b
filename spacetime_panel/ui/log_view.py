"""The log pane: the programs' output, filtered, bounded and cheap to feed.

Lines arrive in batches (`append_lines`); each batch becomes one edit of the
document, with one character format per run of same-level lines. The view
keeps the last `max_lines` lines it received in a deque and re-renders from
it when a filter changes, so filtering never loses what the user could see.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from spacetime_panel.core.views import OutputLine

_ERROR_WORDS = re.compile(r"\b(ERROR|FATAL|CRITICAL|Traceback)\b")
_WARNING_WORDS = re.compile(r"\b(WARNING|WARN)\b")


class LogLevel(enum.IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2


def line_level(line: OutputLine) -> LogLevel:
    """A line's level from its words first, then its stream.

    Godot writes both its "ERROR:" and its "WARNING:" lines to stderr, so the
    words decide; other stderr output counts as an error, the rest as info.
    """
    if _ERROR_WORDS.search(line.text):
        return LogLevel.ERROR
    if _WARNING_WORDS.search(line.text):
        return LogLevel.WARNING
    if line.stream == "stderr":
        return LogLevel.ERROR
    return LogLevel.INFO


def format_line(line: OutputLine) -> str:
    """'12:03:04.123 game   stderr     text'."""
    clock = datetime.fromtimestamp(line.timestamp).strftime("%H:%M:%S.%f")[:-3]
    return f"{clock} {line.program:<6} {line.stream:<10} {line.text}"


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which lines to show. Building one with an invalid regex raises `re.error`."""

    min_level: LogLevel = LogLevel.INFO
    text: str = ""
    regex: bool = False
    invert: bool = False
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = self.text if self.regex else re.escape(self.text)
        object.__setattr__(self, "_pattern", re.compile(pattern, re.IGNORECASE))

    def matches(self, line: OutputLine) -> bool:
        if line_level(line) < self.min_level:
            return False
        if not self.text:
            return True
        found = self._pattern.search(format_line(line)) is not None
        return found != self.invert


LEVEL_CHOICES: tuple[tuple[str, LogLevel], ...] = (
    ("All", LogLevel.INFO),
    ("Warnings and errors", LogLevel.WARNING),
    ("Errors", LogLevel.ERROR),
)

_COLORS = {LogLevel.ERROR: "#c62828", LogLevel.WARNING: "#b26a00"}
_SUPERVISOR_COLOR = "#1e5aa8"
_INVALID_STYLE = "QLineEdit { background: #f8d0d0; }"


class LogView(QWidget):
    """Read-only, bounded log with level and text filters, Pause, Copy and Clear."""

    def __init__(self, max_lines: int = 5000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.max_lines = max_lines
        self._lines: deque[OutputLine] = deque(maxlen=max_lines)
        self._pending: deque[OutputLine] = deque(maxlen=max_lines)  # held while paused
        self._filter = LogFilter()
        self._formats = self._make_formats()

        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(max_lines)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setUndoRedoEnabled(False)
        font = self.text.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.text.setFont(font)

        self.level_box = QComboBox(self)
        for label, level in LEVEL_CHOICES:
            self.level_box.addItem(label, level)
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter text")
        self.filter_edit.setClearButtonEnabled(True)
        self.regex_check = QCheckBox("Regex", self)
        self.invert_check = QCheckBox("Does not match", self)
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setCheckable(True)
        self.copy_button = QPushButton("Copy", self)
        self.clear_button = QPushButton("Clear", self)
        self.pending_label = QLabel(self)

        bar = QHBoxLayout()
        bar.addWidget(self.level_box)
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.regex_check)
        bar.addWidget(self.invert_check)
        bar.addWidget(self.pending_label)
        bar.addWidget(self.pause_button)
        bar.addWidget(self.copy_button)
        bar.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.text, 1)

        self.level_box.currentIndexChanged.connect(self._filters_changed)
        self.filter_edit.textChanged.connect(self._filters_changed)
        self.regex_check.toggled.connect(self._filters_changed)
        self.invert_check.toggled.connect(self._filters_changed)
        self.pause_button.toggled.connect(self._pause_toggled)
        self.copy_button.clicked.connect(self.copy_visible)
        self.clear_button.clicked.connect(self.clear)

    # --- what the main window calls ----------------------------------------------

    @property
    def paused(self) -> bool:
        return self.pause_button.isChecked()

    @property
    def filter(self) -> LogFilter:
        return self._filter

    def append_lines(self, lines: Sequence[OutputLine]) -> None:
        """Add a batch of lines; while paused they wait (bounded) until Resume."""
        if not lines:
            return
        if self.paused:
            self._pending.extend(lines)
            self.pending_label.setText(f"{len(self._pending)} new")
            return
        self._lines.extend(lines)
        self._render(lines, replace=False)

    def set_paused(self, paused: bool) -> None:
        self.pause_button.setChecked(paused)

    def visible_text(self) -> str:
        """The lines as shown, after filtering."""
        return self.text.toPlainText()

    def copy_visible(self) -> None:
        """Put the filtered lines on the clipboard."""
        QApplication.clipboard().setText(self.visible_text())

    def clear(self) -> None:
        """Forget every line received so far (the programs' own logs are untouched)."""
        self._lines.clear()
        self._pending.clear()
        self.pending_label.clear()
        self.text.clear()

    # --- internals ------------------------------------------------------------------

    def _make_formats(self) -> dict[str, QTextCharFormat]:
        formats: dict[str, QTextCharFormat] = {"plain": QTextCharFormat()}
        for level, color in _COLORS.items():
            fmt = QTextCharFormat()
            fmt.setForeground(QColor(color))
            formats[level.name] = fmt
        supervisor = QTextCharFormat()
        supervisor.setForeground(QColor(_SUPERVISOR_COLOR))
        formats["supervisor"] = supervisor
        return formats

    def _format_key(self, line: OutputLine) -> str:
        level = line_level(line)
        if level is not LogLevel.INFO:
            return level.name
        return "supervisor" if line.stream == "supervisor" else "plain"

    def _render(self, lines: Iterable[OutputLine], *, replace: bool) -> None:
        """Append (or replace the document with) the lines that pass the filter.

        One edit block per call, one insertText per run of same-format lines.
        """
        shown = [line for line in lines if self._filter.matches(line)]
        if not shown and not replace:
            return
        bar = self.text.verticalScrollBar()
        at_bottom = replace or bar.value() >= bar.maximum() - 2
        if replace:
            self.text.clear()
        document = self.text.document()
        cursor = QTextCursor(document)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.beginEditBlock()
        run_key = "plain"
        run: list[str] = []
        for line in shown:
            key = self._format_key(line)
            if key != run_key and run:
                self._insert(cursor, run, run_key)
                run = []
            run_key = key
            run.append(format_line(line))
        if run:
            self._insert(cursor, run, run_key)
        cursor.endEditBlock()
        if at_bottom:
            bar.setValue(bar.maximum())

    def _insert(self, cursor: QTextCursor, run: list[str], key: str) -> None:
        # "\n" in insertText starts a new block, so a run is one call, not one per line.
        text = "\n".join(run)
        prefix = "" if cursor.document().isEmpty() else "\n"
        cursor.insertText(prefix + text, self._formats[key])

    def _filters_changed(self) -> None:
        level = self.level_box.currentData()
        try:
            new = LogFilter(
                min_level=LogLevel(level),
                text=self.filter_edit.text(),
                regex=self.regex_check.isChecked(),
                invert=self.invert_check.isChecked(),
            )
        except re.error as error:
            self.filter_edit.setStyleSheet(_INVALID_STYLE)
            self.filter_edit.setToolTip(f"Invalid regular expression: {error}")
            new = LogFilter(min_level=LogLevel(level))  # the level still applies
            self.filter_edit.setProperty("invalid", True)
        else:
            self.filter_edit.setStyleSheet("")
            self.filter_edit.setToolTip("")
            self.filter_edit.setProperty("invalid", False)
        self._filter = new
        self._render(self._lines, replace=True)

    def _pause_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        if paused or not self._pending:
            return
        held = list(self._pending)
        self._pending.clear()
        self.pending_label.clear()
        self._lines.extend(held)
        self._render(held, replace=False)
