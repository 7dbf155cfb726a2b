"""The log pane, driven through its real widgets."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from spacetime_panel.supervisor.output import OutputLine
from spacetime_panel.ui.log_view import LogFilter, LogLevel, LogView, format_line, line_level

T0 = time.mktime((2025, 1, 2, 12, 3, 4, 0, 0, -1)) + 0.123


def line(text: str, stream: str = "stdout", program: str = "game", at: float = T0) -> OutputLine:
    return OutputLine(timestamp=at, program=program, stream=stream, text=text)


MIXED = [
    line("scene loaded"),
    line("ERROR: res://vr_main.gd:12 - null instance", "stderr"),
    line("WARNING: XR interface not found", "stderr"),
    line("restarting game in 1 s", "supervisor"),
    line("editor says hi", program="editor"),
    line("segfault somewhere", "stderr"),
]


@pytest.fixture
def view(qtbot) -> LogView:
    widget = LogView(max_lines=50)
    qtbot.addWidget(widget)
    widget.resize(700, 200)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def shown(view: LogView) -> list[str]:
    text = view.visible_text()
    return text.split("\n") if text else []


def test_line_format_shows_time_program_and_stream() -> None:
    assert format_line(line("hello", "stderr")) == "12:03:04.123 game   stderr     hello"
    assert line_level(line("WARNING: x", "stderr")) is LogLevel.WARNING
    assert line_level(line("plain", "stderr")) is LogLevel.ERROR
    assert line_level(line("ERROR: x")) is LogLevel.ERROR
    assert line_level(line("WARN low memory")) is LogLevel.WARNING
    assert line_level(line("stopping game", "supervisor")) is LogLevel.INFO
    assert line_level(line("no errors here")) is LogLevel.INFO


def test_append_shows_lines_in_order_and_stderr_in_colour(view: LogView) -> None:
    view.append_lines(MIXED)
    assert shown(view) == [format_line(x) for x in MIXED]
    document = view.text.document()
    plain = document.findBlockByNumber(0).begin().fragment().charFormat().foreground().color()
    error = document.findBlockByNumber(1).begin().fragment().charFormat().foreground().color()
    supervisor = document.findBlockByNumber(3).begin().fragment().charFormat().foreground()
    assert error != plain
    assert error.name() == "#c62828"
    assert supervisor.color() not in (error, plain)
    assert view.text.isReadOnly()


def test_bounded_to_max_lines(view: LogView) -> None:
    for batch in range(4):
        view.append_lines([line(f"line {batch * 30 + i}") for i in range(30)])
    lines = shown(view)
    assert len(lines) == 50
    assert lines[-1].endswith("line 119")
    assert lines[0].endswith("line 70")
    assert view.text.document().blockCount() == 50


def test_level_filter(view: LogView, qtbot) -> None:
    view.append_lines(MIXED)
    view.level_box.setCurrentIndex(1)  # Warnings and errors
    assert [x.split(maxsplit=3)[3] for x in shown(view)] == [
        "ERROR: res://vr_main.gd:12 - null instance",
        "WARNING: XR interface not found",
        "segfault somewhere",
    ]
    view.level_box.setCurrentIndex(2)  # Errors
    assert len(shown(view)) == 2
    # New lines obey the filter too.
    view.append_lines([line("fine"), line("FATAL: out of memory")])
    assert shown(view)[-1].endswith("FATAL: out of memory")
    assert len(shown(view)) == 3
    view.level_box.setCurrentIndex(0)
    assert len(shown(view)) == len(MIXED) + 2


def test_text_filter_and_invert(view: LogView, qtbot) -> None:
    view.append_lines(MIXED)
    qtbot.keyClicks(view.filter_edit, "editor")
    assert len(shown(view)) == 1
    assert "editor says hi" in shown(view)[0]
    qtbot.mouseClick(view.invert_check, Qt.MouseButton.LeftButton)
    assert view.invert_check.isChecked()
    assert len(shown(view)) == len(MIXED) - 1
    assert all("editor" not in x for x in shown(view))
    view.filter_edit.clear()
    assert len(shown(view)) == len(MIXED)


def test_regex_filter_and_invalid_regex(view: LogView, qtbot) -> None:
    view.append_lines(MIXED)
    view.regex_check.setChecked(True)
    view.filter_edit.setText(r"res://\w+\.gd")
    assert len(shown(view)) == 1
    assert view.filter_edit.styleSheet() == ""
    # A half-typed pattern must not crash: the field turns red and explains why.
    view.filter_edit.setText("vr_main(")
    assert "background" in view.filter_edit.styleSheet()
    assert "Invalid regular expression" in view.filter_edit.toolTip()
    assert len(shown(view)) == len(MIXED)
    view.append_lines([line("still alive")])
    assert shown(view)[-1].endswith("still alive")
    view.filter_edit.setText("vr_main\\(?")
    assert view.filter_edit.styleSheet() == ""
    assert len(shown(view)) == 1
    # Without the regex box the same text is matched literally.
    view.regex_check.setChecked(False)
    assert shown(view) == []


def test_filter_object_rejects_invalid_regex() -> None:
    with pytest.raises(Exception, match="missing"):
        LogFilter(text="(", regex=True)
    assert LogFilter(text="(").matches(line("a (b"))


def test_pause_buffers_and_resume_shows(view: LogView, qtbot) -> None:
    view.append_lines([line("before")])
    qtbot.mouseClick(view.pause_button, Qt.MouseButton.LeftButton)
    assert view.paused
    assert view.pause_button.text() == "Resume"
    view.append_lines([line(f"held {i}") for i in range(80)])
    assert shown(view) == [format_line(line("before"))]
    assert view.pending_label.text() == "50 new"  # bounded like the view
    qtbot.mouseClick(view.pause_button, Qt.MouseButton.LeftButton)
    assert not view.paused
    lines = shown(view)
    assert lines[-1].endswith("held 79")
    assert len(lines) == 50
    assert view.pending_label.text() == ""


def test_copy_puts_filtered_text_on_clipboard(view: LogView, qtbot) -> None:
    view.append_lines(MIXED)
    view.level_box.setCurrentIndex(2)
    qtbot.mouseClick(view.copy_button, Qt.MouseButton.LeftButton)
    copied = QApplication.clipboard().text()
    assert copied == "\n".join(format_line(x) for x in (MIXED[1], MIXED[5]))


def test_clear(view: LogView, qtbot) -> None:
    view.append_lines(MIXED)
    qtbot.mouseClick(view.clear_button, Qt.MouseButton.LeftButton)
    assert view.visible_text() == ""
    view.level_box.setCurrentIndex(1)  # re-render from memory: nothing comes back
    assert view.visible_text() == ""


def test_auto_scroll_stays_at_bottom_unless_user_scrolled_up(view: LogView, qtbot) -> None:
    bar = view.text.verticalScrollBar()
    view.append_lines([line(f"first {i}") for i in range(40)])
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    assert bar.value() == bar.maximum()
    view.append_lines([line(f"second {i}") for i in range(5)])
    assert bar.value() == bar.maximum()
    # The user scrolls up to read: new lines must not yank the view down.
    bar.setValue(3)
    view.append_lines([line(f"third {i}") for i in range(5)])
    assert bar.value() < bar.maximum()
    assert bar.value() <= 3
    # Back at the bottom, following resumes.
    bar.setValue(bar.maximum())
    view.append_lines([line("fourth")])
    assert bar.value() == bar.maximum()
