"""A supervised program: the state machine driven by a real process.

This is the asyncio edge of the supervisor (the machine and the policy are
pure). Like simpervisor, the readiness and health checks are passed in, so
the same class runs the game (ready when its bridge answers) and the editor
(ready when its LSP port accepts).

Every background task runs guarded (`_task`): an exception in one becomes a
`TaskFailed` event (`StopFailed` for the stop itself), so the machine handles
it as a failure instead of the program staying STARTING or STOPPING for ever.
A state file that cannot be written is only a warning (`ProgramStatus.warnings`):
the program is supervised all the same; only adoption by a restarted panel is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

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
    StopFailed,
    StopRequested,
    TaskFailed,
    Terminate,
    Unhealthy,
    describe_exit,
)
from spacetime_panel.supervisor.output import ProgramOutput
from spacetime_panel.supervisor.process import GodotProcess, NotAdopted, SpawnError
from spacetime_panel.supervisor.statefile import LaunchRecord, StateFile

log = logging.getLogger(__name__)

Check = Callable[[GodotProcess], Awaitable[bool]]

#: States in which no process runs and nothing happens by itself.
SETTLED = frozenset({ProgramState.STOPPED, ProgramState.EXITED, ProgramState.FATAL})

#: How long a stop that raised waits for the exit after its last-resort SIGKILL.
LAST_RESORT_WAIT = 2.0


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
    #: A start asked for during a stop: it happens when the stop ends.
    start_queued: bool = False
    #: Problems that do not stop supervision (a state file that cannot be written).
    warnings: tuple[str, ...] = ()

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
        self._state_warning: str | None = None
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
            start_queued=self.machine.start_queued,
            warnings=(self._state_warning,) if self._state_warning else (),
        )

    def subscribe(self, listener: Callable[[ProgramStatus], None]) -> None:
        """Call `listener` with the new status after every change of state."""
        self._listeners.append(listener)

    def start(self) -> bool:
        """Ask for a start (a user launch: it also clears a FATAL failure count).

        Returns True when the program is stopping: the start is queued and happens
        when the stop ends (a later stop cancels it).
        """
        self._feed(StartRequested())
        return self.machine.start_queued

    async def stop(self) -> ProgramStatus:
        """Stop the program and every descendant; return once nothing of it runs.

        It returns when the stop ends: the program is then settled, or STARTING when
        a start was asked for during the stop.
        """
        self._feed(StopRequested())
        await self.wait_for(lambda: self.state is not ProgramState.STOPPING)
        return self.status()

    async def restart(self) -> None:
        await self.stop()
        self.start()

    def adopt(self, record: LaunchRecord) -> bool:
        """Take over a process a previous panel launched; False (and said why) if it is not
        that process any more. A record that is not adopted is forgotten."""
        try:
            process = GodotProcess.adopt(record.pid, record.create_time, record.command)
        except NotAdopted as why:
            self.output.add("supervisor", f"not adopting {self.name} (pid {record.pid}): {why}")
            self.forget_record()
            return False
        self._process = process
        self.output.add("supervisor", f"adopted running {self.name} (pid {process.pid})")
        self._feed(Adopted(process.pid))
        self._after_spawn(process)
        return True

    def forget_record(self) -> None:
        """Drop this program's launch record (a warning, never an error, if that fails)."""
        self._write_state(lambda state: state.forget(self.name), recorded=False)

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
            while self.state not in SETTLED:
                await self.stop()  # a start queued behind the stop has begun: stop it too
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
                try:
                    listener(status)
                except Exception:
                    # A view's bug must not take the supervisor's task down with it.
                    log.exception("%s: a status listener failed", self.name)

    def _carry_out(self, action: Action) -> None:
        match action:
            case Spawn():
                self._run(self._spawn(), "the start")
            case Terminate(reason=reason):
                # No check may report on a process that is being stopped.
                self._cancel_checks()
                self._run(self._terminate(reason), "the stop", stop=True)
            case ScheduleRetry(delay=delay):
                self.output.add("supervisor", f"restarting {self.name} in {delay:g} s")
                self._retry = self._task(self._retry_after(delay), "the restart timer")
            case CancelRetry():
                if self._retry is not None:
                    self._retry.cancel()
                    self._retry = None

    def _run(self, coroutine: Coroutine[Any, Any, None], what: str, *, stop: bool = False) -> None:
        task = self._task(coroutine, what, stop=stop)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _task(
        self, coroutine: Coroutine[Any, Any, None], what: str, *, stop: bool = False
    ) -> asyncio.Task[None]:
        """Run `coroutine` as a task whose exception becomes an event for the machine."""

        def done(task: asyncio.Task[None]) -> None:
            if task.cancelled():
                return
            error = task.exception()
            if isinstance(error, Exception):
                self._task_failed(what, error, stop=stop)

        task = asyncio.create_task(coroutine)
        task.add_done_callback(done)
        return task

    def _task_failed(self, what: str, error: BaseException, *, stop: bool) -> None:
        reason = f"{what} failed: {type(error).__name__}: {error}"
        log.error("%s: %s", self.name, reason, exc_info=error)
        self.output.add("supervisor", f"{self.name}: {reason}")
        try:
            self._feed(StopFailed(reason) if stop else TaskFailed(reason))
        except Exception:
            log.exception("%s: the failure of %s could not be handled", self.name, what)

    async def _retry_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._retry = None
        self._feed(BackoffElapsed())

    async def _spawn(self) -> None:
        async with self._lock:
            if self.machine.state is not ProgramState.STARTING:
                return  # a stop came first: nothing to start
            survivor = self._process
            if survivor is not None and survivor.running:
                # A stop that failed left it running: never a second Godot beside it.
                reason = f"pid {survivor.pid} from a stop that failed still runs: stop it by hand"
                self.output.add("supervisor", f"cannot start {self.name}: {reason}")
                self._feed(SpawnFailed(reason))
                return
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
            record = LaunchRecord(process.pid, process.create_time, spec.command)
            self._write_state(lambda state: state.record(self.name, record), recorded=True)
            self._feed(Spawned(process.pid))
            self._after_spawn(process)

    def _after_spawn(self, process: GodotProcess) -> None:
        self._run(self._watch_exit(process), "the exit watch")
        self._checks.append(self._task(self._await_ready(process), "the ready check"))

    async def _watch_exit(self, process: GodotProcess) -> None:
        code = await process.exited
        if self._terminating is process:
            return  # the stop reports the exit once the whole tree is gone
        self._report_exit(process, code)

    def _report_exit(self, process: GodotProcess, code: int | None) -> None:
        """Tell the machine that `process` ended: once, by whoever sees it first."""
        if self._process is not process:
            return  # already reported (or a process this program no longer runs)
        self._process = None
        self._cancel_checks()
        self.forget_record()
        try:
            process.kill_leftovers()
        finally:
            line = f"{self.name} (pid {process.pid}) {describe_exit(code)}"
            self.output.add("supervisor", line)
            self._feed(Exited(code))

    async def _terminate(self, reason: str) -> None:
        async with self._lock:
            process = self._process
            if process is None:
                self._feed(Exited(None))  # stopped before anything was spawned
                return
            if not process.running:
                self._report_exit(process, _exit_code(process))
                return
            self._terminating = process
            self._cancel_checks()
            self.output.add("supervisor", f"stopping {self.name} (pid {process.pid}): {reason}")
            try:
                code = await process.terminate(self._timing.stop_timeout)
                if code is None and process.running:
                    # Not even SIGKILL ended it (a process stuck in the kernel): it is
                    # still ours, and nothing may start beside it.
                    reason = f"pid {process.pid} did not end after SIGKILL"
                    self.output.add("supervisor", f"{self.name}: the stop failed: {reason}")
                    self._feed(StopFailed(reason))
                    return
            except Exception as error:
                code = await self._stop_by_force(process, error)
                if code is None and process.running:
                    return
            finally:
                self._terminating = None
            self._report_exit(process, code)

    async def _stop_by_force(self, process: GodotProcess, error: Exception) -> int | None:
        """After a stop that raised: SIGKILL the process and its group, then wait a little.

        The failure is in `last_failure` and the log. If the process still runs, the
        stop failed (FATAL, and the issue says so).
        """
        reason = f"the stop failed: {type(error).__name__}: {error}"
        log.error("%s: %s", self.name, reason, exc_info=error)
        self.output.add("supervisor", f"{self.name}: {reason}; killing pid {process.pid}")
        self._feed(TaskFailed(reason))
        with contextlib.suppress(Exception):
            process.kill_leftovers()
        if process.running:
            with contextlib.suppress(psutil.Error):
                psutil.Process(process.pid).kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.exited), LAST_RESORT_WAIT)
        if process.running:
            self._feed(StopFailed(reason))
            return None
        return _exit_code(process)

    def _write_state(self, change: Callable[[StateFile], None], *, recorded: bool) -> None:
        """Change the state file; a failure is a warning (adoption is lost, nothing else).

        Only a record that was written clears the warning: a forget may write nothing.
        """
        state = self._state_file
        if state is None:
            return
        try:
            change(state)
        except Exception as error:
            why = error.strerror if isinstance(error, OSError) and error.strerror else error
            warning = (
                f"cannot write the state file {state.path} ({why}): {self.name} is "
                "supervised, but a restarted panel will not adopt it (check --state-dir)"
            )
            if warning != self._state_warning:
                log.warning("%s", warning)
                self.output.add("supervisor", warning)
            self._state_warning = warning
        else:
            if recorded:
                self._state_warning = None

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
                self._checks.append(self._task(self._watchdog(process), "the watchdog"))
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


def _exit_code(process: GodotProcess) -> int | None:
    """The exit code of an ended process (None if unknown)."""
    exited = process.exited
    if not exited.done() or exited.cancelled() or exited.exception() is not None:
        return None
    return exited.result()
