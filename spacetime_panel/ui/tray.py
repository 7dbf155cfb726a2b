"""The tray icon: health at a glance, a menu built from current state, notifications.

Like vorta's tray, the menu is rebuilt each time it opens from what
`state_provider()` says now, so it can never show a stale entry. What to
notify about is decided by pure functions (`notification_for`, `tray_summary`)
that tests call without a tray.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from spacetime_panel.core.health import Health
from spacetime_panel.core.views import ProgramState, ProgramStatus
from spacetime_panel.ui.icons import HealthLevel, health_icon

NotifyLevel = Literal["info", "warning", "error"]

_MESSAGE_ICONS = {
    "info": QSystemTrayIcon.MessageIcon.Information,
    "warning": QSystemTrayIcon.MessageIcon.Warning,
    "error": QSystemTrayIcon.MessageIcon.Critical,
}

PROGRAM_TITLES = {"game": "Godot game", "editor": "Godot editor"}


class Notification(NamedTuple):
    title: str
    message: str
    level: NotifyLevel


@dataclass(frozen=True, slots=True)
class TrayState:
    """What the tray menu needs to know when it opens."""

    window_visible: bool
    game_state: str
    can_launch: bool
    can_stop: bool
    can_restart: bool
    can_reload: bool


_EXIT_WORDS = ("exited", "killed by")


def notification_for(
    before: ProgramStatus | None,
    after: ProgramStatus,
    *,
    recovering: bool = False,
    retry_delay: float | None = None,
) -> Notification | None:
    """What to tell the user about a program's change of state, if anything.

    Crashes, recoveries and giving up are news; a stop the user asked for and a
    normal start are not. `recovering` says the program was restarting after a
    failure (a BACKOFF -> STARTING -> RUNNING path passes through STARTING, so the
    caller remembers it; `ProgramNotifier` does).
    """
    was = before.state if before is not None else None
    now = after.state
    if was is now:
        return None
    title = PROGRAM_TITLES.get(after.name, after.name)
    S = ProgramState
    if now in (S.BACKOFF, S.EXITED):
        reason = after.last_failure or "stopped unexpectedly"
        verb = "crashed" if reason.startswith(_EXIT_WORDS) else "failed"
        if now is S.EXITED:
            then = "auto-restart is off"
        elif retry_delay is not None:
            then = f"restarting in {retry_delay:g} s"
        else:
            then = "restarting"
        return Notification(f"{title} {verb}", f"{title} {verb} ({reason}); {then}", "warning")
    if now is S.FATAL:
        issue = after.blocking_issue or after.last_failure or "too many failures"
        return Notification(f"{title} gave up", f"{after.name} gave up: {issue}", "error")
    if now is S.RUNNING and (recovering or was is S.BACKOFF):
        pid = f" (pid {after.pid})" if after.pid is not None else ""
        return Notification(f"{title} recovered", f"{after.name} is running again{pid}", "info")
    return None


class ProgramNotifier:
    """Remembers each program's last status so `observe` can call `notification_for`."""

    def __init__(self) -> None:
        self._last: dict[str, ProgramStatus] = {}
        self._recovering: set[str] = set()

    def observe(self, status: ProgramStatus) -> Notification | None:
        """Feed every status change (e.g. from `SupervisedProgram.subscribe`)."""
        name = status.name
        news = notification_for(self._last.get(name), status, recovering=name in self._recovering)
        if status.state is ProgramState.BACKOFF:
            self._recovering.add(name)
        elif status.state is not ProgramState.STARTING:
            self._recovering.discard(name)
        self._last[name] = status
        return news


