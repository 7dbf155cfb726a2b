"""ProgramMachine: start, ready, failures with backoff, FATAL, user stops that never restart."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetime_panel.supervisor.machine import (
    Adopted,
    BackoffElapsed,
    CancelRetry,
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
from spacetime_panel.supervisor.policy import RestartPolicy

pytestmark = pytest.mark.portable

S = ProgramState


def machine(**kwargs):
    policy = RestartPolicy(max_failures=3, failure_window=300.0)
    return ProgramMachine("game", policy, **kwargs)


def running(m=None, now=0.0, pid=100):
    m = m or machine()
    assert m.handle(StartRequested(), now) == [Spawn()]
    m.handle(Spawned(pid), now)
    m.handle(Ready(), now)
    assert m.state is S.RUNNING
    return m


def crash_and_restart(m, now, code=1, pid=200):
    """The running program dies; the backoff elapses; it comes back. Returns the retry."""
    actions = m.handle(Exited(code), now)
    if m.state is S.BACKOFF:
        assert m.handle(BackoffElapsed(), now + 1) == [Spawn()]
        m.handle(Spawned(pid), now + 1)
        m.handle(Ready(), now + 1)
    return actions


# --- start and ready -------------------------------------------------------------


def test_start_spawns_and_waits_for_ready():
    m = machine()
    assert m.state is S.STOPPED
    assert m.handle(StartRequested(), 0.0) == [Spawn()]
    assert m.state is S.STARTING
    m.handle(Spawned(1234), 0.0)
    assert m.pid == 1234
    assert m.state is S.STARTING


def test_ready_makes_it_running():
    m = machine()
    m.handle(StartRequested(), 0.0)
    m.handle(Spawned(1234), 0.0)
    assert m.handle(Ready(), 0.5) == []
    assert m.state is S.RUNNING
    assert m.pid == 1234


def test_start_while_running_does_not_spawn_a_second_one():
    m = running()
    assert m.handle(StartRequested(), 1.0) == []
    assert m.state is S.RUNNING


# --- failures, backoff and FATAL ---------------------------------------------------------


def test_unrequested_exit_backs_off_a_tenth_then_one_second():
    m = running()
    assert m.handle(Exited(1), 10.0) == [ScheduleRetry(0.1)]
    assert m.state is S.BACKOFF
    assert m.pid is None
    assert m.last_exit_code == 1
    assert m.last_failure == "exited with code 1"
    assert m.handle(BackoffElapsed(), 11.0) == [Spawn()]
    assert m.state is S.STARTING
    assert m.restarts == 1
    m.handle(Spawned(101), 11.0)
    m.handle(Ready(), 11.5)
    assert m.handle(Exited(1), 20.0) == [ScheduleRetry(1.0)]
    assert m.state is S.BACKOFF


def test_clean_exit_nobody_asked_for_is_a_failure_too():
    m = running()
    assert m.handle(Exited(0), 5.0) == [ScheduleRetry(0.1)]
    assert m.last_failure == "exited with code 0"


def test_third_failure_in_window_is_fatal_and_names_count_and_last_failure():
    m = running()
    crash_and_restart(m, 10.0, code=3)
    crash_and_restart(m, 20.0, code=3)
    actions = m.handle(Exited(-9), 30.0)
    assert actions == []
    assert Spawn() not in actions
    assert m.state is S.FATAL
    assert m.blocking_issue is not None
    assert "3 times" in m.blocking_issue
    assert "300 s" in m.blocking_issue
    assert "killed by SIGKILL" in m.blocking_issue
    assert m.blocking_issue.startswith("game ")


def test_fatal_issue_names_an_exit_code():
    m = running()
    crash_and_restart(m, 10.0)
    crash_and_restart(m, 20.0)
    m.handle(Exited(3), 30.0)
    assert m.state is S.FATAL
    assert "exited with code 3" in m.blocking_issue


def test_fatal_never_spawns_on_its_own():
    m = running()
    for t in (10.0, 20.0, 30.0):
        crash_and_restart(m, t)
    assert m.state is S.FATAL
    for event in (BackoffElapsed(), Exited(1), Ready(), StartTimedOut(60.0), Unhealthy("x")):
        assert m.handle(event, 40.0) == []
        assert m.state is S.FATAL


def test_failures_spaced_wider_than_the_window_never_reach_fatal():
    m = running()
    for n in range(1, 10):
        actions = crash_and_restart(m, n * 301.0)
        assert actions == [ScheduleRetry(0.1)]
        assert m.state is S.RUNNING
    assert m.restarts == 9


def test_user_start_from_fatal_clears_the_count_and_spawns():
    m = running()
    for t in (10.0, 20.0, 30.0):
        crash_and_restart(m, t)
    assert m.state is S.FATAL
    assert m.handle(StartRequested(), 40.0) == [Spawn()]
    assert m.state is S.STARTING
    assert m.blocking_issue is None
    m.handle(Spawned(300), 40.0)
    m.handle(Ready(), 41.0)
    # The count starts over: the next crash backs off 1 s instead of giving up.
    assert m.handle(Exited(1), 50.0) == [ScheduleRetry(0.1)]
    assert m.state is S.BACKOFF


def test_user_start_during_backoff_cancels_the_retry_and_spawns_now():
    m = running()
    m.handle(Exited(1), 10.0)
    assert m.handle(StartRequested(), 10.2) == [CancelRetry(), Spawn()]
    assert m.state is S.STARTING


# --- stops the user asked for ------------------------------------------------------


def test_stop_while_running_terminates_then_stays_stopped():
    m = running()
    assert m.handle(StopRequested(), 5.0) == [Terminate("stop requested")]
    assert m.state is S.STOPPING
    assert m.handle(Exited(-15), 6.0) == []
    assert m.state is S.STOPPED
    assert m.pid is None
    assert m.blocking_issue is None
    assert m.handle(BackoffElapsed(), 100.0) == []
    assert m.state is S.STOPPED


def test_stop_while_starting_terminates():
    m = machine()
    m.handle(StartRequested(), 0.0)
    m.handle(Spawned(5), 0.0)
    assert m.handle(StopRequested(), 1.0) == [Terminate("stop requested")]
    m.handle(Exited(0), 2.0)
    assert m.state is S.STOPPED


def test_stop_during_backoff_cancels_retry_and_late_elapse_does_nothing():
    m = running()
    m.handle(Exited(1), 10.0)
    assert m.handle(StopRequested(), 10.5) == [CancelRetry()]
    assert m.state is S.STOPPED
    assert m.handle(BackoffElapsed(), 11.0) == []
    assert m.state is S.STOPPED


def test_stop_from_fatal_clears_the_issue():
    m = machine()
    m.handle(StartRequested(), 0.0)
    m.handle(SpawnFailed("godot not found"), 0.0)
    assert m.handle(StopRequested(), 1.0) == []
    assert m.state is S.STOPPED
    assert m.blocking_issue is None


def test_stop_while_stopped_does_nothing():
    m = machine()
    assert m.handle(StopRequested(), 0.0) == []
    assert m.state is S.STOPPED


# --- failure kills: start timeout and watchdog -----------------------------------------


def test_start_timeout_terminates_and_counts_as_not_ready_failure():
    m = machine()
    m.handle(StartRequested(), 0.0)
    m.handle(Spawned(7), 0.0)
    [action] = m.handle(StartTimedOut(60.0), 60.0)
    assert isinstance(action, Terminate)
    assert "not ready within 60 s" in action.reason
    assert m.state is S.STOPPING
    assert m.handle(Exited(-15), 61.0) == [ScheduleRetry(0.1)]
    assert m.state is S.BACKOFF
    assert "not ready within 60 s" in m.last_failure


def test_repeated_start_timeouts_become_fatal_with_the_reason():
    m = machine()
    for t in (0.0, 100.0, 200.0):
        if t:
            assert m.handle(BackoffElapsed(), t) == [Spawn()]
        else:
            m.handle(StartRequested(), t)
        m.handle(StartTimedOut(60.0), t + 60)
        m.handle(Exited(-15), t + 61)
    assert m.state is S.FATAL
    assert "not ready within 60 s" in m.blocking_issue


def test_unhealthy_terminates_then_exit_backs_off():
    m = running()
    [action] = m.handle(Unhealthy("3 health checks failed"), 50.0)
    assert action == Terminate("3 health checks failed")
    assert m.state is S.STOPPING
    assert m.handle(Exited(-9), 51.0) == [ScheduleRetry(0.1)]
    assert m.state is S.BACKOFF
    assert m.last_failure == "3 health checks failed"
    assert m.last_exit_code == -9


def test_stop_during_a_failure_kill_means_no_restart():
    m = running()
    m.handle(Unhealthy("3 health checks failed"), 50.0)
    assert m.handle(StopRequested(), 50.5) == []
    assert m.state is S.STOPPING
    assert m.handle(Exited(-15), 51.0) == []
    assert m.state is S.STOPPED
    assert m.handle(BackoffElapsed(), 60.0) == []


def test_ready_after_a_start_timeout_does_not_revive_it():
    m = machine()
    m.handle(StartRequested(), 0.0)
    m.handle(StartTimedOut(60.0), 60.0)
    assert m.handle(Ready(), 60.1) == []
    assert m.state is S.STOPPING


# --- spawn failures and auto-restart off ---------------------------------------------


def test_spawn_failure_is_fatal_without_retry():
    m = machine()
    m.handle(StartRequested(), 0.0)
    assert m.handle(SpawnFailed("/opt/godot: No such file"), 0.0) == []
    assert m.state is S.FATAL
    assert m.pid is None
    assert m.blocking_issue == "game could not be started: /opt/godot: No such file"
    assert m.handle(BackoffElapsed(), 5.0) == []


def test_spawn_failure_after_a_backoff_is_fatal():
    m = running()
    m.handle(Exited(1), 1.0)
    m.handle(BackoffElapsed(), 2.0)
    m.handle(SpawnFailed("permission denied"), 2.0)
    assert m.state is S.FATAL
    assert "permission denied" in m.blocking_issue


def test_auto_restart_off_exits_and_says_so():
    m = running(machine(auto_restart=False))
    assert m.handle(Exited(3), 5.0) == []
    assert m.state is S.EXITED
    assert m.blocking_issue == "game exited with code 3 (auto-restart is off)"
    assert m.handle(BackoffElapsed(), 6.0) == []
    assert m.handle(StartRequested(), 7.0) == [Spawn()]
    assert m.blocking_issue is None


# --- adoption -------------------------------------------------------------------


def test_adopted_from_stopped_is_starting_with_the_pid():
    m = machine()
    assert m.handle(Adopted(9876), 0.0) == []
    assert m.state is S.STARTING
    assert m.pid == 9876
    m.handle(Ready(), 0.1)
    assert m.state is S.RUNNING


def test_adopted_process_exit_with_unknown_code_is_a_failure():
    m = machine()
    m.handle(Adopted(9876), 0.0)
    m.handle(Ready(), 0.1)
    assert m.handle(Exited(None), 5.0) == [ScheduleRetry(0.1)]
    assert m.last_failure == "exited"


def test_adopted_while_running_is_ignored():
    m = running(pid=100)
    m.handle(Adopted(555), 1.0)
    assert m.pid == 100
    assert m.state is S.RUNNING


# --- describe_exit ---------------------------------------------------------------


def test_describe_exit():
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-15) == "killed by SIGTERM"
    assert describe_exit(0) == "exited with code 0"
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(None) == "exited"


def test_describe_exit_unknown_signal_number():
    assert describe_exit(-999) == "killed by signal 999"


# --- a start asked for during a stop ----------------------------------------------------


def stopping(m=None, now=1.0):
    m = m or running()
    assert m.handle(StopRequested(), now) == [Terminate("stop requested")]
    return m


def test_start_during_a_stop_is_queued_and_spawns_when_the_stop_ends():
    m = stopping()
    assert m.handle(StartRequested(), 1.5) == []
    assert m.state is S.STOPPING and m.start_queued
    assert m.handle(Exited(-15), 2.0) == [Spawn()]
    assert m.state is S.STARTING
    assert not m.start_queued
    assert m.last_failure is None  # a stop the user asked for is no failure


def test_stop_after_a_queued_start_cancels_it():
    m = stopping()
    m.handle(StartRequested(), 1.5)
    assert m.handle(StopRequested(), 1.6) == []
    assert not m.start_queued
    assert m.handle(Exited(-15), 2.0) == []
    assert m.state is S.STOPPED


def test_start_during_a_failure_kill_launches_at_once_instead_of_backing_off():
    m = running()
    m.handle(Unhealthy("3 health checks failed in a row"), 1.0)
    m.handle(StartRequested(), 1.5)
    assert m.handle(Exited(-9), 2.0) == [Spawn()]
    assert m.state is S.STARTING
    assert m.last_failure == "3 health checks failed in a row"
    assert m.failures["unhealthy"] == 1
    assert m.policy.failures_in_window(2.0) == 0  # a launch clears the count


# --- a supervisor task that fails ------------------------------------------------------


def test_task_failure_while_starting_kills_and_counts_as_a_failure():
    m = machine()
    m.handle(StartRequested(), 0.0)
    m.handle(Spawned(7), 0.0)
    reason = "the ready check failed: RuntimeError: boom"
    assert m.handle(TaskFailed(reason), 0.5) == [Terminate(reason)]
    assert m.state is S.STOPPING
    assert m.last_failure == reason
    assert m.handle(Exited(-15), 1.0) == [ScheduleRetry(0.1)]
    assert m.state is S.BACKOFF
    assert m.failures["task_failed"] == 1


def test_task_failure_before_a_spawn_backs_off_then_gives_up():
    m = machine()
    now = 0.0
    for attempt in range(3):
        m.handle(StartRequested() if attempt == 0 else BackoffElapsed(), now)
        assert m.state is S.STARTING
        m.handle(TaskFailed("the start failed: ValueError: bad"), now)
        m.handle(Exited(None), now)  # the stop finds nothing to stop
        now += 1
    assert m.state is S.FATAL
    assert "the start failed: ValueError: bad" in (m.blocking_issue or "")


def test_task_failure_while_running_kills_and_restarts():
    m = running()
    reason = "the watchdog failed: KeyError: 'x'"
    assert m.handle(TaskFailed(reason), 1.0) == [Terminate(reason)]
    m.handle(Exited(-15), 1.5)
    assert m.state is S.BACKOFF


def test_task_failure_during_backoff_decides_again():
    m = running()
    m.handle(Exited(1), 1.0)
    actions = m.handle(TaskFailed("the restart timer failed: RuntimeError: x"), 1.1)
    assert actions == [CancelRetry(), ScheduleRetry(1.0)]
    assert m.state is S.BACKOFF


def test_task_failure_during_a_stop_is_reported_and_the_stop_goes_on():
    m = stopping()
    assert m.handle(TaskFailed("the exit watch failed: OSError: x"), 1.5) == []
    assert m.state is S.STOPPING
    assert m.last_failure == "the exit watch failed: OSError: x"
    m.handle(Exited(-15), 2.0)
    assert m.state is S.STOPPED


def test_a_stop_that_fails_is_fatal_and_says_the_process_may_run():
    m = stopping()
    m.handle(StartRequested(), 1.2)
    assert m.handle(StopFailed("the stop failed: OSError: x"), 1.5) == []
    assert m.state is S.FATAL
    assert not m.start_queued
    assert m.blocking_issue == (
        "game could not be stopped (the stop failed: OSError: x); it may still be "
        "running (pid 100): stop it by hand, then launch again"
    )
    assert m.failures["stop_failed"] == 1


def test_task_failure_when_settled_changes_nothing_but_is_shown():
    m = machine()
    assert m.handle(TaskFailed("the exit watch failed: OSError: x"), 0.0) == []
    assert m.state is S.STOPPED
    assert m.last_failure == "the exit watch failed: OSError: x"


# --- property: any event sequence ---------------------------------------------------

EVENTS = st.sampled_from(
    [
        StartRequested(),
        StopRequested(),
        Spawned(11),
        Adopted(12),
        SpawnFailed("no such file"),
        Ready(),
        StartTimedOut(60.0),
        Unhealthy("health checks failed"),
        Exited(None),
        Exited(-9),
        Exited(0),
        Exited(3),
        BackoffElapsed(),
        TaskFailed("the ready check failed: RuntimeError: boom"),
        StopFailed("the stop failed: OSError: boom"),
    ]
)
# Mostly close together, so that three failures in the window happen often; sometimes
# far apart, so that old failures fall out of it.
GAPS = st.sampled_from([0.0, 0.5, 1.0, 2.0, 30.0, 301.0])


@settings(max_examples=500, deadline=None)
@given(steps=st.lists(st.tuples(EVENTS, GAPS), max_size=80))
def test_any_event_sequence_keeps_the_rules(steps):
    policy = RestartPolicy(max_failures=3, failure_window=300.0)
    m = ProgramMachine("game", policy)
    now = 0.0
    stopped_by_user = False
    queued = False
    for event, gap in steps:
        now += gap
        before = m.state
        actions = m.handle(event, now)
        assert isinstance(m.state, ProgramState)
        if isinstance(event, StopRequested):
            stopped_by_user = True
            queued = False
        elif isinstance(event, StartRequested | Adopted) and m.state is S.STARTING:
            stopped_by_user = False
        elif isinstance(event, StartRequested) and m.state is S.STOPPING:
            queued = True  # the user's latest wish is a start, once the stop ends
        if Spawn() in actions:
            # Only a user start, or a backoff that elapsed, ever spawns; never during
            # or after a stop the user asked for, unless a start was asked for since.
            if before is S.STOPPING:
                assert queued and isinstance(event, Exited)
                stopped_by_user = queued = False
            assert not stopped_by_user
            assert m.state is S.STARTING
        assert m.start_queued == (m.state is S.STOPPING and queued)
        if m.state is not S.STOPPING:
            queued = False
        if stopped_by_user:
            assert ScheduleRetry not in {type(a) for a in actions}
        # Reaching the failure budget always means FATAL (or EXITED/stopped, which never retry).
        if m.state is S.BACKOFF:
            assert policy.failures_in_window(now) < policy.max_failures
        if m.state is not S.FATAL:
            assert policy.failures_in_window(now) <= policy.max_failures
