"""RestartPolicy: backoff 0.1, 1, 2, 4 ... capped, give up after too many failures in the window."""

from __future__ import annotations

import pytest

from spacetime_panel.supervisor.policy import GiveUp, RestartPolicy, RetryIn

pytestmark = pytest.mark.portable


def test_first_restart_after_a_tenth_then_doubling_from_one_second():
    policy = RestartPolicy(max_failures=10)
    delays = [policy.record_failure(float(t)) for t in range(5)]
    assert delays == [
        RetryIn(delay=0.1, failures=1),
        RetryIn(delay=1.0, failures=2),
        RetryIn(delay=2.0, failures=3),
        RetryIn(delay=4.0, failures=4),
        RetryIn(delay=8.0, failures=5),
    ]


def test_default_policy_restarts_after_0_1_then_1_then_gives_up_at_the_third():
    policy = RestartPolicy()
    assert policy.record_failure(0.0) == RetryIn(delay=0.1, failures=1)
    assert policy.record_failure(10.0) == RetryIn(delay=1.0, failures=2)
    assert policy.record_failure(20.0) == GiveUp(failures=3, window=300.0)


def test_first_backoff_and_backoff_initial_are_separate_settings():
    policy = RestartPolicy(max_failures=10, first_backoff=0.5, backoff_initial=3.0)
    delays = [policy.record_failure(float(t)).delay for t in range(3)]
    assert delays == [0.5, 3.0, 6.0]


def test_backoff_is_capped():
    policy = RestartPolicy(max_failures=100, backoff_max=5.0)
    delays = [policy.record_failure(float(t)).delay for t in range(7)]
    assert delays == [0.1, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_backoff_max_caps_the_first_backoff_too():
    policy = RestartPolicy(max_failures=10, first_backoff=2.0, backoff_max=0.5)
    assert policy.record_failure(0.0).delay == 0.5


def test_gives_up_at_max_failures_within_window():
    policy = RestartPolicy(max_failures=3, failure_window=300.0)
    assert isinstance(policy.record_failure(0.0), RetryIn)
    assert isinstance(policy.record_failure(100.0), RetryIn)
    assert policy.record_failure(200.0) == GiveUp(failures=3, window=300.0)


def test_failures_older_than_the_window_are_forgotten():
    policy = RestartPolicy(max_failures=3, failure_window=300.0)
    policy.record_failure(0.0)
    policy.record_failure(100.0)
    # The first failure is more than 300 s old: only two count.
    decision = policy.record_failure(301.0)
    assert decision == RetryIn(delay=1.0, failures=2)
    assert policy.failures_in_window(301.0) == 2
    assert policy.failures_in_window(1000.0) == 0


def test_failures_spaced_wider_than_the_window_never_give_up():
    policy = RestartPolicy(max_failures=3, failure_window=300.0)
    for n in range(20):
        assert policy.record_failure(n * 301.0) == RetryIn(delay=0.1, failures=1)


def test_reset_forgets_every_failure():
    policy = RestartPolicy(max_failures=3)
    policy.record_failure(0.0)
    policy.record_failure(1.0)
    policy.reset()
    assert policy.failures_in_window(2.0) == 0
    assert policy.record_failure(2.0) == RetryIn(delay=0.1, failures=1)


def test_reset_after_giving_up_allows_retries_again():
    policy = RestartPolicy(max_failures=2)
    policy.record_failure(0.0)
    assert isinstance(policy.record_failure(1.0), GiveUp)
    policy.reset()
    assert policy.record_failure(2.0) == RetryIn(delay=0.1, failures=1)


def test_max_failures_of_one_gives_up_on_first_failure():
    policy = RestartPolicy(max_failures=1)
    assert policy.record_failure(0.0) == GiveUp(failures=1, window=300.0)


def test_max_failures_below_one_is_refused():
    with pytest.raises(ValueError, match="max_failures"):
        RestartPolicy(max_failures=0)
