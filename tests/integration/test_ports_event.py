"""Port changes are one Controller event that the service checks and telemetry follow.

The game's bridge falls back to another port when its own is taken; the
readiness check reports the ports the bridge names to the Controller
(`GameLink` never re-points the monitor or the telemetry client itself), and
a game chosen from discovery goes through the same event.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from spacetime_panel.core.controller import Controller
from spacetime_panel.core.views import GameInstance, ServiceState, TelemetryBuffers
from tests.conftest import eventually, free_port, sim_settings


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


async def test_a_bridge_on_its_fallback_port_is_checked_and_read_there(
    http: httpx.AsyncClient, project: Path
) -> None:
    settings = sim_settings(project)
    fallback = free_port()
    ports = settings.ports.model_copy(update={"http_fallbacks": [fallback]})
    settings = settings.model_copy(update={"ports": ports})
    with socket.socket() as taken:  # another program holds the bridge's own port
        taken.bind(("127.0.0.1", settings.ports.http))
        taken.listen()
        controller = Controller(settings, http=http)
        try:
            controller.start_up()
            await eventually(lambda: controller.health().healthy, 30, "a healthy game")
            assert controller.monitor.ports.bridge_http == fallback

            def bridge_up() -> bool:
                rows = {row.service: row for row in controller.services()}
                row = rows.get("bridge_http")
                return row is not None and row.state is ServiceState.UP and row.port == fallback

            await eventually(bridge_up, 30, "the bridge checked on its fallback port")
            buffers = controller.telemetry_buffers()
            assert isinstance(buffers, TelemetryBuffers)
            await eventually(lambda: buffers.fps.total > 0, 30, "telemetry read")
        finally:
            await controller.close()


async def test_following_a_discovered_game_repoints_checks_and_telemetry_at_once(
    http: httpx.AsyncClient, project: Path
) -> None:
    controller = Controller(sim_settings(project), http=http)
    try:
        far = GameInstance(
            pid=4242, host="::1", http_port=18083, telemetry_port=18091, project="/far",
            godot_version="4.5", source="beacon", seen_at=time.monotonic(),
        )  # fmt: skip
        controller.follow_instance(far)
        ports = controller.monitor.ports
        assert (ports.host, ports.bridge_http, ports.telemetry) == ("::1", 18083, 18091)
        assert controller.telemetry is not None
        assert controller.telemetry.url == "ws://[::1]:18091"

        # Our own game's /status names its ports (here only the bridge's): GameLink
        # reports them, and the same event points the checks back at it.
        controller.game._follow_ports({"bridge": {"http_port": 18084, "telemetry_port": "x"}})
        ports = controller.monitor.ports
        assert (ports.host, ports.bridge_http, ports.telemetry) == ("127.0.0.1", 18084, 18091)
        assert controller.telemetry.url == "ws://[::1]:18091"  # no telemetry port named
    finally:
        await controller.close()
