"""Rolling statistics: percentiles, budget share per refresh rate, dropped frames, rates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spacetime_panel.telemetry.buffers import TelemetryBuffers
from spacetime_panel.telemetry.codec import ErrorEvent, FpsSample, Hello, RejectKind
from spacetime_panel.telemetry.stats import ConnectionState, LastError, TelemetryStats

pytestmark = pytest.mark.portable

T0 = 1_700_000_000.0


def feed(stats: TelemetryStats, buffers: TelemetryBuffers, frame_times: list[float]) -> float:
    """Append one fps sample per frame time, spaced by that frame time; return the panel time."""
    t = 0.0
    for ft in frame_times:
        t += ft / 1000.0
        buffers.append_fps(FpsSample(T0 + t, 1000.0 / ft, ft, ft / 2, 1.0))
        stats.on_message(t)
        stats.on_fps(t)
    return t


def test_no_data_gives_none_figures_and_valid_json() -> None:
    summary = TelemetryStats().summary(TelemetryBuffers(capacity=16), now=5.0)
    assert summary.fps_now is None and summary.frame_time_p99_ms is None
    assert summary.samples == 0 and summary.dropped_frames == 0
    assert summary.state == "disconnected"
    json.dumps(summary.to_json())


def test_percentiles_and_fps_figures_match_numpy() -> None:
    rng = np.random.default_rng(7)
    frame_times = list(rng.uniform(8.0, 14.0, size=500))
    stats, buffers = TelemetryStats(window_s=60.0), TelemetryBuffers(capacity=1000)
    now = feed(stats, buffers, frame_times)
    summary = stats.summary(buffers, now)
    expected = np.percentile(frame_times, [50, 95, 99])
    assert summary.samples == 500
    assert summary.frame_time_p50_ms == pytest.approx(expected[0])
    assert summary.frame_time_p95_ms == pytest.approx(expected[1])
    assert summary.frame_time_p99_ms == pytest.approx(expected[2])
    fps = 1000.0 / np.array(frame_times)
    assert summary.fps_now == pytest.approx(fps[-1])
    assert summary.fps_avg == pytest.approx(fps.mean())
    assert summary.fps_min == pytest.approx(fps.min())


def test_only_the_window_counts() -> None:
    stats, buffers = TelemetryStats(window_s=1.0), TelemetryBuffers(capacity=1000)
    # 1 s of slow frames, then 1 s of fast ones: only the fast ones are in the window.
    now = feed(stats, buffers, [50.0] * 20 + [10.0] * 100)
    summary = stats.summary(buffers, now)
    assert summary.samples == 100
    assert summary.fps_min == pytest.approx(100.0)


def test_a_silent_game_empties_the_window() -> None:
    stats, buffers = TelemetryStats(window_s=2.0), TelemetryBuffers(capacity=1000)
    now = feed(stats, buffers, [11.0] * 300)
    assert stats.summary(buffers, now + 1.0).samples > 0
    later = stats.summary(buffers, now + 2.5)
    assert later.samples == 0 and later.fps_now is None
    assert later.sample_age_s == pytest.approx(2.5)


@pytest.mark.parametrize("rate", [72.0, 90.0, 120.0, 144.0])
def test_budget_and_over_budget_share_follow_the_refresh_rate(rate: float) -> None:
    budget = 1000.0 / rate
    # 80 frames on budget, 15 slightly late (2 % over: tolerated), 5 clearly late (20 %).
    frame_times = [budget] * 80 + [budget * 1.02] * 15 + [budget * 1.2] * 5
    stats, buffers = TelemetryStats(refresh_hz=rate), TelemetryBuffers(capacity=1000)
    now = feed(stats, buffers, frame_times)
    summary = stats.summary(buffers, now)
    assert summary.budget_ms == pytest.approx(budget)
    assert summary.refresh_hz == rate
    assert summary.over_budget_share == pytest.approx(0.05)
    assert summary.dropped_frames == 0


def test_strict_budget_with_zero_tolerance() -> None:
    stats = TelemetryStats(refresh_hz=90.0, budget_tolerance=0.0)
    buffers = TelemetryBuffers(capacity=100)
    now = feed(stats, buffers, [11.0] * 5 + [11.2] * 5)
    assert stats.summary(buffers, now).over_budget_share == pytest.approx(0.5)


def test_dropped_frames_count_missed_vsyncs() -> None:
    budget = 1000.0 / 90.0
    # 1.4x: late but no vsync missed; 1.6x and 2x: one; 3x: two; 4.2x: three.
    frame_times = [budget] * 10 + [budget * f for f in (1.4, 1.6, 2.0, 3.0, 4.2)]
    stats, buffers = TelemetryStats(refresh_hz=90.0), TelemetryBuffers(capacity=100)
    now = feed(stats, buffers, frame_times)
    assert stats.summary(buffers, now).dropped_frames == 0 + 1 + 1 + 2 + 3


def test_refresh_rate_comes_from_hello_unless_fixed() -> None:
    stats = TelemetryStats()
    assert stats.effective_refresh_hz() == 90.0
    stats.on_hello(Hello(T0, "spacetime-bridge/1", "4.5", "/p", 1, 120.0))
    assert stats.effective_refresh_hz() == 120.0
    assert TelemetryStats(refresh_hz=72.0).effective_refresh_hz() == 72.0


def test_messages_per_second_counts_every_frame() -> None:
    stats = TelemetryStats(window_s=10.0)
    for i in range(288 * 20):  # 20 s at 288 msg/s
        stats.on_message(100.0 + i / 288)
    assert stats.messages_per_s(120.0) == pytest.approx(288, rel=0.05)
    # After a second of silence the rate includes it.
    assert stats.messages_per_s(121.0) == pytest.approx(288 * 0.9, rel=0.05)
    assert stats.messages_per_s(200.0) == 0.0


def test_counters_error_hello_and_connection_state() -> None:
    stats = TelemetryStats()
    stats.on_state(ConnectionState.CONNECTING)
    stats.on_state(ConnectionState.CONNECTED)
    stats.on_hello(Hello(T0, "spacetime-bridge/1", "4.5", "/p", 7, 90.0))
    stats.on_rejected(RejectKind.NOT_JSON)
    stats.on_rejected(RejectKind.NOT_JSON)
    stats.on_rejected(RejectKind.BAD_FIELD)
    stats.on_error(ErrorEvent(T0 + 3, "null instance", "player.gd"))
    stats.on_oversize()
    stats.on_state(ConnectionState.DISCONNECTED)
    summary = stats.summary(TelemetryBuffers(capacity=4), now=1.0)
    assert (summary.connects, summary.disconnects, summary.oversize_total) == (1, 1, 1)
    assert summary.invalid_total == 3
    assert summary.invalid_by_kind == {"not_json": 2, "bad_field": 1}
    assert summary.last_error == LastError("null instance", "player.gd", T0 + 3)
    assert summary.hello is not None and summary.hello["pid"] == 7
    body = json.loads(json.dumps(summary.to_json()))
    assert body["last_error"] == {"message": "null instance", "source": "player.gd", "time": T0 + 3}
    # A new connection forgets the previous game's hello.
    stats.on_state(ConnectionState.CONNECTED)
    assert stats.hello is None and stats.connects == 2
