"""The restart policy: how long to wait after a failure, and when to give up.

Pure code: it is fed failure times and answers with a decision. The clock is
whatever the caller uses (monotonic seconds), so tests pass plain numbers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryIn:
    """Start again after `delay` seconds."""

    delay: float
    failures: int


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Too many failures in the window: stay down until the user launches again."""

    failures: int
    window: float


RestartDecision = RetryIn | GiveUp


class RestartPolicy:
    """A quick first restart, then exponential backoff, and a failure budget.

    The first failure in the window waits `first_backoff` (0.1 s, systemd's
    `RestartSec` default); the n-th (n >= 2) waits `backoff_initial` x 2^(n-2)
    capped at `backoff_max`: 0.1 s, 1 s, 2 s, 4 s ... After `max_failures`
    failures within `failure_window` seconds the answer is `GiveUp`.
    `reset()` (a launch by the user) forgets every failure.
    """

    def __init__(
        self,
        *,
        max_failures: int = 3,
        failure_window: float = 300.0,
        first_backoff: float = 0.1,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        self.max_failures = max_failures
        self.failure_window = failure_window
        self.first_backoff = first_backoff
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._failures: deque[float] = deque()

    def failures_in_window(self, now: float) -> int:
        self._forget_before(now - self.failure_window)
        return len(self._failures)

    def record_failure(self, now: float) -> RestartDecision:
        """Count a failure at `now` and decide what happens next."""
        self._failures.append(now)
        count = self.failures_in_window(now)
        if count >= self.max_failures:
            return GiveUp(failures=count, window=self.failure_window)
        return RetryIn(delay=self.delay_after(count), failures=count)

    def delay_after(self, failures: int) -> float:
        """The wait before the restart that follows the `failures`-th failure in the window."""
        if failures <= 1:
            return min(self.first_backoff, self.backoff_max)
        return min(self.backoff_initial * 2.0 ** (failures - 2), self.backoff_max)

    def reset(self) -> None:
        self._failures.clear()

    def _forget_before(self, cutoff: float) -> None:
        while self._failures and self._failures[0] <= cutoff:
            self._failures.popleft()