def tray_summary(
    statuses: Mapping[str, ProgramStatus], health: Health | None
) -> tuple[HealthLevel, str]:
    """The tray's level and tooltip.

    Red: a program gave up (FATAL) or exited for good; amber: something is
    starting, restarting or stopping, or everything runs but /health lists an
    issue (scene loading, player not spawned, bridge silent); green: running and
    healthy; grey: nothing runs.
    """
    states = {status.state for status in statuses.values()}
    S = ProgramState
    # A program stopped on purpose (say, no editor today) is not a problem to flag.
    issues = [
        str(issue)
        for issue in (health.body.get("blocking_issues", []) if health else [])
        if "is stopped" not in str(issue)
    ]
    level: HealthLevel
    if states & {S.FATAL, S.EXITED}:
        level = "red"
    elif states & {S.STARTING, S.BACKOFF, S.STOPPING}:
        level = "amber"
    elif not states or states == {S.STOPPED}:
        level = "grey"
    else:
        level = "amber" if issues else "green"
    parts = [
        f"{name} {status.state.value}" + (f" (pid {status.pid})" if status.pid else "")
        for name, status in sorted(statuses.items())
    ]
    tooltip = "SpaceTime Panel\n" + (", ".join(parts) or "no programs")
    if issues:
        tooltip += "\n" + "\n".join(issues[:3])
    return level, tooltip


class PanelTray(QObject):
    """The tray icon and its menu. Works (records, answers) even without a system tray."""

    def __init__(
        self,
        state_provider: Callable[[], TrayState],
        *,
        on_show_hide: Callable[[], None],
        on_launch: Callable[[], None],
        on_restart: Callable[[], None],
        on_reload: Callable[[], None],
        on_stop: Callable[[], None],
        on_quit: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._state_provider = state_provider
        self._on_show_hide = on_show_hide
        self._callbacks = {
            "launch": on_launch,
            "restart": on_restart,
            "reload": on_reload,
            "stop": on_stop,
            "quit": on_quit,
        }
        self.notifications: list[tuple[str, str]] = []
        self.level: HealthLevel = "grey"
        self.icon = QSystemTrayIcon(health_icon(self.level), self)
        self.icon.setToolTip("SpaceTime Panel")
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.rebuild_menu()

    @property
    def available(self) -> bool:
        """False when the desktop has no system tray (offscreen tests, some Wayland setups)."""
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        if self.available:
            self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def update_health(self, level: HealthLevel, tooltip: str) -> None:
        """Set the icon colour and the tooltip; the icon is redrawn only on a change."""
        if level != self.level:
            self.level = level
            self.icon.setIcon(health_icon(level))
        if tooltip != self.icon.toolTip():
            self.icon.setToolTip(tooltip)

    def notify(self, title: str, message: str, level: NotifyLevel = "info") -> None:
        """Show a tray message (when the desktop can) and record it."""
        self.notifications.append((title, message))
        if self.available and self.icon.supportsMessages():
            self.icon.showMessage(title, message, _MESSAGE_ICONS[level], 8000)

    def rebuild_menu(self) -> None:
        """Fill the menu from the provider's current state (runs on every aboutToShow)."""
        state = self._state_provider()
        menu = self.menu
        menu.clear()
        header = menu.addAction(f"Game: {state.game_state}")
        header.setEnabled(False)
        menu.addSeparator()
        menu.addAction("Hide window" if state.window_visible else "Show window", self._on_show_hide)
        menu.addSeparator()
        entries = (
            ("Launch", "launch", state.can_launch),
            ("Restart", "restart", state.can_restart),
            ("Reload scene", "reload", state.can_reload),
            ("Stop", "stop", state.can_stop),
        )
        for text, key, enabled in entries:
            action = menu.addAction(text, self._callbacks[key])
            action.setEnabled(enabled)
        menu.addSeparator()
        menu.addAction("Quit", self._callbacks["quit"])

    def action(self, text: str) -> QAction:
        """The menu entry with this text (as last built); KeyError if absent."""
        for action in self.menu.actions():
            if action.text() == text:
                return action
        raise KeyError(text)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason is QSystemTrayIcon.ActivationReason.Trigger:
            self._on_show_hide()
