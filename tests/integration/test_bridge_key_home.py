"""A discovered game on another host gets the bridge key only once that host is approved.

Requests go through an injected `httpx.MockTransport` (it never opens a socket),
and the WebSocket probe's connect layer is replaced: no test traffic leaves the
machine. A guard makes any connect to a non-loopback address fail the test.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from spacetime_panel.config.settings import Settings
from spacetime_panel.core.controller import Controller
from spacetime_panel.godot.bridge import BridgeClient, find_bridge
from spacetime_panel.godot.key_policy import KEY_WITHHELD
from spacetime_panel.probes import GameInstance, ServiceState, ServiceStatus, scan_ports
from spacetime_panel.probes import bridge as bridge_probes
from spacetime_panel.probes import monitor as monitor_module
from spacetime_panel.probes.bridge import probe_bridge_http, probe_websocket
from tests.conftest import free_port

KEY = "s3cret"
REMOTE = "192.0.2.10"  # TEST-NET-1: documentation only, never routed
BEARER = f"Bearer {KEY}"


@pytest.fixture(autouse=True)
def no_traffic_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any TCP or UDP connect to a non-loopback address is a test failure."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def check(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else ""
        if host and not (host.startswith("127.") or host in ("::1", "localhost")):
            raise AssertionError(f"a test tried to connect to {address}")

    def connect(sock: socket.socket, address: Any) -> None:
        check(address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


class FakeBridges:
    """Answers like bridges that require the key; records who was sent what."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/health":
            return httpx.Response(200, json={"server": "spacetime-panel"})
        if request.headers.get("Authorization") != BEARER:
            return httpx.Response(
                401, json={"error": "Unauthorized", "message": "Invalid or missing API key"}
            )
        bridge = {"pid": 4242, "version": "1.0", "godot_version": "4.5", "http_port": 8080}
        return httpx.Response(200, json={"bridge": bridge, "overall_ready": True})

    def auth_sent_to(self, host: str) -> list[str | None]:
        return [r.headers.get("Authorization") for r in self.requests if r.url.host == host]

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def remote_instance() -> GameInstance:
    return GameInstance(
        pid=4242,
        host=REMOTE,
        http_port=8080,
        telemetry_port=8081,
        project="/elsewhere/game",
        godot_version="4.5",
        source="beacon",
        seen_at=time.monotonic(),
    )


def panel_settings() -> Settings:
    return Settings.model_validate(
        {"ports": {"discovery": free_port(socket.SOCK_DGRAM)}, "api": {"port": free_port()}}
    )


def row(statuses: list[ServiceStatus], service: str) -> ServiceStatus:
    return next(s for s in statuses if s.service == service)


async def test_a_discovered_remote_game_is_sent_the_key_only_once_its_host_is_approved() -> None:
    bridges = FakeBridges()
    async with bridges.client() as http:
        controller = Controller(panel_settings(), http=http, api_key=KEY)
        try:
            controller.follow_instance(remote_instance())
            assert not controller.bridge_key_host_approved(REMOTE)

            before = await controller.monitor.check_once(full=False)
            assert bridges.auth_sent_to(REMOTE) == [None]
            bridge_row = row(before, "bridge_http")
            assert bridge_row.host == REMOTE
            assert bridge_row.state is ServiceState.DEGRADED
            assert bridge_row.detail == KEY_WITHHELD

            controller.approve_bridge_key_host(REMOTE)
            assert controller.bridge_key_host_approved(REMOTE)
            assert REMOTE in controller.settings.godot.bridge_key_hosts

            after = await controller.monitor.check_once(full=False)
            assert bridges.auth_sent_to(REMOTE) == [None, BEARER]
            assert row(after, "bridge_http").state is ServiceState.UP
            assert KEY_WITHHELD not in row(after, "bridge_http").detail
        finally:
            await controller.monitor.stop()


async def test_approving_twice_or_approving_loopback_changes_nothing() -> None:
    async with FakeBridges().client() as http:
        controller = Controller(panel_settings(), http=http, api_key=KEY)
        controller.approve_bridge_key_host(REMOTE)
        controller.approve_bridge_key_host(f"[{REMOTE}]")
        controller.approve_bridge_key_host("127.0.0.1")
        controller.approve_bridge_key_host("localhost")
        assert controller.settings.godot.bridge_key_hosts == (REMOTE,)
        assert controller.bridge_key_host_approved("127.0.0.1")
        assert not controller.bridge_key_host_approved("192.0.2.11")


