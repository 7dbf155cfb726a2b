"""The simulated game's telemetry WebSocket, read with a real websockets client."""

from __future__ import annotations

import json
import math
import socket
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.integration.sim_process import (
    WAIT,
    SimProcess,
    running_sim,
)


def _connect(sim: SimProcess) -> ClientConnection:
    # max_queue=None: the client keeps reading while the test looks elsewhere, so
    # closing it never waits behind a full socket.
    return connect(f"ws://127.0.0.1:{sim.telemetry_port}", open_timeout=WAIT, max_queue=None)


def _next_event(ws: ClientConnection, name: str, **data: Any) -> dict[str, Any]:
    """The next `name` event (whose data has the fields in `data`, when given)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=WAIT))
        if message["event"] == name and data.items() <= message["data"].items():
            return dict(message)
    raise AssertionError(f"no {name!r} event {data or ''} within {WAIT} s")


def _assert_pose(pose: dict[str, Any]) -> None:
    assert len(pose["position"]) == 3
    assert len(pose["rotation"]) == 4
    assert math.isclose(math.hypot(*pose["rotation"]), 1.0, abs_tol=1e-4)


def test_hello_first_then_fps_and_tracking_frames(project: Path) -> None:
    with running_sim(project) as sim:
        status = sim.wait_ready()
        with _connect(sim) as ws:
            hello = json.loads(ws.recv(timeout=WAIT))
            assert hello["event"] == "hello"
            assert set(hello["data"]) >= {"protocol", "godot_version", "project", "pid", "rate_hz"}
            assert hello["data"]["pid"] == status["bridge"]["pid"]
            assert hello["data"]["rate_hz"] == 90

            fps = _next_event(ws, "fps")
            assert isinstance(fps["timestamp"], float)
            assert 10 < fps["data"]["fps"] <= 90.5
            assert math.isclose(
                fps["data"]["frame_time_ms"], 1000 / fps["data"]["fps"], rel_tol=0.01
            )
            for key in ("process_time_ms", "physics_time_ms"):
                assert fps["data"][key] > 0

            tracking = _next_event(ws, "vr_tracking")["data"]
            for device in ("headset", "left_controller", "right_controller"):
                _assert_pose(tracking[device])
            assert 1.5 < tracking["headset"]["position"][1] < 1.9

            later = _next_event(ws, "vr_tracking")["data"]
            assert later["headset"] != tracking["headset"]  # the head moves


def test_frames_arrive_at_roughly_the_configured_rate(project: Path) -> None:
    with running_sim(project, env={"SPACETIME_SIM_RATE_HZ": "50"}) as sim:
        sim.wait_ready()
        with _connect(sim) as ws:
            _next_event(ws, "fps")
            start = time.monotonic()
            for _ in range(25):
                _next_event(ws, "fps")
            elapsed = time.monotonic() - start
        # 25 frames at 50 Hz is 0.5 s; a generous band catches "as fast as possible" and stalls.
        assert 0.3 < elapsed < 3.0


def test_scene_loaded_and_player_spawned_events(project: Path) -> None:
    with running_sim(project) as sim:
        sim.wait_ready()
        with _connect(sim) as ws, _connect(sim) as second:
            assert (
                sim.post("/scene/load", json={"path": "res://scenes/menu.tscn"}).status_code == 202
            )
            # The main scene's own load may still be announced first: wait for ours.
            menu = "res://scenes/menu.tscn"
            loaded = _next_event(ws, "scene_loaded", path=menu)["data"]
            assert loaded == {"name": "menu", "path": menu}
            spawned = _next_event(ws, "player_spawned")["data"]
            assert len(spawned["position"]) == 3
            # Every client gets the broadcast.
            assert _next_event(second, "scene_loaded", path=menu)["data"]["name"] == "menu"


def test_a_client_that_never_reads_does_not_stall_the_others(project: Path) -> None:
    with running_sim(project) as sim:
        sim.wait_ready()
        # A raw client that completes the handshake and then never reads a byte.
        stalled = socket.create_connection(("127.0.0.1", sim.telemetry_port), timeout=WAIT)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        try:
            with _connect(sim) as ws:
                _next_event(ws, "fps")
                start = time.monotonic()
                for _ in range(180):
                    _next_event(ws, "fps")
                assert time.monotonic() - start < 10
        finally:
            stalled.close()
