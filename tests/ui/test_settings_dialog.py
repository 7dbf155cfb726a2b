"""The settings dialog, driven like a user would: real widgets offscreen, real files and processes.

There is no keyring daemon here: an in-memory backend stands in for the OS
keyring, and keyring's own `fail` backend plays "no keyring at all".
"""

from __future__ import annotations

import os
import shutil
import stat
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit
from pytestqt.qtbot import QtBot

from spacetime_panel.config import Settings, load_settings
from spacetime_panel.godot.commands import demo_project
from spacetime_panel.secrets import BRIDGE_API_KEY, PANEL_API_KEY, SecretStore
from spacetime_panel.ui.settings_dialog import SettingsDialog
from tests.conftest import TIME_SCALE
from tests.unit.test_secrets import MemoryKeyring

WAIT_MS = int(10_000 * TIME_SCALE)
KEY_SERVICE = "spacetime-panel"


class LockedKeyring(MemoryKeyring):
    """A keyring that refuses every write, as a locked one would."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("the keyring is locked")


@pytest.fixture
def game(tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo_project(), tmp_path / "game"))


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "config.toml"


@pytest.fixture
def open_dialog(qtbot: QtBot, config_path: Path) -> Callable[..., SettingsDialog]:
    def make(
        settings: Settings | None = None,
        backend: KeyringBackend | None = None,
        environ: Mapping[str, str] | None = None,
        path: Path | None = None,
    ) -> SettingsDialog:
        store = SecretStore(backend or MemoryKeyring(), environ=environ or {})
        dialog = SettingsDialog(settings or Settings(), store, path or config_path)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        return dialog

    return make


def type_into(qtbot: QtBot, edit: QLineEdit, text: str) -> None:
    edit.selectAll()
    qtbot.keyClicks(edit, text)


def click(qtbot: QtBot, button: object) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def saved(config_path: Path) -> Settings:
    return load_settings(config_file=config_path, environ={}, use_default_file=False)


def test_a_folder_without_project_godot_is_refused(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], tmp_path: Path, config_path: Path
) -> None:
    not_a_project = tmp_path / "just-a-folder"
    not_a_project.mkdir()
    dialog = open_dialog()

    type_into(qtbot, dialog.project_edit, str(not_a_project))

    assert dialog.project_message.isVisible()
    assert "No project.godot" in dialog.project_message.text()
    assert not dialog.ok_button.isEnabled()
    assert dialog.scene_combo.count() == 0
    dialog.accept()  # Enter or a stray call must not get past the check either
    assert dialog.isVisible() and dialog.result_settings is None
    assert "No project.godot" in dialog.error_label.text()
    assert not config_path.exists()


def test_the_demo_project_is_accepted_and_its_scenes_listed(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], game: Path, config_path: Path
) -> None:
    dialog = open_dialog()

    type_into(qtbot, dialog.project_edit, str(game))

    assert not dialog.project_message.isVisible()
    scenes = [dialog.scene_combo.itemText(i) for i in range(dialog.scene_combo.count())]
    assert scenes == ["res://scenes/menu.tscn", "res://scenes/test_room.tscn", "res://vr_main.tscn"]
    dialog.scene_combo.setCurrentIndex(scenes.index("res://scenes/test_room.tscn"))
    assert dialog.ok_button.isEnabled()
    click(qtbot, dialog.ok_button)

    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.result_settings is not None
    assert dialog.result_settings.godot.project_path == game
    assert saved(config_path) == dialog.result_settings
    assert saved(config_path).godot.scene_path == "res://scenes/test_room.tscn"


def test_browse_fills_the_project_folder(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], game: Path
) -> None:
    dialog = open_dialog()
    dialog.ask_folder = lambda start: str(game)  # type: ignore[method-assign]

    click(qtbot, dialog.browse_project)

    assert dialog.project_edit.text() == str(game)
    assert "res://vr_main.tscn" in [
        dialog.scene_combo.itemText(i) for i in range(dialog.scene_combo.count())
    ]


def test_a_bad_scene_path_is_refused(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog]
) -> None:
    dialog = open_dialog()
    edit = dialog.scene_combo.lineEdit()
    assert edit is not None

    type_into(qtbot, edit, "levels/room.tscn")

    assert "res://" in dialog.scene_message.text() and dialog.scene_message.isVisible()
    assert not dialog.ok_button.isEnabled()


def test_godot_version_is_shown_for_a_real_executable_and_not_found_for_a_missing_one(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], tmp_path: Path
) -> None:
    fake = tmp_path / "godot"
    fake.write_text("#!/bin/sh\necho 4.5.1.stable\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    dialog = open_dialog()

    type_into(qtbot, dialog.executable_edit, str(fake))
    qtbot.waitUntil(lambda: dialog.version_label.text() == "4.5.1.stable", timeout=WAIT_MS)

    type_into(qtbot, dialog.executable_edit, str(tmp_path / "no-such-godot"))
    qtbot.waitUntil(lambda: dialog.version_label.text() == "not found", timeout=WAIT_MS)

    plain = tmp_path / "readme.txt"
    plain.write_text("not a program", encoding="utf-8")
    type_into(qtbot, dialog.executable_edit, str(plain))
    qtbot.waitUntil(lambda: dialog.version_label.text() == "not executable", timeout=WAIT_MS)


def test_a_changed_port_is_saved_and_read_back(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], config_path: Path
) -> None:
    dialog = open_dialog()
    spin = dialog.port_spins[("api", "port")]
    spin.selectAll()
    qtbot.keyClicks(spin, "9123")

    click(qtbot, dialog.ok_button)

    assert saved(config_path).api.port == 9123
    # Only what changed is written, so later default changes still reach this user.
    assert tomllib.loads(config_path.read_text(encoding="utf-8")) == {"api": {"port": 9123}}


def test_two_services_on_one_tcp_port_are_flagged(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], config_path: Path
) -> None:
    dialog = open_dialog()
    telemetry = dialog.port_spins[("ports", "telemetry")]
    telemetry.selectAll()
    qtbot.keyClicks(telemetry, "6005")  # the LSP's port

    assert dialog.port_message.text() == "Port 6005 is used by Telemetry and LSP."
    assert not dialog.ok_button.isEnabled()

    telemetry.selectAll()
    qtbot.keyClicks(telemetry, "8087")  # discovery's number, but discovery is UDP
    assert not dialog.port_message.isVisible()
    assert dialog.ok_button.isEnabled()


def test_at_least_one_program_must_be_launched(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog]
) -> None:
    dialog = open_dialog()
    dialog.tabs.setCurrentIndex(0)
    assert dialog.launch_game.isChecked() and not dialog.launch_editor.isChecked()

    click(qtbot, dialog.launch_game)

    assert "at least one" in dialog.launch_message.text()
    assert not dialog.ok_button.isEnabled()
    click(qtbot, dialog.launch_editor)
    assert dialog.ok_button.isEnabled()


def test_restart_policy_and_refresh_rate_are_saved(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], config_path: Path
) -> None:
    start = Settings.model_validate({"supervisor": {"check_interval": 12.345}})
    dialog = open_dialog(settings=start)
    dialog.max_restarts.selectAll()
    qtbot.keyClicks(dialog.max_restarts, "5")
    dialog.second_spins["failure_window"].selectAll()
    qtbot.keyClicks(dialog.second_spins["failure_window"], "120")
    dialog.refresh_combo.setCurrentIndex(dialog.refresh_combo.findData(144))

    click(qtbot, dialog.ok_button)

    result = saved(config_path)
    assert result.supervisor.max_restart_attempts == 5
    assert result.supervisor.failure_window == 120.0
    assert result.supervisor.check_interval == 12.345  # untouched: not rounded to the display
    assert result.telemetry.refresh_rate_hz == 144


def test_an_unwritable_config_path_is_shown_and_the_dialog_stays_open(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    dialog = open_dialog(path=blocker / "config.toml")

    click(qtbot, dialog.ok_button)

    assert dialog.isVisible() and dialog.result_settings is None
    assert dialog.error_label.isVisible()
    assert "cannot write" in dialog.error_label.text()
    assert "\n" not in dialog.error_label.text()


def test_cancel_saves_nothing(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], config_path: Path
) -> None:
    dialog = open_dialog()
    dialog.port_spins[("ports", "dap")].setValue(7000)
    click(qtbot, dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel))
    assert dialog.result() == QDialog.DialogCode.Rejected
    assert dialog.result_settings is None
    assert not config_path.exists()


def test_api_key_set_then_clear_in_the_keyring(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], config_path: Path
) -> None:
    backend = MemoryKeyring()
    dialog = open_dialog(backend=backend)
    dialog.tabs.setCurrentWidget(dialog.keys)
    row = dialog.keys.row(BRIDGE_API_KEY)
    assert row.source_label.text() == "not set"
    assert not row.set_button.isEnabled()

    qtbot.keyClicks(row.value_edit, "br1dge-s3cret")
    click(qtbot, row.set_button)

    assert backend.entries == {(KEY_SERVICE, "bridge_api_key"): "br1dge-s3cret"}
    assert row.source_label.text() == "stored in the OS keyring"
    assert row.value_edit.text() == ""  # the widget does not keep the key
    assert dialog.keys.row(PANEL_API_KEY).source_label.text() == "not set"

    click(qtbot, row.clear_button)

    assert backend.entries == {}
    assert row.source_label.text() == "not set"

    qtbot.keyClicks(row.value_edit, "br1dge-s3cret")
    click(qtbot, row.set_button)
    click(qtbot, dialog.ok_button)
    assert config_path.is_file()
    assert "br1dge-s3cret" not in config_path.read_text(encoding="utf-8")


def test_enter_in_a_key_field_sets_the_key_and_keeps_the_dialog_open(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], config_path: Path
) -> None:
    backend = MemoryKeyring()
    dialog = open_dialog(backend=backend)
    dialog.tabs.setCurrentWidget(dialog.keys)
    row = dialog.keys.row(PANEL_API_KEY)

    qtbot.keyClicks(row.value_edit, "panel-s3cret")
    qtbot.keyClick(row.value_edit, Qt.Key.Key_Return)

    assert backend.entries == {(KEY_SERVICE, "panel_api_key"): "panel-s3cret"}
    assert dialog.isVisible() and not config_path.exists()


def test_an_empty_executable_is_refused(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog]
) -> None:
    dialog = open_dialog()
    dialog.executable_edit.selectAll()
    qtbot.keyClick(dialog.executable_edit, Qt.Key.Key_Backspace)

    assert dialog.executable_message.isVisible()
    assert "Godot executable" in dialog.executable_message.text()
    assert not dialog.ok_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.version_label.text() == "not set", timeout=WAIT_MS)


def test_the_environment_wins_and_the_source_line_says_so(
    open_dialog: Callable[..., SettingsDialog],
) -> None:
    dialog = open_dialog(environ={"SPACETIME_API_KEY": "from-env"})
    assert dialog.keys.row(BRIDGE_API_KEY).source_label.text() == (
        "from environment variable SPACETIME_API_KEY (the environment wins)"
    )


def test_a_keyring_error_is_shown_inline(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog]
) -> None:
    dialog = open_dialog(backend=LockedKeyring())
    dialog.tabs.setCurrentWidget(dialog.keys)
    row = dialog.keys.row(PANEL_API_KEY)

    qtbot.keyClicks(row.value_edit, "panel-key")
    click(qtbot, row.set_button)

    assert row.status_label.isVisible()
    assert "locked" in row.status_label.text()
    assert "SPACETIME_PANEL_API_KEY" in row.status_label.text()
    assert row.source_label.text() == "not set"


def test_without_a_keyring_the_section_says_so_and_nothing_reaches_the_file(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], config_path: Path
) -> None:
    dialog = open_dialog(backend=fail.Keyring(), environ={"SPACETIME_API_KEY": "env-k3y-value"})
    dialog.tabs.setCurrentWidget(dialog.keys)

    note = dialog.keys.keyring_note
    assert note.isVisible()
    assert note.text().startswith("No OS keyring is available here (")
    assert "Set SPACETIME_API_KEY" in note.text()
    for secret in (BRIDGE_API_KEY, PANEL_API_KEY):
        row = dialog.keys.row(secret)
        qtbot.keyClicks(row.value_edit, "typed-k3y")
        assert not row.set_button.isEnabled()
    assert (
        dialog.keys.row(BRIDGE_API_KEY)
        .source_label.text()
        .startswith("from environment variable SPACETIME_API_KEY")
    )

    dialog.port_spins[("ports", "http")].setValue(9080)
    click(qtbot, dialog.ok_button)

    text = config_path.read_text(encoding="utf-8")
    assert "env-k3y-value" not in text and "typed-k3y" not in text
    assert saved(config_path).ports.http == 9080
    assert os.environ.get("SPACETIME_API_KEY") != "env-k3y-value"


def test_a_chosen_project_without_the_bridge_gets_an_install_button(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], game: Path
) -> None:
    config = game / "project.godot"
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    config.write_text("".join(x for x in lines if "spacetime_bridge" not in x), encoding="utf-8")
    dialog = open_dialog()

    type_into(qtbot, dialog.project_edit, str(game))

    assert dialog.addon_row.isVisible()
    assert "no SpaceTime bridge addon" in dialog.addon_label.text()
    assert dialog.ok_button.isEnabled()  # a project without the addon is still a project

    click(qtbot, dialog.install_addon_button)

    assert not dialog.addon_row.isVisible()
    assert "SpaceTimeBridge=" in config.read_text(encoding="utf-8")
    assert (game / "addons" / "spacetime_bridge" / "bridge.gd").is_file()


def test_a_project_with_the_bridge_shows_no_install_button(
    qtbot: QtBot, open_dialog: Callable[..., SettingsDialog], game: Path
) -> None:
    dialog = open_dialog()
    type_into(qtbot, dialog.project_edit, str(game))
    assert not dialog.project_message.isVisible()
    assert not dialog.addon_row.isVisible()
