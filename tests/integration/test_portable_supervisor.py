"""The supervisor's paths for systems without pidfd or process groups, forced on Linux.

SPACETIME_SUPERVISOR_EXIT_WATCH=poll is the psutil polling watch (the last
resort where there is no pidfd, kqueue or process handle);
SPACETIME_SUPERVISOR_STOP=tree is the stop through the psutil process tree
(the Windows path, without its CTRL_BREAK); SPACETIME_SUPERVISOR_PIPES=thread
reads the output in a thread per pipe (the Windows way; more in
`test_output_pipes`). The signal fallback is the one of loops without
`add_signal_handler` (Windows).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator

import psutil
import pytest

from spacetime_panel.service.stop_signals import on_stop_signals
from spacetime_panel.supervisor import exit_watch
from spacetime_panel.supervisor.exit_watch import EXIT_WATCH_ENV, ExitWatch
from spacetime_panel.supervisor.machine import ProgramState
from spacetime_panel.supervisor.pipes import PIPES_ENV
from spacetime_panel.supervisor.process import KILL_GRACE, GodotProcess
from spacetime_panel.supervisor.process_tree import STOP_PATH_ENV
from spacetime_panel.supervisor.program import SupervisedProgram, Timing
from tests.conftest import TIME_SCALE, eventually, wait_until
from tests.integration.conftest import Serve, alive
from tests.integration.test_program import KILLED, SLEEPER, child, make_program, texts

pytestmark = pytest.mark.portable

WAIT = 20 * TIME_SCALE
#: The environment that puts a whole `serve` on the paths forced here.
FORCED = {EXIT_WATCH_ENV: "poll", STOP_PATH_ENV: "tree", PIPES_ENV: "thread"}

STUBBORN_TREE = child(
    """
    import signal, subprocess, sys, time
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    grandchild = subprocess.Popen([sys.executable, "-c", code])
    print("grandchild", grandchild.pid, flush=True)
    while True: time.sleep(1)
    """
)


@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The non-pidfd watch, the non-process-group stop, the reading threads; no process groups."""
    for name, value in FORCED.items():
        monkeypatch.setenv(name, value)

    def no_group(*_: object) -> None:
        raise AssertionError("the tree stop path used a process group")

    # Windows has neither: there is nothing to forbid.
    monkeypatch.setattr(os, "killpg", no_group, raising=False)
    monkeypatch.setattr(os, "getpgid", no_group, raising=False)
    yield


@pytest.fixture
async def programs() -> AsyncIterator[list[SupervisedProgram]]:
    made: list[SupervisedProgram] = []
    yield made
    for program in made:
        await program.close(stop_process=True)


async def test_polling_watch_sees_the_exit_and_its_code(forced: None) -> None:
    process = await GodotProcess.spawn(
        child("import sys; sys.exit(3)"), env=dict(os.environ), cwd=None, sink=lambda *_: None
    )
    assert process.exit_watch == "poll"
    assert process.output_pipes == "thread"
    assert await asyncio.wait_for(process.exited, WAIT) == 3
    process.close_pipes()


async def test_polling_watch_sees_a_killed_game_and_it_is_restarted(
    forced: None, programs: list[SupervisedProgram]
) -> None:
    program = make_program(SLEEPER)
    programs.append(program)
    program.start()
    await program.wait_for(lambda: program.state is ProgramState.RUNNING, WAIT)
    first = program.status().pid
    assert first is not None and program.process is not None
    assert program.process.exit_watch == "poll"

    psutil.Process(first).kill()

    await program.wait_for(lambda: program.status().restarts == 1, WAIT)
    assert program.status().last_exit_code == KILLED
    await program.wait_for(lambda: program.state is ProgramState.RUNNING, WAIT)


async def test_tree_stop_leaves_nothing_behind_and_is_bounded(
    forced: None, programs: list[SupervisedProgram]
) -> None:
    stop_timeout = 0.5
    program = make_program(STUBBORN_TREE, timing=Timing(stop_timeout=stop_timeout))
    programs.append(program)
    program.start()
    await eventually(lambda: any(t.startswith("grandchild") for t in texts(program)))
    grandchild = int(next(t for t in texts(program) if t.startswith("grandchild")).split()[1])
    pid = program.status().pid
    assert pid is not None

    began = time.monotonic()
    status = await program.stop()
    took = time.monotonic() - began

    assert status.state is ProgramState.STOPPED
    assert not alive(pid)
    assert not alive(grandchild), "the grandchild that ignores SIGTERM outlived the stop"
    assert took < stop_timeout + KILL_GRACE


async def test_tree_leftovers_of_a_crash_are_killed(
    forced: None, programs: list[SupervisedProgram]
) -> None:
    # Without a process group, the orphaned grandchild is known from the tree's last look.
    program = make_program(STUBBORN_TREE, timing=Timing(stop_timeout=0.5))
    programs.append(program)
    program.start()
    await eventually(lambda: any(t.startswith("grandchild") for t in texts(program)))
    grandchild = int(next(t for t in texts(program) if t.startswith("grandchild")).split()[1])
    process = program.process
    assert process is not None
    await eventually(
        lambda: grandchild in [m.pid for m in process._tree.members], what="a look at the tree"
    )

    psutil.Process(process.pid).kill()

    await program.wait_for(lambda: program.status().restarts == 1, WAIT)
    await eventually(lambda: not alive(grandchild), what="the orphaned grandchild killed")


