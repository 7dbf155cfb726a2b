"""The desktop panel's bootstrap: one qasync loop runs Qt, the supervisor and the API.

`spacetime-panel` (no subcommand) comes here. A second start for the same
management port brings the first panel to the front instead of launching
Godot twice.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import qasync
from PySide6.QtWidgets import QApplication, QMessageBox

from spacetime_panel.api.security import ManagementKeys, management_keys
from spacetime_panel.api.server import CannotServe
from spacetime_panel.config import ConfigError, load_settings, save_settings
from spacetime_panel.config.settings import Settings
from spacetime_panel.secrets import BRIDGE_API_KEY, SecretStore
from spacetime_panel.service.heap import freeze_heap
from spacetime_panel.service.panel_service import PanelService
from spacetime_panel.service.stop_signals import on_stop_signals
from spacetime_panel.ui.main_window import MainWindow
from spacetime_panel.ui.single_instance import SingleInstance, instance_key

if TYPE_CHECKING:  # imported when the dialog first opens: most runs never open it
    from spacetime_panel.ui.settings_dialog import SettingsDialog

APP_NAME = "SpaceTime Panel"

log = logging.getLogger(__name__)


def application() -> QApplication:
    """The QApplication, made once, that keeps running with every window hidden (the tray)."""
    QApplication.setApplicationName(APP_NAME)
    QApplication.setOrganizationName("SpaceTime")
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    return app


class DesktopPanel:
    """The service, the window and the settings dialog, wired together."""

    def __init__(
        self,
        settings: Settings,
        *,
        secrets: SecretStore,
        config_path: Path,
        keys: ManagementKeys | None = None,
        owns_process: bool = False,
    ) -> None:
        """`keys`: the management keys as the command read them (read here when None).
        `owns_process`: this panel is the process (`run_gui`), not a test's guest: its
        start-up heap is frozen out of garbage collection (`service.heap`)."""
        self.settings = settings
        self.secrets = secrets
        self.config_path = config_path
        api_key, _ = secrets.get(BRIDGE_API_KEY)
        if keys is None:
            keys = management_keys(secrets)
        self.service = PanelService(settings, api_key=api_key, keys=keys, owns_process=owns_process)
        self.owns_process = owns_process
        self.quit_requested = asyncio.Event()
        self.window: MainWindow | None = None
        self.settings_dialog: SettingsDialog | None = None

    async def start(self) -> MainWindow:
        controller = await self.service.start()
        self.window = MainWindow(
            controller,
            on_quit=self.quit_requested.set,
            on_settings=self.open_settings,
            remember_key_host=self.remember_key_host,
        )
        return self.window

    async def stop(self) -> None:
        if self.window is not None:
            self.window.hide()
            self.window.tray.hide()
        await self.service.stop()

    def file_settings(self) -> Settings:
        """What the config file says, without the environment, flags or --demo on top.

        The dialog edits the file: showing the effective settings would write a
        --demo simulator path or a SPACETIME_* value into it on OK.
        """
        if self.config_path.is_file():
            try:
                return load_settings(
                    config_file=self.config_path, environ={}, use_default_file=False
                )
            except ConfigError as error:
                log.warning("config file unreadable, editing defaults instead: %s", error)
        return Settings()

    def remember_key_host(self, host: str) -> str | None:
        """Add `host` to the config file's godot.bridge_key_hosts; None, or why not."""
        settings = self.file_settings()
        godot = settings.godot
        if host not in godot.bridge_key_hosts:
            hosts = (*godot.bridge_key_hosts, host)
            settings = settings.model_copy(
                update={"godot": godot.model_copy(update={"bridge_key_hosts": hosts})}
            )
            try:
                save_settings(settings, self.config_path)
            except ConfigError as error:
                return str(error)
        return None

    def open_settings(self) -> None:
        """Open the settings (window-modal, not a nested event loop)."""
        from spacetime_panel.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(
            self.file_settings(), self.secrets, self.config_path, parent=self.window
        )
        dialog.accepted.connect(lambda: self._settings_saved(dialog))
        self.settings_dialog = dialog
        dialog.open()

    def _settings_saved(self, dialog: SettingsDialog) -> None:
        if dialog.result_settings is None or self.window is None:
            return
        self.window.statusBar().showMessage(
            f"Settings saved to {self.config_path}; restart the panel to apply them.", 10000
        )


async def _run(panel: DesktopPanel, single: SingleInstance) -> int:
    try:
        window = await panel.start()
    except CannotServe as error:
        print(f"spacetime-panel: {error}", file=sys.stderr)
        if QApplication.platformName() not in ("offscreen", "minimal"):
            QMessageBox.critical(None, APP_NAME, str(error))
        return 1
    on_stop_signals(asyncio.get_running_loop(), panel.quit_requested.set)
    single.show_requested.connect(window.show_and_raise)
    window.show()
    if panel.owns_process:
        freeze_heap("the panel is shown")  # the window's objects join the start-up's
    await panel.quit_requested.wait()
    await panel.stop()
    return 0


def run_gui(
    settings: Settings,
    *,
    config_path: Path,
    secrets: SecretStore | None = None,
    keys: ManagementKeys | None = None,
) -> int:
    """Open the panel; returns the process exit code."""
    app = application()
    single = SingleInstance(instance_key(settings.api.port))
    if not single.claim():
        print(
            "spacetime-panel: a panel is already running for this project; brought it to the front",
            file=sys.stderr,
        )
        return 0
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    panel = DesktopPanel(
        settings,
        secrets=secrets or SecretStore(),
        config_path=config_path,
        keys=keys,
        owns_process=True,
    )
    try:
        with loop:
            return loop.run_until_complete(_run(panel, single))
    finally:
        single.release()
