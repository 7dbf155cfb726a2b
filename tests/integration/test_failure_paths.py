"""The supervisor's failure paths: nothing lost, nothing stuck.

A task that raises ends as a failure the machine handles (never a program
stuck in STARTING or STOPPING); a state file that cannot be written is a
warning and the game is still supervised; a start asked for during a stop
happens when the stop ends. In-process on real child processes, and end to
end through a real `serve`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from spacetime_panel.core.health import GameView, compose_health
from spacetime_panel.supervisor.machine import ProgramState
from spacetime_panel.supervisor.process import GodotProcess
from spacetime_panel.supervisor.program import LaunchSpec, SupervisedProgram, Timing
from spacetime_panel.supervisor.statefile import LaunchRecord, StateFile
from tests.conftest import eventually, program_status
from tests.integration.conftest import Serve, alive, wait_until
from tests.integration.test_program import SLEEPER, WAIT, child, make_program, texts

S = ProgramState


@pytest.fixture
async def programs() -> AsyncIterator[list[SupervisedProgram]]:
    made: list[SupervisedProgram] = []
    yield made
    for program in made:
        await program.close(stop_process=True)


class BrokenStateFile(StateFile):
    """A state file on a full disk: every record raises."""

    def record(self, name: str, launch: LaunchRecord) -> None:
        raise OSError(28, "No space left on device")


# --- a task that raises ends as a failure ---------------------------------------------


async def test_a_ready_check_that_raises_is_a_failure_then_fatal(
    programs: list[SupervisedProgram],
) -> None:
    pids: list[int] = []

    async def broken(process: GodotProcess) -> bool:
        pids.append(process.pid)
        raise RuntimeError("the bridge client is broken")

    program = make_program(SLEEPER, ready=broken)
    programs.append(program)
    program.start()

    await program.wait_for(lambda: program.state is S.FATAL, WAIT)
    status = program.status()
    reason = "the ready check failed: RuntimeError: the bridge client is broken"
    assert status.last_failure == reason
    assert status.failures == {"task_failed": 3}
    assert reason in (status.blocking_issue or "")
    assert f"game: {reason}" in texts(program)
    # Each attempt's process was stopped, not left running unsupervised.
    assert len(pids) == 3
    for pid in pids:
        await eventually(lambda pid=pid: not alive(pid), what=f"pid {pid} gone")


async def test_a_health_check_that_raises_replaces_the_running_game(
    programs: list[SupervisedProgram],
) -> None:
    async def broken(_: GodotProcess) -> bool:
        raise KeyError("scene")

    program = make_program(SLEEPER, healthy=broken)
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is S.RUNNING, WAIT)
    first = program.status().pid
    assert first is not None

    await program.wait_for(lambda: program.status().restarts >= 1, WAIT)
    assert program.status().last_failure == "the watchdog failed: KeyError: 'scene'"
    assert not alive(first)


async def test_a_launch_that_raises_backs_off_then_is_fatal(
    programs: list[SupervisedProgram],
) -> None:
    program = make_program(SLEEPER)
    programs.append(program)

    def broken() -> LaunchSpec:
        raise ValueError("no such project")

    program._launch = broken  # the settings behind the command line are broken
    program.start()

    await program.wait_for(lambda: program.state is S.FATAL, WAIT)
    assert program.status().last_failure == "the start failed: ValueError: no such project"
    assert [t for t in texts(program) if t.startswith("restarting game in")] == [
        "restarting game in 0.05 s",
        "restarting game in 0.1 s",
    ]


async def test_a_stop_that_raises_still_ends_the_game(programs: list[SupervisedProgram]) -> None:
    program = make_program(SLEEPER)
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is S.RUNNING, WAIT)
    process = program.process
    assert process is not None

    async def broken(timeout: float) -> int | None:
        raise OSError("the stop path is broken")

    process.terminate = broken  # type: ignore[method-assign]

    status = await program.stop()

    assert status.state is S.STOPPED
    assert status.pid is None
    assert status.last_failure == "the stop failed: OSError: the stop path is broken"
    assert not alive(process.pid)


async def test_a_stop_that_cannot_end_the_game_is_fatal_not_stopping(
    programs: list[SupervisedProgram], monkeypatch: pytest.MonkeyPatch
) -> None:
    program = make_program(SLEEPER)
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is S.RUNNING, WAIT)
    process = program.process
    assert process is not None

    async def broken(timeout: float) -> int | None:
        raise OSError("the stop path is broken")

    # Nothing can kill it: the stop must not wait for ever in STOPPING.
    process.terminate = broken  # type: ignore[method-assign]
    monkeypatch.setattr(process, "kill_leftovers", lambda: None)
    monkeypatch.setattr(psutil.Process, "kill", lambda self: None)
    monkeypatch.setattr("spacetime_panel.supervisor.program.LAST_RESORT_WAIT", 0.2)

    status = await program.stop()

    assert status.state is S.FATAL
    assert status.blocking_issue == (
        "game could not be stopped (the stop failed: OSError: the stop path is broken); "
        f"it may still be running (pid {process.pid}): stop it by hand, then launch again"
    )
    assert alive(process.pid)
    monkeypatch.undo()
    os.kill(process.pid, signal.SIGKILL)
    # Its exit is still seen: nothing of it is shown as running any more.
    await eventually(lambda: program.status().pid is None, what="the exit seen")
    assert program.state is S.FATAL


async def test_a_listener_that_raises_does_not_stop_supervision(
    programs: list[SupervisedProgram],
) -> None:
    program = make_program(SLEEPER)
    programs.append(program)

    def broken(_: Any) -> None:
        raise RuntimeError("a view's bug")

    program.subscribe(broken)
    program.start()
    await program.wait_for(lambda: program.state is S.RUNNING, WAIT)
    first = program.status().pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await program.wait_for(
        lambda: program.state is S.RUNNING and program.status().pid != first, WAIT
    )


# --- a state file that cannot be written ----------------------------------------------


async def test_a_state_file_that_cannot_be_written_is_a_warning_and_the_game_is_supervised(
    programs: list[SupervisedProgram], tmp_path: Path
) -> None:
    state = BrokenStateFile(tmp_path / "state.json")
    program = make_program(SLEEPER, state_file=state)
    programs.append(program)
    program.start()

    await program.wait_for(lambda: program.state is S.RUNNING, WAIT)
    warning = (
        f"cannot write the state file {state.path} (No space left on device): game is "
        "supervised, but a restarted panel will not adopt it (check --state-dir)"
    )
    assert program.status().warnings == (warning,)
    assert program.status().last_failure is None
    assert texts(program).count(warning) == 1

    first = program.status().pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await program.wait_for(
        lambda: program.state is S.RUNNING and program.status().pid != first, WAIT
    )
    assert program.status().warnings == (warning,)
    assert texts(program).count(warning) == 1  # said once, not at every start


async def test_a_state_folder_under_a_file_is_a_warning(
    programs: list[SupervisedProgram], tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("not a folder")
    state = StateFile(tmp_path / "afile" / "state" / "launched.json")
    program = make_program(SLEEPER, state_file=state)
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is S.RUNNING, WAIT)
    (warning,) = program.status().warnings
    assert warning.startswith(f"cannot write the state file {state.path} (")
    await program.stop()
    assert program.state is S.STOPPED


async def test_a_state_file_that_cannot_replace_its_target_leaves_no_temporary_behind(
    programs: list[SupervisedProgram], tmp_path: Path
) -> None:
    (tmp_path / "launched.json").mkdir()  # a folder where the file should be
    state = StateFile(tmp_path / "launched.json")
    program = make_program(SLEEPER, state_file=state)
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is S.RUNNING, WAIT)
    (warning,) = program.status().warnings
    assert "(Is a directory)" in warning
    assert not (tmp_path / "launched.tmp").exists()


def test_warnings_are_shown_in_health_but_never_block() -> None:
    view = GameView(api_reachable=True, scene_loaded=True, player_spawned=True)
    warning = "cannot write the state file /x/launched.json (Read-only file system): ..."
    game = program_status("game", S.RUNNING, pid=4242, warnings=(warning,))
    result = compose_health(
        game=game,
        editor=None,
        view=view,
        player_timeout=30,
        now=datetime.now(UTC),
        warnings=[warning],
    )
    assert result.healthy and result.status_code == 200
    assert result.body["warnings"] == [warning]
    assert result.body["blocking_issues"] == []


# --- a start during a stop --------------------------------------------------------------

STUBBORN = child(
    """
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("up", flush=True)
    while True: time.sleep(1)
    """
)


async def test_a_start_during_a_stop_happens_when_the_stop_ends(
    programs: list[SupervisedProgram],
) -> None:
    program = make_program(STUBBORN, timing=Timing(stop_timeout=1.0, check_interval=30))
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is S.RUNNING, WAIT)
    first = program.status().pid

    stopping = asyncio.create_task(program.stop())
    await program.wait_for(lambda: program.state is S.STOPPING, WAIT)
    assert program.start() is True  # queued
    assert program.status().start_queued
    assert program.state is S.STOPPING  # nothing spawns during the stop

    status = await stopping
    assert status.state is S.STARTING
    await program.wait_for(lambda: program.state is S.RUNNING, WAIT)
    assert program.status().pid != first
    assert first is not None and not alive(first)
    assert len([t for t in texts(program) if t.startswith("starting game")]) == 2
    assert program.status().restarts == 0 and program.status().last_failure is None


async def test_quitting_the_panel_during_a_stop_stops_a_start_queued_behind_it(
    programs: list[SupervisedProgram],
) -> None:
    program = make_program(STUBBORN, timing=Timing(stop_timeout=0.5, check_interval=30))
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is S.RUNNING, WAIT)

    closing = asyncio.create_task(program.close(stop_process=True))
    await program.wait_for(lambda: program.state is S.STOPPING, WAIT)
    assert program.start() is True  # a Launch that arrives while the panel quits
    await asyncio.wait_for(closing, WAIT)

    # Nothing is left running: a game started after the panel quit would be nobody's.
    assert program.state is S.STOPPED
    assert program.status().pid is None


# --- end to end, through `serve` -------------------------------------------------------


def test_serve_with_an_unwritable_state_folder_supervises_and_warns(serve: Serve) -> None:
    blocker = serve.tmp / "not-a-folder"
    blocker.write_text("a file where the state folder should be")
    serve.start("--auto-load-scene", "--state-dir", str(blocker / "state"))

    body = serve.wait_healthy(20)
    (warning,) = body["warnings"]
    assert "cannot write the state file" in warning
    assert "a restarted panel will not adopt it" in warning
    assert body["blocking_issues"] == []
    first = body["godot_process"]["pid"]

    os.kill(first, signal.SIGKILL)

    def replaced() -> dict[str, Any] | None:
        now = serve.health()
        pid = now["godot_process"]["pid"]
        return now if now["overall_healthy"] and pid not in (None, first) else None

    after = wait_until(replaced, 30, "a new healthy game")
    assert after["programs"]["game"]["last_failure"] == "killed by SIGKILL"
    assert after["warnings"] == [warning]
    assert any(line == warning for line in serve.log_lines())


def test_start_during_a_stop_starts_the_game_once_the_stop_ends(serve: Serve) -> None:
    # The simulator's grandchild ignores SIGTERM: the stop lasts its stop timeout.
    serve.start("--stop-timeout", "3", env={"SPACETIME_SIM_SPAWN_CHILD": "1"})
    first = serve.wait_healthy(20)["godot_process"]["pid"]

    stop_answer: dict[str, httpx.Response] = {}
    stopper = threading.Thread(target=lambda: stop_answer.setdefault("r", serve.post("/stop")))
    stopper.start()
    try:
        wait_until(lambda: serve.game()["state"] == "STOPPING", 10, "STOPPING")

        response = serve.post("/start", json={"program": "game"})

        assert response.status_code == 202
        body = response.json()
        assert body["queued"] == ["game"]
        assert body["message"] == "game is stopping: the start follows when the stop ends"
        assert body["programs"]["game"]["state"] == "STOPPING"
        assert body["programs"]["game"]["start_queued"] is True
    finally:
        stopper.join(60)
    assert stop_answer["r"].status_code == 200
    assert stop_answer["r"].json()["programs"]["game"]["state"] in ("STARTING", "RUNNING")

    after = serve.wait_healthy(20)
    assert after["godot_process"]["pid"] not in (None, first)
    assert not alive(first)
    starts = [line for line in serve.log_lines() if line.startswith("starting game")]
    assert len(starts) == 2

    # A start with nothing to wait for says so too.
    plain = serve.post("/start", json={"program": "game"}).json()
    assert plain["queued"] == [] and plain["message"] == "start requested"


async def test_a_game_that_outlives_sigkill_stays_supervised_and_nothing_starts_beside_it(
    programs: list[SupervisedProgram],
) -> None:
    """A process stuck in the kernel (SIGKILL not yet effective): the stop fails (FATAL),
    the program keeps its pid, and a launch refuses to start a second Godot beside it."""
    program = make_program(SLEEPER)
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is S.RUNNING, WAIT)
    process = program.process
    assert process is not None

    async def unkillable(timeout: float) -> int | None:
        return None  # what terminate() answers when the end is not seen after SIGKILL

    process.terminate = unkillable  # type: ignore[method-assign]
    status = await program.stop()

    assert status.state is S.FATAL
    assert status.pid == process.pid
    assert "did not end after SIGKILL" in (status.blocking_issue or "")

    program.start()  # the user launches again
    await eventually(
        lambda: any("from a stop that failed still runs" in t for t in texts(program)),
        what="the launch refused",
    )
    assert program.process is process
    assert program.status().pid == process.pid
    os.kill(process.pid, signal.SIGKILL)
    await eventually(lambda: program.status().pid is None, what="the exit seen")
