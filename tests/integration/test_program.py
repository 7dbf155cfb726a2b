"""SupervisedProgram with real child processes (plain Python children, as simpervisor tests)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psutil
import pytest

from spacetime_panel.supervisor.machine import ProgramMachine, ProgramState
from spacetime_panel.supervisor.output import ProgramOutput
from spacetime_panel.supervisor.policy import RestartPolicy
from spacetime_panel.supervisor.process import GodotProcess
from spacetime_panel.supervisor.program import LaunchSpec, SupervisedProgram, Timing
from spacetime_panel.supervisor.statefile import LaunchRecord, StateFile
from tests.conftest import TIME_SCALE, eventually
from tests.integration.conftest import alive

WAIT = 20 * TIME_SCALE


async def always(_: GodotProcess) -> bool:
    return True


async def never(_: GodotProcess) -> bool:
    return False


def child(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


#: The exit code of a child killed outright: -SIGKILL on POSIX; on Windows psutil's
#: kill() is TerminateProcess with the code SIGTERM (15).
KILLED = -signal.SIGKILL if sys.platform != "win32" else int(signal.SIGTERM)
#: A child's environment: a Python on Windows cannot start without SYSTEMROOT.
CHILD_ENV = {k: v for k, v in os.environ.items() if k.upper() in ("PATH", "SYSTEMROOT")}

SLEEPER = child("import time\nprint('up', flush=True)\nwhile True: time.sleep(1)")


def make_program(
    command: list[str],
    *,
    ready: Callable[[GodotProcess], Awaitable[bool]] = always,
    healthy: Callable[[GodotProcess], Awaitable[bool]] = always,
    timing: Timing | None = None,
    state_file: StateFile | None = None,
    tmp: Path | None = None,
) -> SupervisedProgram:
    policy = RestartPolicy(
        max_failures=3, failure_window=300, first_backoff=0.05, backoff_initial=0.1
    )
    output = ProgramOutput("game", log_file=tmp / "game.log" if tmp else None)
    return SupervisedProgram(
        ProgramMachine("game", policy),
        launch=lambda: LaunchSpec(command=command, env=CHILD_ENV, cwd=None),
        ready_check=ready,
        health_check=healthy,
        output=output,
        timing=timing or Timing(stop_timeout=2, check_interval=0.05),
        state_file=state_file,
    )


@pytest.fixture
async def programs() -> AsyncIterator[list[SupervisedProgram]]:
    made: list[SupervisedProgram] = []
    yield made
    for program in made:
        await program.close(stop_process=True)


def texts(program: SupervisedProgram) -> list[str]:
    return [line.text for line in program.output.tail(10_000)]


async def test_ready_program_runs_and_its_output_is_captured(
    programs: list[SupervisedProgram], tmp_path: Path
) -> None:
    program = make_program(SLEEPER, tmp=tmp_path)
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is ProgramState.RUNNING, WAIT)
    await eventually(lambda: "up" in texts(program))
    assert program.status().pid is not None
    assert "up" in (tmp_path / "game.log").read_text()


async def test_unrequested_exit_restarts_with_a_new_pid(programs: list[SupervisedProgram]) -> None:
    program = make_program(SLEEPER)
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is ProgramState.RUNNING, WAIT)
    first = program.status().pid
    assert first is not None

    psutil.Process(first).kill()

    await program.wait_for(
        lambda: program.state is ProgramState.RUNNING and program.status().pid != first, WAIT
    )
    assert program.status().restarts == 1
    assert program.status().last_exit_code == KILLED


async def test_start_that_never_becomes_ready_is_a_failure(
    programs: list[SupervisedProgram],
) -> None:
    program = make_program(SLEEPER, ready=never, timing=Timing(start_timeout=0.3, stop_timeout=1))
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is ProgramState.FATAL, WAIT)
    assert "not ready within 0.3 s" in (program.status().blocking_issue or "")


async def test_failed_health_checks_kill_and_restart(programs: list[SupervisedProgram]) -> None:
    checks = {"count": 0}

    async def sick_after_two(_: GodotProcess) -> bool:
        checks["count"] += 1
        return checks["count"] <= 2

    program = make_program(SLEEPER, healthy=sick_after_two)
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is ProgramState.RUNNING, WAIT)
    first = program.status().pid
    await program.wait_for(lambda: program.status().restarts >= 1, WAIT)
    assert "3 health checks failed in a row" in (program.status().last_failure or "")
    assert first is not None and not alive(first)


async def test_a_5mb_line_without_newline_does_not_hurt(programs: list[SupervisedProgram]) -> None:
    flood = child(
        """
        import sys, time
        sys.stdout.write("x" * (5 * 1024 * 1024))
        sys.stdout.flush()
        print("", flush=True)
        print("after the flood", flush=True)
        while True: time.sleep(1)
        """
    )
    program = make_program(flood)
    programs.append(program)
    program.start()
    await eventually(lambda: "after the flood" in texts(program))
    long_line = next(t for t in texts(program) if t.startswith("xxx"))
    assert len(long_line) < 100 * 1024
    assert "line cut" in long_line
    assert program.state is ProgramState.RUNNING


async def test_exit_is_seen_while_a_grandchild_holds_the_pipe(
    programs: list[SupervisedProgram],
) -> None:
    # The child starts a grandchild that inherits stdout, then exits with code 4.
    parent = child(
        """
        import subprocess, sys
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print("grandchild", grandchild.pid, flush=True)
        sys.exit(4)
        """
    )
    program = make_program(parent)
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.status().last_exit_code == 4, WAIT)
    grandchild = int(next(t for t in texts(program) if t.startswith("grandchild")).split()[1])
    # Leftovers of the dead program's group are cleaned up before the restart.
    await asyncio.to_thread(_wait_gone, grandchild)
    assert not alive(grandchild)


def _wait_gone(pid: int) -> None:
    try:
        psutil.Process(pid).wait(WAIT)
    except psutil.NoSuchProcess:
        return


async def test_stop_kills_a_grandchild_that_ignores_sigterm(
    programs: list[SupervisedProgram],
) -> None:
    stubborn = child(
        """
        import signal, subprocess, sys, time
        code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
        grandchild = subprocess.Popen([sys.executable, "-c", code])
        print("grandchild", grandchild.pid, flush=True)
        while True: time.sleep(1)
        """
    )
    program = make_program(stubborn, timing=Timing(stop_timeout=0.5))
    programs.append(program)
    program.start()
    await eventually(lambda: any(t.startswith("grandchild") for t in texts(program)))
    grandchild = int(next(t for t in texts(program) if t.startswith("grandchild")).split()[1])
    pid = program.status().pid
    assert pid is not None

    status = await program.stop()

    assert status.state is ProgramState.STOPPED
    assert not alive(pid)
    assert not alive(grandchild)
    assert status.restarts == 0


async def test_stop_during_backoff_cancels_the_restart(programs: list[SupervisedProgram]) -> None:
    program = make_program(child("import sys; sys.exit(1)"))
    program.machine.policy.first_backoff = 30  # a long backoff to stop in
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is ProgramState.BACKOFF, WAIT)
    await program.stop()
    assert program.state is ProgramState.STOPPED
    starts = [t for t in texts(program) if t.startswith("starting game")]
    assert len(starts) == 1


async def test_missing_executable_is_fatal_at_once(programs: list[SupervisedProgram]) -> None:
    program = make_program(["/nonexistent/godot", "--path", "."])
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is ProgramState.FATAL, WAIT)
    assert "not found" in (program.status().blocking_issue or "")


async def test_adopted_process_exit_is_seen(
    programs: list[SupervisedProgram], tmp_path: Path
) -> None:
    # A process "left behind by a previous panel": not our child, its own session.
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    orphan = subprocess.Popen(command, start_new_session=True)
    try:
        state = StateFile(tmp_path / "state.json")

        # Its command line is readable once its exec is complete, a moment after Popen returns.
        await eventually(lambda: psutil.Process(orphan.pid).cmdline() == command)
        record = LaunchRecord(orphan.pid, psutil.Process(orphan.pid).create_time(), command)
        program = make_program(SLEEPER, state_file=state)
        programs.append(program)
        assert program.adopt(record)
        await program.wait_for(lambda: program.state is ProgramState.RUNNING, WAIT)
        assert program.status().pid == orphan.pid and program.status().adopted

        orphan.kill()
        await program.wait_for(lambda: program.status().restarts == 1, WAIT)
        assert program.status().pid != orphan.pid
    finally:
        orphan.kill()
        orphan.wait()


async def test_adoption_refuses_a_recycled_pid(tmp_path: Path) -> None:

    program = make_program(SLEEPER)
    me = psutil.Process()
    assert not program.adopt(LaunchRecord(me.pid, me.create_time() - 100, []))
    assert program.state is ProgramState.STOPPED
