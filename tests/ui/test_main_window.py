"""The real panel window, offscreen, driving a real Controller and the simulated Godot.

One qasync loop runs Qt, the supervisor, the probes, telemetry and the API,
as in `spacetime-panel --demo`. Each test is a coroutine run in that loop.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QToolBar

from spacetime_panel.config import load_settings
from spacetime_panel.supervisor.machine import ProgramState
from spacetime_panel.ui.app import DesktopPanel
from spacetime_panel.ui.main_window import MainWindow
from tests.conftest import TIME_SCALE, eventually


def toolbar_button(window: MainWindow, action: Any) -> Any:
    bar = window.findChild(QToolBar)
    return bar.widgetForAction(action)


def game(window: MainWindow) -> Any:
    return window.controller.programs["game"].status()


def cell(table: Any, row: int, column: int) -> str:
    item = table.item(row, column)
    return item.text() if item is not None else ""


def test_launch_turns_the_services_up(run_panel: Callable[..., None]) -> None:
    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        window.stop_all()
        await eventually(lambda: game(window).state is ProgramState.STOPPED)
        services = window.services

        def bridge_state() -> str:
            return cell(services, services.row_of("bridge_http"), services.STATE_COLUMN)

        await eventually(lambda: bridge_state().lower() == "down")

        QTest.mouseClick(toolbar_button(window, window.launch_action), Qt.MouseButton.LeftButton)

        await eventually(lambda: bridge_state().lower() == "up")
        await eventually(
            lambda: (
                cell(services, services.row_of("telemetry"), services.STATE_COLUMN).lower() == "up"
            )
        )
        assert window.controller.health().healthy or game(window).state is ProgramState.RUNNING

    run_panel(scenario)


def test_launch_during_a_stop_says_the_game_starts_when_the_stop_ends(
    run_panel: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The simulator's grandchild ignores SIGTERM: a stop lasts its stop timeout (2 s).
    monkeypatch.setenv("SPACETIME_SIM_SPAWN_CHILD", "1")

    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        await eventually(lambda: game(window).state is ProgramState.RUNNING)
        first = game(window).pid
        window.stop_all()
        await eventually(lambda: game(window).state is ProgramState.STOPPING)

        QTest.mouseClick(toolbar_button(window, window.launch_action), Qt.MouseButton.LeftButton)

        assert window.statusBar().currentMessage() == "game will start when the stop ends"
        assert window._tray_state().can_launch  # the tray's Launch queues the same way
        assert game(window).state is ProgramState.STOPPING
        await eventually(
            lambda: game(window).state is ProgramState.RUNNING and game(window).pid != first
        )

    run_panel(scenario)


def test_ctrl_r_restarts_the_game_with_a_new_pid(run_panel: Callable[..., None]) -> None:
    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        await eventually(lambda: window.controller.health().healthy)
        first = game(window).pid

        QTest.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)

        await eventually(
            lambda: game(window).state is ProgramState.RUNNING and game(window).pid != first
        )
        assert game(window).restarts == 0  # a restart the user asked for is not a failure

    run_panel(scenario)


def test_f5_reloads_and_load_loads_the_picked_scene(run_panel: Callable[..., None]) -> None:
    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        controller = window.controller
        await eventually(lambda: controller.health().healthy)
        assert "res://scenes/test_room.tscn" in [
            window.scene_picker.itemText(i) for i in range(window.scene_picker.count())
        ]
        lines = controller.logs(10_000)
        loaded_before = sum("scene loaded" in line.text for line in lines)

        QTest.keyClick(window, Qt.Key.Key_F5)

        await eventually(
            lambda: (
                sum("scene loaded" in line.text for line in controller.logs(10_000)) > loaded_before
            )
        )
        await eventually(lambda: controller.health().healthy)

        window.scene_picker.setCurrentText("res://scenes/test_room.tscn")
        QTest.mouseClick(toolbar_button(window, window.load_action), Qt.MouseButton.LeftButton)

        await eventually(
            lambda: controller.view.scene_name == "test_room" and controller.view.player_spawned
        )

    run_panel(scenario)


def test_kill_9_shows_crash_and_recovery_in_table_log_and_tray(
    run_panel: Callable[..., None],
) -> None:
    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        await eventually(lambda: window.controller.health().healthy)
        first = game(window).pid
        assert first is not None

        os.kill(first, signal.SIGKILL)

        await eventually(
            lambda: game(window).state is ProgramState.RUNNING and game(window).pid != first
        )
        programs = window.programs
        row = programs.row_of("game")
        headers = [programs.horizontalHeaderItem(c).text() for c in range(programs.columnCount())]
        await eventually(lambda: cell(programs, row, headers.index("Restarts")) == "1")
        await eventually(lambda: "killed by SIGKILL" in window.log_view.visible_text())
        titles = " ".join(f"{title} {message}" for title, message in window.tray.notifications)
        assert "crashed" in titles
        await eventually(lambda: any("running again" in m for _, m in window.tray.notifications))

    run_panel(scenario)


def test_graphs_receive_points(run_panel: Callable[..., None]) -> None:
    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        graph = window.performance
        await eventually(lambda: graph.frames_drawn > 5)
        telemetry = window.controller.telemetry
        assert telemetry is not None
        await eventually(lambda: telemetry.buffers.fps_series(1).timestamp.size > 0)
        frames = graph.frames_drawn
        await eventually(lambda: graph.frames_drawn > frames + 5)

        window.graphs.setCurrentWidget(window.headset)
        await eventually(lambda: window.headset.frames_drawn > 3)

        window.hide()  # to the tray: nothing is drawn that nobody can see
        await eventually(lambda: not graph.timer.isActive())

    run_panel(scenario)


def test_closing_hides_to_tray_with_a_hint_and_quit_asks_about_the_editor(
    run_panel: Callable[..., None],
) -> None:
    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        controller = window.controller
        await eventually(lambda: controller.programs["editor"].state is ProgramState.RUNNING)
        window.close()
        assert not window.isVisible()
        assert window.hint_shown
        assert any("tray" in message for _, message in window.tray.notifications)

        asked: list[str] = []
        window._confirm = lambda title, question: asked.append(question) or False
        window.quit()
        assert asked and "editor" in asked[0]
        assert not panel.quit_requested.is_set()  # the user said no

        window._confirm = lambda title, question: True
        window.quit()
        assert panel.quit_requested.is_set()

    run_panel(scenario, editor=True)


def test_the_gui_serves_the_same_health_api(run_panel: Callable[..., None]) -> None:
    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        await eventually(lambda: window.controller.health().healthy)
        port = window.controller.settings.api.port
        async with httpx.AsyncClient() as http:
            health = await http.get(f"http://127.0.0.1:{port}/health")
            metrics = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert health.status_code == 200 and health.json()["overall_healthy"] is True
        assert "spacetime_godot_running 1.0" in metrics.text

    run_panel(scenario)


def test_soak_20000_telemetry_frames_through_the_gui_loop(
    run_panel: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PySide6 6.12.0 crashed under qasync after about a thousand socket events."""
    monkeypatch.setenv("SPACETIME_SIM_RATE_HZ", "1000")  # fps + vr_tracking: 2000 frames/s

    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        telemetry = window.controller.telemetry
        assert telemetry is not None
        await eventually(lambda: telemetry.frames >= 20_000, timeout=90 * TIME_SCALE)
        assert window.performance.frames_drawn > 10
        assert telemetry.rejected == 0

    run_panel(scenario)