async def test_an_own_child_that_ended_before_its_watch_opened_is_seen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # kqueue refuses a zombie: the spawn then watches its own child with Popen.poll().
    def refuse(*_: object) -> ExitWatch:
        raise ProcessLookupError

    monkeypatch.setattr(exit_watch, "_open", refuse)
    process = await GodotProcess.spawn(
        child("import sys; sys.exit(5)"), env=dict(os.environ), cwd=None, sink=lambda *_: None
    )
    assert process.exit_watch == "poll"
    assert await asyncio.wait_for(process.exited, WAIT) == 5
    process.close_pipes()


async def test_stop_of_a_child_that_ignores_sigterm_returns_in_time(
    forced: None, programs: list[SupervisedProgram]
) -> None:
    deaf = child(
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("deaf", flush=True)
        while True: time.sleep(1)
        """
    )
    program = make_program(deaf, timing=Timing(stop_timeout=0.5))
    programs.append(program)
    program.start()
    await eventually(lambda: "deaf" in texts(program))
    pid = program.status().pid
    assert pid is not None

    began = time.monotonic()
    status = await program.stop()

    assert time.monotonic() - began < 0.5 + KILL_GRACE
    if sys.platform != "win32":  # Windows: CTRL_BREAK ends it; SIGTERM means nothing there
        assert status.last_exit_code == -signal.SIGKILL
    assert not alive(pid)


async def test_leaving_a_game_running_does_not_wait_for_it(
    forced: None, programs: list[SupervisedProgram]
) -> None:
    program = make_program(SLEEPER)
    program.start()
    await program.wait_for(lambda: program.state is ProgramState.RUNNING, WAIT)
    pid = program.status().pid
    assert pid is not None
    try:
        # A close that waited for the game would wait for ever: the timeout is generous.
        await asyncio.wait_for(program.close(stop_process=False), WAIT)
        assert alive(pid)
    finally:
        psutil.Process(pid).kill()


def test_quitting_serve_leaves_the_game_running_for_the_next_panel(serve: Serve) -> None:
    # The whole panel on the forced paths: its quit must not wait for the game, which
    # runs on for ever; a quit that waited would time out (how fast it is: tests/bench/).
    serve.start("--leave-running", env=FORCED)
    pid = serve.wait_healthy()["godot_process"]["pid"]

    assert serve.stop_panel(timeout=10) == 0

    assert alive(pid), "the game is left running for the next panel to adopt"
    serve.start(env=FORCED)
    assert serve.wait_healthy()["godot_process"]["pid"] == pid
    assert serve.game()["adopted"] is True


def test_serve_stops_a_stubborn_tree_on_the_forced_paths(serve: Serve) -> None:
    # The simulated game starts a grandchild that ignores SIGTERM (sim.faults.spawn_stubborn_child).
    serve.start("--stop-timeout", "1", env={**FORCED, "SPACETIME_SIM_SPAWN_CHILD": "1"})
    pid = serve.wait_healthy()["godot_process"]["pid"]
    grandchild = wait_until(
        lambda: next(
            (int(t.split()[-1]) for t in serve.log_lines() if t.startswith("sim: spawned child")),
            None,
        ),
        10,
        "the grandchild's pid",
    )
    serve.godot_pids.add(grandchild)
    assert alive(grandchild)

    began = time.monotonic()
    response = serve.post("/stop", json={})
    took = time.monotonic() - began

    assert response.status_code == 200
    assert response.json()["programs"]["game"]["state"] == "STOPPED"
    assert took < 1 + KILL_GRACE + 1  # stop timeout, the kill's grace, the HTTP round trip
    assert not alive(pid)
    assert not alive(grandchild), "the grandchild that ignores SIGTERM outlived the stop"


class LoopWithoutSignals(asyncio.SelectorEventLoop):
    """A loop like Windows' ones: no add_signal_handler."""

    def add_signal_handler(self, sig: int, callback: object, *args: object) -> None:
        raise NotImplementedError


def test_stop_signals_fall_back_where_the_loop_has_none() -> None:
    loop = LoopWithoutSignals()
    try:
        stop = asyncio.Event()

        async def wait_for_signal() -> None:
            restore = on_stop_signals(asyncio.get_running_loop(), stop.set)
            try:
                signal.raise_signal(signal.SIGTERM)  # os.kill would end the process on Windows
                await asyncio.wait_for(stop.wait(), WAIT)
            finally:
                restore()

        loop.run_until_complete(wait_for_signal())
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handed back
    finally:
        loop.close()


@pytest.mark.skipif(sys.platform == "win32", reason="Windows' event loops have no signal handling")
def test_stop_signals_use_the_loop_where_it_has_them() -> None:
    loop = asyncio.new_event_loop()
    try:
        stop = asyncio.Event()

        async def wait_for_signal() -> None:
            restore = on_stop_signals(asyncio.get_running_loop(), stop.set)
            try:
                signal.raise_signal(signal.SIGINT)
                await asyncio.wait_for(stop.wait(), WAIT)
            finally:
                restore()

        loop.run_until_complete(wait_for_signal())
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        loop.close()
