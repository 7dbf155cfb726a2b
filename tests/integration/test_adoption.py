"""Adoption that cannot be fooled: the handle first, then the start time and the command line.

A "process left behind by a previous panel" is a real child started in its
own session; the record names it as the state file would.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from spacetime_panel.supervisor import process as process_module
from spacetime_panel.supervisor.exit_watch import EXIT_WATCH_ENV, ExitWatch
from spacetime_panel.supervisor.machine import ProgramState
from spacetime_panel.supervisor.process import GodotProcess, NotAdopted, same_command
from spacetime_panel.supervisor.statefile import LaunchRecord, StateFile
from tests.conftest import TIME_SCALE, eventually
from tests.integration.test_program import SLEEPER, make_program, texts

WAIT = 20 * TIME_SCALE
GAME = [sys.executable, "-c", "import time; time.sleep(60)  # the game"]
OTHER = [sys.executable, "-c", "import time; time.sleep(60)  # something else"]


@pytest.fixture
def left_running() -> Iterator[Callable[[list[str]], subprocess.Popen[bytes]]]:
    """Start processes as a previous panel would have left them; kill them at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(command: list[str]) -> subprocess.Popen[bytes]:
        orphan = subprocess.Popen(command, start_new_session=True)
        started.append(orphan)
        return orphan

    yield start
    for orphan in started:
        orphan.kill()
        orphan.wait()


async def record_of(orphan: subprocess.Popen[bytes], command: list[str]) -> LaunchRecord:
    """The record a panel would have written, once the process runs its program."""
    process = psutil.Process(orphan.pid)
    await eventually(lambda: process.cmdline() != [], what="the exec to complete")
    return LaunchRecord(orphan.pid, process.create_time(), command)


