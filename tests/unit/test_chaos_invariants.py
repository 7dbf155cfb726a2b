"""The chaos soak's invariant checker (tests/bench/chaos.py), on logs written by hand."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import chaos

T0 = datetime(2026, 12, 2, 9, 0, 0)


def line(seconds: float, text: str, stream: str = "supervisor") -> str:
    """A program log line as the panel's rotating file writes it."""
    stamp = (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    return f"{stamp} {stream} {text}"


def at(seconds: float) -> float:
    return (T0 + timedelta(seconds=seconds)).timestamp()


START = "starting game: /tmp/godot-chaos --path /tmp/project res://vr_main.tscn"


def crash_cycle(start: float, pid: int, answer: str) -> list[str]:
    """A start, a SIGKILL seen 2 s later, and the supervisor's answer."""
    return [
        line(start, START),
        line(start + 2, f"game (pid {pid}) killed by SIGKILL"),
        line(start + 2, answer),
    ]


FATAL_LINE = (
    "game failed 3 times within 300 s (last: killed by SIGKILL); not restarting until "
    "launched again"
)


def policy_violations(lines: list[str], user_starts: tuple[float, ...] = ()) -> list[str]:
    return chaos.check_policy("game", chaos.supervisor_events(lines), user_starts).violations


def test_the_policy_followed_to_fatal_and_a_launch_after_it_passes() -> None:
    lines = [
        *crash_cycle(0, 101, "restarting game in 0.1 s"),
        *crash_cycle(3, 102, "restarting game in 1 s"),
        *crash_cycle(6, 103, FATAL_LINE),
        line(10, START),
    ]
    report = chaos.check_policy("game", chaos.supervisor_events(lines), [at(9.5)])
    assert report.violations == []
    assert (report.failures, report.restarts, report.fatals, report.launches) == (3, 2, 1, 2)
    assert report.exited_pids == {101, 102, 103}


def test_fatal_too_early_is_a_violation() -> None:
    lines = [*crash_cycle(0, 101, "restarting game in 0.1 s"), *crash_cycle(3, 102, FATAL_LINE)]
    assert any("FATAL after 2 failure" in v for v in policy_violations(lines))


def test_a_restart_where_the_policy_says_fatal_is_a_violation() -> None:
    lines = [
        *crash_cycle(0, 101, "restarting game in 0.1 s"),
        *crash_cycle(3, 102, "restarting game in 1 s"),
        *crash_cycle(6, 103, "restarting game in 2 s"),
        line(8.1, START),
    ]
    assert any("policy says FATAL" in v for v in policy_violations(lines))


def test_a_wrong_backoff_is_a_violation() -> None:
    lines = [*crash_cycle(0, 101, "restarting game in 1 s"), line(3, START)]
    assert any("policy says 0.1 s" in v for v in policy_violations(lines))


def test_failures_older_than_the_window_do_not_count() -> None:
    lines = [
        *crash_cycle(0, 101, "restarting game in 0.1 s"),
        *crash_cycle(3, 102, "restarting game in 1 s"),
        # the 3rd failure 301 s after the 1st: two in the window, so a 1 s restart
        *crash_cycle(301, 103, "restarting game in 1 s"),
        line(304, START),
    ]
    assert policy_violations(lines) == []


def test_a_start_after_fatal_nobody_asked_for_is_a_violation() -> None:
    lines = [
        *crash_cycle(0, 101, "restarting game in 0.1 s"),
        *crash_cycle(3, 102, "restarting game in 1 s"),
        *crash_cycle(6, 103, FATAL_LINE),
        line(10, START),
    ]
    assert any("no start asked" in v for v in policy_violations(lines))


def test_a_stop_asked_for_is_no_failure_and_a_launch_clears_the_count() -> None:
    lines = [
        *crash_cycle(0, 101, "restarting game in 0.1 s"),
        line(2.1, START),
        line(5, "stopping game (pid 102): stop requested"),
        line(5.5, "game (pid 102) killed by SIGTERM"),
        *crash_cycle(7, 103, "restarting game in 0.1 s"),  # counted from 1 again
        line(9.1, START),
    ]
    report = chaos.check_policy("game", chaos.supervisor_events(lines))
    assert report.violations == []
    assert (report.failures, report.clean_stops) == (2, 1)


def test_an_unanswered_failure_and_a_missing_start_are_violations() -> None:
    unanswered = [line(0, START), line(2, "game (pid 101) killed by SIGKILL")]
    assert any("never answered" in v for v in policy_violations(unanswered))
    no_start = [*crash_cycle(0, 101, "restarting game in 0.1 s"), line(5, FATAL_LINE)]
    assert any("instead of the start" in v for v in policy_violations(no_start))


def test_a_supervisor_problem_line_is_a_violation() -> None:
    lines = [line(0, "cannot start game: pid 7 from a stop that failed still runs")]
    assert any("supervisor problem" in v for v in policy_violations(lines))


def test_game_output_lines_are_not_supervisor_events() -> None:
    lines = [line(0, START), line(1, "starting game: not the supervisor", stream="stdout")]
    assert [e.kind for e in chaos.supervisor_events(lines)] == ["start"]


def test_numbered_lines_complete_pass_and_gaps_or_repeats_fail() -> None:
    whole = [line(i, f"chaos-line game 7 {i}", "stdout") for i in range(1, 101)]
    assert chaos.check_line_numbers(whole) == (100, [])

    gap = [entry for entry in whole if not entry.endswith(" 50")]
    checked, violations = chaos.check_line_numbers(gap)
    assert checked == 99
    assert violations == ["game pid 7: 1 line(s) lost: 50"]

    repeated = [*whole, whole[10]]
    assert chaos.check_line_numbers(repeated)[1] == ["game pid 7: 1 line(s) logged twice"]

    # A process whose first lines went missing (a rotated file lost) is caught too.
    assert chaos.check_line_numbers(whole[20:])[1][0].startswith("game pid 7: 20 line(s) lost")


def test_rotated_files_are_read_oldest_first(tmp_path: Path) -> None:
    for name in ("game.log", "game.log.1", "game.log.2", "game.log.10", "game.log.lock"):
        (tmp_path / name).write_text(name)
    names = [p.name for p in chaos.rotated_files(tmp_path, "game.log")]
    assert names == ["game.log.10", "game.log.2", "game.log.1", "game.log"]


def test_memory_bound_and_growth() -> None:
    steady = [(float(t), 150.0 + (t % 3)) for t in range(600)]
    figures, violations = chaos.check_memory(steady, bound_mb=200, growth_mb=20, window=60)
    assert violations == []
    assert figures["max"] == 152.0

    growing = [(float(t), 120.0 + t * 0.1) for t in range(600)]
    _, violations = chaos.check_memory(growing, bound_mb=200, growth_mb=20, window=60)
    assert len(violations) == 1 and "grew" in violations[0]

    _, violations = chaos.check_memory(steady, bound_mb=150, growth_mb=20, window=60)
    assert len(violations) == 1 and "reached 152.0 MB" in violations[0]


@pytest.mark.parametrize(
    ("call", "broken"),
    [
        (chaos.ApiCall("GET", "/health", 503, False, "poll"), False),
        (chaos.ApiCall("GET", "/status", 502, False, "read"), False),
        (chaos.ApiCall("GET", "/health", 500, False, "poll"), True),
        (chaos.ApiCall("POST", "/start", 502, False, "launch"), True),
        (chaos.ApiCall("POST", "/start", 415, True, "text/plain"), False),
        (chaos.ApiCall("POST", "/start", 202, True, "unknown program"), True),
        (chaos.ApiCall("GET", "/logs", None, False, "read"), True),
    ],
)
def test_api_answers(call: chaos.ApiCall, broken: bool) -> None:
    assert bool(chaos.check_api([call])) is broken


def test_detection_needs_an_exit_for_every_signalled_and_running_process() -> None:
    assert chaos.check_detection("game", {5: "game_sigkill"}, [5, 6], {5, 6}) == []
    violations = chaos.check_detection("game", {5: "game_sigstop"}, [5, 6, 7], {6})
    assert violations == [
        "game pid 5 (game_sigstop) ended unseen: no exit in the supervisor's log",
        "game pid 7 ran but its exit was never logged",
    ]


def test_stop_durations_pair_each_stop_with_its_exit() -> None:
    lines = [
        line(0, "stopping game (pid 5): 3 health checks failed in a row"),
        line(3.5, "game (pid 5) killed by SIGKILL"),
        line(4, "game (pid 6) killed by SIGKILL"),  # no stop asked: not a stop
    ]
    assert chaos.stop_durations(chaos.supervisor_events(lines)) == pytest.approx([3.5])


def test_claimed_faults_are_counted_by_kind() -> None:
    lines = [
        line(0, 'chaos-faults 7 {"SPACETIME_SIM_HANG_AFTER": "3"}', "stdout"),
        line(1, 'chaos-faults 8 {"SPACETIME_SIM_CRASH_AFTER": "3"}', "stdout"),
        line(2, 'chaos-faults 9 {"SPACETIME_SIM_CRASH_AFTER": "3"}', "stdout"),
        line(3, "chaos-faults in a line of the game's own", "stderr"),
    ]
    assert chaos.claimed_faults(lines) == {"hang_after": 1, "crash_after": 2}
