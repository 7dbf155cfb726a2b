"""The settings dialog: Godot, ports, restart policy, display and API keys.

It edits a copy of the settings it is given; on OK it validates the whole
model, writes the config file (only the values that differ from the
defaults, see `config.writing`) and exposes the result as `result_settings`.
Problems a user can fix (no `project.godot`, two services on one TCP port, no
program to launch) are shown inline and keep OK disabled. API keys are the
`settings_keys` section's business and go to the OS keyring only.

`godot --version` runs off the GUI thread (it may hang for its 5 s timeout)
through an injectable callable, so tests can use a real fake executable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from spacetime_panel.config import ConfigError, Settings, save_settings
from spacetime_panel.godot.addon import (
    AddonInstallError,
    bridge_autoload_declared,
    install_addon,
)
from spacetime_panel.godot.scenes import InvalidScenePath, list_scenes, validate_scene_path
from spacetime_panel.secrets import SecretStore
from spacetime_panel.ui.settings_keys import ERROR_STYLE, ApiKeysSection

GodotVersion = Callable[[str], str | None]
VERSION_TIMEOUT = 5.0
VERSION_DELAY_MS = 400  # wait for typing to pause before running the executable
REFRESH_RATES = (72, 90, 120, 144)
# (area, field, label) of every TCP port; discovery is a UDP beacon and cannot clash with them.
TCP_PORTS = (
    ("api", "port", "Management API"),
    ("ports", "http", "Bridge HTTP"),
    ("ports", "telemetry", "Telemetry"),
    ("ports", "lsp", "LSP"),
    ("ports", "dap", "DAP"),
)
PORT_FIELDS = (*TCP_PORTS, ("ports", "discovery", "Discovery (UDP)"))
RESTART_FIELDS = (
    ("failure_window", "Failure window"),
    ("start_timeout", "Start timeout"),
    ("stop_timeout", "Stop timeout"),
    ("check_interval", "Check interval"),
    ("player_timeout", "Player timeout"),
)


def run_godot_version(executable: str) -> str | None:
    """The first line `EXECUTABLE --version` prints, or None if it fails or says nothing."""
    try:
        completed = subprocess.run(
            [executable, "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
            timeout=VERSION_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in completed.stdout.splitlines() if line.strip()]
    return lines[0] if lines else None


def describe_executable(text: str, godot_version: GodotVersion) -> str:
    """What to show next to the executable: its version, "not found" or "not executable"."""
    text = text.strip()
    if not text:
        return "not set"
    if "/" in text or os.sep in text:
        candidate = Path(text).expanduser()
        if not candidate.exists():
            return "not found"
        if candidate.is_dir() or not os.access(candidate, os.X_OK):
            return "not executable"
        resolved = str(candidate)
    else:
        found = shutil.which(text)
        if found is None:
            return "not found"
        resolved = found
    return godot_version(resolved) or "no version printed (is this Godot?)"


def project_problem(text: str) -> str | None:
    """Why the folder is not a Godot project, or None (an empty field means the cwd)."""
    if not text.strip():
        return None
    folder = Path(text.strip()).expanduser()
    if not folder.is_dir():
        return f"{folder} is not a folder."
    if not (folder / "project.godot").is_file():
        return f"No project.godot in {folder}: choose the folder of a Godot project."
    return None


def port_clashes(ports: Mapping[str, int], fallbacks: Sequence[int]) -> list[str]:
    """One line per TCP port that two services would share."""
    users: dict[int, list[str]] = {}
    for label, port in ports.items():
        users.setdefault(port, []).append(label)
    for port in dict.fromkeys(fallbacks):
        users.setdefault(port, []).append("a bridge HTTP fallback")
    return [
        f"Port {port} is used by {' and '.join(names)}."
        for port, names in sorted(users.items())
        if len(names) > 1
    ]


class SettingsDialog(QDialog):
    """Edit the settings; OK validates, saves to `config_path` and sets `result_settings`."""

    # (generation, answer): emitted by the `--version` worker thread, delivered queued.
    version_checked = Signal(int, str)

    def __init__(
        self,
        settings: Settings,
        secrets: SecretStore,
        config_path: Path,
        parent: QWidget | None = None,
        godot_version: GodotVersion | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        self._config_path = config_path
        self._godot_version = godot_version or run_godot_version
        self._version_generation = 0
        self.result_settings: Settings | None = None

        self.tabs = QTabWidget()
        self.tabs.addTab(self._godot_tab(settings), "Godot")
        self.tabs.addTab(self._ports_tab(settings), "Ports")
        self.tabs.addTab(self._restart_tab(settings), "Restart policy")
        self.tabs.addTab(self._display_tab(settings), "Display")
        self.keys = ApiKeysSection(secrets)
        self.tabs.addTab(self.keys, "API keys")

        self.error_label = _message_label()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        self._version_timer = QTimer(self)
        self._version_timer.setSingleShot(True)
        self._version_timer.setInterval(VERSION_DELAY_MS)
        self._version_timer.timeout.connect(self.check_executable)
        self.version_checked.connect(self._show_version)
        self.executable_edit.textChanged.connect(self._version_timer.start)
        self.executable_edit.textChanged.connect(self._revalidate)
        self.project_edit.textChanged.connect(self._project_changed)
        self.scene_combo.editTextChanged.connect(self._revalidate)
        for box in (self.launch_game, self.launch_editor):
            box.toggled.connect(self._revalidate)
        for spin in self.port_spins.values():
            spin.valueChanged.connect(self._revalidate)
        self._project_changed()
        self.check_executable()

    # -- Godot ------------------------------------------------------------------------------

    def _godot_tab(self, settings: Settings) -> QWidget:
        godot = settings.godot
        self.executable_edit = QLineEdit(godot.executable)
        self.executable_edit.setPlaceholderText("godot, or the full path to the Godot binary")
        self.browse_executable = QPushButton("Browse...")
        self.browse_executable.clicked.connect(self.choose_executable)
        self.version_label = QLabel()
        self.executable_message = _message_label()
        self.project_edit = QLineEdit(str(godot.project_path) if godot.project_path else "")
        self.project_edit.setPlaceholderText("the folder holding project.godot (empty: current)")
        self.browse_project = QPushButton("Browse...")
        self.browse_project.clicked.connect(self.choose_project)
        self.project_message = _message_label()
        self.addon_label = QLabel()
        self.addon_label.setWordWrap(True)
        self.install_addon_button = QPushButton("Install the bridge addon")
        self.install_addon_button.clicked.connect(self.install_bridge_addon)
        self.addon_row = _row(self.addon_label, self.install_addon_button)
        self.scene_combo = QComboBox()
        self.scene_combo.setEditable(True)
        self.scene_combo.setEditText(godot.scene_path)
        self.scene_message = _message_label()
        self.launch_game = QCheckBox("Game")
        self.launch_game.setChecked(godot.launch_game)
        self.launch_editor = QCheckBox("Editor")
        self.launch_editor.setChecked(godot.launch_editor)
        self.launch_message = _message_label()

        form = QFormLayout()
        form.addRow("Godot executable:", _row(self.executable_edit, self.browse_executable))
        form.addRow("Version:", self.version_label)
        form.addRow("", self.executable_message)
        form.addRow("Project folder:", _row(self.project_edit, self.browse_project))
        form.addRow("", self.project_message)
        form.addRow("", self.addon_row)
        form.addRow("Default scene:", self.scene_combo)
        form.addRow("", self.scene_message)
        form.addRow("Launch:", _row(self.launch_game, self.launch_editor))
        form.addRow("", self.launch_message)
        return _page(form)

    def ask_executable(self, start: str) -> str:
        """A file chosen by the user, or "" (tests replace this instead of opening a dialog)."""
        chosen, _filter = QFileDialog.getOpenFileName(self, "Godot executable", start)
        return chosen

    def ask_folder(self, start: str) -> str:
        """A folder chosen by the user, or "" (tests replace this instead of opening a dialog)."""
        return QFileDialog.getExistingDirectory(self, "Godot project folder", start)

    def choose_executable(self) -> None:
        chosen = self.ask_executable(self.executable_edit.text())
        if chosen:
            self.executable_edit.setText(chosen)

    def choose_project(self) -> None:
        chosen = self.ask_folder(self.project_edit.text())
        if chosen:
            self.project_edit.setText(chosen)

    def check_executable(self) -> None:
        """Run `--version` for the current executable in a worker thread; show the answer."""
        self._version_timer.stop()
        self._version_generation += 1
        generation = self._version_generation
        text = self.executable_edit.text()
        self.version_label.setText("checking...")
        probe = self._godot_version
        signal = self.version_checked

        def work() -> None:
            try:
                answer = describe_executable(text, probe)
            except Exception as error:  # an injected probe's failure is a status, not a crash
                answer = f"cannot run ({type(error).__name__})"
            with contextlib.suppress(RuntimeError):  # the dialog was deleted meanwhile
                signal.emit(generation, answer)

        threading.Thread(target=work, name="godot --version", daemon=True).start()

    def _show_version(self, generation: int, answer: str) -> None:
        if generation == self._version_generation:  # an older check finishing late is ignored
            self.version_label.setText(answer)

    def _chosen_project(self) -> Path | None:
        """The project folder in the field, when it is a Godot project."""
        text = self.project_edit.text().strip()
        if not text or project_problem(text) is not None:
            return None
        return Path(text).expanduser()

    def _show_addon_state(self) -> None:
        project = self._chosen_project()
        missing = project is not None and not bridge_autoload_declared(project)
        self.addon_label.setText(
            "This project has no SpaceTime bridge addon: scene loads, telemetry and /status "
            "need it."
        )
        self.addon_label.setStyleSheet("")
        self.addon_row.setVisible(missing)

    def install_bridge_addon(self) -> None:
        """Install the addon into the chosen project (a few small files: done at once)."""
        project = self._chosen_project()
        if project is None:
            return
        try:
            install_addon(project)
        except AddonInstallError as error:
            self.addon_label.setText(str(error))
            self.addon_label.setStyleSheet(ERROR_STYLE)
            return
        self._show_addon_state()

    def _project_changed(self) -> None:
        self._show_addon_state()
        problem = project_problem(self.project_edit.text())
        scene = self.scene_combo.currentText()
        self.scene_combo.blockSignals(True)
        self.scene_combo.clear()
        if problem is None and self.project_edit.text().strip():
            self.scene_combo.addItems(list_scenes(Path(self.project_edit.text().strip())))
        self.scene_combo.setEditText(scene)
        self.scene_combo.blockSignals(False)
        self._revalidate()

    # -- Ports, restart policy, display ------------------------------------------------------

    def _ports_tab(self, settings: Settings) -> QWidget:
        form = QFormLayout()
        self.port_spins: dict[tuple[str, str], QSpinBox] = {}
        for area, field, label in PORT_FIELDS:
            spin = QSpinBox()
            spin.setRange(1, 65535)
            spin.setValue(getattr(getattr(settings, area), field))
            self.port_spins[(area, field)] = spin
            form.addRow(f"{label}:", spin)
        self.port_message = _message_label()
        form.addRow(self.port_message)
        return _page(form)

    def _restart_tab(self, settings: Settings) -> QWidget:
        supervisor = settings.supervisor
        form = QFormLayout()
        self.max_restarts = QSpinBox()
        self.max_restarts.setRange(1, 1000)
        self.max_restarts.setValue(supervisor.max_restart_attempts)
        form.addRow("Max restart attempts:", self.max_restarts)
        self.second_spins: dict[str, QDoubleSpinBox] = {}
        for field, label in RESTART_FIELDS:
            spin = QDoubleSpinBox()
            spin.setDecimals(1)
            spin.setRange(0.1, 1_000_000.0)
            spin.setSuffix(" s")
            spin.setValue(getattr(supervisor, field))
            self.second_spins[field] = spin
            form.addRow(f"{label}:", spin)
        return _page(form)

    def _display_tab(self, settings: Settings) -> QWidget:
        form = QFormLayout()
        self.refresh_combo = QComboBox()
        for rate in REFRESH_RATES:
            self.refresh_combo.addItem(f"{rate} Hz", rate)
        self.refresh_combo.setCurrentIndex(REFRESH_RATES.index(settings.telemetry.refresh_rate_hz))
        form.addRow("Headset refresh rate:", self.refresh_combo)
        return _page(form)

    # -- Validation and OK -------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Everything that keeps OK disabled; each is also shown next to its field."""
        project = project_problem(self.project_edit.text())
        scene: str | None = None
        try:
            validate_scene_path(self.scene_combo.currentText().strip())
        except InvalidScenePath as error:
            scene = f"The default {error}."
        launch = None
        if not (self.launch_game.isChecked() or self.launch_editor.isChecked()):
            launch = "Choose at least one program to launch."
        tcp = {label: self.port_spins[(area, field)].value() for area, field, label in TCP_PORTS}
        clashes = port_clashes(tcp, self._settings.ports.http_fallbacks)
        executable = None
        if not self.executable_edit.text().strip():
            executable = "Enter the Godot executable (a path, or a name on PATH such as godot)."
        for label, text in (
            (self.project_message, project),
            (self.scene_message, scene),
            (self.executable_message, executable),
            (self.launch_message, launch),
            (self.port_message, " ".join(clashes) or None),
        ):
            label.setText(text or "")
            label.setVisible(text is not None)
        return [text for text in (executable, project, scene, launch, *clashes) if text]

    def _revalidate(self) -> None:
        self.ok_button.setEnabled(not self.problems())

    def edited_settings(self) -> Settings:
        """The settings as the form shows them; raises ValidationError for bad values."""
        data: dict[str, Any] = self._settings.model_dump()
        project = self.project_edit.text().strip()
        data["godot"].update(
            executable=self.executable_edit.text().strip(),
            project_path=Path(project).expanduser().absolute() if project else None,
            scene_path=self.scene_combo.currentText().strip(),
            launch_game=self.launch_game.isChecked(),
            launch_editor=self.launch_editor.isChecked(),
        )
        for (area, field), spin in self.port_spins.items():
            data[area][field] = spin.value()
        supervisor = data["supervisor"]
        supervisor["max_restart_attempts"] = self.max_restarts.value()
        for field, seconds in self.second_spins.items():
            # An untouched spin box keeps the exact value (it shows only one decimal).
            if seconds.value() != round(supervisor[field], seconds.decimals()):
                supervisor[field] = seconds.value()
        data["telemetry"]["refresh_rate_hz"] = int(self.refresh_combo.currentData())
        return Settings.model_validate(data)

    def accept(self) -> None:
        """Validate, save, then close; on any problem stay open and say what is wrong."""
        problems = self.problems()
        if problems:
            self._show_error(problems[0])
            return
        try:
            settings = self.edited_settings()
        except ValidationError as error:
            self._show_error("; ".join(_describe(detail) for detail in error.errors()))
            return
        try:
            save_settings(settings, self._config_path)
        except ConfigError as error:
            self._show_error(str(error))
            return
        self.result_settings = settings
        self.error_label.hide()
        super().accept()

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()


def _describe(detail: Any) -> str:
    key = ".".join(str(part) for part in detail["loc"])
    return f"{key}: {detail['msg']}"


def _message_label() -> QLabel:
    label = QLabel()
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.hide()
    return label


def _row(*widgets: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return row


def _page(form: QFormLayout) -> QWidget:
    page = QWidget()
    page.setLayout(form)
    return page
