"""A supervised program: the state machine driven by a real process.

This is the asyncio edge of the supervisor (the machine and the policy are
pure). Like simpervisor, the readiness and health checks are passed in, so
the same class runs the game (ready when its bridge answers) and the editor
(ready when its LSP port accepts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from spacetime_panel.supervisor.machine import (
    Action,
    Adopted,
    BackoffElapsed,
    CancelRetry,
    Event,
    Exited,
    ProgramMachine,
    ProgramState,
    Ready,
    ScheduleRetry,
    Spawn,
    Spawned,
    SpawnFailed,
    StartRequested,
    StartTimedOut,
    StopRequested,
    Terminate,
    Unhealthy,
    describe_exit,
)
from spacetime_panel.supervisor.output import ProgramOutput
from spacetime_panel.supervisor.process import GodotProcess, SpawnError
from spacetime_panel.supervisor.statefile import LaunchRecord, StateFile

log = logging.getLogger(__name__)

Check = Callable[[GodotProcess], Awaitable[bool]]

#: States in which no process runs and nothing happens by itself.
SETTLED = frozenset({ProgramState.STOPPED, ProgramState.EXITED, ProgramState.FATAL})


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    command: list[str]
    env: dict[str, str]
    cwd: Path | None


@dataclass(frozen=True, slots=True)
class Timing:
    start_timeout: float = 60.0
    stop_timeout: float = 10.0
    check_interval: float = 30.0
    unhealthy_threshold: int = 3
    ready_poll: float = 0.05


@dataclass(frozen=True, slots=True)
class ProgramStatus:
    """What a view of the program shows: the API, the metrics and the Qt widgets read this."""

    name: str
    state: ProgramState
    pid: int | None
    started_at: float | None  # wall clock
    restarts: int
    last_exit_code: int | None
    last_failure: str | None
    blocking_issue: str | None
    adopted: bool
    failures: dict[str, int]
    state_since: float = 0.0  # the supervisor's clock (monotonic) when this state began

    @property
    def uptime(self) -> float | None:
        return None if self.started_at is None else max(0.0, time.time() - self.started_at)


class SupervisedProgram:
    """One program (game or editor) under supervision."""

    def __init__(
        self,
        machine: ProgramMachine,
        *,
        launch: Callable[[], LaunchSpec],
        ready_check: Check,
        health_check: Check,
        output: ProgramOutput,
        timing: Timing,
        state_file: StateFile | None = None,
        clock: Callable[[], float] = time.monotonic,
        describe_wait: Callable[[GodotProcess], str] | None = None,
    ) -> None:
        """`describe_wait(process)` says what readiness waits for and why it may not
        come; it goes into the failure of a start that times out."""
        self.machine = machine
        self.name = machine.name
        self.output = output
        self._launch = launch
        self._ready_check = ready_check
        self._health_check = health_check
        self._timing = timing
        self._state_file = state_file
        self._clock = clock
        self._describe_wait = describe_wait
        self._lock = asyncio.Lock()
        self._process: GodotProcess | None = None
        self._terminating: GodotProcess | None = None
        self._retry: asyncio.Task[None] | None = None
        self._checks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._listeners: list[Callable[[ProgramStatus], None]] = []
        self._state_since = clock()

    # --- public -------------------------------------------------------------------

    @property
    def state(self) -> ProgramState:
        return self.machine.state

    @property
    def process(self) -> GodotProcess | None:
        return self._process

    def status(self) -> ProgramStatus:
        process = self._process
        return ProgramStatus(
            name=self.name,
            state=self.machine.state,
            pid=process.pid if process is not None else None,
            started_at=process.started_at if process is not None else None,
            restarts=self.machine.restarts,
            last_exit_code=self.machine.last_exit_code,
            last_failure=self.machine.last_failure,
            blocking_issue=self.machine.blocking_issue,
            adopted=process.adopted if process is not None else False,
            failures=dict(self.machine.failures),
            state_since=self._state_since,
        )

    def subscribe(self, listener: Callable[[ProgramStatus], None]) -> None:
        """Call `listener` with the new status after every change of state."""
        self._listeners.append(listener)

    def start(self) -> None:
        """Ask for a start (a user launch: it also clears a FATAL failure count)."""
        self._feed(StartRequested())

    async def stop(self) -> ProgramStatus:
        """Stop the program and every descendant; return once nothing of it runs."""
        self._feed(StopRequested())
        await self.wait_for(lambda: self.state in SETTLED)
        return self.status()

    async def restart(self) -> None:
        await self.stop()
        self.start()

    def adopt(self, record: LaunchRecord) -> bool:
        """Take over a process a previous panel launched; False if it is gone."""
        process = GodotProcess.adopt(record.pid, record.create_time)
        if process is None:
            return False
        self._process = process
        self.output.add("supervisor", f"adopted running {self.name} (pid {process.pid})")
        self._feed(Adopted(process.pid))
        self._after_spawn(process)
        return True

    async def wait_for(self, condition: Callable[[], bool], timeout: float | None = None) -> None:
        """Wait until `condition()` holds, re-checked after every change of state."""
        async with asyncio.timeout(timeout):
            while not condition():
                changed = self._changed
                await changed.wait()

    async def close(self, *, stop_process: bool) -> None:
        """On panel exit: stop the program, or leave it running for the next panel to adopt."""
        if stop_process:
            await self.stop()
        else:
            self._cancel_checks()
            if self._retry is not None:
                self._retry.cancel()
            if self._process is not None:
                self._process.detach()
        self.output.close()

    # --- events and actions ---------------------------------------------------

    def _feed(self, event: Event) -> None:
        before = self.machine.state
        actions = self.machine.handle(event, self._clock())
        after = self.machine.state
        if after is not before:
            self._state_since = self._clock()
            log.info("%s: %s -> %s", self.name, before.value, after.value)
            if after is ProgramState.FATAL and self.machine.blocking_issue:
                self.output.add("supervisor", self.machine.blocking_issue)
        for action in actions:
            self._carry_out(action)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        if after is not before:
            status = self.status()
            for listener in self._listeners:
                listener(status)

    def _carry_out(self, action: Action) -> None:
        match action:
            case Spawn():
                self._run(self._spawn())
            case Terminate(reason=reason):
                self._run(self._terminate(reason))
            case ScheduleRetry(delay=delay):
                self.output.add("supervisor", f"restarting {self.name} in {delay:g} s")
                self._retry = asyncio.create_task(self._retry_after(delay))
            case CancelRetry():
                if self._retry is not None:
                    self._retry.cancel()
                    self._retry = None

    def _run(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _retry_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._retry = None
        self._feed(BackoffElapsed())

    async def _spawn(self) -> None:
        async with self._lock:
            if self.machine.state is not ProgramState.STARTING:
                return  # a stop came first: nothing to start
            spec = self._launch()
            self.output.add("supervisor", f"starting {self.name}: {' '.join(spec.command)}")
            try:
                process = await GodotProcess.spawn(
                    spec.command, env=spec.env, cwd=spec.cwd, sink=self.output.add
                )
            except SpawnError as error:
                self.output.add("supervisor", f"cannot start {self.name}: {error}")
                self._feed(SpawnFailed(str(error)))
                return
            self._process = process
            if self._state_file is not None:
                record = LaunchRecord(process.pid, process.create_time, spec.command)
                self._state_file.record(self.name, record)
            self._feed(Spawned(process.pid))
            self._after_spawn(process)

    def _after_spawn(self, process: GodotProcess) -> None:
        self._run(self._watch_exit(process))
        self._checks.append(asyncio.create_task(self._await_ready(process)))

    async def _watch_exit(self, process: GodotProcess) -> None:
        code = await process.exited
        if self._terminating is process:
            return  # the stop reports the exit once the whole tree is gone
        self._cancel_checks()
        process.kill_leftovers()
        self._forget(process)
        self.output.add("supervisor", f"{self.name} (pid {process.pid}) {describe_exit(code)}")
        self._feed(Exited(code))

    async def _terminate(self, reason: str) -> None:
        async with self._lock:
            process = self._process
            if process is None or not process.running:
                if process is None:
                    self._feed(Exited(None))  # stopped before anything was spawned
                return  # already exited: _watch_exit reports it
            self._terminating = process
            self._cancel_checks()
            self.output.add("supervisor", f"stopping {self.name} (pid {process.pid}): {reason}")
            try:
                code = await process.terminate(self._timing.stop_timeout)
            finally:
                self._terminating = None
            self._forget(process)
            self.output.add("supervisor", f"{self.name} (pid {process.pid}) {describe_exit(code)}")
            self._feed(Exited(code))

    def _forget(self, process: GodotProcess) -> None:
        if self._process is process:
            self._process = None
        if self._state_file is not None:
            self._state_file.forget(self.name)

    # --- readiness and watchdog ----------------------------------------------------

    async def _await_ready(self, process: GodotProcess) -> None:
        timing = self._timing
        deadline = self._clock() + timing.start_timeout
        while process.running:
            remaining = deadline - self._clock()
            if remaining <= 0:
                detail = self._describe_wait(process) if self._describe_wait else ""
                self._feed(StartTimedOut(timing.start_timeout, detail))
                return
            ready = False
            with contextlib.suppress(TimeoutError):
                ready = await asyncio.wait_for(self._ready_check(process), remaining)
            if ready and process.running:
                self._feed(Ready())
                self._checks.append(asyncio.create_task(self._watchdog(process)))
                return
            await asyncio.sleep(timing.ready_poll)

    async def _watchdog(self, process: GodotProcess) -> None:
        timing = self._timing
        failed = 0
        while process.running:
            await asyncio.sleep(timing.check_interval)
            healthy = False
            with contextlib.suppress(TimeoutError):
                healthy = await asyncio.wait_for(
                    self._health_check(process), timing.check_interval * 2
                )
            failed = 0 if healthy else failed + 1
            if failed:
                log.warning("%s: health check failed (%d in a row)", self.name, failed)
            if failed >= timing.unhealthy_threshold:
                self._feed(Unhealthy(f"{failed} health checks failed in a row"))
                return

    def _cancel_checks(self) -> None:
        for task in self._checks:
            task.cancel()
        self._checks.clear()