async def test_a_pid_held_by_another_program_is_not_adopted_and_the_log_says_why(
    left_running: Callable[[list[str]], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    # The pid and start time match (the state file was written for this pid),
    # but the process runs another command: it is not what the panel launched.
    unrelated = left_running(OTHER)
    record = await record_of(unrelated, GAME)
    state = StateFile(tmp_path / "state.json")
    state.record("game", record)
    program = make_program(SLEEPER, state_file=state, tmp=tmp_path)

    assert not program.adopt(record)

    assert program.state is ProgramState.STOPPED
    why = next(t for t in texts(program) if t.startswith("not adopting"))
    assert f"pid {unrelated.pid} runs" in why and "something else" in why
    assert "not the recorded" in why and "# the game" in why
    assert "not adopting" in (tmp_path / "game.log").read_text()
    assert unrelated.poll() is None, "an unrelated process is never touched"
    assert state.load() == {}
    program.output.close()


async def test_a_pid_started_at_another_time_is_not_adopted(
    left_running: Callable[[list[str]], subprocess.Popen[bytes]],
) -> None:
    orphan = left_running(GAME)
    record = await record_of(orphan, GAME)
    with pytest.raises(NotAdopted, match="now belongs to another process"):
        GodotProcess.adopt(orphan.pid, record.create_time - 5, GAME)


async def test_a_record_without_a_command_line_is_not_adopted(
    left_running: Callable[[list[str]], subprocess.Popen[bytes]],
) -> None:
    orphan = left_running(GAME)
    record = await record_of(orphan, GAME)
    with pytest.raises(NotAdopted, match="no command line"):
        GodotProcess.adopt(orphan.pid, record.create_time, [])


async def test_a_gone_pid_is_not_adopted(
    left_running: Callable[[list[str]], subprocess.Popen[bytes]],
) -> None:
    orphan = left_running(GAME)
    record = await record_of(orphan, GAME)
    orphan.kill()
    orphan.wait()
    with pytest.raises(NotAdopted, match="no longer running"):
        GodotProcess.adopt(record.pid, record.create_time, GAME)


@pytest.mark.parametrize("watch", ["pidfd", "poll"])
async def test_the_recorded_process_is_adopted_and_its_exit_seen(
    watch: str,
    monkeypatch: pytest.MonkeyPatch,
    left_running: Callable[[list[str]], subprocess.Popen[bytes]],
) -> None:
    monkeypatch.setenv(EXIT_WATCH_ENV, watch)
    orphan = left_running(GAME)
    record = await record_of(orphan, GAME)
    program = make_program(SLEEPER, timing=None)

    assert program.adopt(record)
    assert program.process is not None and program.process.exit_watch == watch
    await program.wait_for(lambda: program.state is ProgramState.RUNNING, WAIT)
    assert any(t.startswith("adopted running game") for t in texts(program))

    orphan.kill()
    orphan.wait()  # as its real parent would
    await program.wait_for(lambda: program.status().restarts == 1, WAIT)
    assert program.status().pid != orphan.pid
    await program.close(stop_process=True)


async def test_an_adopted_programs_uptime_counts_from_its_own_start(
    left_running: Callable[[list[str]], subprocess.Popen[bytes]],
) -> None:
    orphan = left_running(GAME)
    record = await record_of(orphan, GAME)
    # Let the process be measurably older than the adoption.
    await eventually(lambda: time.time() - record.create_time > 0.5, what="half a second")
    program = make_program(SLEEPER)

    assert program.adopt(record)

    status = program.status()
    assert status.started_at == pytest.approx(record.create_time, abs=0.01)
    assert status.uptime is not None and status.uptime >= 0.5
    program.process.detach()  # type: ignore[union-attr]
    program.output.close()


async def test_a_script_run_by_its_interpreter_is_the_recorded_command(
    left_running: Callable[[list[str]], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    # The simulated Godot is a script: the system shows `python script args`.
    script = tmp_path / "fake-godot"
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    script.chmod(0o755)
    command = [str(script), "--path", str(tmp_path)]
    orphan = left_running(command)
    record = await record_of(orphan, command)

    process = GodotProcess.adopt(record.pid, record.create_time, command)

    assert process.pid == orphan.pid
    process.detach()


def test_same_command_rules() -> None:
    game = ["/opt/godot", "--path", "/p"]
    assert same_command(game, game)
    assert same_command(["/usr/bin/python3", "/opt/godot", "--path", "/p"], game)
    assert same_command(["/usr/bin/env", "python3", "/opt/godot", "--path", "/p"], game)
    assert not same_command(["/opt/godot", "--path", "/other"], game)
    assert not same_command(["a", "b", "c", "/opt/godot", "--path", "/p"], game)
    assert not same_command(game, [])


class FakeWatch(ExitWatch):
    kind = "fake"

    def __init__(self, calls: list[str], *, exited: bool) -> None:
        self.calls = calls
        self.exited = exited
        self.closed = False

    def start(self, on_exit: Callable[[], None]) -> None:
        self.calls.append("watch started")

    def has_exited(self) -> bool:
        self.calls.append("has exited?")
        return self.exited

    def close(self) -> None:
        self.closed = True


async def test_the_handle_is_opened_before_the_checks(
    monkeypatch: pytest.MonkeyPatch,
    left_running: Callable[[list[str]], subprocess.Popen[bytes]],
) -> None:
    orphan = left_running(GAME)
    record = await record_of(orphan, GAME)
    calls: list[str] = []
    watch = FakeWatch(calls, exited=False)
    real_problem = process_module.identity_problem

    def open_watch(pid: int, loop: asyncio.AbstractEventLoop, **_: object) -> ExitWatch:
        calls.append("handle opened")
        return watch

    def checked(pid: int, create_time: float, command: list[str]) -> str | None:
        calls.append("start time and command checked")
        return real_problem(pid, create_time, command)

    monkeypatch.setattr(process_module, "open_exit_watch", open_watch)
    monkeypatch.setattr(process_module, "identity_problem", checked)

    GodotProcess.adopt(record.pid, record.create_time, GAME)

    assert calls == [
        "handle opened",
        "start time and command checked",
        "has exited?",  # still the same process after the checks
        "watch started",
    ]


async def test_a_process_that_ends_during_the_checks_is_not_adopted(
    monkeypatch: pytest.MonkeyPatch,
    left_running: Callable[[list[str]], subprocess.Popen[bytes]],
) -> None:
    # The pid could be handed to another process right after the checks: the
    # handle, opened before them, tells that its process has ended.
    orphan = left_running(GAME)
    record = await record_of(orphan, GAME)
    watch = FakeWatch([], exited=True)
    monkeypatch.setattr(process_module, "open_exit_watch", lambda *_, **__: watch)

    with pytest.raises(NotAdopted, match="ended while it was being adopted"):
        GodotProcess.adopt(record.pid, record.create_time, GAME)
    assert watch.closed