def test_settings_dialog_edits_the_file_not_the_demo_overrides(
    run_panel: Callable[..., None], tmp_path: Path
) -> None:
    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        # The running panel uses the simulator (as --demo would); the file says nothing.
        assert "spacetime-godot-sim" in window.controller.settings.godot.executable
        assert panel.file_settings().godot.executable == "godot"
        panel.open_settings()
        dialog = panel.settings_dialog
        assert dialog is not None and dialog.isVisible()
        dialog.reject()

    run_panel(scenario)


def test_install_the_bridge_addon_button_for_a_project_without_it(
    run_panel: Callable[..., None],
) -> None:
    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        project = window.controller.settings.godot.project_path
        assert project is not None
        await eventually(lambda: window.addon_banner.isVisible())
        await eventually(lambda: game(window).state is ProgramState.RUNNING)
        issues = window.controller.health().body["blocking_issues"]
        assert any("spacetime-panel install-addon" in issue for issue in issues)

        QTest.mouseClick(window.install_addon_button, Qt.MouseButton.LeftButton)

        await eventually(lambda: not window.addon_banner.isVisible())
        config = (project / "project.godot").read_text(encoding="utf-8")
        assert 'SpaceTimeBridge="*res://addons/spacetime_bridge/bridge.gd"' in config
        assert (project / "addons" / "spacetime_bridge" / "plugin.cfg").is_file()
        assert "restart the game" in window.statusBar().currentMessage()

    run_panel(scenario, addon=False)


