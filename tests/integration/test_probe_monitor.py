"""The monitor's periodic loop: cheap checks every tick, handshakes rarely."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import httpx

from spacetime_panel.probes import (
    LSP,
    MANAGEMENT_API,
    SERVICE_ORDER,
    MonitorPorts,
    ServiceMonitor,
    ServiceState,
    ServiceStatus,
)
from tests.conftest import TIME_SCALE, free_port
from tests.integration.test_probe_servers import Seen, http_handler, lsp_handler, tcp_server


def handshakes(seen: Seen) -> int:
    return sum(1 for m in seen.messages if m.get("method") == "initialize")


async def test_loop_checks_often_but_handshakes_at_most_once_per_interval() -> None:
    seen = Seen()
    ticks: list[list[ServiceStatus]] = []
    async with (
        httpx.AsyncClient(trust_env=False) as client,
        tcp_server(lsp_handler(seen)) as lsp_port,
        tcp_server(http_handler(Seen(), 200, b'{"server": "panel"}')) as api_port,
    ):
        ports = MonitorPorts(
            management_api=api_port,
            bridge_http=free_port(),
            telemetry=free_port(),
            dap=free_port(),
            lsp=lsp_port,
            discovery=0,  # any free UDP port
        )
        monitor = ServiceMonitor(
            ports,
            client,
            check_interval=0.05,
            handshake_interval=3600,
            timeout=2.0 * TIME_SCALE,
            expected={MANAGEMENT_API, LSP},
            on_update=ticks.append,
        )
        monitor.start()
        try:
            async with asyncio.timeout(15 * TIME_SCALE):
                while len(ticks) < 8:
                    await asyncio.sleep(0.05)
        finally:
            await monitor.stop()
        count = len(ticks)
        await asyncio.sleep(0.2)
        assert len(ticks) == count  # stopped means stopped

    assert handshakes(seen) == 1
    last = {s.service: s for s in ticks[-1]}
    assert [s.service for s in ticks[-1]] == list(SERVICE_ORDER)
    assert last[LSP].server == "test-lsp 9.9"
    assert last[LSP].owner_pid == os.getpid()
    assert last[MANAGEMENT_API].server == "panel"
    assert monitor.all_expected_up()


async def test_a_new_listener_gets_a_handshake_and_a_gone_one_is_down() -> None:
    first, second = Seen(), Seen()
    async with httpx.AsyncClient(trust_env=False) as client:
        ports = MonitorPorts(
            management_api=free_port(),
            bridge_http=free_port(),
            telemetry=free_port(),
            dap=free_port(),
            lsp=free_port(),
            discovery=0,
        )
        monitor = ServiceMonitor(ports, client, handshake_interval=3600, timeout=2.0 * TIME_SCALE)
        try:
            async with tcp_server(lsp_handler(first)) as port:
                monitor.ports = replace(ports, lsp=port)
                await monitor.check_once(full=False)
                await monitor.check_once(full=False)
            assert handshakes(first) == 1
            rows = {s.service: s for s in await monitor.check_once(full=False)}
            assert rows[LSP].state is ServiceState.DOWN
            assert rows[LSP].detail == "nobody listening"
            async with tcp_server(lsp_handler(second)) as port:
                monitor.ports = replace(ports, lsp=port)
                rows = {s.service: s for s in await monitor.check_once(full=False)}
            assert handshakes(second) == 1
            assert rows[LSP].state is ServiceState.UP
            assert rows[LSP].server == "test-lsp 9.9"
        finally:
            await monitor.stop()
