"""Rolling telemetry statistics and the summary the panel, the API and the CLI show.

:class:`TelemetryStats` is fed events (frames received, rejections, decoded
events, connection changes) with the panel's monotonic clock, and computes a
:class:`TelemetrySummary` on demand from the fps ring buffer: numpy over the
window's slice (about 1,440 samples at 144 Hz for 10 s), cheap enough to call
a few times per second.

Definitions (all over the window, by default the last 10 s):

- **window**: fps samples whose game timestamp lies within ``window_s`` of the
  game's "now", estimated as the newest sample's timestamp plus the panel time
  elapsed since it arrived. So a game that stops sending empties the window
  after ``window_s`` instead of showing stale figures forever.
- **fps_now**: the newest sample's ``fps``; **fps_avg**: the mean of ``fps``
  over the window; **fps_min**: its minimum.
- **frame time p50/p95/p99**: ``numpy.percentile`` (linear interpolation).
- **budget**: ``1000 / refresh_hz`` ms. ``refresh_hz`` is fixed by the caller
  (72, 90, 120, 144 for the usual headsets) or else taken from the game's
  ``hello.rate_hz`` (90 until a hello arrives).
- **over_budget_share**: the share of frames whose frame time exceeds the
  budget by more than ``budget_tolerance`` (5 %). Vsync-paced frame deltas
  jitter around the budget; a strict comparison would call half the frames
  of a game running exactly at rate late.
- **dropped_frames**: missed vsyncs. A frame whose frame time exceeds 1.5x
  the budget missed at least one refresh; it counts ``round(frame_time /
  budget) - 1`` (at least 1). A 2x-budget frame is one dropped frame, a
  3x-budget frame two.
- **messages_per_s**: every frame received, valid or not, over the window.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from spacetime_panel.telemetry.buffers import TelemetryBuffers
from spacetime_panel.telemetry.codec import ErrorEvent, Hello, RejectKind

DEFAULT_WINDOW_S = 10.0
DEFAULT_REFRESH_HZ = 90.0
DROP_FACTOR = 1.5


class ConnectionState(enum.Enum):
    """The telemetry client's connection to the game."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"


@dataclass(frozen=True, slots=True)
class LastError:
    """The newest ``error`` event the game sent; ``time`` is the game's timestamp."""

    message: str
    source: str
    time: float


