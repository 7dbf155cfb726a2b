"""The Controller in-process (as the GUI uses it) with the simulated game as a real child."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from spacetime_panel.config.settings import Settings
from spacetime_panel.core.controller import Controller
from spacetime_panel.supervisor.machine import ProgramState
from spacetime_panel.supervisor.output import OutputLine
from spacetime_panel.supervisor.program import ProgramStatus
from tests.conftest import TIME_SCALE, eventually, sim_settings

WAIT = 20 * TIME_SCALE


def settings_for(project: Path, **supervisor: float) -> Settings:
    return sim_settings(project, supervisor=supervisor)


@pytest.fixture
async def make_controller() -> AsyncIterator[Callable[[Settings], Controller]]:
    made: list[Controller] = []
    async with httpx.AsyncClient(trust_env=False) as http:

        def make(settings: Settings) -> Controller:
            controller = Controller(settings, http=http)
            made.append(controller)
            return controller

        yield make
        for controller in made:
            await controller.close()


async def test_listeners_see_state_changes_and_output(
    make_controller: Callable[[Settings], Controller], project: Path
) -> None:
    controller = make_controller(settings_for(project))
    states: list[tuple[str, ProgramState]] = []
    lines: list[OutputLine] = []
    controller.subscribe(lambda status: states.append((status.name, status.state)))
    controller.subscribe_output(lines.append)
    controller.start_up()

    await eventually(lambda: controller.health().healthy)
    assert ("game", ProgramState.STARTING) in states
    assert ("game", ProgramState.RUNNING) in states
    assert any(line.text.startswith("starting game") for line in lines)
    assert any("scene loaded" in line.text for line in lines)
    assert "res://vr_main.tscn" in controller.scenes()
    assert "res://scenes/test_room.tscn" in controller.scenes()


async def test_current_wait_while_starting_and_cancel_stops_the_start(
    make_controller: Callable[[Settings], Controller],
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller = make_controller(settings_for(project, start_timeout=30))
    monkeypatch.setenv("SPACETIME_SIM_START_DELAY", "20")  # read when the game is spawned
    controller.start_up()
    await eventually(lambda: controller.current_wait() is not None)
    wait = controller.current_wait()
    assert wait is not None and wait.title == "Starting game" and wait.timeout == 30
    assert 0 <= wait.fraction < 1

    controller.cancel_wait()

    await eventually(lambda: controller.programs["game"].state is ProgramState.STOPPED)
    assert controller.current_wait() is None


async def test_recording_writes_samples_to_csv(
    make_controller: Callable[[Settings], Controller], project: Path, tmp_path: Path
) -> None:
    controller = make_controller(settings_for(project))
    controller.start_up()
    await eventually(lambda: controller.health().healthy)
    target = tmp_path / "session.csv"

    controller.start_recording(target)
    await eventually(lambda: controller.recorder.rows > 50)
    controller.stop_recording()

    rows = list(csv.DictReader(target.open()))
    assert len(rows) >= 50
    assert {row["event"] for row in rows} <= {"fps", "vr_tracking"}


async def test_program_status_reports_when_its_state_began(
    make_controller: Callable[[Settings], Controller], project: Path
) -> None:
    controller = make_controller(settings_for(project))
    seen: list[ProgramStatus] = []
    controller.subscribe(seen.append)
    controller.start_up()
    await eventually(lambda: controller.programs["game"].state is ProgramState.RUNNING)
    running = controller.programs["game"].status()
    starting = next(s for s in seen if s.state is ProgramState.STARTING)
    assert running.state_since >= starting.state_since
