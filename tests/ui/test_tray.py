"""The tray: menu rebuilt from current state, health icon, notifications."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QSystemTrayIcon

from spacetime_panel.core.health import Health
from spacetime_panel.supervisor.machine import ProgramState
from spacetime_panel.supervisor.program import ProgramStatus
from spacetime_panel.ui.icons import HEALTH_LEVELS, health_icon, level_color
from spacetime_panel.ui.tray import (
    PanelTray,
    ProgramNotifier,
    TrayState,
    notification_for,
    tray_summary,
)
from tests.conftest import program_status

S = ProgramState


def status(state: ProgramState, name: str = "game", **changes: object) -> ProgramStatus:
    return program_status(name, state, **changes)


class Harness:
    """A tray whose state the test changes between menu openings; records callbacks."""

    def __init__(self) -> None:
        self.state = TrayState(
            window_visible=True,
            game_state="STOPPED",
            can_launch=True,
            can_stop=False,
            can_restart=False,
            can_reload=False,
        )
        self.calls: list[str] = []
        self.tray = PanelTray(
            lambda: self.state,
            on_show_hide=lambda: self.calls.append("show_hide"),
            on_launch=lambda: self.calls.append("launch"),
            on_restart=lambda: self.calls.append("restart"),
            on_reload=lambda: self.calls.append("reload"),
            on_stop=lambda: self.calls.append("stop"),
            on_quit=lambda: self.calls.append("quit"),
        )

    def open_menu(self) -> dict[str, bool]:
        self.tray.menu.aboutToShow.emit()
        return {a.text(): a.isEnabled() for a in self.tray.menu.actions() if a.text()}


@pytest.fixture
def harness(qtbot) -> Harness:
    return Harness()


def test_menu_is_rebuilt_from_the_provider_each_time_it_opens(harness: Harness) -> None:
    assert harness.open_menu() == {
        "Game: STOPPED": False,
        "Hide window": True,
        "Launch": True,
        "Restart": False,
        "Reload scene": False,
        "Stop": False,
        "Quit": True,
    }
    harness.state = TrayState(
        window_visible=False,
        game_state="RUNNING",
        can_launch=False,
        can_stop=True,
        can_restart=True,
        can_reload=True,
    )
    entries = harness.open_menu()
    assert entries == {
        "Game: RUNNING": False,
        "Show window": True,
        "Launch": False,
        "Restart": True,
        "Reload scene": True,
        "Stop": True,
        "Quit": True,
    }
    # Rebuilt, not appended to.
    assert len([a for a in harness.tray.menu.actions() if a.text() == "Quit"]) == 1


def test_menu_entries_call_their_callbacks(harness: Harness) -> None:
    harness.state = replace(harness.state, can_stop=True, can_reload=True, can_restart=True)
    harness.open_menu()
    for text in ("Launch", "Restart", "Reload scene", "Stop", "Show window", "Quit"):
        if text == "Show window":
            text = "Hide window"
        harness.tray.action(text).trigger()
    assert harness.calls == ["launch", "restart", "reload", "stop", "show_hide", "quit"]
    with pytest.raises(KeyError):
        harness.tray.action("Format disk")


def test_clicking_the_icon_shows_or_hides_the_window(harness: Harness) -> None:
    harness.tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    harness.tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Context)
    assert harness.calls == ["show_hide"]


def test_a_disabled_entry_does_nothing(harness: Harness) -> None:
    harness.open_menu()
    harness.tray.action("Stop").trigger()
    assert harness.calls == []


def test_health_level_changes_icon_and_tooltip(harness: Harness) -> None:
    tray = harness.tray
    assert tray.level == "grey"
    before = tray.icon.icon().pixmap(32, 32).toImage()
    tray.update_health("red", "game FATAL")
    assert tray.level == "red"
    assert tray.icon.toolTip() == "game FATAL"
    after = tray.icon.icon().pixmap(32, 32).toImage()
    assert after != before
    assert QImage(after).pixelColor(8, 16) == QImage(
        health_icon("red").pixmap(32, 32).toImage()
    ).pixelColor(8, 16)


@pytest.mark.parametrize("level", HEALTH_LEVELS)
def test_health_icons_are_drawn_in_their_colour(qtbot, level: str) -> None:
    image = health_icon(level).pixmap(64, 64).toImage()  # type: ignore[arg-type]
    centre_left = image.pixelColor(14, 40)  # inside the disc, clear of the "S"
    expected = level_color(level)  # type: ignore[arg-type]
    assert abs(centre_left.hue() - expected.hue()) <= 12 or expected.saturation() < 20
    assert image.pixelColor(0, 0).alpha() == 0  # transparent corners


def test_notify_records_even_without_a_system_tray(harness: Harness) -> None:
    tray = harness.tray
    assert isinstance(tray.available, bool)
    tray.notify(
        "Godot game crashed", "Godot game crashed (killed by SIGKILL); restarting", "warning"
    )
    tray.notify("Godot game recovered", "game is running again (pid 7)")
    assert tray.notifications == [
        ("Godot game crashed", "Godot game crashed (killed by SIGKILL); restarting"),
        ("Godot game recovered", "game is running again (pid 7)"),
    ]


# --- what to notify about ----------------------------------------------------------


def test_crash_while_running() -> None:
    running = status(S.RUNNING, pid=10)
    crashed = status(S.BACKOFF, last_failure="killed by SIGKILL", last_exit_code=-9)
    note = notification_for(running, crashed, retry_delay=1)
    assert note is not None
    assert note.message == "Godot game crashed (killed by SIGKILL); restarting in 1 s"
    assert note.level == "warning"
    assert notification_for(running, crashed).message.endswith("; restarting")  # type: ignore[union-attr]


def test_watchdog_kill_is_a_failure_not_a_crash() -> None:
    stopping = status(S.STOPPING, pid=10)
    after = status(S.BACKOFF, last_failure="3 health checks failed in a row")
    note = notification_for(stopping, after)
    assert note is not None
    assert note.title == "Godot game failed"
    assert "3 health checks failed in a row" in note.message


def test_recovery_after_a_failure() -> None:
    backoff = status(S.BACKOFF, last_failure="exited with code 1")
    running = status(S.RUNNING, pid=99, restarts=1, last_failure="exited with code 1")
    note = notification_for(backoff, running)
    assert note is not None
    assert note.message == "game is running again (pid 99)"
    starting = status(S.STARTING, restarts=1, last_failure="exited with code 1")
    assert notification_for(starting, running) is None  # unless told it was recovering
    assert notification_for(starting, running, recovering=True) == note


def test_fatal() -> None:
    issue = "game failed 3 times within 300 s (last: killed by SIGKILL); not restarting"
    note = notification_for(status(S.STARTING), status(S.FATAL, blocking_issue=issue))
    assert note is not None
    assert note.message == f"game gave up: {issue}"
    assert note.level == "error"


def test_nothing_for_user_stops_and_normal_starts() -> None:
    path = [S.STOPPED, S.STARTING, S.RUNNING, S.STOPPING, S.STOPPED]
    notes = [
        notification_for(status(a, pid=1), status(b, pid=1)) for a, b in itertools.pairwise(path)
    ]
    assert notes == [None, None, None, None]
    assert notification_for(None, status(S.RUNNING, pid=1)) is None
    assert notification_for(status(S.RUNNING), status(S.RUNNING)) is None


def test_notifier_follows_a_crash_through_starting_to_recovery() -> None:
    notifier = ProgramNotifier()
    failure = {"last_failure": "killed by SIGKILL"}
    sequence = [
        status(S.STARTING),
        status(S.RUNNING, pid=1),
        status(S.BACKOFF, **failure),
        status(S.STARTING, restarts=1, **failure),
        status(S.RUNNING, pid=2, restarts=1, **failure),
        status(S.STOPPING, pid=2, restarts=1, **failure),
        status(S.STOPPED, restarts=1, **failure),
        status(S.STARTING, restarts=1, **failure),  # the user launches again later
        status(S.RUNNING, pid=3, restarts=1, **failure),
    ]
    messages = [n.message if (n := notifier.observe(s)) else None for s in sequence]
    assert messages == [
        None,
        None,
        "Godot game crashed (killed by SIGKILL); restarting",
        None,
        "game is running again (pid 2)",
        None,
        None,
        None,
        None,  # a normal start after a user stop is not news
    ]


def test_tray_summary_levels() -> None:
    healthy = Health(body={"overall_healthy": True, "blocking_issues": []}, healthy=True)
    spawning = Health(body={"blocking_issues": ["player not spawned yet"]}, healthy=False)
    no_editor = Health(body={"blocking_issues": ["editor is stopped"]}, healthy=False)
    game_up = status(S.RUNNING, pid=4)
    editor_off = status(S.STOPPED, name="editor")
    assert tray_summary({}, None)[0] == "grey"
    assert tray_summary({"game": status(S.STOPPED)}, None)[0] == "grey"
    assert tray_summary({"game": game_up}, healthy)[0] == "green"
    assert tray_summary({"game": game_up, "editor": editor_off}, no_editor)[0] == "green"
    level, tooltip = tray_summary({"game": game_up}, spawning)
    assert level == "amber"
    assert "game RUNNING (pid 4)" in tooltip
    assert "player not spawned yet" in tooltip
    assert tray_summary({"game": status(S.BACKOFF)}, None)[0] == "amber"
    assert tray_summary({"game": status(S.FATAL), "editor": editor_off}, None)[0] == "red"
