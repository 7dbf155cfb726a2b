"""The in-process panel the window tests drive: a real Controller, the simulated Godot.

One qasync loop runs Qt, the supervisor, the probes, telemetry and the API,
as in `spacetime-panel --demo`. A test hands `run_panel` a scenario, a
coroutine run in that loop against the started panel.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import qasync
from keyring.backends import fail
from PySide6.QtWidgets import QApplication

from spacetime_panel.config.settings import Settings
from spacetime_panel.godot.commands import demo_project
from spacetime_panel.secrets import SecretStore
from spacetime_panel.ui.app import DesktopPanel
from spacetime_panel.ui.main_window import MainWindow
from tests.conftest import TIME_SCALE, sim_settings

Scenario = Callable[[DesktopPanel, MainWindow], Coroutine[Any, Any, None]]


def without_addon(project: Path) -> None:
    """The project as it was before `install-addon`: no bridge autoload, no plugin."""
    config = project / "project.godot"
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    config.write_text("".join(x for x in lines if "spacetime_bridge" not in x), encoding="utf-8")


def panel_settings(tmp: Path, *, editor: bool = False, addon: bool = True) -> Settings:
    project = tmp / "project"
    shutil.copytree(demo_project(), project, ignore=shutil.ignore_patterns(".godot"))
    if not addon:
        without_addon(project)
    settings = sim_settings(project, editor=editor)
    logs = settings.logging.model_copy(update={"directory": tmp / "logs"})
    return settings.model_copy(update={"state_dir": tmp / "state", "logging": logs})


@pytest.fixture
def run_panel(qapp: QApplication, tmp_path: Path) -> Iterator[Callable[..., None]]:
    """Run a scenario against a started panel in a qasync loop; always stop it after."""
    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)

    def run(scenario: Scenario, *, editor: bool = False, addon: bool = True) -> None:
        settings = panel_settings(tmp_path, editor=editor, addon=addon)
        panel = DesktopPanel(
            settings, secrets=SecretStore(fail.Keyring()), config_path=tmp_path / "c.toml"
        )

        async def main() -> None:
            window = await panel.start()
            window.show()
            try:
                await asyncio.wait_for(scenario(panel, window), 120 * TIME_SCALE)
            finally:
                await panel.stop()

        loop.run_until_complete(main())

    yield run
    loop.close()
    asyncio.set_event_loop(None)
