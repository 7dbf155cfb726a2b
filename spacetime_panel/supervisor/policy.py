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
    """Exponential backoff (1 s, 2 s, 4 s ... capped) and a failure budget.

    After `max_failures` failures within `failure_window` seconds the answer
    is `GiveUp`. `reset()` (a launch by the user) forgets every failure.
    """

    def __init__(
        self,
        *,
        max_failures: int = 3,
        failure_window: float = 300.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        self.max_failures = max_failures
        self.failure_window = failure_window
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
        delay = min(self.backoff_initial * 2 ** (count - 1), self.backoff_max)
        return RetryIn(delay=delay, failures=count)

    def reset(self) -> None:
        self._failures.clear()

    def _forget_before(self, cutoff: float) -> None:
        while self._failures and self._failures[0] <= cutoff:
            self._failures.popleft()
