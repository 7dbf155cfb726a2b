"""The monitor's periodic loop: cheap checks every tick, handshakes rarely."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
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
from tests.integration.test_probe_servers import (
    Handler,
    Seen,
    http_handler,
    lsp_handler,
    tcp_server,
)


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


def editor_still_opening(seen: Seen, first_answer_after: float | None) -> Handler:
    """An LSP whose first session answers `initialize` late (None: never), like a Godot
    editor that has just opened; later sessions answer at once."""
    sessions = 0
    answer_now = lsp_handler(seen)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sessions
        sessions += 1
        if sessions == 1:
            if first_answer_after is None:
                await reader.read()  # never answers; the probe gives up and closes
                writer.close()
                return
            await asyncio.sleep(first_answer_after)
        await answer_now(reader, writer)

    return handle


def lsp_only_ports(lsp_port: int) -> MonitorPorts:
    return MonitorPorts(
        management_api=free_port(),
        bridge_http=free_port(),
        telemetry=free_port(),
        dap=free_port(),
        lsp=lsp_port,
        discovery=0,
    )


async def test_an_editor_slow_to_answer_its_first_initialize_is_up_not_degraded() -> None:
    seen = Seen()
    async with (
        httpx.AsyncClient(trust_env=False) as client,
        tcp_server(editor_still_opening(seen, first_answer_after=1.5)) as lsp_port,
    ):
        # The general timeout is short; LSP handshakes get the default lsp_timeout (10 s).
        monitor = ServiceMonitor(lsp_only_ports(lsp_port), client, timeout=0.5, expected={LSP})
        statuses = {s.service: s for s in await monitor.check_once()}

    assert statuses[LSP].state is ServiceState.UP, statuses[LSP].detail
    assert statuses[LSP].server == "test-lsp 9.9"


async def test_a_degraded_lsp_is_handshaken_again_within_seconds_not_at_the_interval() -> None:
    seen = Seen()
    ticks: list[list[ServiceStatus]] = []
    async with (
        httpx.AsyncClient(trust_env=False) as client,
        tcp_server(editor_still_opening(seen, first_answer_after=None)) as lsp_port,
    ):
        monitor = ServiceMonitor(
            lsp_only_ports(lsp_port),
            client,
            check_interval=0.1,
            handshake_interval=3600,
            lsp_timeout=0.5 * TIME_SCALE,
            degraded_recheck=0.5,
            expected={LSP},
            on_update=ticks.append,
        )
        monitor.start()
        try:
            async with asyncio.timeout(20 * TIME_SCALE):
                while not monitor.all_expected_up():
                    await asyncio.sleep(0.05)
        finally:
            await monitor.stop()

    states = [next(s.state for s in tick if s.service == LSP) for tick in ticks]
    assert states[0] is ServiceState.DEGRADED
    assert states[-1] is ServiceState.UP
    assert handshakes(seen) == 1  # the silent first session never parsed a frame


async def test_probe_lsp_command_waits_for_an_editor_that_is_still_opening() -> None:
    """`spacetime-panel probe lsp` with its default timeout: a 4 s first answer is up."""
    async with tcp_server(editor_still_opening(Seen(), first_answer_after=4.0)) as lsp_port:
        command = [sys.executable, "-m", "spacetime_panel", "probe", "lsp", "--port", str(lsp_port)]
        result = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)

    assert result.returncode == 0, (result.stdout, result.stderr)
    assert f"lsp 127.0.0.1:{lsp_port}: up" in result.stdout
