"""Probes and the monitor against the simulated Godot (editor and game), real processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from spacetime_panel.config.settings import GodotSettings, PortSettings, Settings
from spacetime_panel.probes import (
    BRIDGE_HTTP,
    DAP,
    DISCOVERY,
    LSP,
    SERVICE_ORDER,
    TELEMETRY,
    MonitorPorts,
    ServiceMonitor,
    ServiceState,
    probe_bridge_http,
    probe_dap,
    probe_lsp,
    probe_websocket,
)
from tests.conftest import TIME_SCALE, free_port, wait_until
from tests.integration.sim_process import SimProcess, running_sim

TIMEOUT = 5.0 * TIME_SCALE


@pytest.fixture
def editor(project: Path) -> Iterator[SimProcess]:
    args = ("--editor", "--lsp-port", str(free_port()), "--dap-port", str(free_port()))
    with running_sim(project, *args) as sim:
        wait_until(lambda: "debug adapter on" in sim.stdout(), what="the editor to listen")
        yield sim


def editor_ports(sim: SimProcess) -> tuple[int, int]:
    args = sim.proc.args
    assert isinstance(args, list)
    return int(args[args.index("--lsp-port") + 1]), int(args[args.index("--dap-port") + 1])


@pytest.fixture
def game(project: Path) -> Iterator[SimProcess]:
    discovery = free_port()
    env = {"SPACETIME_DISCOVERY_PORT": str(discovery), "SPACETIME_API_KEY": "k3y"}
    with running_sim(project, env=env) as sim:
        sim.wait_ready(headers={"Authorization": "Bearer k3y"})
        yield sim


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as http:
        yield http


async def test_editor_lsp_and_dap_handshakes(editor: SimProcess) -> None:
    lsp, dap = editor_ports(editor)
    lsp_status = await probe_lsp("127.0.0.1", lsp, timeout=TIMEOUT)
    dap_status = await probe_dap("127.0.0.1", dap, timeout=TIMEOUT)
    assert lsp_status.state is ServiceState.UP, lsp_status.detail
    assert lsp_status.server is not None and "Godot Language Server" in lsp_status.server
    assert lsp_status.owner_pid == editor.pid
    assert dap_status.state is ServiceState.UP, dap_status.detail
    assert dap_status.owner_pid == editor.pid
    assert "closing connection" not in editor.stdout()  # our framing was accepted


async def test_game_bridge_and_telemetry(game: SimProcess, client: httpx.AsyncClient) -> None:
    host = "127.0.0.1"
    bridge = await probe_bridge_http(client, host, game.http_port, api_key="k3y", timeout=TIMEOUT)
    assert bridge.state is ServiceState.UP, bridge.detail
    assert bridge.server is not None and "Godot 4.5" in bridge.server
    assert f"pid {game.pid}" in bridge.detail
    assert bridge.owner_pid == game.pid
    refused = await probe_bridge_http(client, host, game.http_port, api_key="wrong")
    assert (refused.state, refused.detail) == (ServiceState.DEGRADED, "API key refused")
    telemetry = await probe_websocket(host, game.telemetry_port, timeout=TIMEOUT)
    assert telemetry.state is ServiceState.UP, telemetry.detail
    assert telemetry.detail.startswith(f"hello from pid {game.pid}")
    assert telemetry.owner_pid == game.pid


async def test_monitor_sees_the_whole_table(
    game: SimProcess, editor: SimProcess, client: httpx.AsyncClient
) -> None:
    lsp, dap = editor_ports(editor)
    ports = MonitorPorts(
        management_api=free_port(),  # no panel API running here: DOWN
        bridge_http=free_port(),  # wrong until we learn the fallback port
        telemetry=game.telemetry_port,
        dap=dap,
        lsp=lsp,
        discovery=int(game.env["SPACETIME_DISCOVERY_PORT"]),
    )
    monitor = ServiceMonitor(
        ports,
        client,
        api_key="k3y",
        expected={BRIDGE_HTTP, TELEMETRY, LSP, DAP},
        timeout=TIMEOUT,
    )
    try:
        table = await monitor.check_once(full=True)
        assert [s.service for s in table] == list(SERVICE_ORDER)
        state = {s.service: s for s in table}
        assert state["management_api"].state is ServiceState.DOWN
        assert state[BRIDGE_HTTP].state is ServiceState.DOWN
        assert not monitor.all_expected_up()

        monitor.set_bridge_port(game.http_port)

        async def discovered() -> dict[str, object]:
            while True:
                rows = {s.service: s for s in await monitor.check_once(full=False)}
                if rows[DISCOVERY].state is ServiceState.UP:
                    return rows
                await asyncio.sleep(0.2)

        async with asyncio.timeout(15 * TIME_SCALE):
            rows = await discovered()
        assert monitor.all_expected_up(), [s.to_json() for s in monitor.snapshot()]
        snapshot = {s.service: s for s in monitor.snapshot()}
        assert rows == snapshot
        assert snapshot[BRIDGE_HTTP].owner_pid == game.pid
        assert f"from pid {game.pid}" in snapshot[DISCOVERY].detail
        # Between handshakes the LSP row keeps what the handshake learned.
        assert snapshot[LSP].server is not None and "Godot" in snapshot[LSP].server
        assert snapshot[LSP].owner_pid == editor.pid
        # The DAP is only watched passively by default (see probes/editor.py).
        assert snapshot[DAP].detail == "listening (passive)"
        assert snapshot[DAP].owner_pid == editor.pid
    finally:
        await monitor.stop()


async def test_monitor_from_settings_and_dap_handshake_on_request(
    editor: SimProcess, client: httpx.AsyncClient
) -> None:
    lsp, dap = editor_ports(editor)
    settings = Settings(
        godot=GodotSettings(launch_game=False, launch_editor=True),
        ports=PortSettings(lsp=lsp, dap=dap, http=free_port(), telemetry=free_port(),
                           discovery=free_port()),
    )  # fmt: skip
    monitor = ServiceMonitor(settings, client, dap_handshake=True, timeout=TIMEOUT)
    assert monitor.expected == {"management_api", LSP, DAP}
    try:
        rows = {s.service: s for s in await monitor.check_once()}
    finally:
        await monitor.stop()
    assert rows[DAP].state is ServiceState.UP
    assert rows[DAP].detail.startswith("initialize answered")
    assert rows[LSP].state is ServiceState.UP
    assert rows[BRIDGE_HTTP].state is ServiceState.DOWN
    assert rows[TELEMETRY].detail == "nobody listening"
    assert rows[DISCOVERY].state is ServiceState.UNKNOWN