async def test_loopback_always_gets_the_key_and_a_remote_bridge_client_only_when_approved() -> None:
    bridges = FakeBridges()
    async with bridges.client() as http:
        for base in ("http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"):
            await BridgeClient(http, base, api_key=KEY).status()
        assert [r.headers.get("Authorization") for r in bridges.requests] == [BEARER] * 3

        approved: list[str] = []
        remote = BridgeClient(
            http, f"http://{REMOTE}:8080", api_key=KEY, key_hosts=lambda: approved
        )
        with pytest.raises(Exception, match="401"):
            await remote.scene()
        approved.append(REMOTE)
        await remote.status()
        assert bridges.auth_sent_to(REMOTE) == [None, BEARER]


async def test_find_bridge_and_the_port_scan_keep_the_key_home() -> None:
    bridges = FakeBridges()
    async with bridges.client() as http:
        assert await find_bridge(http, [8080], {4242}, host=REMOTE, api_key=KEY) is None
        assert await scan_ports(http, REMOTE, [8080], api_key=KEY) == []
        assert bridges.auth_sent_to(REMOTE) == [None, None]

        found = await find_bridge(
            http, [8080], {4242}, host=REMOTE, api_key=KEY, key_hosts=(REMOTE,)
        )
        assert found is not None
        scanned = await scan_ports(http, REMOTE, [8080], api_key=KEY, key_hosts=[REMOTE])
        assert [i.pid for i in scanned] == [4242]
        assert bridges.auth_sent_to(REMOTE)[2:] == [BEARER, BEARER]


async def test_a_remote_bridge_without_a_key_requirement_is_up_and_says_no_key_was_sent() -> None:
    def open_bridge(request: httpx.Request) -> httpx.Response:
        assert "Authorization" not in request.headers
        return httpx.Response(200, json={"bridge": {"pid": 7, "version": "1.0"}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(open_bridge)) as http:
        status = await probe_bridge_http(http, REMOTE, 8080, api_key=KEY, owner=False)
    assert status.state is ServiceState.UP
    assert status.detail.endswith(KEY_WITHHELD)


class FakeWebSocket:
    """What `websockets.connect` returns, minus the network: a hello, then closed."""

    def __init__(self) -> None:
        self.closed = False

    async def recv(self) -> str:
        hello = {"protocol": "spacetime-bridge/1", "pid": 4242, "rate_hz": 90}
        return json.dumps({"event": "hello", "timestamp": 0, "data": hello})

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def websocket_layer(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The WebSocket probe's socket and handshake, replaced: records the headers it would send."""
    sent: list[dict[str, Any]] = []
    pairs: list[tuple[socket.socket, socket.socket]] = []

    async def open_socket(host: str, port: int) -> socket.socket:
        pair = socket.socketpair()
        pairs.append(pair)
        return pair[0]

    async def connect(uri: str, **options: Any) -> FakeWebSocket:
        sent.append({"uri": uri, "headers": options.get("additional_headers")})
        return FakeWebSocket()

    monkeypatch.setattr(bridge_probes, "open_socket", open_socket)
    monkeypatch.setattr(bridge_probes, "connect", connect)
    yield sent
    for a, b in pairs:
        a.close()
        b.close()


async def test_the_websocket_probe_sends_the_key_only_to_loopback_or_an_approved_host(
    websocket_layer: list[dict[str, Any]],
) -> None:
    remote = await probe_websocket(REMOTE, 8081, api_key=KEY, owner=False)
    assert remote.state is ServiceState.UP
    assert remote.detail.endswith(KEY_WITHHELD)
    local = await probe_websocket("127.0.0.1", 8081, api_key=KEY, owner=False)
    approved = await probe_websocket(REMOTE, 8081, api_key=KEY, key_hosts=[REMOTE], owner=False)
    assert [sent["headers"] for sent in websocket_layer] == [
        None,
        {"Authorization": BEARER},
        {"Authorization": BEARER},
    ]
    assert KEY_WITHHELD not in local.detail and KEY_WITHHELD not in approved.detail


async def test_the_monitor_handshakes_a_remote_games_telemetry_without_the_key_until_approved(
    websocket_layer: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_lsp(host: str, port: int, **options: Any) -> ServiceStatus:
        return monitor_module.ProbeTarget("lsp", host, port).status(ServiceState.DOWN, "test")

    monkeypatch.setattr(monitor_module, "probe_lsp", no_lsp)
    async with FakeBridges().client() as http:
        controller = Controller(panel_settings(), http=http, api_key=KEY)
        try:
            controller.follow_instance(remote_instance())
            first = await controller.monitor.check_once(full=True)
            controller.approve_bridge_key_host(REMOTE)
            controller.monitor.handshake_interval = 0.0  # the next full check handshakes again
            await controller.monitor.check_once(full=True)
        finally:
            await controller.monitor.stop()
    assert [s["uri"] for s in websocket_layer] == [f"ws://{REMOTE}:8081/"] * 2
    assert [s["headers"] for s in websocket_layer] == [None, {"Authorization": BEARER}]
    assert row(first, "telemetry").detail.endswith(KEY_WITHHELD)