def test_no_install_banner_when_the_project_has_the_addon(
    run_panel: Callable[..., None],
) -> None:
    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        await eventually(lambda: window.controller.health().healthy)
        assert not window.addon_banner.isVisible()

    run_panel(scenario)


def test_choosing_a_game_on_another_host_asks_once_before_sending_the_bridge_key(
    run_panel: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9, item 6: yes approves the host (the key goes there from now on), no
    follows it without the key; either way the question comes once per host."""
    import time

    from spacetime_panel.probes import GameInstance

    monkeypatch.setenv("SPACETIME_API_KEY", "s3cret")

    def instance(host: str, pid: int) -> GameInstance:
        return GameInstance(
            pid=pid, host=host, http_port=8080, telemetry_port=8081, project="/far/game",
            godot_version="4.5", source="beacon", seen_at=time.monotonic(),
        )  # fmt: skip

    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        controller = window.controller
        assert controller.has_bridge_key
        followed: list[GameInstance] = []
        # Following would probe the TEST-NET hosts for real: record the choice instead.
        monkeypatch.setattr(controller, "follow_instance", followed.append)
        asked: list[str] = []
        answer = {"yes": False}
        window._confirm = lambda title, question: asked.append(question) or answer["yes"]
        picker = window.instance_picker

        def choose(game: GameInstance) -> None:
            picker.addItem(f"pid {game.pid} on {game.host}", game)
            picker.activated.emit(picker.count() - 1)  # as a click on the item does

        declined, approved, local = (
            instance("192.0.2.10", 11),
            instance("192.0.2.20", 22),
            instance("127.0.0.1", 33),
        )
        choose(declined)
        assert len(asked) == 1 and "Send the bridge key to 192.0.2.10?" in asked[0]
        assert not controller.bridge_key_host_approved("192.0.2.10")
        assert "without the bridge key" in window.statusBar().currentMessage()
        choose(declined)  # asked once: the answer stands for this host
        assert len(asked) == 1

        answer["yes"] = True
        choose(approved)
        assert len(asked) == 2 and "192.0.2.20" in asked[1]
        assert controller.bridge_key_host_approved("192.0.2.20")
        assert controller.settings.godot.bridge_key_hosts == ("192.0.2.20",)
        # ... and the approval is kept for the next start, in the config file.
        saved = load_settings(config_file=panel.config_path, environ={}, use_default_file=False)
        assert saved.godot.bridge_key_hosts == ("192.0.2.20",)
        choose(approved)
        choose(local)  # loopback always gets the key: nothing to ask
        assert len(asked) == 2
        assert [game.pid for game in followed] == [11, 11, 22, 22, 33]

    run_panel(scenario)


def test_a_state_file_that_cannot_be_written_is_a_warning_in_the_status_bar(
    run_panel: Callable[..., None], tmp_path: Path
) -> None:
    (tmp_path / "state").write_text("a file where the state folder should be")

    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        def label() -> str:
            return window.health_label.text()

        # Healthy (the game is supervised) and the warning beside the verdict.
        await eventually(lambda: label().startswith("healthy"))
        await eventually(lambda: "warning: cannot write the state file" in label())

    run_panel(scenario)
