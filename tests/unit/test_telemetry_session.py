"""The pipeline without a socket, the reconnect policy and the simulator's telemetry faults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetime_panel.sim.faults import Faults, malformed_frames
from spacetime_panel.sim.settings import SettingsError
from spacetime_panel.sim.telemetry import frame
from spacetime_panel.sim.world import World
from spacetime_panel.telemetry.client import ReconnectPolicy
from spacetime_panel.telemetry.codec import FpsSample, Rejected, TelemetryEvent
from spacetime_panel.telemetry.recorder import CsvRecorder
from spacetime_panel.telemetry.session import TelemetrySession

T0 = 1_700_000_000.0


def valid_frames(count: int) -> list[str]:
    world = World(now=0.0, load_delay=0.0, spawn_delay=0.0, seed=5)
    frames = []
    for i in range(count):
        frames.append(frame("fps", world.fps_sample(), T0 + i / 90))
        frames.append(frame("vr_tracking", world.tracking_sample(i / 90), T0 + i / 90))
    return frames


def test_every_malformed_frame_the_simulator_makes_is_rejected() -> None:
    session = TelemetrySession()
    bad = malformed_frames(T0)
    assert len(bad) >= 10
    for text in bad:
        assert isinstance(session.ingest(text, 1.0), Rejected), text
    assert session.stats.invalid_total == len(bad)
    assert session.buffers.fps.total == 0 and session.buffers.tracking.total == 0


def test_only_valid_samples_reach_buffers_stats_and_csv(tmp_path: Path) -> None:
    seen: list[TelemetryEvent] = []
    recorder = CsvRecorder()
    recorder.start(tmp_path / "s.csv")
    session = TelemetrySession(recorder=recorder, on_event=seen.append)
    good = valid_frames(100)
    bad = malformed_frames(T0)
    # One malformed frame after each valid one.
    mixed = [f for i, g in enumerate(good) for f in (g, bad[i % len(bad)])]
    for i, text in enumerate(mixed):
        session.ingest(text, i / 288)
    recorder.stop()
    assert session.buffers.fps.total == 100 and session.buffers.tracking.total == 100
    assert not np.isnan(session.buffers.fps_series().fps).any()
    assert len(seen) == 200 and not any(isinstance(e, Rejected) for e in seen)
    assert recorder.rows == 200
    summary = session.summary(len(mixed) / 288)
    assert summary.messages_total == len(mixed)
    assert summary.invalid_total == len(mixed) - 200
    assert summary.samples == 100


@settings(max_examples=200)
@given(st.lists(st.one_of(st.text(max_size=60), st.sampled_from(valid_frames(5))), max_size=30))
def test_buffers_only_ever_hold_what_decoded(frames: list[str]) -> None:
    session = TelemetrySession()
    fps_count = 0
    for text in frames:
        if isinstance(session.ingest(text, 0.0), FpsSample):
            fps_count += 1
    assert session.buffers.fps.total == fps_count
    assert session.decoder.decoded + session.decoder.rejected == len(frames)


def test_a_failing_callback_never_stops_the_stream() -> None:
    def explode(event: TelemetryEvent) -> None:
        raise RuntimeError("bug in a widget")

    session = TelemetrySession(on_event=explode)
    for text in valid_frames(3):
        session.ingest(text, 0.0)
    assert session.callback_errors == 6
    assert session.buffers.fps.total == 3


def test_reconnect_policy_is_quick_during_a_short_outage_then_backs_off() -> None:
    policy = ReconnectPolicy(initial=0.5, maximum=10.0, fast_period=30.0)
    assert [policy.next_delay(t) for t in (0.0, 3.0, 29.0)] == [0.5, 0.5, 0.5]
    assert [policy.next_delay(t) for t in (30.0, 31.0, 32.0, 36.0, 45.0, 60.0, 90.0)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        10.0,
        10.0,
    ]
    policy.reset()
    assert policy.next_delay(100.0) == 0.5


def test_telemetry_faults_parse_from_the_environment() -> None:
    faults = Faults.from_env(
        {"SPACETIME_SIM_BAD_TELEMETRY": "1", "SPACETIME_SIM_TELEMETRY_FLAP": "2.5"}
    )
    assert faults.bad_telemetry and faults.telemetry_flap == 2.5
    assert Faults.from_env({"SPACETIME_SIM_TELEMETRY_FLAP": "0"}).telemetry_flap is None
    assert Faults.from_env({}).bad_telemetry is False
    with pytest.raises(SettingsError, match="TELEMETRY_FLAP"):
        Faults.from_env({"SPACETIME_SIM_TELEMETRY_FLAP": "often"})


def test_malformed_frames_cover_nan_literals_and_invalid_json() -> None:
    texts = malformed_frames(T0)
    assert any("NaN" in t for t in texts)
    assert any("Infinity" in t for t in texts)

    def parses(text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            return None

    assert any(parses(t) is None for t in texts)
