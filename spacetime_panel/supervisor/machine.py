"""The supervisor's state machine for one program (the game or the editor).

Pure code in the style of websockets' sans-I/O protocol: feed it events with
`handle(event, now)`, carry out the actions it returns. It never spawns,
kills or sleeps; the runner does that and reports back with more events.

States are supervisord's. The rules (DESIGN.md, Supervisor):
- a failure is an exit nobody asked for, a start that is not ready in time,
  or a watchdog kill; after a failure the program waits in BACKOFF and
  starts again, unless the restart policy gives up: then FATAL with a
  blocking issue, until the user starts it again (which clears the count);
- a stop the user asked for never restarts and cancels a pending backoff;
- a start asked for during a stop is queued: it happens when the stop ends;
- a supervisor task that fails (`TaskFailed`) is a failure like any other,
  and a stop that fails (`StopFailed`) is FATAL: never a program stuck in a
  state.
"""

from __future__ import annotations

import enum
import signal
from collections import Counter
from dataclasses import dataclass

from spacetime_panel.supervisor.policy import GiveUp, RestartPolicy


class ProgramState(enum.Enum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    BACKOFF = "BACKOFF"
    STOPPING = "STOPPING"
    EXITED = "EXITED"
    FATAL = "FATAL"


# --- events (what happened) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartRequested:
    """The user (or the API) asked for a start."""


@dataclass(frozen=True, slots=True)
class StopRequested:
    """The user (or the API) asked for a stop."""


@dataclass(frozen=True, slots=True)
class Spawned:
    pid: int


@dataclass(frozen=True, slots=True)
class Adopted:
    """A process a previous panel started is still running and is taken over."""

    pid: int


@dataclass(frozen=True, slots=True)
class SpawnFailed:
    """The program could not be executed at all (missing file, no permission)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Ready:
    """The readiness check passed."""


@dataclass(frozen=True, slots=True)
class StartTimedOut:
    timeout: float
    #: What was waited for and the likely causes, for the user (may be empty).
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Unhealthy:
    """The watchdog saw too many failed health checks in a row."""

    reason: str


@dataclass(frozen=True, slots=True)
class Exited:
    """The process ended. `code` is None when it is unknown (an adopted process)."""

    code: int | None


@dataclass(frozen=True, slots=True)
class BackoffElapsed:
    pass


@dataclass(frozen=True, slots=True)
class TaskFailed:
    """A supervisor task (start follow-up, exit watch, ready check, watchdog) raised."""

    reason: str


@dataclass(frozen=True, slots=True)
class StopFailed:
    """The stop itself raised and the process may still run: nothing more can be done."""

    reason: str


Event = (
    StartRequested
    | StopRequested
    | Spawned
    | Adopted
    | SpawnFailed
    | Ready
    | StartTimedOut
    | Unhealthy
    | Exited
    | BackoffElapsed
    | TaskFailed
    | StopFailed
)


# --- actions (what the runner must do) --------------------------------------


@dataclass(frozen=True, slots=True)
class Spawn:
    pass


@dataclass(frozen=True, slots=True)
class Terminate:
    """SIGTERM the process group, SIGKILL it after the stop timeout."""

    reason: str


@dataclass(frozen=True, slots=True)
class ScheduleRetry:
    delay: float


@dataclass(frozen=True, slots=True)
class CancelRetry:
    pass


Action = Spawn | Terminate | ScheduleRetry | CancelRetry


def describe_exit(code: int | None) -> str:
    """'exited with code 1', 'killed by SIGKILL', 'exited' (code unknown)."""
    if code is None:
        return "exited"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class ProgramMachine:
    """State of one supervised program, driven by events."""

    def __init__(self, name: str, policy: RestartPolicy, *, auto_restart: bool = True) -> None:
        self.name = name
        self.policy = policy
        self.auto_restart = auto_restart
        self.state = ProgramState.STOPPED
        self.pid: int | None = None
        self.last_exit_code: int | None = None
        self.last_failure: str | None = None
        self.blocking_issue: str | None = None
        self.restarts = 0
        #: Failures since the panel started, by kind ("crash", "start_timeout",
        #: "unhealthy", "spawn_failed", "task_failed", "stop_failed"): the error
        #: counters of /metrics.
        self.failures: Counter[str] = Counter()
        #: A start asked for during a stop: it happens when the stop ends.
        self.start_queued = False
        self._failure_in_progress: str | None = None
        self._failure_kind = "crash"

    def handle(self, event: Event, now: float) -> list[Action]:
        """Apply one event; return the actions to carry out, in order."""
        state = self.state
        S = ProgramState
        match event:
            case StartRequested():
                if state in (S.STOPPED, S.EXITED, S.FATAL, S.BACKOFF):
                    self.policy.reset()
                    self.blocking_issue = None
                    actions: list[Action] = [CancelRetry()] if state is S.BACKOFF else []
                    return [*actions, *self._begin_start()]
                if state is S.STOPPING:
                    self.start_queued = True
            case StopRequested():
                if state in (S.STARTING, S.RUNNING):
                    self.state = S.STOPPING
                    return [Terminate("stop requested")]
                if state is S.STOPPING:
                    # A stop during a failure kill: the exit must not restart; and the
                    # latest wish wins over a start queued before it.
                    self._failure_in_progress = None
                    self.start_queued = False
                    return []
                if state in (S.BACKOFF, S.EXITED, S.FATAL):
                    self.state = S.STOPPED
                    self.blocking_issue = None
                    return [CancelRetry()] if state is S.BACKOFF else []
            case Spawned(pid=pid):
                if state is S.STARTING:
                    self.pid = pid
            case Adopted(pid=pid):
                if state in (S.STOPPED, S.EXITED, S.FATAL):
                    self.state = S.STARTING
                    self.pid = pid
                    self.blocking_issue = None
            case SpawnFailed(reason=reason):
                if state is S.STARTING:
                    # A missing or non-executable Godot will not fix itself: no retry.
                    self.failures["spawn_failed"] += 1
                    self.state = S.FATAL
                    self.pid = None
                    self.last_failure = reason
                    self.blocking_issue = f"{self.name} could not be started: {reason}"
            case Ready():
                if state is S.STARTING:
                    self.state = S.RUNNING
            case StartTimedOut(timeout=timeout, detail=detail):
                if state is S.STARTING:
                    reason = f"not ready within {timeout:g} s"
                    return self._begin_failure_kill(
                        "start_timeout", f"{reason}: {detail}" if detail else reason
                    )
            case Unhealthy(reason=reason):
                if state in (S.RUNNING, S.STARTING):
                    return self._begin_failure_kill("unhealthy", reason)
            case Exited(code=code):
                return self._on_exit(code, now)
            case BackoffElapsed():
                if state is S.BACKOFF:
                    self.restarts += 1
                    return self._begin_start()
            case TaskFailed(reason=reason):
                return self._on_task_failed(reason, now)
            case StopFailed(reason=reason):
                if state is S.STOPPING:
                    self.failures["stop_failed"] += 1
                    self.state = S.FATAL
                    self.last_failure = reason
                    self.start_queued = False
                    self._failure_in_progress = None
                    where = f" (pid {self.pid})" if self.pid is not None else ""
                    self.blocking_issue = (
                        f"{self.name} could not be stopped ({reason}); it may still be "
                        f"running{where}: stop it by hand, then launch again"
                    )
        return []

    def _on_task_failed(self, reason: str, now: float) -> list[Action]:
        S = ProgramState
        self.last_failure = reason
        match self.state:
            case S.STARTING | S.RUNNING:
                # The process may be fine, but nothing watches it any more: replace it.
                return self._begin_failure_kill("task_failed", reason)
            case S.BACKOFF:
                # The pending restart is lost with the task: decide again.
                return [CancelRetry(), *self._fail("task_failed", reason, now)]
        # STOPPING: the stop reports the exit; settled: nothing runs to fail.
        return []

    def _begin_start(self) -> list[Action]:
        self.state = ProgramState.STARTING
        self.pid = None
        self.start_queued = False
        self._failure_in_progress = None
        return [Spawn()]

    def _begin_failure_kill(self, kind: str, reason: str) -> list[Action]:
        self.state = ProgramState.STOPPING
        self._failure_in_progress = reason
        self._failure_kind = kind
        return [Terminate(reason)]

    def _on_exit(self, code: int | None, now: float) -> list[Action]:
        S = ProgramState
        if self.state not in (S.STARTING, S.RUNNING, S.STOPPING):
            return []
        self.pid = None
        self.last_exit_code = code
        if self.state is S.STOPPING and self._failure_in_progress is None:
            self.state = S.STOPPED
            return self._start_if_queued()
        reason = self._failure_in_progress or describe_exit(code)
        kind = self._failure_kind if self._failure_in_progress else "crash"
        self._failure_in_progress = None
        if self.start_queued:
            # The user asked for a start during this failure's kill: a launch, which
            # clears the count, instead of a backoff.
            self.failures[kind] += 1
            self.last_failure = reason
            return self._start_if_queued()
        return self._fail(kind, reason, now)

    def _start_if_queued(self) -> list[Action]:
        if not self.start_queued:
            return []
        self.policy.reset()
        self.blocking_issue = None
        return self._begin_start()

    def _fail(self, kind: str, reason: str, now: float) -> list[Action]:
        """Count a failure; back off, or give up (FATAL), or stay down (EXITED)."""
        S = ProgramState
        self.pid = None
        self.failures[kind] += 1
        self.last_failure = reason
        if not self.auto_restart:
            self.state = S.EXITED
            self.blocking_issue = f"{self.name} {reason} (auto-restart is off)"
            return []
        decision = self.policy.record_failure(now)
        if isinstance(decision, GiveUp):
            self.state = S.FATAL
            self.blocking_issue = (
                f"{self.name} failed {decision.failures} times within {decision.window:g} s "
                f"(last: {reason}); not restarting until launched again"
            )
            return []
        self.state = S.BACKOFF
        return [ScheduleRetry(decision.delay)]
