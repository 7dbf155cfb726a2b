"""The main window: toolbar actions, the port and program tables, graphs, log, status bar.

It reads the Controller's public state on a timer (2 Hz while visible, 1 Hz
hidden, when only the tray needs it) and calls its public methods; it never
reaches past the Controller (its types come from `spacetime_panel.core.views`).
Output lines and state changes arrive through the controller's listeners and
are shown on the next tick, in batches. While the window is hidden (its usual
state, in the tray) the lines wait in a queue that holds at most what the log
view shows; older ones are only counted (every line is in the programs' logs).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from spacetime_panel.core.controller import Controller
from spacetime_panel.core.views import OutputLine, ProgramState, ProgramStatus, RecordingError
from spacetime_panel.godot.addon import AddonInstallError
from spacetime_panel.ui.graphs.headset import HeadsetGraph
from spacetime_panel.ui.graphs.performance import PerformanceGraph
from spacetime_panel.ui.icons import health_icon
from spacetime_panel.ui.log_view import LogView
from spacetime_panel.ui.services_view import ProgramsTable, ServicesTable
from spacetime_panel.ui.tray import PanelTray, ProgramNotifier, TrayState, tray_summary

log = logging.getLogger(__name__)

VISIBLE_TICK_MS = 500
HIDDEN_TICK_MS = 1000
#: Graph redraws a second, matched to the telemetry batches while a window shows
#: (1/20 s, `Controller.set_visible`): under the 30 Hz cap, smooth motion for a
#: scrolling graph, two thirds of the drawing of 30 Hz (gui_load benchmark).
GRAPH_REDRAW_HZ = 20.0
#: Ticks between looks for discovered games (they beacon once a second).
INSTANCE_EVERY = 4
TRAY_HINT = "SpaceTime Panel keeps running in the tray; use its menu to quit."


class MainWindow(QMainWindow):
    """The panel's window, driven by one Controller."""

    def __init__(
        self,
        controller: Controller,
        *,
        on_quit: Callable[[], None],
        on_settings: Callable[[], None] | None = None,
        confirm: Callable[[str, str], bool] | None = None,
        choose_record_path: Callable[[], Path | None] | None = None,
        remember_key_host: Callable[[str], str | None] | None = None,
    ) -> None:
        """`remember_key_host(host)` keeps an approval for the next start (the config
        file); it returns None, or why it could not."""
        super().__init__()
        self.controller = controller
        self._on_quit = on_quit
        self._confirm = confirm or self._ask
        self._choose_record_path = choose_record_path or self._ask_record_path
        self._remember_key_host = remember_key_host
        #: Hosts already asked about the bridge key (yes or no): asked once each.
        self._key_hosts_asked: set[str] = set()
        self._notifier = ProgramNotifier()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.hint_shown = False
        self.setWindowTitle("SpaceTime Panel")
        self._icon_level = "grey"
        self.setWindowIcon(health_icon("grey"))

        self.services = ServicesTable()
        self.programs = ProgramsTable()
        self.performance = PerformanceGraph(
            controller.telemetry_buffers, controller.telemetry_summary
        )
        self.performance.set_refresh_rate(controller.settings.telemetry.refresh_rate_hz)
        self.headset = HeadsetGraph(controller.telemetry_buffers)
        for graph in (self.performance, self.headset):
            graph.set_redraw_rate(GRAPH_REDRAW_HZ)
        self._ticks = 0
        self.log_view = LogView()
        #: New output lines until the next tick that shows them; bounded like the log view
        #: (lines pushed out while hidden could never be shown there anyway).
        self._pending_lines: deque[OutputLine] = deque(maxlen=self.log_view.max_lines)
        #: Lines the queue let go since the log view last received lines.
        self._pending_dropped = 0
        self._build_layout()
        self._build_toolbar(on_settings)
        self._build_status_bar()

        self.tray = PanelTray(
            self._tray_state,
            on_show_hide=self.toggle_visible,
            on_launch=self.launch,
            on_restart=self.restart_game,
            on_reload=self.reload_scene,
            on_stop=self.stop_all,
            on_quit=self.quit,
            parent=self,
        )
        self.tray.show()

        controller.subscribe(self._on_program_change)
        controller.subscribe_output(self._queue_line)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(VISIBLE_TICK_MS)
        self._restore_geometry()
        self.refresh_scenes()

    # --- layout ---------------------------------------------------------------------

    def _build_addon_banner(self) -> QWidget:
        """Shown while the project lacks the bridge addon: what that costs, and the fix."""
        self.addon_banner = QWidget()
        row = QHBoxLayout(self.addon_banner)
        row.setContentsMargins(6, 4, 6, 4)
        self.addon_banner.setStyleSheet("background: #fff4ce; color: #3b2f00;")
        label = QLabel(
            "This project has no SpaceTime bridge addon: scene loads, telemetry and "
            "/status are off. The game is still supervised."
        )
        label.setWordWrap(True)
        self.install_addon_button = QPushButton("Install the bridge addon")
        self.install_addon_button.clicked.connect(self.install_bridge_addon)
        row.addWidget(label, 1)
        row.addWidget(self.install_addon_button)
        self.addon_banner.setVisible(self.controller.bridge_addon_missing())
        return self.addon_banner

    def _build_layout(self) -> None:
        tables = QWidget()
        column = QVBoxLayout(tables)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self._build_addon_banner())
        column.addWidget(QLabel("Services"))
        column.addWidget(self.services, 3)
        column.addWidget(QLabel("Programs"))
        column.addWidget(self.programs, 1)
        self.graphs = QTabWidget()
        self.graphs.addTab(self.performance, "Performance")
        self.graphs.addTab(self.headset, "Headset")
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(tables)
        top.addWidget(self.graphs)
        top.setStretchFactor(1, 2)
        top.setSizes([640, 760])  # every column of both tables visible at first start
        main = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(top)
        main.addWidget(self.log_view)
        main.setStretchFactor(0, 3)
        main.setStretchFactor(1, 1)
        main.setSizes([620, 220])
        self.setCentralWidget(main)
        self.resize(1400, 860)

    def _action(self, text: str, slot: Callable[[], None], shortcut: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setToolTip(f"{text} ({shortcut})")
        action.triggered.connect(slot)
        return action

    def _build_toolbar(self, on_settings: Callable[[], None] | None) -> None:
        bar = QToolBar("Actions")
        bar.setObjectName("actions")
        self.addToolBar(bar)
        self.launch_action = self._action("Launch", self.launch, "Ctrl+L")
        self.stop_action = self._action("Stop", self.stop_all)
        self.restart_action = self._action("Restart", self.restart_game, "Ctrl+R")
        self.reload_action = self._action("Reload scene", self.reload_scene, "F5")
        for action in (
            self.launch_action,
            self.stop_action,
            self.restart_action,
            self.reload_action,
        ):
            bar.addAction(action)
            self.addAction(action)  # shortcuts work wherever the focus is
        bar.addSeparator()
        self.scene_picker = QComboBox()
        self.scene_picker.setMinimumContentsLength(24)
        self.scene_picker.setToolTip("Scenes of the project")
        bar.addWidget(self.scene_picker)
        self.load_action = self._action("Load", self.load_selected_scene)
        bar.addAction(self.load_action)
        bar.addSeparator()
        self.instance_picker = QComboBox()
        self.instance_picker.setMinimumContentsLength(20)
        self.instance_picker.setToolTip("The game to watch: ours, or one found by discovery")
        self.instance_picker.activated.connect(self._instance_chosen)
        bar.addWidget(self.instance_picker)
        bar.addSeparator()
        self.record_action = self._action("Record telemetry", self.toggle_recording)
        self.record_action.setCheckable(True)
        bar.addAction(self.record_action)
        if on_settings is not None:
            bar.addSeparator()
            bar.addAction(self._action("Settings…", on_settings, "Ctrl+,"))

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.state_label = QLabel("starting")
        self.health_label = QLabel("")
        self.health_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.wait_label = QLabel("")
        self.wait_bar = QProgressBar()
        self.wait_bar.setMaximumWidth(160)
        self.wait_bar.setRange(0, 1000)
        self.wait_cancel = QPushButton("Cancel")
        self.wait_cancel.clicked.connect(self.controller.cancel_wait)
        bar.addWidget(self.state_label)
        bar.addWidget(self.health_label, 1)
        for widget in (self.wait_label, self.wait_bar, self.wait_cancel):
            bar.addPermanentWidget(widget)
            widget.hide()

    # --- actions --------------------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, Any], doing: str) -> None:
        """Run a controller coroutine; a failure shows in the status bar, never a traceback."""

        async def guarded() -> None:
            try:
                await coroutine
            except Exception as error:  # any failure is shown to the user, never a traceback
                self.statusBar().showMessage(f"{doing} failed: {error}", 8000)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def launch(self) -> None:
        """Start what is not running; a program still stopping starts when its stop ends."""
        queued = self.controller.start()
        if queued:
            names = " and ".join(queued)
            self.statusBar().showMessage(f"{names} will start when the stop ends", 8000)
        else:
            self.statusBar().showMessage("launching…", 3000)

    def stop_all(self) -> None:
        self._run(self.controller.stop(), "Stop")

    def restart_game(self) -> None:
        which = "game" if "game" in self.controller.statuses() else "all"
        self._run(self.controller.restart(which), "Restart")

    def reload_scene(self) -> None:
        self._run(self.controller.reload_scene(), "Reload scene")

    def load_selected_scene(self) -> None:
        path = self.scene_picker.currentText().strip()
        if path:
            self._run(self.controller.load_scene(path), f"Loading {path}")

    def install_bridge_addon(self) -> None:
        """Install the addon into the current project; the game loads it on its next start."""

        async def install() -> None:
            self.install_addon_button.setEnabled(False)
            try:
                lines = await self.controller.install_bridge_addon()
            except AddonInstallError as error:
                self.statusBar().showMessage(f"Install the bridge addon: {error}", 15000)
                return
            finally:
                self.install_addon_button.setEnabled(True)
            self.addon_banner.setVisible(self.controller.bridge_addon_missing())
            self.log_view.append_lines(
                [OutputLine(time.time(), "panel", "supervisor", line) for line in lines]
            )
            self.statusBar().showMessage(
                "Bridge addon installed; restart the game (Ctrl+R) to load it.", 15000
            )

        self._run(install(), "Install the bridge addon")

    def refresh_scenes(self) -> None:
        current = self.scene_picker.currentText()
        scenes = self.controller.scenes()
        self.scene_picker.clear()
        self.scene_picker.addItems(scenes)
        wanted = current or self.controller.settings.godot.scene_path
        if wanted in scenes:
            self.scene_picker.setCurrentText(wanted)

    def toggle_recording(self) -> None:
        if self.controller.recording().recording:
            self.controller.stop_recording()
            rows = self.controller.recording().rows
            self.statusBar().showMessage(f"recorded {rows} samples", 5000)
        else:
            path = self._choose_record_path()
            if path is not None:
                try:
                    self.controller.start_recording(path)
                except RecordingError as error:
                    self.statusBar().showMessage(str(error), 8000)
        self.record_action.setChecked(self.controller.recording().recording)

    def _ask_record_path(self) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Record telemetry to", "telemetry.csv", "CSV files (*.csv)"
        )
        return Path(name) if name else None

    def _instance_chosen(self, index: int) -> None:
        """Follow the chosen game; a game on another host gets the bridge key only if
        the user says so (asked once per host while the panel runs)."""
        instance = self.instance_picker.itemData(index)
        if instance is None:
            return
        controller = self.controller
        host = instance.host
        if (
            controller.has_bridge_key
            and not controller.bridge_key_host_approved(host)
            and host not in self._key_hosts_asked
        ):
            self._key_hosts_asked.add(host)
            question = (
                f"Send the bridge key to {host}?\n\nAnyone on the network can announce a "
                "game: send the key only to a host you trust. Without it, the game there "
                "is checked without the key, and the port table says so."
            )
            if self._confirm("Send the bridge key?", question):
                controller.approve_bridge_key_host(host)
                problem = self._remember_key_host(host) if self._remember_key_host else None
                kept = "" if problem is None else f" (this run only: {problem})"
                self.statusBar().showMessage(
                    f"The bridge key may now be sent to {host}{kept}.", 8000
                )
            else:
                self.statusBar().showMessage(f"Following {host} without the bridge key.", 8000)
        controller.follow_instance(instance)

    # --- refresh ----------------------------------------------------------------------

    def _queue_line(self, line: OutputLine) -> None:
        pending = self._pending_lines
        if len(pending) == pending.maxlen:
            self._pending_dropped += 1
        pending.append(line)

    def _take_pending_lines(self) -> list[OutputLine]:
        """The queued lines for the log view; a note of those it let go, if any, takes
        the oldest one's place (the view holds no more than the queue)."""
        lines = list(self._pending_lines)
        self._pending_lines.clear()
        if self._pending_dropped:
            note = (
                f"{self._pending_dropped + 1} earlier lines are not shown here (the window "
                "was hidden); the programs' log files have them"
            )
            lines[0] = OutputLine(lines[0].timestamp, "panel", "supervisor", note)
            self._pending_dropped = 0
        return lines

    def _on_program_change(self, status: ProgramStatus) -> None:
        news = self._notifier.observe(status)
        if news is not None:
            self.tray.notify(news.title, news.message, news.level)

    def refresh(self) -> None:
        """One tick: tables, log, status bar, tray (only the tray while hidden)."""
        controller = self.controller
        statuses = controller.statuses()
        health = controller.health()
        level, tooltip = tray_summary(statuses, health)
        self.tray.update_health(level, tooltip)
        if level != self._icon_level:
            self._icon_level = level
            self.setWindowIcon(health_icon(level))
        if not self.isVisible():
            return
        self.services.update_services(controller.services())
        self.programs.update_programs(statuses)
        if self._pending_lines:
            self.log_view.append_lines(self._take_pending_lines())
        game = statuses.get("game")
        self.state_label.setText(
            "  ".join(f"{name}: {status.state.value}" for name, status in statuses.items())
        )
        verdict = (
            "healthy"
            if health.healthy
            else "unhealthy: " + "; ".join(health.body["blocking_issues"])
        )
        warnings = controller.warnings()
        if warnings:
            verdict += "  (warning: " + "; ".join(warnings) + ")"
        self.health_label.setText(verdict)
        running = game is not None and game.state is ProgramState.RUNNING
        self.reload_action.setEnabled(running)
        self.load_action.setEnabled(running)
        self._show_wait()
        self._ticks += 1
        if self._ticks % INSTANCE_EVERY == 1:
            self._refresh_instances()
            self.addon_banner.setVisible(controller.bridge_addon_missing())

    def _show_wait(self) -> None:
        wait = self.controller.current_wait()
        for widget in (self.wait_label, self.wait_bar, self.wait_cancel):
            widget.setVisible(wait is not None)
        if wait is not None:
            self.wait_label.setText(f"{wait.title}… {wait.elapsed:.0f}/{wait.timeout:g} s")
            self.wait_bar.setValue(int(wait.fraction * 1000))

    def _refresh_instances(self) -> None:
        instances = self.controller.instances()
        labels = [
            f"pid {i.pid} · {Path(i.project or '?').name} · :{i.http_port}" for i in instances
        ]
        current = [self.instance_picker.itemText(i) for i in range(self.instance_picker.count())]
        if labels != current:
            self.instance_picker.clear()
            for label, instance in zip(labels, instances, strict=True):
                self.instance_picker.addItem(label, instance)

    def _tray_state(self) -> TrayState:
        statuses = self.controller.statuses()
        game = statuses.get("game")
        states = {status.state for status in statuses.values()}
        settled = {ProgramState.STOPPED, ProgramState.EXITED, ProgramState.FATAL}
        return TrayState(
            window_visible=self.isVisible(),
            game_state=game.state.value if game is not None else "none",
            # A Launch during a stop is queued: it starts when the stop ends.
            can_launch=bool(states & (settled | {ProgramState.BACKOFF, ProgramState.STOPPING})),
            can_stop=bool(states - settled),
            can_restart=bool(statuses),
            can_reload=game is not None and game.state is ProgramState.RUNNING,
        )

    # --- window and tray ----------------------------------------------------------------

    def toggle_visible(self) -> None:
        if self.isVisible():
            self.hide()
        else:
            self.show_and_raise()

    def show_and_raise(self) -> None:
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.timer.setInterval(VISIBLE_TICK_MS)
        self.controller.set_visible(True)
        self.performance.set_active(True)
        self.headset.set_active(True)

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        # Nothing is drawn that nobody can see: graphs stop, the tick slows down.
        self.timer.setInterval(HIDDEN_TICK_MS)
        self.controller.set_visible(False)
        self.performance.set_active(False)
        self.headset.set_active(False)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing hides to the tray; the first time, a one-line hint says so."""
        event.ignore()
        self._save_geometry()
        self.hide()
        if not self.hint_shown:
            self.hint_shown = True
            self.tray.notify("SpaceTime Panel", TRAY_HINT, "info")

    def quit(self) -> None:
        """Quit the panel; asks first when the editor runs (unsaved work lives there)."""
        editor = self.controller.statuses().get("editor")
        if editor is not None and editor.state is ProgramState.RUNNING:
            question = "The Godot editor is running. Quit the panel and stop the editor?"
            if not self._confirm("Quit SpaceTime Panel", question):
                return
        self._save_geometry()
        self.timer.stop()
        self._on_quit()

    def _ask(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(self, title, question)
        return answer == QMessageBox.StandardButton.Yes

    def _restore_geometry(self) -> None:
        settings = QSettings()
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = settings.value("window/state")
        if state is not None:
            self.restoreState(state)

    def _save_geometry(self) -> None:
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
