"""The telemetry client against the real simulator process and its telemetry faults."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from spacetime_panel.telemetry.client import TelemetryClient
from spacetime_panel.telemetry.codec import Hello, TelemetryEvent, TrackingSample
from spacetime_panel.telemetry.stats import ConnectionState
from tests.conftest import TIME_SCALE
from tests.conftest import eventually as until
from tests.integration.sim_process import running_sim


async def test_bad_telemetry_is_counted_and_kept_out_of_the_graphs(project: Path) -> None:
    with running_sim(project, env={"SPACETIME_SIM_BAD_TELEMETRY": "1"}) as sim:
        status = sim.wait_ready()
        client = TelemetryClient(f"ws://127.0.0.1:{sim.telemetry_port}")
        client.start()
        try:
            # Kinds are drawn at random and most are "bad_field": wait until three showed up.
            await until(
                lambda: client.rejected >= 20 and len(client.stats.invalid_by_kind) >= 3,
                what="20 malformed frames of at least three kinds",
            )
            summary = client.summary()
        finally:
            await client.stop()
    assert summary.hello is not None and summary.hello["pid"] == status["bridge"]["pid"]
    # About 5 % of frames are malformed, of several kinds; the client never dropped.
    assert 0.01 < summary.invalid_total / summary.messages_total < 0.15
    assert len(summary.invalid_by_kind) >= 3
    assert client.connects == 1 and client.oversize == 0
    fps = client.buffers.fps_series()
    assert np.isfinite(fps.fps).all() and np.isfinite(fps.frame_time_ms).all()
    assert ((fps.fps > 10) & (fps.fps <= 91)).all()
    tracking = client.buffers.tracking_series()
    assert np.isfinite(tracking.headset_position).all()
    assert summary.fps_avg is not None and 85 < summary.fps_avg <= 90.5


async def test_flapping_telemetry_reconnects_every_time(project: Path) -> None:
    env = {"SPACETIME_SIM_TELEMETRY_FLAP": "1"}
    hellos: list[float] = []
    gaps: list[float] = []
    last_sample = [0.0]

    def on_event(event: TelemetryEvent) -> None:
        now = time.monotonic()
        if isinstance(event, TrackingSample):
            last_sample[0] = now
        elif isinstance(event, Hello):
            if last_sample[0]:
                gaps.append(now - last_sample[0])
            hellos.append(now)

    with running_sim(project, env=env) as sim:
        sim.wait_ready()
        client = TelemetryClient(f"ws://127.0.0.1:{sim.telemetry_port}", on_event=on_event)
        client.start()
        try:
            await until(lambda: client.connects >= 4, what="three reconnections")
            await until(lambda: client.state is ConnectionState.CONNECTED, what="connected")
            fps_before = client.buffers.fps.total
            await until(lambda: client.buffers.fps.total > fps_before + 10, what="data again")
        finally:
            await client.stop()
    assert client.disconnects >= 3
    assert len(hellos) >= 4  # a hello on every connection
    # Each drop is noticed at once and the first retry comes 0.5 s later.
    assert gaps and max(gaps) < 1.0 * TIME_SCALE + 0.5, gaps
    assert client.rejected == 0