@dataclass(frozen=True, kw_only=True)
class TelemetrySummary:
    """What the panel shows about telemetry at one moment; None where there is no data."""

    state: str
    hello: dict[str, Any] | None
    window_s: float
    refresh_hz: float
    budget_ms: float
    samples: int
    fps_now: float | None
    fps_avg: float | None
    fps_min: float | None
    frame_time_p50_ms: float | None
    frame_time_p95_ms: float | None
    frame_time_p99_ms: float | None
    over_budget_share: float | None
    dropped_frames: int
    messages_per_s: float
    messages_total: int
    invalid_total: int
    invalid_by_kind: dict[str, int]
    oversize_total: int
    connects: int
    disconnects: int
    sample_age_s: float | None
    last_error: LastError | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (plain types only)."""
        return asdict(self)


@dataclass
class TelemetryStats:
    """Counters and rolling figures for one telemetry client (pure; fed with ``now``)."""

    window_s: float = DEFAULT_WINDOW_S
    refresh_hz: float | None = None
    budget_tolerance: float = 0.05
    state: ConnectionState = ConnectionState.DISCONNECTED
    hello: Hello | None = None
    last_error: LastError | None = None
    messages_total: int = 0
    invalid_total: int = 0
    invalid_by_kind: dict[str, int] = field(default_factory=dict)
    oversize_total: int = 0
    connects: int = 0
    disconnects: int = 0
    last_fps_received: float | None = None
    # (whole second of the monotonic clock, frames received in it), oldest first
    _per_second: deque[list[int]] = field(default_factory=deque, repr=False)
    _first_received: float | None = field(default=None, repr=False)

    # -- feeding -----------------------------------------------------------

    def on_message(self, now: float) -> None:
        """Count one frame received (valid or not) at panel time ``now``."""
        self.messages_total += 1
        second = int(now)
        buckets = self._per_second
        if buckets and buckets[-1][0] == second:
            buckets[-1][1] += 1
            return
        buckets.append([second, 1])
        if self._first_received is None:
            self._first_received = now
        horizon = second - self.window_s - 1
        while buckets[0][0] < horizon:
            buckets.popleft()

    def on_rejected(self, kind: RejectKind) -> None:
        self.invalid_total += 1
        self.invalid_by_kind[kind.value] = self.invalid_by_kind.get(kind.value, 0) + 1

    def on_fps(self, now: float) -> None:
        """An fps sample arrived at panel time ``now`` (it went to the buffers)."""
        self.last_fps_received = now

    def on_hello(self, hello: Hello) -> None:
        self.hello = hello

    def on_error(self, event: ErrorEvent) -> None:
        self.last_error = LastError(event.message, event.source, event.timestamp)

    def on_state(self, state: ConnectionState) -> None:
        """Record a connection change; a new connection forgets the old game's hello."""
        if state is ConnectionState.CONNECTED and self.state is not ConnectionState.CONNECTED:
            self.connects += 1
            self.hello = None
        elif state is not ConnectionState.CONNECTED and self.state is ConnectionState.CONNECTED:
            self.disconnects += 1
        self.state = state

    def on_oversize(self) -> None:
        """A frame over the client's ``max_size`` closed the connection (1009)."""
        self.oversize_total += 1

    # -- reading -----------------------------------------------------------

    def effective_refresh_hz(self) -> float:
        if self.refresh_hz is not None:
            return self.refresh_hz
        return self.hello.rate_hz if self.hello is not None else DEFAULT_REFRESH_HZ

    def messages_per_s(self, now: float) -> float:
        """Frames received per second over the window (valid or not)."""
        if self._first_received is None:
            return 0.0
        start = now - self.window_s
        count = sum(n for second, n in self._per_second if second + 1 > start)
        span = min(self.window_s, now - self._first_received)
        return count / max(span, 1.0)

    def summary(self, buffers: TelemetryBuffers, now: float) -> TelemetrySummary:
        """The figures at panel time ``now`` over the newest ``window_s`` of fps samples."""
        refresh = self.effective_refresh_hz()
        budget = 1000.0 / refresh
        series = buffers.fps_series()
        times = series.timestamp
        age = None if self.last_fps_received is None else max(0.0, now - self.last_fps_received)
        figures: dict[str, Any] = {
            "samples": 0,
            "fps_now": None,
            "fps_avg": None,
            "fps_min": None,
            "frame_time_p50_ms": None,
            "frame_time_p95_ms": None,
            "frame_time_p99_ms": None,
            "over_budget_share": None,
            "dropped_frames": 0,
        }
        if len(times) and age is not None:
            game_now = float(times[-1]) + age
            # Timestamps come from one game clock, so they are sorted (a wall-clock step
            # back only shortens the window for a while).
            start = int(np.searchsorted(times, game_now - self.window_s, side="right"))
            fps = series.fps[start:]
            frame = series.frame_time_ms[start:]
            if len(fps):
                p50, p95, p99 = np.percentile(frame, (50.0, 95.0, 99.0))
                late = frame[frame > budget * DROP_FACTOR]
                missed = np.maximum(np.rint(late / budget) - 1.0, 1.0)
                figures.update(
                    samples=len(fps),
                    fps_now=float(fps[-1]),
                    fps_avg=float(fps.mean()),
                    fps_min=float(fps.min()),
                    frame_time_p50_ms=float(p50),
                    frame_time_p95_ms=float(p95),
                    frame_time_p99_ms=float(p99),
                    over_budget_share=float(
                        np.count_nonzero(frame > budget * (1.0 + self.budget_tolerance))
                        / len(frame)
                    ),
                    dropped_frames=int(missed.sum()),
                )
        hello = self.hello
        return TelemetrySummary(
            state=self.state.value,
            hello=None if hello is None else asdict(hello),
            window_s=self.window_s,
            refresh_hz=refresh,
            budget_ms=budget,
            messages_per_s=self.messages_per_s(now),
            messages_total=self.messages_total,
            invalid_total=self.invalid_total,
            invalid_by_kind=dict(self.invalid_by_kind),
            oversize_total=self.oversize_total,
            connects=self.connects,
            disconnects=self.disconnects,
            sample_age_s=age,
            last_error=self.last_error,
            **figures,
        )
